package diff

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

// id is the default-option identity of a service account.
func id(sa, ns string) string {
	return sa + "." + ns + ".serviceaccount.identity.linkerd.cluster.local"
}

// meshed is a meshed workload named after its app label and service
// account, serving HTTP on port 8080 ("http") with a readiness probe on
// /ready.
func meshed(ns, name string) recording.Workload {
	return recording.Workload{
		ID: recording.PeerID(ns + "/" + name), Namespace: ns, Kind: "Deployment", Name: name, ServiceAccount: name,
		Identity: id(name, ns), Meshed: true, Labels: map[string]string{"app": name},
		Ports:  []recording.ContainerPort{{Port: 8080, Name: "http", Protocol: "TCP"}},
		Probes: []recording.Probe{{Kind: "readiness", Port: 8080, Path: "/ready"}},
	}
}

// get is a route of n GET requests.
func get(path string, n int64) recording.Route {
	return recording.Route{Method: "GET", Path: path, Requests: n}
}

// mtls is an edge whose requests (the sum of its routes) all came over
// mTLS.
func mtls(client, server string, port uint32, routes ...recording.Route) recording.Edge {
	e := recording.Edge{Client: recording.PeerID(client), Server: recording.PeerID(server), Port: port,
		Protocol: recording.ProtocolHTTP, Routes: routes}
	for _, r := range routes {
		e.Requests += r.Requests
	}
	e.TLS = map[string]int64{"true": e.Requests}
	return e
}

// plain is an edge without mTLS from one address.
func plain(client, server string, port uint32, ip string, routes ...recording.Route) recording.Edge {
	e := mtls(client, server, port, routes...)
	e.TLS = map[string]int64{"no_tls_from_remote": e.Requests}
	e.SourceIPs = []recording.SourceIP{{IP: ip, Requests: e.Requests}}
	return e
}

func newRecording(workloads []recording.Workload, edges ...recording.Edge) *recording.Recording {
	rec := recording.New()
	rec.Workloads = workloads
	rec.Edges = edges
	rec.Normalize()
	return rec
}

func readSet(t testing.TB, manifests ...string) *policy.Set {
	t.Helper()
	set, err := policy.Read(strings.NewReader(strings.Join(manifests, "\n---\n")), "test", policy.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func evaluate(t testing.TB, rec *recording.Recording, set *policy.Set, opts Options) *Report {
	t.Helper()
	rep, err := Evaluate(rec, set, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// describe writes a finding compactly, for comparisons:
// "CLIENT as SOURCE -> SERVER:PORT ROUTE REASON: N requests, P paths (SAMPLE)".
func describe(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s as %s -> %s:%d %s %s: %d requests, %d paths (%s)",
			f.Client, f.source(), f.Server, f.Port, f.route(), f.Reason, f.Requests, f.Tuples, f.Sample))
	}
	return out
}

func describeSkipped(ns []NotEvaluated) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, fmt.Sprintf("%s: %d", n.Reason, n.Requests))
	}
	return out
}

func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n  got  %s\n  want %s", what, strings.Join(got, "\n       "), strings.Join(want, "\n       "))
	}
}

// Manifests used by several tests.
const (
	// apiServer claims api's http port and admits nobody by itself.
	apiServer = `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {namespace: shop, name: api-http}
spec:
  podSelector: {matchLabels: {app: api}}
  port: http`
	// webOnly admits web's service account on api-http.
	webOnly = `
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: api-web}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: api-http}
  requiredAuthenticationRefs:
  - {kind: ServiceAccount, name: web}`
)
