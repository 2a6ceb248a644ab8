package explain

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/intents"
	"github.com/cinchmesh/cinch/synth/policy"
)

var workloads = []recording.Workload{
	{ID: "booksapp/authors", Namespace: "booksapp", Name: "authors", ServiceAccount: "authors", Meshed: true,
		Labels: map[string]string{"app": "authors", "project": "booksapp"},
		Ports:  []recording.ContainerPort{{Port: 7001, Name: "service"}},
		Probes: []recording.Probe{{Kind: "readiness", Port: 7001, Path: "/ping"}}},
	{ID: "booksapp/webapp", Namespace: "booksapp", Name: "webapp", ServiceAccount: "webapp", Meshed: true,
		Labels: map[string]string{"app": "webapp", "project": "booksapp"}},
	{ID: "booksapp/books", Namespace: "booksapp", Name: "books", ServiceAccount: "books", Meshed: true,
		Labels: map[string]string{"app": "books", "project": "booksapp"}},
	{ID: "emojivoto/voting", Namespace: "emojivoto", Name: "voting", ServiceAccount: "voting", Meshed: true,
		Labels: map[string]string{"app": "voting-svc"}, Ports: []recording.ContainerPort{{Port: 8080, Name: "grpc"}}},
	{ID: "emojivoto/web", Namespace: "emojivoto", Name: "web", ServiceAccount: "web", Meshed: true,
		Labels: map[string]string{"app": "web-svc"}},
	{ID: "emojivoto/vote-bot", Namespace: "emojivoto", Name: "vote-bot", ServiceAccount: "default", Meshed: true},
	{ID: "shop/legacy", Namespace: "shop", Name: "legacy", ServiceAccount: "legacy"},
	{ID: "shop/api", Namespace: "shop", Name: "api", ServiceAccount: "api", Meshed: true, DefaultInboundPolicy: "deny",
		Labels: map[string]string{"app": "api"}, Ports: []recording.ContainerPort{{Port: 8080, Name: "http"}}},
}

func id(sa, ns string) string {
	return sa + "." + ns + ".serviceaccount.identity.linkerd.cluster.local"
}

const (
	authorsServer = `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: authors-server, namespace: booksapp, creationTimestamp: "2024-01-01T00:00:00Z"}
spec: {podSelector: {matchLabels: {app: authors}}, port: service, accessPolicy: deny}`
	authorsGetRoute = `apiVersion: policy.linkerd.io/v1beta3
kind: HTTPRoute
metadata: {name: authors-get-route, namespace: booksapp}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: authors-server}]
  rules: [{matches: [{path: {type: PathPrefix, value: /authors}, method: GET}]}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: authors-get-policy, namespace: booksapp}
spec:
  targetRef: {group: policy.linkerd.io, kind: HTTPRoute, name: authors-get-route}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: books}]`
	votingServer = `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: voting-grpc, namespace: emojivoto, annotations: {cinch.cinchmesh.io/level: LEVEL}}
spec: {podSelector: {matchLabels: {app: voting-svc}}, port: grpc, proxyProtocol: gRPC, accessPolicy: POLICY}`
)

func readSet(t *testing.T, manifests ...string) *policy.Set {
	t.Helper()
	set, err := policy.Read(strings.NewReader(strings.Join(manifests, "\n---\n")), "test", policy.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func explainQuery(t *testing.T, set *policy.Set, q Query) *Explanation {
	t.Helper()
	x, err := New(Input{Policy: set, Workloads: workloads})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := x.Explain(q)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// grantYAML returns the grant's manifests, checking them with the policy
// controller's admission rules on the way.
func grantYAML(t *testing.T, ex *Explanation) string {
	t.Helper()
	if ex.Grant == nil || ex.Grant.Objects == nil {
		t.Fatalf("no grant: %+v", ex.Grant)
	}
	if errs := policy.Validate(ex.Grant.Objects); len(errs) > 0 {
		t.Fatalf("grant fails admission: %v", errs)
	}
	y, err := ex.Grant.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return string(y)
}

// decideWith evaluates q's request for another client against the policy
// plus the grant: the grant must not admit anyone else.
func decideWith(t *testing.T, set *policy.Set, ex *Explanation, identity string, ip string) eval.Decision {
	t.Helper()
	all := &policy.Set{}
	all.Add(set)
	all.Add(ex.Grant.Objects)
	ev, err := eval.New(all, eval.Cluster{Workloads: workloads}, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := ex.Trace.Request
	req.ClientIdentity, req.SourceIP = identity, netip.Addr{}
	if ip != "" {
		req.SourceIP = netip.MustParseAddr(ip)
	}
	return ev.Decide(req)
}

func contains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

func TestGrantOnMatchedRoute(t *testing.T) {
	set := readSet(t, authorsServer, authorsGetRoute)
	ex := explainQuery(t, set, Query{From: Client{Workload: "booksapp/webapp"}, To: "booksapp/authors", Port: 7001, Method: "GET", Path: "/authors/1.json"})
	if d := ex.Trace.Decision; d.Reason != eval.ReasonNoAuthorizationMatched || d.Route.Name != "authors-get-route" {
		t.Fatalf("decision %+v", d)
	}
	if ex.Grant.Level != "route" {
		t.Errorf("level %q", ex.Grant.Level)
	}
	contains(t, "grant", grantYAML(t, ex), `kind: AuthorizationPolicy
metadata:
  annotations:
    cinch.cinchmesh.io/explained: booksapp/webapp -> booksapp/authors:7001 GET /authors/1.json
    cinch.cinchmesh.io/level: route
  name: authors-get-route-webapp-booksapp
  namespace: booksapp
spec:
  requiredAuthenticationRefs:
  - kind: ServiceAccount
    name: webapp
    namespace: booksapp
  targetRef:
    group: policy.linkerd.io
    kind: HTTPRoute
    name: authors-get-route`)
	if d := decideWith(t, set, ex, id("other", "booksapp"), ""); d.Allowed {
		t.Errorf("the grant admits another service account: %+v", d)
	}
}

func TestGrantNewRoute(t *testing.T) {
	set := readSet(t, authorsServer, authorsGetRoute)
	ex := explainQuery(t, set, Query{From: Client{Workload: "booksapp/books"}, To: "booksapp/authors", Port: 7001, Method: "HEAD", Path: "/authors/1.json?x=1"})
	if ex.Trace.Decision.Reason != eval.ReasonNoRouteMatched {
		t.Fatalf("decision %+v", ex.Trace.Decision)
	}
	y := grantYAML(t, ex)
	contains(t, "grant", y, `apiVersion: policy.linkerd.io/v1beta3
kind: HTTPRoute
metadata:`, `  name: authors-server-head-authors-1-json
  namespace: booksapp
spec:
  parentRefs:
  - group: policy.linkerd.io
    kind: Server
    name: authors-server
  rules:
  - matches:
    - method: HEAD
      path:
        type: Exact
        value: /authors/1.json`, `kind: HTTPRoute
    name: authors-server-head-authors-1-json`, "name: books\n    namespace: booksapp")
	in, err := ex.Intent()
	if err != nil {
		t.Fatal(err)
	}
	// The entry is what the intents parser reads: under intents: of a file,
	// it declares this grant, with the reason still to fill in.
	f, err := intents.Parse([]byte("apiVersion: " + intents.APIVersion + "\nkind: " + intents.Kind + "\nintents:\n" + string(in)))
	if err != nil {
		t.Fatalf("the intent does not parse: %v\n%s", err, in)
	}
	want := []intents.Intent{{Client: intents.Client{ServiceAccount: "booksapp/books"}, Server: "booksapp/authors", Port: 7001,
		Routes: []intents.Route{{Method: "HEAD", Path: "/authors/1.json"}},
		Reason: "FILL IN why this access must exist (explained: booksapp/books -> booksapp/authors:7001 HEAD /authors/1.json?x=1)", Line: 4}}
	if !reflect.DeepEqual(f.Intents, want) {
		t.Errorf("intent parsed as %+v, want %+v", f.Intents, want)
	}
	// Another path, or another client, stays denied.
	if d := decideWith(t, set, ex, id("webapp", "booksapp"), ""); d.Allowed {
		t.Errorf("admits webapp: %+v", d)
	}
	// gRPC: a GRPCRoute for the method.
	set = readSet(t, strings.NewReplacer("LEVEL", "route", "POLICY", "deny").Replace(votingServer), `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: results, namespace: emojivoto}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: voting-grpc}]
  rules: [{matches: [{method: {service: emojivoto.v1.VotingService, method: Results}}]}]`)
	ex = explainQuery(t, set, Query{From: Client{Workload: "emojivoto/web"}, To: "emojivoto/voting", Port: 8080, Method: "POST", Path: "/emojivoto.v1.VotingService/VoteDoughnut"})
	contains(t, "grpc grant", grantYAML(t, ex), `kind: GRPCRoute`, `method:
        method: VoteDoughnut
        service: emojivoto.v1.VotingService
        type: Exact`, "group: gateway.networking.k8s.io\n    kind: GRPCRoute\n    name: voting-grpc-votedoughnut")
	// Not a gRPC call: no route can match it.
	ex = explainQuery(t, set, Query{From: Client{Workload: "emojivoto/web"}, To: "emojivoto/voting", Port: 8080, Method: "GET", Path: "/metrics"})
	if ex.Grant.Objects != nil || !strings.Contains(ex.Grant.Note, "is not a gRPC call") {
		t.Errorf("GET on gRPC: %+v", ex.Grant)
	}
}

func TestGrantServerLevels(t *testing.T) {
	for _, tc := range []struct {
		level, want string
	}{
		{"serviceaccount", "  requiredAuthenticationRefs:\n  - kind: ServiceAccount\n    name: web\n    namespace: emojivoto\n  targetRef:\n    group: policy.linkerd.io\n    kind: Server\n    name: voting-grpc"},
		{"namespace", "  identityRefs:\n  - kind: Namespace\n    name: emojivoto"},
	} {
		set := readSet(t, strings.NewReplacer("LEVEL", tc.level, "POLICY", "audit").Replace(votingServer))
		ex := explainQuery(t, set, Query{From: Client{Workload: "emojivoto/web"}, To: "emojivoto/voting", Port: 8080, Method: "POST", Path: "/emojivoto.v1.VotingService/Results"})
		if ex.Trace.Decision.Reason != eval.ReasonAudit || string(ex.Grant.Level) != tc.level {
			t.Fatalf("%s: decision %+v, grant level %q", tc.level, ex.Trace.Decision, ex.Grant.Level)
		}
		contains(t, tc.level, grantYAML(t, ex), tc.want)
		other := decideWith(t, set, ex, id("default", "emojivoto"), "")
		if tc.level == "namespace" && other.Reason != eval.ReasonAuthorized || tc.level != "namespace" && other.Reason != eval.ReasonAudit {
			t.Errorf("%s: another service account of the namespace: %+v", tc.level, other)
		}
		if d := decideWith(t, set, ex, id("web", "other"), ""); d.Reason != eval.ReasonAudit {
			t.Errorf("%s: another namespace: %+v", tc.level, d)
		}
	}
}

func TestGrantDefaultPolicy(t *testing.T) {
	ex := explainQuery(t, &policy.Set{}, Query{From: Client{Workload: "emojivoto/web"}, To: "shop/api", Port: 8080, Method: "GET", Path: "/"})
	if ex.Trace.Decision.Reason != eval.ReasonDefaultDeny {
		t.Fatalf("decision %+v", ex.Trace.Decision)
	}
	contains(t, "grant", grantYAML(t, ex), `kind: Server
metadata:`, `  name: api-http
  namespace: shop
spec:
  accessPolicy: deny
  podSelector:
    matchLabels:
      app: api
  port: http
  proxyProtocol: unknown`, "name: api-http-web-emojivoto")
	contains(t, "summary", ex.Grant.Summary, "accessPolicy deny, the default policy it had")
	// Unmeshed client with a known address: its /32.
	ex = explainQuery(t, &policy.Set{}, Query{From: Client{Address: netip.MustParseAddr("192.0.2.10")}, To: "shop/api", Port: 8080, Method: "GET", Path: "/"})
	contains(t, "address grant", grantYAML(t, ex), "kind: NetworkAuthentication", "- cidr: 192.0.2.10/32", "name: api-http-192-0-2-10")
	in, err := ex.Intent()
	if err != nil {
		t.Fatal(err)
	}
	if f, err := intents.Parse([]byte("apiVersion: " + intents.APIVersion + "\nkind: " + intents.Kind + "\nintents:\n" + string(in))); err != nil ||
		len(f.Intents) != 1 || f.Intents[0].Client != (intents.Client{Network: "192.0.2.10/32"}) || f.Intents[0].Routes != nil {
		t.Errorf("intent of a server-level grant for an address: %s %v", in, err)
	}
	if d := decideWith(t, &policy.Set{}, ex, "", "192.0.2.11"); d.Allowed {
		t.Errorf("the /32 admits a neighbour: %+v", d)
	}
	// Unmeshed, address unknown: nothing to grant.
	ex = explainQuery(t, &policy.Set{}, Query{From: Client{Workload: "shop/legacy"}, To: "shop/api", Port: 8080, Method: "GET", Path: "/"})
	if ex.Identity != "" || ex.Grant.Objects != nil || !strings.Contains(ex.Grant.Note, "address is not known") {
		t.Errorf("unmeshed client: identity %q, grant %+v", ex.Identity, ex.Grant)
	}
	// A non-service-account identity is named exactly.
	ex = explainQuery(t, &policy.Set{}, Query{From: Client{Identity: "spiffe://example.org/ns/x/sa/y"}, To: "shop/api", Port: 8080, Method: "GET", Path: "/"})
	contains(t, "spiffe grant", grantYAML(t, ex), "kind: MeshTLSAuthentication", "- spiffe://example.org/ns/x/sa/y")
}

func TestGrantNamesDoNotCollide(t *testing.T) {
	taken := `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: api-http, namespace: shop}
spec: {podSelector: {matchLabels: {app: other}}, port: 9999}`
	ex := explainQuery(t, readSet(t, taken), Query{From: Client{Workload: "emojivoto/web"}, To: "shop/api", Port: 8080, Method: "GET", Path: "/"})
	contains(t, "grant", grantYAML(t, ex), "name: api-http-2\n")
}

func TestAllowedHasNoGrant(t *testing.T) {
	ex := explainQuery(t, readSet(t, authorsServer, authorsGetRoute), Query{From: Client{Workload: "booksapp/books"}, To: "booksapp/authors", Port: 7001, Method: "GET", Path: "/authors/1.json"})
	if ex.Denied() || ex.Grant != nil {
		t.Errorf("allowed request: denied %v, grant %+v", ex.Denied(), ex.Grant)
	}
	var b strings.Builder
	if err := Text(&b, ex); err != nil {
		t.Fatal(err)
	}
	contains(t, "text", b.String(), "=> yes authorizationpolicy.policy.linkerd.io/authors-get-policy (route authors-get-route;",
		`verdict   ALLOWED: counted in inbound_http_authz_allow_total{srv_group="policy.linkerd.io",srv_kind="server",srv_name="authors-server",route_group="policy.linkerd.io",route_kind="HTTPRoute",route_name="authors-get-route",authz_group="policy.linkerd.io",authz_kind="authorizationpolicy",authz_name="authors-get-policy"}`)
	if strings.Contains(b.String(), "to allow it") {
		t.Errorf("an allowed request gets a grant:\n%s", b.String())
	}
}

func TestExplainErrors(t *testing.T) {
	x, err := New(Input{Workloads: workloads})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []Query{
		{From: Client{Workload: "booksapp/webapp"}, To: "booksapp/nope", Port: 1},
		{From: Client{Workload: "booksapp/nope"}, To: "booksapp/authors", Port: 7001},
	} {
		if _, err := x.Explain(q); err == nil || !strings.Contains(err.Error(), "is not a workload") {
			t.Errorf("%+v: err %v", q, err)
		}
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Client{
		"10.42.0.7":                   {Address: netip.MustParseAddr("10.42.0.7")},
		"::ffff:10.1.2.3":             {Address: netip.MustParseAddr("10.1.2.3")},
		id("web", "shop"):             {Identity: id("web", "shop")},
		"spiffe://example.org/ns/a/b": {Identity: "spiffe://example.org/ns/a/b"},
		"shop/web":                    {Workload: "shop/web"},
	} {
		got, err := ParseClient(in)
		if err != nil || got != want {
			t.Errorf("ParseClient(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"web", "shop/web/x", "*.shop.serviceaccount.identity.linkerd.cluster.local", "/web"} {
		if _, err := ParseClient(bad); err == nil {
			t.Errorf("ParseClient(%q) accepted", bad)
		}
	}
	if id, port, err := ParseTarget("shop/api:8080"); err != nil || id != "shop/api" || port != 8080 {
		t.Errorf("ParseTarget = %s %d %v", id, port, err)
	}
	for _, bad := range []string{"shop/api", "shop/api:0", "shop/api:http", "api:80", "shop/api:70000"} {
		if _, _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}

func TestDenied(t *testing.T) {
	rec := &recording.Recording{Workloads: workloads, Edges: []recording.Edge{
		{Client: "booksapp/webapp", Server: "booksapp/authors", Port: 7001, Protocol: recording.ProtocolHTTP, Requests: 10,
			TLS: map[string]int64{"true": 10}, Routes: []recording.Route{{Method: "GET", Path: "/authors/1.json", Requests: 10}}},
		{Client: "booksapp/books", Server: "booksapp/authors", Port: 7001, Protocol: recording.ProtocolHTTP, Requests: 7,
			TLS: map[string]int64{"true": 7}, Routes: []recording.Route{{Method: "GET", Path: "/authors/2.json", Requests: 5},
				{Method: "HEAD", Path: "/authors/2.json", Requests: 2}}},
		{Client: "emojivoto/web", Server: "emojivoto/voting", Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 4,
			TLS: map[string]int64{"true": 4}, Routes: []recording.Route{{Method: "POST", Path: "/emojivoto.v1.VotingService/Results", Requests: 4}}},
		{Client: "emojivoto/vote-bot", Server: "emojivoto/voting", Port: 8080, Protocol: recording.ProtocolHTTP, Denied: 3,
			TLS: map[string]int64{"true": 0}},
	}}
	set := readSet(t, authorsServer, authorsGetRoute, strings.NewReplacer("LEVEL", "serviceaccount", "POLICY", "audit").Replace(votingServer))
	rep, err := Denied(rec, Input{Policy: set, Workloads: workloads})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range rep.Groups {
		got = append(got, g.Kind+": "+string(g.Client)+" -> "+string(g.Server)+" "+g.Sample+" "+string(g.Explanation.Trace.Decision.Reason))
	}
	want := []string{
		"denied by this policy: booksapp/webapp -> booksapp/authors GET /authors/1.json NoAuthorizationMatched",
		"admitted only by audit: emojivoto/web -> emojivoto/voting POST /emojivoto.v1.VotingService/Results Audit",
		"denied by the policy in force: emojivoto/vote-bot -> emojivoto/voting (path not recorded) Audit",
		"denied by this policy: booksapp/books -> booksapp/authors HEAD /authors/2.json NoRouteMatched",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("groups:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := rep.DeniedRequests(); n != 15 {
		t.Errorf("denied requests %d, want 10 + 3 + 2", n)
	}
	var b strings.Builder
	if err := DeniedText(&b, rep); err != nil {
		t.Fatal(err)
	}
	contains(t, "text", b.String(), "=== 1. denied by this policy: booksapp/webapp -> booksapp/authors:7001, 10 requests (GET /authors/1.json)",
		"to allow it (route level, as the policy in force)")
	b.Reset()
	if err := DeniedJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	contains(t, "json", b.String(), `"kind": "admitted only by audit"`, `"reason": "NoRouteMatched"`)
}
