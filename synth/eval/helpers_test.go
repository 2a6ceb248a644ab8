package eval

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

// Workloads of Linkerd's demo apps, as the recording describes them.
var (
	emojivotoWorkloads = []recording.Workload{
		{ID: "emojivoto/web", Namespace: "emojivoto", Name: "web", ServiceAccount: "web",
			Labels: map[string]string{"app": "web-svc", "version": "v11"},
			Ports:  []recording.ContainerPort{{Port: 8080, Name: "http"}}},
		{ID: "emojivoto/voting", Namespace: "emojivoto", Name: "voting", ServiceAccount: "voting",
			Labels: map[string]string{"app": "voting-svc", "version": "v11"},
			Ports:  []recording.ContainerPort{{Port: 8080, Name: "grpc"}, {Port: 8801, Name: "prom"}}},
		{ID: "emojivoto/emoji", Namespace: "emojivoto", Name: "emoji", ServiceAccount: "emoji",
			Labels: map[string]string{"app": "emoji-svc", "version": "v11"},
			Ports:  []recording.ContainerPort{{Port: 8080, Name: "grpc"}, {Port: 8801, Name: "prom"}}},
	}
	booksappWorkloads = []recording.Workload{
		{ID: "booksapp/authors", Namespace: "booksapp", Name: "authors", ServiceAccount: "authors",
			Labels: map[string]string{"app": "authors", "project": "booksapp"},
			Ports:  []recording.ContainerPort{{Port: 7001, Name: "service"}},
			Probes: []recording.Probe{{Kind: "readiness", Port: 7001, Path: "/ping"}}},
		{ID: "booksapp/books", Namespace: "booksapp", Name: "books", ServiceAccount: "books",
			Labels: map[string]string{"app": "books", "project": "booksapp"},
			Ports:  []recording.ContainerPort{{Port: 7002, Name: "service"}},
			Probes: []recording.Probe{{Kind: "readiness", Port: 7002, Path: "/ping"}}},
		{ID: "booksapp/webapp", Namespace: "booksapp", Name: "webapp", ServiceAccount: "webapp",
			Labels: map[string]string{"app": "webapp", "project": "booksapp"},
			Ports:  []recording.ContainerPort{{Port: 7000, Name: "service"}},
			Probes: []recording.Probe{{Kind: "readiness", Port: 7000, Path: "/ping"}}},
	}
)

// id is the default-option identity of a service account.
func id(sa, ns string) string {
	return sa + "." + ns + ".serviceaccount.identity.linkerd.cluster.local"
}

func readSet(t testing.TB, manifests ...string) *policy.Set {
	t.Helper()
	set, err := policy.Read(strings.NewReader(strings.Join(manifests, "\n---\n")), "test", policy.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func newEvaluator(t testing.TB, set *policy.Set, workloads []recording.Workload, opts Options) *Evaluator {
	t.Helper()
	e, err := New(set, Cluster{Workloads: workloads}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// call builds a request from a compact description.
type call struct {
	dst    recording.PeerID
	port   uint32
	from   string // client identity; "" for none
	ip     string // source address; "" for unknown
	method string
	path   string
	host   string
	header http.Header
}

func (c call) request() Request {
	r := Request{Destination: c.dst, Port: c.port, ClientIdentity: c.from, Method: c.method, Path: c.path,
		Authority: c.host, Headers: c.header}
	if c.ip != "" {
		r.SourceIP = netip.MustParseAddr(c.ip)
	}
	return r
}

// decision builds the expected decision from "kind[.group]/name" strings.
func decision(allowed bool, reason Reason, server, route, authz string) Decision {
	return Decision{Allowed: allowed, Reason: reason, Server: parseRef(server), Route: parseRef(route),
		Authorization: parseRef(authz)}
}

func parseRef(s string) Ref {
	if s == "" {
		return Ref{}
	}
	kg, name, _ := strings.Cut(s, "/")
	kind, group, _ := strings.Cut(kg, ".")
	return Ref{Group: group, Kind: kind, Name: name}
}

type decideCase struct {
	name string
	call call
	want Decision
}

func runDecide(t *testing.T, e *Evaluator, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := e.Decide(tc.call.request())
			if got != tc.want {
				t.Errorf("Decide = %+v\nwant     %+v", got, tc.want)
			}
			if tr := e.Explain(tc.call.request()); tr.Decision != got {
				t.Errorf("Explain decided %+v, Decide %+v", tr.Decision, got)
			}
		})
	}
}

func warningStrings(e *Evaluator) []string {
	var out []string
	for _, w := range e.Warnings() {
		out = append(out, w.String())
	}
	return out
}

func checkWarnings(t *testing.T, e *Evaluator, want ...string) {
	t.Helper()
	got := warningStrings(e)
	if len(got) != len(want) {
		t.Fatalf("warnings = %q\nwant %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
}
