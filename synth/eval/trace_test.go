package eval

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
)

// explain runs Explain and checks that its decision is Decide's.
func explain(t *testing.T, e *Evaluator, c call) *Trace {
	t.Helper()
	tr := e.Explain(c.request())
	if d := e.Decide(c.request()); tr.Decision != d {
		t.Fatalf("Explain decided %+v, Decide %+v", tr.Decision, d)
	}
	return tr
}

// stepLine writes a step as "name outcome: why" for comparisons.
func serverLines(tr *Trace) []string {
	var out []string
	for _, s := range tr.Servers {
		out = append(out, s.Server.Name+" "+string(s.Outcome)+": "+s.Why)
	}
	return out
}

func routeLines(tr *Trace) []string {
	var out []string
	for _, r := range tr.Routes {
		mark := "-"
		switch {
		case r.Picked:
			mark = "picked"
		case r.Matched:
			mark = "matched"
		}
		out = append(out, r.Route.Name+" "+mark+": "+r.Why)
	}
	return out
}

func authzLines(steps []AuthorizationStep) []string {
	var out []string
	for _, a := range steps {
		mark := "refuses"
		switch {
		case a.Named:
			mark = "named"
		case a.Admits:
			mark = "admits"
		}
		out = append(out, a.Authorization.String()+" "+mark+": "+a.Why)
	}
	return out
}

// hasLines checks that got has as many lines as want, each containing the
// wanted text.
func hasLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s:\n  %s\nwant lines containing\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		return
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("%s line %d = %q, want it to contain %q", what, i, got[i], want[i])
		}
	}
}

func TestTraceServers(t *testing.T) {
	set := readSet(t,
		srvYAML("a-web", "2024-01-01T00:00:00Z", "{matchLabels: {app: web}}", "http", ""),
		srvYAML("b-tier", "2024-01-01T00:00:00Z", "{matchExpressions: [{key: zone, operator: Exists}]}", "http", ""),
		srvYAML("c-admin", "2024-01-01T00:00:00Z", "{matchLabels: {app: api}}", "9090", ""),
		srvYAML("d-dns", "2024-01-01T00:00:00Z", "{matchLabels: {app: api}}", "metrics", ""),
		srvYAML("e-grpc", "2024-01-01T00:00:00Z", "{matchLabels: {app: api}}", "admin", ""),
		srvYAML("f-old", "2024-02-01T00:00:00Z", "{matchLabels: {app: api}}", "http", ""),
		srvYAML("g-same-age", "2024-02-01T00:00:00Z", "{matchLabels: {tier: backend}}", "8080", ""),
		srvYAML("h-new", "2024-03-01T00:00:00Z", "{}", "8080", ""),
		srvYAML("i-unapplied", "", "{matchLabels: {app: api}}", "http", ""),
		"apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: z-broken, namespace: shop}\nspec: {port: 8080}",
	)
	e := newEvaluator(t, set, shopWorkloads, Options{})
	tr := explain(t, e, get("shop/api", 8080, "/"))
	hasLines(t, "servers", serverLines(tr), []string{
		"a-web not selected: its podSelector requires app=web, the pod has app=api",
		"b-tier not selected: its podSelector requires zone, the pod has no label zone",
		"c-admin other port: it selects the pod but claims port 9090",
		`d-dns other port: it selects the pod but names port "metrics", and the pod has no TCP container port of that name`,
		`e-grpc other port: it selects the pod but names port "admin", which is port 9090 of shop/api`,
		`f-old claims: it selects the pod (podSelector app=api) and claims port 8080 through the container port named "http"`,
		"g-same-age claimed by another: it selects the pod and port 8080, but server f-old (same age, first by name) claims the port first: the oldest Server wins",
		"h-new claimed by another: it selects the pod and port 8080, but server f-old (created 2024-02-01T00:00:00Z, earlier) claims",
		"i-unapplied claimed by another: it selects the pod and port 8080, but server f-old (created 2024-02-01T00:00:00Z; the other is not applied yet)",
	})
	if tr.Decision.Server.Name != "f-old" || tr.Default != nil || tr.Protocol != "unknown" {
		t.Errorf("server %v, default %v, protocol %q; want f-old, none, unknown", tr.Decision.Server, tr.Default, tr.Protocol)
	}
	if n := len(tr.Ignored); n != 6 || !strings.Contains(tr.Ignored[n-1].String(), "z-broken: has no podSelector") {
		t.Errorf("ignored = %v, want the four Servers that lose a port and the one without podSelector", tr.Ignored)
	}
	if tr.Workload == nil || tr.Workload.ID != "shop/api" {
		t.Errorf("workload = %v", tr.Workload)
	}
	if tr = explain(t, e, get("shop/web", 9999, "/")); !strings.Contains(serverLines(tr)[0], "a-web other port") {
		t.Errorf("shop/web:9999: %v", serverLines(tr))
	}
	if tr = explain(t, e, get("shop/nowhere", 80, "/")); tr.Workload != nil || tr.Decision.Reason != ReasonUnknownDestination {
		t.Errorf("unknown destination: workload %v, decision %+v", tr.Workload, tr.Decision)
	}
	if tr = explain(t, newEvaluator(t, readSet(t, srvYAML("s", "", "{}", "8080", "")), shopWorkloads, Options{}),
		get("shop/web", 8080, "/")); !strings.Contains(serverLines(tr)[0], "an empty podSelector selects every pod") {
		t.Errorf("empty selector: %v", serverLines(tr))
	}
}

func TestTraceDefaultPolicy(t *testing.T) {
	workloads := append(shopWorkloads[:2:2],
		recording.Workload{ID: "shop/bad", Namespace: "shop", Name: "bad", DefaultInboundPolicy: "nope"},
		recording.Workload{ID: "other/x", Namespace: "other", Name: "x"})
	e, err := New(readSet(t), Cluster{Workloads: append(workloads, shopWorkloads[2]),
		NamespacePolicies: map[string]string{"other": "all-authenticated"}}, Options{DefaultPolicy: "cluster-authenticated"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dst                  recording.PeerID
		policy, from, reason string
	}{
		{"shop/denied", "deny", "its config.linkerd.io/default-inbound-policy annotation", "DefaultDeny"},
		{"other/x", "all-authenticated", "its namespace's config.linkerd.io/default-inbound-policy annotation", "NoAuthorizationMatched"},
		{"shop/web", "cluster-authenticated", "the cluster default (proxy.defaultInboundPolicy)", "NoAuthorizationMatched"},
		{"shop/bad", "cluster-authenticated", `the cluster default (its config.linkerd.io/default-inbound-policy annotation "nope" is invalid)`, "NoAuthorizationMatched"},
	} {
		tr := explain(t, e, get(tc.dst, 8080, "/x"))
		if tr.Default == nil || tr.Default.Policy != tc.policy || tr.Default.From != tc.from || string(tr.Decision.Reason) != tc.reason {
			t.Errorf("%s: default %+v, reason %s; want %s from %q, %s", tc.dst, tr.Default, tr.Decision.Reason, tc.policy, tc.from, tc.reason)
		}
		if len(tr.Servers) != 0 || !tr.ImplicitRoutes {
			t.Errorf("%s: servers %v, implicit routes %v", tc.dst, tr.Servers, tr.ImplicitRoutes)
		}
	}
	// The probe route of a default policy admits the kubelet under deny.
	tr := explain(t, e, get("shop/denied", 8080, "/ready"))
	hasLines(t, "routes", routeLines(tr), []string{
		"default matched: matches, but probe wins: the longest path match wins (6 characters against 1)",
		"probe picked: the most specific match (path match of 6 characters, method)",
	})
	hasLines(t, "authorizations", authzLines(tr.Authorizations), []string{
		"default/probe named: it admits every client",
		"default/localhost refuses: the source address 10.42.0.200 is not in 127.0.0.1/32, ::1/128",
	})
}

func TestTraceRoutes(t *testing.T) {
	set := readSet(t, apiServer,
		httpRoute("books", "2024-01-01T00:00:00Z", "[{matches: [{path: {type: PathPrefix, value: /books}}]}]", ""),
		httpRoute("books-get", "2024-01-02T00:00:00Z", "[{matches: [{path: {type: PathPrefix, value: /books}, method: GET}]}]", ""),
		httpRoute("books-twin", "2024-01-03T00:00:00Z", "[{matches: [{path: {type: PathPrefix, value: /books}}]}]", ""),
		httpRoute("exact", "2024-01-01T00:00:00Z", "[{matches: [{path: {type: Exact, value: /books/1}, headers: [{name: x-v, value: '1'}]}]}]", ""),
		httpRoute("query", "2024-01-01T00:00:00Z", "[{matches: [{path: {type: PathPrefix, value: /books}, queryParams: [{name: page, value: '2'}]}]}]", ""),
		httpRoute("regex", "2024-01-01T00:00:00Z", "[{matches: [{path: {type: RegularExpression, value: '/authors/[0-9]+'}}]}]", ""),
		httpRoute("hosted", "2024-01-01T00:00:00Z", "[{matches: [{path: {type: PathPrefix, value: /}}]}]", "  hostnames: [admin.shop, '*.internal']"),
	)
	e := newEvaluator(t, set, shopWorkloads, Options{})
	c := call{dst: "shop/api", port: 8080, ip: "10.42.0.9", method: "POST", path: "/books/1?page=3", host: "api.shop:8080",
		header: http.Header{"X-V": {"2"}}}
	tr := explain(t, e, c)
	if tr.ImplicitRoutes || tr.RouteGiven {
		t.Errorf("implicit %v, given %v", tr.ImplicitRoutes, tr.RouteGiven)
	}
	hasLines(t, "routes", routeLines(tr), []string{
		"books picked: the most specific match (path match of 6 characters)",
		"exact -: no match: headers X-V do not all match",
		"hosted -: the authority api.shop is none of its hostnames (admin.shop, *.internal)",
		"query -: no match: query parameters page do not all match",
		"regex -: no match: path /books/1 does not match RegularExpression /authors/[0-9]+",
		"books-get -: no match: method POST is not GET",
		"books-twin matched: matches, but books wins: the matches are equally specific and ties go to the oldest route (created 2024-01-01T00:00:00Z, earlier); only the picked route's authorizations count",
	})
	c.method, c.header, c.path = "GET", http.Header{"X-V": {"1"}}, "/books/1?page=2"
	hasLines(t, "routes", routeLines(explain(t, e, c)), []string{
		"books matched: matches, but exact wins: the longest path match wins (8 characters against 6)",
		"exact picked: the most specific match (path match of 8 characters, 1 headers)",
		"hosted -",
		"query matched: matches, but exact wins: the longest path match wins",
		"regex -",
		"books-get matched: matches, but exact wins",
		"books-twin matched",
	})
	c.path = "/books/2?page=2"
	hasLines(t, "routes", routeLines(explain(t, e, c)), []string{
		"books matched: matches, but query wins: more query parameter matches (1 against 0)",
		"exact -: no match: path /books/2 does not match Exact /books/1",
		"hosted -", "query picked", "regex -",
		"books-get matched: matches, but query wins: more query parameter matches (1 against 0)",
		"books-twin matched",
	})
	c.path = "/books/2"
	hasLines(t, "routes", routeLines(explain(t, e, c)), []string{
		"books matched: matches, but books-get wins: it also matches the method",
		"exact -", "hosted -", "query -: no match: query parameters page do not all match", "regex -",
		"books-get picked: the most specific match (path match of 6 characters, method)",
		"books-twin matched",
	})
	c.host = "admin.shop"
	hasLines(t, "routes", routeLines(explain(t, e, c)), []string{
		"books matched: matches, but hosted wins: its hostnames match the request's authority",
		"exact -", "hosted picked: the most specific match (hostname, path match of 1 characters)", "query -", "regex -",
		"books-get matched", "books-twin matched",
	})
	c.host, c.path = "", "/authors"
	tr = explain(t, e, c)
	hasLines(t, "routes", routeLines(tr), []string{
		"books -: no match: path /authors does not match PathPrefix /books",
		"exact -: no match: path /authors does not match Exact /books/1",
		"hosted -: its hostnames (admin.shop, *.internal) need the request's authority, which is not known",
		"query -", "regex -: no match: path /authors does not match RegularExpression", "books-get -", "books-twin -",
	})
	if tr.Decision.Reason != ReasonNoRouteMatched || len(tr.Authorizations) != 0 {
		t.Errorf("no route: %+v, %d authorizations", tr.Decision, len(tr.Authorizations))
	}
}

func TestTraceHostnames(t *testing.T) {
	set := readSet(t, apiServer,
		httpRoute("wild", "2024-01-01T00:00:00Z", "[{}]", "  hostnames: ['*.shop']"),
		httpRoute("wild-long", "2024-01-01T00:00:00Z", "[{}]", "  hostnames: ['*.api.shop']"),
		httpRoute("exact", "2024-01-02T00:00:00Z", "[{}]", "  hostnames: [v1.api.shop]"),
	)
	e := newEvaluator(t, set, shopWorkloads, Options{})
	c := call{dst: "shop/api", port: 8080, method: "GET", path: "/", host: "v1.api.shop"}
	hasLines(t, "routes", routeLines(explain(t, e, c)), []string{
		"wild matched: matches, but exact wins: its hostname matches exactly, not by wildcard",
		"wild-long matched: matches, but exact wins: its hostname matches exactly",
		"exact picked",
	})
	c.host = "v2.api.shop"
	hasLines(t, "routes", routeLines(explain(t, e, c)), []string{
		"wild matched: matches, but wild-long wins: its hostname match is longer (9 characters against 5)",
		"wild-long picked", "exact -: the authority v2.api.shop is none of its hostnames (v1.api.shop)",
	})
}

func TestTraceGRPCRoutes(t *testing.T) {
	const grpcServer = `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: voting, namespace: emojivoto}
spec: {podSelector: {matchLabels: {app: voting-svc}}, port: grpc, proxyProtocol: gRPC}`
	grpcRoute := func(name, created, match string) string {
		return `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: ` + name + `, namespace: emojivoto, creationTimestamp: ` + created + `}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: voting}]
  rules: [{matches: [` + match + `]}]`
	}
	set := readSet(t, grpcServer,
		grpcRoute("service", "2024-01-01T00:00:00Z", "{method: {service: emojivoto.v1.VotingService}}"),
		grpcRoute("results", "2024-01-01T00:00:00Z", "{method: {service: emojivoto.v1.VotingService, method: Results}}"),
		grpcRoute("short", "2024-01-01T00:00:00Z", "{method: {service: emojivoto.v1.Voting}}"),
		grpcRoute("headers", "2024-01-01T00:00:00Z", "{method: {service: emojivoto.v1.VotingService, method: Results}, headers: [{name: x-a, value: b}]}"),
	)
	e := newEvaluator(t, set, emojivotoWorkloads, Options{})
	c := call{dst: "emojivoto/voting", port: 8080, from: id("web", "emojivoto"), method: "POST", path: "/emojivoto.v1.VotingService/Results",
		header: http.Header{"X-A": {"b"}}}
	tr := explain(t, e, c)
	if tr.Protocol != "gRPC" {
		t.Errorf("protocol %q", tr.Protocol)
	}
	hasLines(t, "routes", routeLines(tr), []string{
		"headers picked: the most specific match (service, method, 1 headers)",
		"results matched: matches, but headers wins: more header matches (1 against 0)",
		"service matched: matches, but headers wins: its method match is longer (7 characters against 0)",
		"short -: no match: service emojivoto.v1.VotingService is not emojivoto.v1.Voting",
	})
	c.header = nil
	c.path = "/emojivoto.v1.VotingService/VoteDoughnut"
	hasLines(t, "routes", routeLines(explain(t, e, c)), []string{
		"headers -: no match: method VoteDoughnut is not emojivoto.v1.VotingService/Results",
		"results -: no match: method VoteDoughnut is not emojivoto.v1.VotingService/Results",
		"service picked: the most specific match (service)", "short -",
	})
	c.method = "GET"
	hasLines(t, "routes", routeLines(explain(t, e, c)), []string{
		"headers -: no match: GET /emojivoto.v1.VotingService/VoteDoughnut is not a gRPC call (POST /service/method)",
		"results -", "service -", "short -",
	})
	set = readSet(t, grpcServer,
		grpcRoute("svc-a", "2024-01-01T00:00:00Z", "{method: {service: a.Long}}"),
		grpcRoute("svc-b", "2024-01-01T00:00:00Z", "{method: {service: a.Longer}}"))
	e = newEvaluator(t, set, emojivotoWorkloads, Options{})
	c = call{dst: "emojivoto/voting", port: 8080, method: "POST", path: "/a.Longer/M"}
	hasLines(t, "routes", routeLines(explain(t, e, c)), []string{
		"svc-a -: no match: service a.Longer is not a.Long", "svc-b picked: the most specific match (service)"})
}

func TestTraceGivenRoute(t *testing.T) {
	set := readSet(t, apiServer,
		httpRoute("books", "2024-01-01T00:00:00Z", "[{matches: [{path: {type: PathPrefix, value: /books}}]}]", ""),
		httpRoute("authors", "2024-01-01T00:00:00Z", "[{matches: [{path: {type: PathPrefix, value: /authors}}]}]", ""))
	e := newEvaluator(t, set, shopWorkloads, Options{})
	req := Request{Destination: "shop/api", Port: 8080, Route: Ref{Group: "policy.linkerd.io", Kind: "httproute", Name: "books"}}
	tr := e.Explain(req)
	if d := e.Decide(req); d != tr.Decision || !d.Allowed || d.Route.Name != "books" {
		t.Errorf("given route: Decide %+v, Explain %+v", d, tr.Decision)
	}
	hasLines(t, "routes", routeLines(tr), []string{
		"authors -: not the route the request matched (httproute.policy.linkerd.io/books)",
		"books picked: the route the request is known to have matched",
	})
	if !tr.RouteGiven {
		t.Error("RouteGiven not set")
	}
	req.Route.Name = "gone"
	if d := e.Decide(req); d.Reason != ReasonNoRouteMatched {
		t.Errorf("a route the port does not have: %+v", d)
	}
}

func TestTraceAuthorizations(t *testing.T) {
	set := readSet(t, shopServers,
		httpRoute("books", "2024-01-01T00:00:00Z", "[{matches: [{path: {type: PathPrefix, value: /books}}]}]", ""),
		httpRoute("authors", "2024-01-01T00:00:00Z", "[{matches: [{path: {type: PathPrefix, value: /authors}}]}]", ""),
		meshTLS("{identities: ['"+id("web", "shop")+"', '*.other.serviceaccount.identity.linkerd.cluster.local']}"),
		networkAuthn("office", "[{cidr: 192.0.2.0/24, except: [192.0.2.128/25]}]"),
		authzPolicy("by-identity", toAPI, meshTLSTo),
		authzPolicy("by-network", toAPI, "[{group: policy.linkerd.io, kind: NetworkAuthentication, name: office}]"),
		`apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: any-tls, namespace: shop}
spec: {server: {name: api-http}, client: {meshTLS: {unauthenticatedTLS: true}}}`,
	)
	e := newEvaluator(t, set, shopWorkloads, Options{})
	at := func(from, ip, path string) call {
		return call{dst: "shop/api", port: 8080, from: from, ip: ip, method: "GET", path: path}
	}
	tr := explain(t, e, at(id("web", "shop"), "10.42.0.7", "/books"))
	hasLines(t, "authorizations", authzLines(tr.Authorizations), []string{
		"authorizationpolicy.policy.linkerd.io/books named: it admits every client",
		"authorizationpolicy.policy.linkerd.io/by-identity admits: identity " + id("web", "shop") + " is listed",
		"authorizationpolicy.policy.linkerd.io/by-network refuses: the source address 10.42.0.7 is not in 192.0.2.0/24 except 192.0.2.128/25",
		"serverauthorization.policy.linkerd.io/any-tls admits: the connection is TLS; the source address 10.42.0.7 is in 10.0.0.0/8",
		"default/localhost refuses",
	})
	if tr.Authorizations[0].Route.Name != "books" || tr.Authorizations[1].Route != (Ref{}) {
		t.Errorf("route of the authorizations: %v, %v", tr.Authorizations[0].Route, tr.Authorizations[1].Route)
	}
	hasLines(t, "elsewhere", authzLines(tr.Elsewhere), []string{"authorizationpolicy.policy.linkerd.io/authors admits"})

	// Every refusal, with a server that only the server-level
	// authorizations reach (no route matches /other... except none: use
	// the web server, which has none of the routes).
	set = readSet(t, shopServers,
		meshTLS("{identities: ['"+id("web", "shop")+"', '*.other.serviceaccount.identity.linkerd.cluster.local']}"),
		networkAuthn("office", "[{cidr: 192.0.2.0/24}]"),
		authzPolicy("by-identity", toAPI, meshTLSTo),
		authzPolicy("by-network", toAPI, "[{group: policy.linkerd.io, kind: NetworkAuthentication, name: office}]"),
		`apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {name: any-tls, namespace: shop}
spec: {server: {name: api-http}, client: {meshTLS: {unauthenticatedTLS: true}}}`,
		strings.Replace(srvYAML("audited", "", "{matchLabels: {app: web}}", "9999", ""), "all-unauthenticated", "audit", 1),
	)
	e = newEvaluator(t, set, shopWorkloads, Options{})
	tr = explain(t, e, at("", "198.51.100.1", "/"))
	hasLines(t, "plain from outside", authzLines(tr.Authorizations), []string{
		"by-identity refuses: the client has no mTLS identity",
		"by-network refuses: the source address 198.51.100.1 is not in 192.0.2.0/24",
		"any-tls refuses: the source address 198.51.100.1 is not in 10.0.0.0/8",
		"default/localhost refuses",
	})
	if tr.Decision.Reason != ReasonNoAuthorizationMatched {
		t.Errorf("decision %+v", tr.Decision)
	}
	tr = explain(t, e, at("", "10.1.2.3", "/"))
	if got := authzLines(tr.Authorizations)[2]; !strings.Contains(got, "any-tls refuses: the connection is not TLS") {
		t.Errorf("plain in-cluster: %s", got)
	}
	tr = explain(t, e, at("", "192.0.2.9", "/"))
	if got := authzLines(tr.Authorizations)[1]; !strings.Contains(got, "by-network named: the source address 192.0.2.9 is in 192.0.2.0/24") {
		t.Errorf("office: %s", got)
	}
	tr = explain(t, e, at(id("api", "shop"), "", "/"))
	hasLines(t, "unknown address", authzLines(tr.Authorizations), []string{
		"by-identity refuses: the identity " + id("api", "shop") + " is not among *.other.serviceaccount.identity.linkerd.cluster.local, " + id("web", "shop"),
		"by-network refuses: the source address is not known, and 192.0.2.0/24 does not cover every cluster network",
		"any-tls named: the connection is TLS; its networks cover every cluster network, where the unknown source address is taken to be",
		"default/localhost refuses: the source address is not known",
	})
	tr = explain(t, e, at(id("db", "other"), "10.1.2.3", "/"))
	if got := authzLines(tr.Authorizations)[0]; !strings.Contains(got, "by-identity named: identity "+id("db", "other")+" matches *.other.") {
		t.Errorf("suffix: %s", got)
	}
	tr = explain(t, e, at("spiffe://example.org/ns/other/db", "10.1.2.3", "/"))
	if got := authzLines(tr.Authorizations)[0]; !strings.Contains(got, "the SPIFFE identity spiffe://example.org/ns/other/db matches exact identities only") {
		t.Errorf("spiffe: %s", got)
	}
	tr = explain(t, e, call{dst: "shop/web", port: 9999, ip: "10.1.2.3", method: "GET", path: "/"})
	hasLines(t, "audit", authzLines(tr.Authorizations), []string{
		"default/localhost refuses",
		"default/audit named: audit mode admits what nothing else does, and the proxy counts it as authz default/audit",
	})
	if tr.Decision.Reason != ReasonAudit || tr.Authorizations[1].Requires != "any client, meshed or not, from any address" {
		t.Errorf("audit: %+v, requires %q", tr.Decision, tr.Authorizations[1].Requires)
	}
	if got := tr.Authorizations[0].Requires; got != "any client, meshed or not, from 127.0.0.1/32, ::1/128" {
		t.Errorf("localhost requires %q", got)
	}
}

func TestTraceRequires(t *testing.T) {
	e := newEvaluator(t, readSet(t), shopWorkloads, Options{DefaultPolicy: "cluster-authenticated"})
	tr := explain(t, e, call{dst: "shop/web", port: 8080, from: id("api", "shop"), ip: "10.1.2.3", method: "GET", path: "/"})
	a := tr.Authorizations[1]
	if a.Requires != "any mTLS identity, from 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12, 192.168.0.0/16, fd00::/8" || !a.Named ||
		a.Why != "identity "+id("api", "shop")+" matches *; the source address 10.1.2.3 is in 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12, 192.168.0.0/16, fd00::/8" {
		t.Errorf("cluster-authenticated: %+v", a)
	}
	set := readSet(t, shopServers, meshTLS("{identities: ['"+id("web", "shop")+"']}"), authzPolicy("web", toAPI, meshTLSTo))
	tr = explain(t, newEvaluator(t, set, shopWorkloads, Options{}), call{dst: "shop/api", port: 8080, from: id("web", "shop"), method: "GET", path: "/"})
	if got := tr.Authorizations[0].Requires; got != "mTLS identities "+id("web", "shop")+", from any address" {
		t.Errorf("requires %q", got)
	}
}

// An opaque Server has no routes: authorization only.
func TestTraceOpaque(t *testing.T) {
	set := readSet(t, srvYAML("db", "", "{matchLabels: {app: api}}", "5432", "  proxyProtocol: opaque\n"))
	tr := explain(t, newEvaluator(t, set, shopWorkloads, Options{}), call{dst: "shop/api", port: 5432, ip: "10.1.2.3"})
	if tr.Protocol != "opaque" || len(tr.Routes) != 0 || tr.ImplicitRoutes || tr.Decision.Route != (Ref{}) || !tr.Decision.Allowed {
		t.Errorf("opaque: protocol %q, routes %v, implicit %v, decision %+v", tr.Protocol, tr.Routes, tr.ImplicitRoutes, tr.Decision)
	}
}
