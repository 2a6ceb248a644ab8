package policy

import (
	"bytes"
	"flag"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// booksSet is the booksapp per-route walk-through, written out of order
// and without type fields, as a generator might build it.
func booksSet() *Set {
	meta := func(name string) ObjectMeta { return ObjectMeta{Name: name, Namespace: "booksapp"} }
	server := func(name string) []ParentReference {
		return []ParentReference{{Group: GroupPolicy, Kind: KindServer, Name: name}}
	}
	created := metav1.NewTime(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	return &Set{
		AuthorizationPolicies: []AuthorizationPolicy{
			{ObjectMeta: meta("authors-probe-policy"), Spec: AuthorizationPolicySpec{
				TargetRef: LocalTargetRef{Group: GroupPolicy, Kind: KindHTTPRoute, Name: "authors-probe-route"},
				RequiredAuthenticationRefs: []NamespacedTargetRef{
					{Group: GroupPolicy, Kind: KindNetworkAuthentication, Name: "authors-probe-authn"}},
			}},
			{ObjectMeta: meta("authors-get-policy"), Spec: AuthorizationPolicySpec{
				TargetRef: LocalTargetRef{Group: GroupPolicy, Kind: KindHTTPRoute, Name: "authors-get-route"},
				RequiredAuthenticationRefs: []NamespacedTargetRef{
					{Group: GroupPolicy, Kind: KindMeshTLSAuthentication, Name: "authors-get-authn"}},
			}},
			{ObjectMeta: meta("everyone"), Spec: AuthorizationPolicySpec{
				TargetRef:                  LocalTargetRef{Kind: KindNamespace, Name: "booksapp"},
				RequiredAuthenticationRefs: []NamespacedTargetRef{},
			}},
		},
		MeshTLSAuthentications: []MeshTLSAuthentication{{ObjectMeta: meta("authors-get-authn"),
			Spec: MeshTLSAuthenticationSpec{Identities: []string{
				"webapp.booksapp.serviceaccount.identity.linkerd.cluster.local",
				"books.booksapp.serviceaccount.identity.linkerd.cluster.local",
			}}}},
		NetworkAuthentications: []NetworkAuthentication{{ObjectMeta: meta("authors-probe-authn"),
			Spec: NetworkAuthenticationSpec{Networks: []Network{{CIDR: "::/0"}, {CIDR: "0.0.0.0/0", Except: []string{"10.9.0.0/16", "10.1.0.0/16"}}}}}},
		HTTPRoutes: []HTTPRoute{
			{ObjectMeta: meta("authors-probe-route"), Spec: HTTPRouteSpec{ParentRefs: server("authors-server"),
				Rules: []HTTPRouteRule{{Matches: []HTTPRouteMatch{{Path: &HTTPPathMatch{Value: "/ping"}, Method: "GET"}}}}}},
			{ObjectMeta: ObjectMeta{Name: "authors-get-route", Namespace: "booksapp", CreationTimestamp: &created},
				Spec: HTTPRouteSpec{ParentRefs: server("authors-server"),
					Rules: []HTTPRouteRule{{Matches: []HTTPRouteMatch{
						{Path: &HTTPPathMatch{Value: "/authors.json"}, Method: "GET"},
						{Path: &HTTPPathMatch{Type: MatchPathPrefix, Value: "/authors/"}, Method: "GET",
							Headers: []ValueMatch{{Name: "x-b", Value: "2"}, {Name: "x-a", Value: "1"}}},
					}}}}},
		},
		Servers: []Server{{ObjectMeta: meta("authors-server"), Spec: ServerSpec{
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"project": "booksapp", "app": "authors"}},
			Port:        intstr.FromString("service"), AccessPolicy: Deny,
		}}},
		GRPCRoutes: []GRPCRoute{{ObjectMeta: meta("voting"), Spec: GRPCRouteSpec{ParentRefs: server("voting-grpc"),
			Rules: []GRPCRouteRule{{Matches: []GRPCRouteMatch{{Method: &GRPCMethodMatch{Service: "emojivoto.v1.VotingService", Method: "VoteDog"}}}}}}}},
		ServerAuthorizations: []ServerAuthorization{{ObjectMeta: meta("legacy"), Spec: ServerAuthorizationSpec{
			Server: ServerAuthorizationServer{Name: "authors-server"},
			Client: ServerAuthorizationClient{MeshTLS: &MeshTLSClient{ServiceAccounts: []ServiceAccountRef{{Name: "webapp"}, {Name: "books"}}}},
		}}},
		ServiceProfiles: []ServiceProfile{{ObjectMeta: meta("authors.booksapp.svc.cluster.local"), Spec: ServiceProfileSpec{
			Routes: []ServiceProfileRoute{
				{Name: "GET /authors/{id}.json", Condition: RequestMatch{Method: "GET", PathRegex: `/authors/\d+\.json`}, IsRetryable: true, Timeout: "300ms"},
				{Name: "GET /authors.json", Condition: RequestMatch{Method: "GET", PathRegex: `/authors\.json`}},
			}}}},
	}
}

func TestEncodeGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, booksSet()); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/encode.golden.yaml"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Encode differs from %s (go test -update rewrites it):\n%s", golden, buf.String())
	}
	if errs := Validate(booksSet()); len(errs) != 0 {
		t.Errorf("the golden set is not valid: %v", errs)
	}
}

// Reading what Encode wrote and encoding it again gives the same bytes,
// and encoding is deterministic whatever the input order.
func TestEncodeRoundTrip(t *testing.T) {
	want, err := os.ReadFile("testdata/encode.golden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := Read(bytes.NewReader(want), "golden", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Reverse every kind's slice: the output must not depend on it.
	reverse(set.Servers)
	reverse(set.HTTPRoutes)
	reverse(set.AuthorizationPolicies)
	var got bytes.Buffer
	if err := Encode(&got, set); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("round trip differs:\n%s", got.String())
	}
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}
