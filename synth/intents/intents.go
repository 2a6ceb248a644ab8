// Package intents reads and writes the declared-intents file: access that
// must exist although no recording shows it (a disaster-recovery path, a
// quarterly job), each grant with the reason it exists. The file is kept
// in the GitOps repository next to the generated policy; synth merges it
// with what was observed and marks the grants it adds, and diff says
// which declared grants traffic has since shown (docs/synth.md).
//
// It imports the standard library, go.yaml.in/yaml/v3 (for line numbers
// in errors), k8s.io/apimachinery (name validation) and
// observe/recording (peer IDs).
package intents

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cinchmesh/cinch/observe/recording"
)

// APIVersion and Kind identify the file. Readers refuse other versions.
const (
	APIVersion = "cinch.cinchmesh.io/v1alpha1"
	Kind       = "Intents"
)

// Annotation marks a policy object that grants access because the
// intents file declares it; its value lists the declared clients and their
// reasons ("sa backup/restore: quarterly drill; network ...").
const Annotation = "cinch.cinchmesh.io/declared"

// File is the whole declared-intents file.
type File struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Intents    []Intent `yaml:"intents"`
}

// Intent is one declared grant: client may call server on port (on the
// given routes only, when there are any), for reason.
type Intent struct {
	Client Client `yaml:"client"`
	// Server is the server workload, "namespace/name".
	Server string `yaml:"server"`
	Port   uint32 `yaml:"port"`
	// Routes limit the grant at route level; without them the client may
	// use the whole port. Coarser levels grant the port either way.
	Routes []Route `yaml:"routes,omitempty"`
	// Reason says why the access must exist without being observed: it is
	// written into the objects and the pull request.
	Reason string `yaml:"reason"`
	// Line is where the intent starts in its file (0 when built in code).
	Line int `yaml:"-"`
}

// Client is who is granted: exactly one of a service account, a workload
// (granted through its service account) or a network of unmeshed clients.
type Client struct {
	// ServiceAccount is "namespace/name".
	ServiceAccount string `yaml:"serviceAccount,omitempty"`
	// Workload is "namespace/name", as the recording names workloads.
	Workload string `yaml:"workload,omitempty"`
	// Network is a CIDR, for clients without mTLS.
	Network string `yaml:"network,omitempty"`
}

// Route is a method (empty: any) and a path: a literal path, or a route
// template such as /users/{int} (docs/route-inference.md; a literal brace
// is doubled). gRPC methods are POST /package.Service/Method.
type Route struct {
	Method string `yaml:"method,omitempty"`
	Path   string `yaml:"path"`
}

// String names the client the way messages and annotations do:
// "sa NS/NAME", "workload NS/NAME" or "network CIDR".
func (c Client) String() string {
	switch {
	case c.ServiceAccount != "":
		return "sa " + c.ServiceAccount
	case c.Workload != "":
		return "workload " + c.Workload
	}
	return "network " + c.Network
}

// String names the intent in messages: "sa ns/x -> ns/server:8080".
func (in *Intent) String() string {
	return fmt.Sprintf("%s -> %s:%d", in.Client, in.Server, in.Port)
}

// ServerID is the server workload's peer ID.
func (in *Intent) ServerID() recording.PeerID { return recording.PeerID(in.Server) }

// Namespace is the server's namespace.
func (in *Intent) Namespace() string {
	ns, _, _ := strings.Cut(in.Server, "/")
	return ns
}

// Prefix is the client network of a network intent.
func (c Client) Prefix() (netip.Prefix, bool) {
	if c.Network == "" {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(c.Network)
	return p, err == nil
}

// ReadFile reads and checks a declared-intents file.
func ReadFile(name string) (*File, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("intents: %w", err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("intents %s: %w", name, err)
	}
	return f, nil
}

// Parse reads and checks a declared-intents file's content. Errors name
// the line of the offending intent and say what to write instead.
func Parse(data []byte) (*File, error) {
	f := &File{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("empty file: want apiVersion %s, kind %s and a list of intents", APIVersion, Kind)
		}
		return nil, err
	}
	if f.APIVersion != APIVersion || f.Kind != Kind {
		return nil, fmt.Errorf("apiVersion %q, kind %q: want apiVersion %s, kind %s", f.APIVersion, f.Kind, APIVersion, Kind)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err == nil {
		setLines(&doc, f.Intents)
	}
	var errs []error
	seen := map[string]int{}
	for i := range f.Intents {
		in := &f.Intents[i]
		where := fmt.Sprintf("intent %d", i+1)
		if in.Line > 0 {
			where = fmt.Sprintf("line %d: %s", in.Line, where)
		}
		if err := in.Check(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		key := in.key()
		if first, dup := seen[key]; dup {
			errs = append(errs, fmt.Errorf("%s: %s is declared again (first as intent %d): merge their routes and reasons into one", where, in, first))
			continue
		}
		seen[key] = i + 1
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

// setLines records where each intent starts.
func setLines(doc *yaml.Node, intents []Intent) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "intents" {
			continue
		}
		for j, item := range root.Content[i+1].Content {
			if j < len(intents) {
				intents[j].Line = item.Line
			}
		}
	}
}

func (in *Intent) key() string {
	return in.Client.String() + "\x00" + in.Server + "\x00" + strconv.Itoa(int(in.Port))
}

// reMethod is an HTTP method token as Linkerd's routes name them.
var reMethod = regexp.MustCompile(`^[A-Z]+$`)

// Check says what is wrong with an intent, or nil.
func (in *Intent) Check() error {
	var set []string
	c := in.Client
	if c.ServiceAccount != "" {
		set = append(set, "serviceAccount")
		if err := checkRef(c.ServiceAccount, "client.serviceAccount", validation.IsDNS1123Subdomain); err != nil {
			return err
		}
	}
	if c.Workload != "" {
		set = append(set, "workload")
		if err := checkRef(c.Workload, "client.workload", validation.IsDNS1123Subdomain); err != nil {
			return err
		}
	}
	if c.Network != "" {
		set = append(set, "network")
		p, err := netip.ParsePrefix(c.Network)
		switch {
		case err != nil:
			return fmt.Errorf("client.network %q: want a CIDR such as 10.20.0.0/24", c.Network)
		case p.Bits() == 0:
			return fmt.Errorf("client.network %s grants every address: name the clients' network", c.Network)
		case p.Masked() != p:
			return fmt.Errorf("client.network %s has host bits set: write %s", c.Network, p.Masked())
		}
	}
	if len(set) != 1 {
		return fmt.Errorf("client: give exactly one of serviceAccount (namespace/name), workload (namespace/name) or network (CIDR), not %d", len(set))
	}
	if err := checkRef(in.Server, "server", validation.IsDNS1123Subdomain); err != nil {
		return err
	}
	if in.Port == 0 || in.Port > 65535 {
		return fmt.Errorf("port %d: want the server's container port number, 1 to 65535", in.Port)
	}
	for i, r := range in.Routes {
		if r.Method != "" && !reMethod.MatchString(r.Method) {
			return fmt.Errorf("routes[%d].method %q: want an upper-case HTTP method such as GET, or leave it out for any", i, r.Method)
		}
		if !strings.HasPrefix(r.Path, "/") {
			return fmt.Errorf("routes[%d].path %q: want an absolute path such as /export or a template such as /users/{int}", i, r.Path)
		}
		if strings.ContainsAny(r.Path, "?#") {
			return fmt.Errorf("routes[%d].path %q: routes match the path only: leave out the query string and fragment", i, r.Path)
		}
	}
	if strings.TrimSpace(in.Reason) == "" {
		return fmt.Errorf("%s: reason is empty: say why this access must exist without being observed (it is written into the policy and the pull request)", in)
	}
	return nil
}

// checkRef checks a "namespace/name" reference.
func checkRef(ref, field string, name func(string) []string) error {
	ns, n, ok := strings.Cut(ref, "/")
	if !ok || strings.Contains(n, "/") {
		return fmt.Errorf("%s %q: want namespace/name", field, ref)
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return fmt.Errorf("%s %q: namespace %q is not a namespace name", field, ref, ns)
	}
	if errs := name(n); len(errs) > 0 {
		return fmt.Errorf("%s %q: %q is not a valid name: %s", field, ref, n, errs[0])
	}
	return nil
}

// Sort orders intents by server, port and client, and each intent's
// routes by path and method, so a written file is deterministic.
func Sort(list []Intent) {
	for i := range list {
		slices.SortFunc(list[i].Routes, func(a, b Route) int {
			return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Method, b.Method))
		})
		list[i].Routes = slices.Compact(list[i].Routes)
	}
	slices.SortStableFunc(list, func(a, b Intent) int {
		return cmp.Or(strings.Compare(a.Server, b.Server), cmp.Compare(a.Port, b.Port), strings.Compare(a.Client.String(), b.Client.String()))
	})
}

// Write writes intents as a declared-intents file, sorted.
func Write(w io.Writer, list []Intent) error {
	return encode(w, File{APIVersion: APIVersion, Kind: Kind, Intents: sorted(list)})
}

// WriteEntries writes intents, sorted, as a bare list: entries to add
// under the intents: key of an existing file.
func WriteEntries(w io.Writer, list []Intent) error {
	return encode(w, sorted(list))
}

// sorted is a sorted copy of list.
func sorted(list []Intent) []Intent {
	list = slices.Clone(list)
	for i := range list {
		list[i].Routes = slices.Clone(list[i].Routes)
	}
	Sort(list)
	return list
}

func encode(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}
