package eval

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

const (
	benchServers    = 2000
	benchNamespaces = 20
	benchRequests   = 20000
)

// benchCluster is a mesh of benchServers workloads in benchNamespaces
// namespaces, each with a Server on its http port, an HTTPRoute of four
// rules with a MeshTLS policy for three clients, a probe route with a
// NetworkAuthentication, and a server-level policy for an admin account:
// what synth generates for a busy cluster.
func benchCluster() (*policy.Set, []recording.Workload) {
	set := &policy.Set{}
	var workloads []recording.Workload
	parent := func(name string) []policy.ParentReference {
		return []policy.ParentReference{{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: name}}
	}
	for i := range benchServers {
		ns := fmt.Sprint("ns-", i%benchNamespaces)
		app := fmt.Sprint("app-", i)
		meta := func(name string) policy.ObjectMeta { return policy.ObjectMeta{Name: name, Namespace: ns} }
		workloads = append(workloads, recording.Workload{
			ID: recording.PeerID(ns + "/" + app), Namespace: ns, Name: app, ServiceAccount: app,
			Labels: map[string]string{"app": app, "team": fmt.Sprint("team-", i%7)},
			Ports:  []recording.ContainerPort{{Port: 8080, Name: "http"}, {Port: 9090, Name: "admin"}},
			Probes: []recording.Probe{{Kind: "readiness", Port: 8080, Path: "/ready"}},
		})
		srv := app + "-http"
		set.Servers = append(set.Servers, policy.Server{ObjectMeta: meta(srv), Spec: policy.ServerSpec{
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Port:        intstr.FromString("http"),
		}})
		set.HTTPRoutes = append(set.HTTPRoutes,
			policy.HTTPRoute{ObjectMeta: meta(app + "-api"), Spec: policy.HTTPRouteSpec{ParentRefs: parent(srv),
				Rules: []policy.HTTPRouteRule{
					{Matches: []policy.HTTPRouteMatch{{Path: &policy.HTTPPathMatch{Type: policy.MatchPathPrefix, Value: "/api/v1/items"}, Method: "GET"}}},
					{Matches: []policy.HTTPRouteMatch{{Path: &policy.HTTPPathMatch{Type: policy.MatchExact, Value: "/api/v1/items"}, Method: "POST"}}},
					{Matches: []policy.HTTPRouteMatch{{Path: &policy.HTTPPathMatch{Type: policy.MatchRegularExpression, Value: `/api/v1/items/[0-9]+`}, Method: "DELETE"}}},
					{Matches: []policy.HTTPRouteMatch{{Path: &policy.HTTPPathMatch{Value: "/api/v2"},
						Headers: []policy.ValueMatch{{Name: "x-api-version", Value: "2"}}}}},
				}}},
			policy.HTTPRoute{ObjectMeta: meta(app + "-probe"), Spec: policy.HTTPRouteSpec{ParentRefs: parent(srv),
				Rules: []policy.HTTPRouteRule{{Matches: []policy.HTTPRouteMatch{{Path: &policy.HTTPPathMatch{Type: policy.MatchExact, Value: "/ready"}, Method: "GET"}}}}}},
		)
		clients := []string{
			id(fmt.Sprint("app-", (i+1)%benchServers), ns), id(fmt.Sprint("app-", (i+2)%benchServers), ns), id("gateway", "ingress"),
		}
		set.MeshTLSAuthentications = append(set.MeshTLSAuthentications, policy.MeshTLSAuthentication{
			ObjectMeta: meta(app + "-api-clients"), Spec: policy.MeshTLSAuthenticationSpec{Identities: clients}})
		set.AuthorizationPolicies = append(set.AuthorizationPolicies,
			policy.AuthorizationPolicy{ObjectMeta: meta(app + "-api"), Spec: policy.AuthorizationPolicySpec{
				TargetRef: policy.LocalTargetRef{Group: policy.GroupPolicy, Kind: policy.KindHTTPRoute, Name: app + "-api"},
				RequiredAuthenticationRefs: []policy.NamespacedTargetRef{
					{Group: policy.GroupPolicy, Kind: policy.KindMeshTLSAuthentication, Name: app + "-api-clients"}}}},
			policy.AuthorizationPolicy{ObjectMeta: meta(app + "-probe"), Spec: policy.AuthorizationPolicySpec{
				TargetRef: policy.LocalTargetRef{Group: policy.GroupPolicy, Kind: policy.KindHTTPRoute, Name: app + "-probe"},
				RequiredAuthenticationRefs: []policy.NamespacedTargetRef{
					{Group: policy.GroupPolicy, Kind: policy.KindNetworkAuthentication, Name: "kubelet"}}}},
			policy.AuthorizationPolicy{ObjectMeta: meta(app + "-admin"), Spec: policy.AuthorizationPolicySpec{
				TargetRef:                  policy.LocalTargetRef{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: srv},
				RequiredAuthenticationRefs: []policy.NamespacedTargetRef{{Kind: policy.KindServiceAccount, Name: "admin"}}}},
		)
	}
	for n := range benchNamespaces {
		set.NetworkAuthentications = append(set.NetworkAuthentications, policy.NetworkAuthentication{
			ObjectMeta: policy.ObjectMeta{Name: "kubelet", Namespace: fmt.Sprint("ns-", n)},
			Spec:       policy.NetworkAuthenticationSpec{Networks: []policy.Network{{CIDR: "10.0.0.0/24"}}}})
	}
	return set, workloads
}

// benchRequestsFor makes benchRequests observed tuples: allowed and denied
// calls on every route, probes, the admin port, unknown paths.
func benchRequestsFor(workloads []recording.Workload) []Request {
	paths := []struct{ method, path string }{
		{"GET", "/api/v1/items"}, {"GET", "/api/v1/items/42"}, {"POST", "/api/v1/items"}, {"DELETE", "/api/v1/items/42"},
		{"GET", "/api/v2/things"}, {"GET", "/ready"}, {"GET", "/unknown"}, {"PUT", "/api/v1/items/7"},
	}
	out := make([]Request, benchRequests)
	for i := range out {
		w := workloads[(i*7919)%len(workloads)]
		p := paths[i%len(paths)]
		client := id(fmt.Sprint("app-", (i*31)%benchServers), w.Namespace)
		if i%5 == 0 {
			client = id("gateway", "ingress")
		}
		r := Request{Destination: w.ID, Port: 8080, ClientIdentity: client, Method: p.method, Path: p.path,
			SourceIP: netip.AddrFrom4([4]byte{10, 42, byte(i >> 8), byte(i)}), Authority: "svc:8080"}
		if p.path == "/ready" {
			r.ClientIdentity, r.SourceIP = "", netip.MustParseAddr("10.0.0.7")
		}
		if i%11 == 0 {
			r.Port = 9090
		}
		out[i] = r
	}
	return out
}

func BenchmarkNew(b *testing.B) {
	set, workloads := benchCluster()
	for b.Loop() {
		if _, err := New(set, Cluster{Workloads: workloads}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	set, workloads := benchCluster()
	e, err := New(set, Cluster{Workloads: workloads}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if w := e.Warnings(); len(w) != 0 {
		b.Fatalf("warnings: %v", w)
	}
	reqs := benchRequestsFor(workloads)
	reasons := map[Reason]int{}
	for _, r := range reqs {
		reasons[e.Decide(r).Reason]++
	}
	if reasons[ReasonAuthorized] == 0 || reasons[ReasonNoRouteMatched] == 0 || reasons[ReasonNoAuthorizationMatched] == 0 {
		b.Fatalf("the requests do not exercise every outcome: %v", reasons)
	}
	for b.Loop() {
		for _, r := range reqs {
			e.Decide(r)
		}
	}
	b.ReportMetric(float64(b.N*len(reqs))/b.Elapsed().Seconds(), "evals/s")
}

// Decide may be called from many goroutines (run with -race); it gives
// the same answers as sequential calls.
func TestDecideConcurrently(t *testing.T) {
	set, workloads := benchCluster()
	e := newEvaluator(t, set, workloads[:200], Options{})
	reqs := benchRequestsFor(workloads[:200])[:2000]
	want := make([]Decision, len(reqs))
	for i, r := range reqs {
		want[i] = e.Decide(r)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			for i, r := range reqs {
				if got := e.Decide(r); got != want[i] {
					errs <- fmt.Sprintf("request %d: %+v, sequentially %+v", i, got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
