package diff

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cinchmesh/cinch/fixtures/mesh"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

// benchPolicy is route-level policy for a generated mesh: per server a
// Server, an HTTPRoute for the methods it serves under /api and an
// AuthorizationPolicy for the clients seen, except every tenth client, so
// that some traffic is denied.
func benchPolicy(rec *recording.Recording) *policy.Set {
	clients := map[recording.PeerID][]string{}
	identities := map[recording.PeerID]string{}
	for _, w := range rec.Workloads {
		identities[w.ID] = w.Identity
	}
	for i, e := range rec.Edges {
		if i%10 != 0 {
			clients[e.Server] = append(clients[e.Server], identities[e.Client])
		}
	}
	set := &policy.Set{}
	for _, w := range rec.Workloads {
		meta := func(name string) policy.ObjectMeta { return policy.ObjectMeta{Namespace: w.Namespace, Name: name} }
		srv, route := w.Name+"-http", w.Name+"-api"
		set.Servers = append(set.Servers, policy.Server{ObjectMeta: meta(srv), Spec: policy.ServerSpec{
			PodSelector: &metav1.LabelSelector{MatchLabels: w.Labels}, Port: intstr.FromString("http")}})
		var matches []policy.HTTPRouteMatch
		for _, m := range []string{"GET", "PUT", "POST"} {
			matches = append(matches, policy.HTTPRouteMatch{Method: m, Path: &policy.HTTPPathMatch{Type: policy.MatchPathPrefix, Value: "/api"}})
		}
		set.HTTPRoutes = append(set.HTTPRoutes, policy.HTTPRoute{
			TypeMeta:   policy.TypeMeta{APIVersion: policy.APIVersionGatewayHTTPRoute, Kind: policy.KindHTTPRoute},
			ObjectMeta: meta(route), Spec: policy.HTTPRouteSpec{
				ParentRefs: []policy.ParentReference{{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: srv}},
				Rules:      []policy.HTTPRouteRule{{Matches: matches}}}})
		set.MeshTLSAuthentications = append(set.MeshTLSAuthentications, policy.MeshTLSAuthentication{
			ObjectMeta: meta(route), Spec: policy.MeshTLSAuthenticationSpec{Identities: clients[w.ID]}})
		set.AuthorizationPolicies = append(set.AuthorizationPolicies, policy.AuthorizationPolicy{ObjectMeta: meta(route),
			Spec: policy.AuthorizationPolicySpec{
				TargetRef: policy.LocalTargetRef{Group: policy.GroupGateway, Kind: policy.KindHTTPRoute, Name: route},
				RequiredAuthenticationRefs: []policy.NamespacedTargetRef{{Group: policy.GroupPolicy,
					Kind: policy.KindMeshTLSAuthentication, Name: route}}}})
	}
	return set
}

// BenchmarkEvaluate evaluates a recording of 2,000 workloads, 20,000
// edges and 200,000 distinct paths against route-level policy for it.
func BenchmarkEvaluate(b *testing.B) {
	rec := mesh.Recording(mesh.Size{Workloads: 2000, Edges: 20000, PathsPerEdge: 10, Namespaces: 20, Seed: 1})
	set := benchPolicy(rec)
	var rep *Report
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if rep, err = Evaluate(rec, set, Options{LiveCheck: true}); err != nil {
			b.Fatal(err)
		}
	}
	if rep.Summary.Denied.Tuples == 0 || rep.Summary.Admitted.Tuples == 0 || len(rep.Warnings) > 0 {
		b.Fatalf("want admitted and denied traffic and no warnings: %+v, %v", rep.Summary, rep.Warnings)
	}
	b.ReportMetric(float64(rep.Summary.Observed.Tuples)*float64(b.N)/b.Elapsed().Seconds(), "tuples/s")
}
