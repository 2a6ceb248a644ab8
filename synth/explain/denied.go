package explain

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/diff"
)

// Kinds of denied groups.
const (
	// GroupDeniedLive: the policy in force denied these requests (the
	// proxies' deny counters, in a recording from Prometheus).
	GroupDeniedLive = "denied by the policy in force"
	// GroupWouldDeny: observed requests the given policy denies.
	GroupWouldDeny = "denied by this policy"
	// GroupAudit: observed requests only audit mode admits.
	GroupAudit = "admitted only by audit"
)

// Group is the requests of one client to one server port that got one
// outcome, with one of them explained.
type Group struct {
	Kind     string           `json:"kind"`
	Client   recording.PeerID `json:"client"`
	Server   recording.PeerID `json:"server"`
	Port     uint32           `json:"port"`
	Requests int64            `json:"requests"`
	// Sample is the request explained: the one with most requests.
	Sample      string       `json:"sample"`
	Explanation *Explanation `json:"-"`
}

// DeniedReport explains every denied and audit-only request of a
// recording, grouped: most requests first.
type DeniedReport struct {
	Groups   []Group  `json:"groups"`
	Warnings []string `json:"warnings"`
}

// DeniedRequests counts the requests that are denied (not those admitted
// only by audit).
func (r *DeniedReport) DeniedRequests() int64 {
	var n int64
	for _, g := range r.Groups {
		if g.Kind != GroupAudit {
			n += g.Requests
		}
	}
	return n
}

// Denied explains the requests of rec that the proxies denied (its deny
// counts), and those the policy of in denies or admits only by audit (as
// cinch diff finds them).
func Denied(rec *recording.Recording, in Input) (*DeniedReport, error) {
	x, err := New(in)
	if err != nil {
		return nil, err
	}
	rep, err := diff.Evaluate(rec, in.Policy, diff.Options{Eval: in.Eval, Cluster: workloadSet(x.workloads)})
	if err != nil {
		return nil, err
	}
	out := &DeniedReport{Groups: []Group{}, Warnings: rep.Warnings}
	add := func(kind string, q Query, identity string, requests int64, sample string) error {
		client := q.From.Workload
		if _, ok := x.workloads[q.To]; !ok {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s -> %s:%d: the server is not a workload of the cluster objects given, not explained", client, q.To, q.Port))
			return nil
		}
		if _, ok := x.workloads[client]; !ok {
			q.From.Workload = "" // an address or a node: its address or identity is what the proxy sees
		}
		q.From.Identity = identity
		ex, err := x.Explain(q)
		if err != nil {
			return err
		}
		out.Groups = append(out.Groups, Group{Kind: kind, Client: client, Server: q.To, Port: q.Port, Requests: requests,
			Sample: sample, Explanation: ex})
		return nil
	}
	for _, e := range rec.Edges {
		if e.Denied <= 0 {
			continue
		}
		// The deny counts carry no path: on a port with only the default
		// route the path does not matter, on one with routes the
		// explanation says it cannot tell the route.
		q := Query{From: Client{Workload: e.Client}, To: e.Server, Port: e.Port, Route: defaultRoute}
		if len(e.SourceIPs) == 1 {
			if ip, err := netip.ParseAddr(e.SourceIPs[0].IP); err == nil {
				q.From.Address = ip.Unmap()
			}
		}
		if err := add(GroupDeniedLive, q, x.clientIdentity(e), e.Denied, "(path not recorded)"); err != nil {
			return nil, err
		}
	}
	for _, set := range []struct {
		kind     string
		findings []diff.Finding
	}{{GroupWouldDeny, rep.Denied}, {GroupAudit, rep.Audit}} {
		for _, f := range set.findings {
			q := Query{From: Client{Workload: f.Client}, To: f.Server, Port: f.Port}
			if ip, err := netip.ParseAddr(f.SourceIP); err == nil {
				q.From.Address = ip
			}
			if method, path, ok := strings.Cut(f.Sample, " "); ok {
				q.Method, q.Path = method, path
			}
			if err := add(set.kind, q, f.Identity, f.Requests, f.Sample); err != nil {
				return nil, err
			}
		}
	}
	slices.SortStableFunc(out.Groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Server, b.Server), cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.Client, b.Client), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Sample, b.Sample))
	})
	return out, nil
}

// clientIdentity is the identity of an edge's client when the edge was
// mTLS: the recording's, else its service account's.
func (x *Explainer) clientIdentity(e recording.Edge) string {
	if e.TLS["true"] == 0 && len(e.TLS) > 0 {
		return ""
	}
	w, ok := x.workloads[e.Client]
	if !ok || !w.Meshed {
		return ""
	}
	return x.identityOf(w)
}

// workloadSet answers diff's cluster questions from the input's
// workloads.
type workloadSet map[recording.PeerID]*recording.Workload

func (s workloadSet) Workload(id recording.PeerID) (recording.Workload, bool) {
	w, ok := s[id]
	if !ok {
		return recording.Workload{}, false
	}
	return *w, true
}

// DeniedText writes the groups, each with its explanation.
func DeniedText(w io.Writer, r *DeniedReport) error {
	p := &printer{w: w}
	if len(r.Groups) == 0 {
		p.f("no denied or audit-only requests\n")
		return p.err
	}
	for i, g := range r.Groups {
		p.f("=== %d. %s: %s -> %s:%d, %d requests (%s)\n\n", i+1, g.Kind, g.Client, g.Server, g.Port, g.Requests, g.Sample)
		if p.err == nil {
			p.err = Text(w, g.Explanation)
		}
		p.f("\n")
	}
	return p.err
}

// DeniedJSON writes the groups with their explanations' verdicts and
// grants.
func DeniedJSON(w io.Writer, r *DeniedReport) error {
	type groupView struct {
		Group
		Explanation json.RawMessage `json:"explanation"`
	}
	out := struct {
		Groups   []groupView `json:"groups"`
		Warnings []string    `json:"warnings"`
	}{Groups: []groupView{}, Warnings: append([]string{}, r.Warnings...)}
	for _, g := range r.Groups {
		var b strings.Builder
		if err := JSON(&b, g.Explanation); err != nil {
			return err
		}
		out.Groups = append(out.Groups, groupView{Group: g, Explanation: json.RawMessage(b.String())})
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// DeniedFormats maps the names `cinch explain --denied -o` accepts to
// printers.
var DeniedFormats = map[string]func(io.Writer, *DeniedReport) error{
	"text": DeniedText,
	"json": DeniedJSON,
}
