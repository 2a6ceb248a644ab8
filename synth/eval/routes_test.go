package eval

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// apiServer is a Server for shop/api's http port whose routes each have
// their own AuthorizationPolicy admitting everyone, so a decision's
// authorization names the route that was picked.
const apiServer = `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: api-http, namespace: shop}
spec: {podSelector: {matchLabels: {app: api}}, port: http}`

// httpRoute writes an HTTPRoute attached to api-http and a policy for it;
// rules is the YAML of spec.rules, extra more spec fields.
func httpRoute(name, created, rules, extra string) string {
	meta := "{name: " + name + ", namespace: shop"
	if created != "" {
		meta += ", creationTimestamp: " + created
	}
	return `apiVersion: policy.linkerd.io/v1beta3
kind: HTTPRoute
metadata: ` + meta + `}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: api-http}]
  rules: ` + rules + `
` + extra + `
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: ` + name + `, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: HTTPRoute, name: ` + name + `}
  requiredAuthenticationRefs: []`
}

func TestRoutePrecedence(t *testing.T) {
	req := func(method, path string) call {
		return call{dst: "shop/api", port: 8080, ip: "10.42.0.9", method: method, path: path, host: "api.shop.svc.cluster.local:8080"}
	}
	withHeader := func(c call, kv ...string) call {
		c.header = http.Header{}
		for i := 0; i < len(kv); i += 2 {
			c.header.Add(kv[i], kv[i+1])
		}
		return c
	}
	withHost := func(c call, host string) call { c.host = host; return c }
	tests := []struct {
		name   string
		routes []string
		call   call
		want   string // the route picked; "" for none (404)
	}{
		{"longest path prefix wins",
			[]string{httpRoute("api", "", "[{matches: [{path: {type: PathPrefix, value: /api}}]}]", ""),
				httpRoute("api-v1", "", "[{matches: [{path: {type: PathPrefix, value: /api/v1}}]}]", "")},
			req("GET", "/api/v1/items"), "api-v1"},
		{"a prefix matches whole segments only",
			[]string{httpRoute("api", "", "[{matches: [{path: {type: PathPrefix, value: /api}}]}]", "")},
			req("GET", "/apiary"), ""},
		{"a prefix with a trailing slash matches the bare path",
			[]string{httpRoute("api", "", "[{matches: [{path: {type: PathPrefix, value: /api/}}]}]", "")},
			req("GET", "/api"), "api"},
		{"exact path",
			[]string{httpRoute("exact", "", "[{matches: [{path: {type: Exact, value: /api}}]}]", "")},
			req("GET", "/api/"), ""},
		{"a regular expression must match the whole path",
			[]string{httpRoute("re", "", `[{matches: [{path: {type: RegularExpression, value: "/books/[0-9]+"}}]}]`, "")},
			req("GET", "/books/12/x"), ""},
		{"a regular expression counts the whole path's length",
			[]string{httpRoute("prefix", "", "[{matches: [{path: {type: PathPrefix, value: /books}}]}]", ""),
				httpRoute("re", "", `[{matches: [{path: {type: RegularExpression, value: "/books/[0-9]+"}}]}]`, "")},
			req("GET", "/books/12"), "re"},
		{"equal paths: more header matches win",
			[]string{httpRoute("plain", "", "[{matches: [{path: {value: /api}}]}]", ""),
				httpRoute("canary", "", "[{matches: [{path: {value: /api}, headers: [{name: x-canary, value: \"1\"}]}]}]", "")},
			withHeader(req("GET", "/api/x"), "X-Canary", "1"), "canary"},
		{"a header match must hold",
			[]string{httpRoute("canary", "", "[{matches: [{path: {value: /api}, headers: [{name: x-canary, value: \"1\"}]}]}]", "")},
			withHeader(req("GET", "/api/x"), "X-Canary", "2"), ""},
		{"header regex matches the whole value, any of the values",
			[]string{httpRoute("canary", "", "[{matches: [{headers: [{name: x-user, type: RegularExpression, value: \"[a-z]+\"}]}]}]", "")},
			withHeader(req("GET", "/"), "X-User", "Bob1", "X-User", "alice"), "canary"},
		{"equal paths and headers: more query matches win",
			[]string{httpRoute("plain", "", "[{matches: [{path: {value: /api}}]}]", ""),
				httpRoute("paged", "", "[{matches: [{path: {value: /api}, queryParams: [{name: page, value: \"2\"}]}]}]", "")},
			req("GET", "/api/x?page=2&size=10"), "paged"},
		{"a query match needs a query",
			[]string{httpRoute("paged", "", "[{matches: [{queryParams: [{name: page, value: \"2\"}]}]}]", "")},
			req("GET", "/api/x"), ""},
		{"then a method match wins",
			[]string{httpRoute("any", "", "[{matches: [{path: {value: /api}}]}]", ""),
				httpRoute("post", "", "[{matches: [{path: {value: /api}, method: POST}]}]", "")},
			req("POST", "/api"), "post"},
		{"the method must match",
			[]string{httpRoute("post", "", "[{matches: [{path: {value: /api}, method: POST}]}]", "")},
			req("GET", "/api"), ""},
		{"an Exact and a PathPrefix of the same length tie on the path",
			[]string{httpRoute("exact", "", "[{matches: [{path: {type: Exact, value: /api}}]}]", ""),
				httpRoute("prefix", "", "[{matches: [{path: {value: /api}, method: GET}]}]", "")},
			req("GET", "/api"), "prefix"},
		{"ties go to the oldest route",
			[]string{httpRoute("a-new", "2024-06-01T00:00:00Z", "[{matches: [{path: {value: /api}}]}]", ""),
				httpRoute("z-old", "2024-01-01T00:00:00Z", "[{matches: [{path: {value: /api}}]}]", "")},
			req("GET", "/api"), "z-old"},
		{"then to the first by name",
			[]string{httpRoute("b", "2024-01-01T00:00:00Z", "[{matches: [{path: {value: /api}}]}]", ""),
				httpRoute("a", "2024-01-01T00:00:00Z", "[{matches: [{path: {value: /api}}]}]", "")},
			req("GET", "/api"), "a"},
		{"a route not yet applied comes after the existing ones",
			[]string{httpRoute("a-proposed", "", "[{matches: [{path: {value: /api}}]}]", ""),
				httpRoute("z-existing", "2024-01-01T00:00:00Z", "[{matches: [{path: {value: /api}}]}]", "")},
			req("GET", "/api"), "z-existing"},
		{"a rule without matches matches everything",
			[]string{httpRoute("all", "", "[{}]", "")},
			req("DELETE", "/anything"), "all"},
		{"a route without rules matches everything",
			[]string{httpRoute("all", "", "[]", "")},
			req("DELETE", "/anything"), "all"},
		{"a route whose hostname matches beats one without",
			[]string{httpRoute("api", "", "[{matches: [{path: {value: /api/v1}}]}]", ""),
				httpRoute("hosted", "", "[{matches: [{path: {value: /}}]}]", "  hostnames: [api.shop.svc.cluster.local]")},
			req("GET", "/api/v1"), "hosted"},
		{"an exact hostname beats a wildcard",
			[]string{httpRoute("wild", "", "[{}]", "  hostnames: [\"*.shop.svc.cluster.local\"]"),
				httpRoute("exact", "", "[{}]", "  hostnames: [api.shop.svc.cluster.local]")},
			withHost(req("GET", "/"), "API.shop.svc.cluster.local."), "exact"},
		{"a wildcard does not match the bare domain",
			[]string{httpRoute("wild", "", "[{}]", "  hostnames: [\"*.svc.cluster.local\"]")},
			withHost(req("GET", "/"), "svc.cluster.local"), ""},
		{"a wildcard matches deeper names",
			[]string{httpRoute("wild", "", "[{}]", "  hostnames: [\"*.cluster.local\"]")},
			req("GET", "/"), "wild"},
		{"a route whose hostnames do not match is skipped",
			[]string{httpRoute("other", "", "[{}]", "  hostnames: [web.shop]")},
			req("GET", "/"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvaluator(t, readSet(t, append([]string{apiServer}, tt.routes...)...), shopWorkloads, Options{})
			checkWarnings(t, e)
			got := e.Decide(tt.call.request())
			want := decision(false, ReasonNoRouteMatched, "server.policy.linkerd.io/api-http", "", "")
			if tt.want != "" {
				want = decision(true, ReasonAuthorized, "server.policy.linkerd.io/api-http",
					"HTTPRoute.policy.linkerd.io/"+tt.want, "authorizationpolicy.policy.linkerd.io/"+tt.want)
			}
			if got != want {
				t.Errorf("Decide = %+v\nwant     %+v", got, want)
			}
		})
	}
}

// The route is chosen before authorization (docs/linkerd.md, "How a proxy decides", step 3): two routes
// with the same match, one per client, leave the second client denied.
func TestRouteChosenBeforeAuthorization(t *testing.T) {
	perClient := func(name, sa string) string {
		return `apiVersion: policy.linkerd.io/v1beta3
kind: HTTPRoute
metadata: {name: ` + name + `, namespace: shop}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: api-http}]
  rules: [{matches: [{path: {value: /orders}, method: GET}]}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: ` + name + `, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: HTTPRoute, name: ` + name + `}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: ` + sa + `}]`
	}
	e := newEvaluator(t, readSet(t, apiServer, perClient("orders-for-web", "web"), perClient("orders-for-batch", "batch")),
		shopWorkloads, Options{})
	const srv = "server.policy.linkerd.io/api-http"
	runDecide(t, e, []decideCase{
		{"batch's route is picked (first by name) and admits batch",
			call{dst: "shop/api", port: 8080, from: id("batch", "shop"), method: "GET", path: "/orders"},
			decision(true, ReasonAuthorized, srv, "HTTPRoute.policy.linkerd.io/orders-for-batch", "authorizationpolicy.policy.linkerd.io/orders-for-batch")},
		{"web is denied although its own route has the same match",
			call{dst: "shop/api", port: 8080, from: id("web", "shop"), method: "GET", path: "/orders"},
			decision(false, ReasonNoAuthorizationMatched, srv, "HTTPRoute.policy.linkerd.io/orders-for-batch", "")},
	})
}

func TestRouteGroupsAndAcceptance(t *testing.T) {
	gatewayRoute := `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api-get, namespace: shop}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: api-http}]
  rules: [{matches: [{path: {value: /items}, method: GET}]}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: api-get, namespace: shop}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: api-get}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: web}]`
	const srv = "server.policy.linkerd.io/api-http"
	web := id("web", "shop")
	tests := []struct {
		name      string
		manifests []string
		call      call
		want      Decision
		warnings  []string
	}{
		{"a gateway.networking.k8s.io HTTPRoute and a policy targeting it",
			[]string{apiServer, gatewayRoute},
			call{dst: "shop/api", port: 8080, from: web, method: "GET", path: "/items"},
			decision(true, ReasonAuthorized, srv, "HTTPRoute.gateway.networking.k8s.io/api-get", "authorizationpolicy.policy.linkerd.io/api-get"),
			nil},
		{"once a route is attached the probe route is gone",
			[]string{apiServer, gatewayRoute},
			get("shop/api", 8080, "/healthz"),
			decision(false, ReasonNoRouteMatched, srv, "", ""),
			nil},
		{"a policy naming the other group's route does not apply",
			[]string{apiServer, strings.Replace(gatewayRoute, "targetRef: {group: gateway.networking.k8s.io", "targetRef: {group: policy.linkerd.io", 1)},
			call{dst: "shop/api", port: 8080, from: web, method: "GET", path: "/items"},
			decision(false, ReasonNoAuthorizationMatched, srv, "HTTPRoute.gateway.networking.k8s.io/api-get", ""),
			[]string{`AuthorizationPolicy shop/api-get: targets HTTPRoute "api-get" (policy.linkerd.io), which does not exist`}},
		{"a route whose parent Server does not exist is not accepted: defaults stay",
			[]string{apiServer, strings.Replace(gatewayRoute, "name: api-http}", "name: api-https}", 1)},
			get("shop/api", 8080, "/healthz"),
			decision(true, ReasonAuthorized, srv, "default/probe", "default/probe"),
			[]string{`AuthorizationPolicy shop/api-get: targets HTTPRoute "api-get", which no Server accepts`,
				`HTTPRoute shop/api-get: parent Server "api-https" does not exist`}},
		{"a gateway route's parentRef without group is a Gateway's",
			[]string{apiServer, strings.Replace(gatewayRoute, "parentRefs: [{group: policy.linkerd.io, ", "parentRefs: [{", 1)},
			get("shop/api", 8080, "/healthz"),
			decision(true, ReasonAuthorized, srv, "default/probe", "default/probe"),
			[]string{`AuthorizationPolicy shop/api-get: targets HTTPRoute "api-get", which no Server accepts`}},
		{"a parent in another namespace makes Linkerd ignore the route",
			[]string{apiServer, strings.Replace(gatewayRoute, "name: api-http}", "name: api-http, namespace: other}", 1)},
			get("shop/api", 8080, "/healthz"),
			decision(true, ReasonAuthorized, srv, "default/probe", "default/probe"),
			[]string{`AuthorizationPolicy shop/api-get: targets HTTPRoute "api-get" (gateway.networking.k8s.io), which does not exist`,
				`HTTPRoute shop/api-get: parent Server "api-http" is in another namespace (other): Linkerd ignores this HTTPRoute`}},
		{"a parent given with a port makes Linkerd ignore the route",
			[]string{apiServer, strings.Replace(gatewayRoute, "name: api-http}", "name: api-http, port: 8080}", 1)},
			get("shop/api", 8080, "/healthz"),
			decision(true, ReasonAuthorized, srv, "default/probe", "default/probe"),
			[]string{`AuthorizationPolicy shop/api-get: targets HTTPRoute "api-get"`,
				`HTTPRoute shop/api-get: parent Server "api-http" is given with a port`}},
		{"an unsupported filter makes Linkerd ignore the route",
			[]string{apiServer, strings.Replace(gatewayRoute, "method: GET}]}]", "method: GET}], filters: [{type: URLRewrite, urlRewrite: {hostname: x}}]}]", 1)},
			get("shop/api", 8080, "/healthz"),
			decision(true, ReasonAuthorized, srv, "default/probe", "default/probe"),
			[]string{`AuthorizationPolicy shop/api-get: targets HTTPRoute "api-get"`,
				`HTTPRoute shop/api-get: rules[0]: filter "URLRewrite" is not supported`}},
		{"an invalid regular expression makes Linkerd ignore the route",
			[]string{apiServer, strings.Replace(gatewayRoute, "path: {value: /items}", "path: {type: RegularExpression, value: \"/items/(\"}", 1)},
			get("shop/api", 8080, "/healthz"),
			decision(true, ReasonAuthorized, srv, "default/probe", "default/probe"),
			[]string{`AuthorizationPolicy shop/api-get: targets HTTPRoute "api-get"`,
				`HTTPRoute shop/api-get: rules[0].matches[0]: path: error parsing regexp`}},
		{"server-level policies apply to every route as well",
			[]string{apiServer, gatewayRoute, `
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: admins, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: api-http}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: admin}]`},
			call{dst: "shop/api", port: 8080, from: id("admin", "shop"), method: "GET", path: "/items"},
			decision(true, ReasonAuthorized, srv, "HTTPRoute.gateway.networking.k8s.io/api-get", "authorizationpolicy.policy.linkerd.io/admins"),
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvaluator(t, readSet(t, tt.manifests...), shopWorkloads, Options{})
			checkWarnings(t, e, tt.warnings...)
			if got := e.Decide(tt.call.request()); got != tt.want {
				t.Errorf("Decide = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

func TestGRPCRoutes(t *testing.T) {
	grpcRoute := func(name, matches string) string {
		return `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: ` + name + `, namespace: emojivoto}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: voting-grpc}]
  rules: [{matches: ` + matches + `}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: ` + name + `, namespace: emojivoto}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: GRPCRoute, name: ` + name + `}
  requiredAuthenticationRefs: []`
	}
	vote := func(method, path string) call {
		return call{dst: "emojivoto/voting", port: 8080, from: id("web", "emojivoto"), method: method, path: path}
	}
	const srv = "server.policy.linkerd.io/voting-grpc"
	routes := []string{votingServer,
		grpcRoute("voting-any", "[{method: {service: emojivoto.v1.VotingService}}]"),
		grpcRoute("vote-dog", "[{method: {service: emojivoto.v1.VotingService, method: VoteDog}}]"),
		grpcRoute("results", "[{method: {method: Results}}]"),
	}
	e := newEvaluator(t, readSet(t, routes...), emojivotoWorkloads, Options{})
	checkWarnings(t, e)
	picked := func(route string) Decision {
		return decision(true, ReasonAuthorized, srv, "GRPCRoute.gateway.networking.k8s.io/"+route, "authorizationpolicy.policy.linkerd.io/"+route)
	}
	runDecide(t, e, []decideCase{
		{"service and method beat service only", vote("POST", "/emojivoto.v1.VotingService/VoteDog"), picked("vote-dog")},
		{"service only", vote("POST", "/emojivoto.v1.VotingService/VoteCat"), picked("voting-any")},
		{"a longer service name beats a method name", vote("POST", "/emojivoto.v1.VotingService/Results"), picked("voting-any")},
		{"method only", vote("POST", "/other.Svc/Results"), picked("results")},
		{"gRPC is POST only", vote("GET", "/emojivoto.v1.VotingService/VoteDog"), decision(false, ReasonNoRouteMatched, srv, "", "")},
		{"no match", vote("POST", "/other.Svc/Vote"), decision(false, ReasonNoRouteMatched, srv, "", "")},
	})

	// HTTPRoutes do not apply to a gRPC Server; GRPCRoutes take precedence
	// over HTTPRoutes on the same Server; GRPCRoutes on an HTTP Server do
	// not apply either.
	httpOnGRPC := `
apiVersion: policy.linkerd.io/v1beta3
kind: HTTPRoute
metadata: {name: voting-http, namespace: emojivoto}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: voting-grpc}]`
	e = newEvaluator(t, readSet(t, votingServer, votingPolicy, httpOnGRPC), emojivotoWorkloads, Options{})
	checkWarnings(t, e, "Server emojivoto/voting-grpc: is gRPC: its HTTPRoutes (voting-http) have no effect")
	runDecide(t, e, []decideCase{
		{"the default gRPC route", vote("POST", "/emojivoto.v1.VotingService/VoteDog"),
			decision(true, ReasonAuthorized, srv, "default/default", "authorizationpolicy.policy.linkerd.io/voting-grpc")},
	})
	e = newEvaluator(t, readSet(t, votingServer, votingPolicy, httpOnGRPC, grpcRoute("vote-dog", "[{method: {method: VoteDog}}]")),
		emojivotoWorkloads, Options{})
	checkWarnings(t, e, `HTTPRoute emojivoto/voting-http: Server "voting-grpc" also has GRPCRoutes, which take precedence`)
	runDecide(t, e, []decideCase{
		{"only GRPCRoutes now", vote("POST", "/emojivoto.v1.VotingService/VoteCat"), decision(false, ReasonNoRouteMatched, srv, "", "")},
	})
	httpServer := strings.Replace(votingServer, "proxyProtocol: gRPC", "proxyProtocol: HTTP/2", 1)
	e = newEvaluator(t, readSet(t, httpServer, votingPolicy, grpcRoute("vote-dog", "[{method: {method: VoteDog}}]")),
		emojivotoWorkloads, Options{})
	checkWarnings(t, e, "Server emojivoto/voting-grpc: is not gRPC: its GRPCRoutes (vote-dog) have no effect")
	runDecide(t, e, []decideCase{
		{"the default HTTP route", vote("POST", "/emojivoto.v1.VotingService/VoteCat"),
			decision(true, ReasonAuthorized, srv, "default/default", "authorizationpolicy.policy.linkerd.io/voting-grpc")},
	})
	e = newEvaluator(t, readSet(t, votingServer, grpcRoute("re", "[{method: {type: RegularExpression, service: \"emojivoto.*\"}}]")),
		emojivotoWorkloads, Options{})
	checkWarnings(t, e,
		`AuthorizationPolicy emojivoto/re: targets GRPCRoute "re" (gateway.networking.k8s.io), which does not exist`,
		`GRPCRoute emojivoto/re: rules[0].matches[0]: method match type "RegularExpression" is not supported`)
}

// A route can be picked only among the Server's own routes.
func TestRoutesOfAnotherServer(t *testing.T) {
	var manifests []string
	manifests = append(manifests, apiServer)
	for i := range 3 {
		manifests = append(manifests, strings.ReplaceAll(httpRoute(fmt.Sprint("web-", i), "", "[{}]", ""), "api-http", "web-http"))
	}
	e := newEvaluator(t, readSet(t, manifests...), shopWorkloads, Options{})
	checkWarnings(t, e,
		`AuthorizationPolicy shop/web-0: targets HTTPRoute "web-0", which no Server accepts`,
		`AuthorizationPolicy shop/web-1: targets HTTPRoute "web-1", which no Server accepts`,
		`AuthorizationPolicy shop/web-2: targets HTTPRoute "web-2", which no Server accepts`,
		`HTTPRoute shop/web-0: parent Server "web-http" does not exist`,
		`HTTPRoute shop/web-1: parent Server "web-http" does not exist`,
		`HTTPRoute shop/web-2: parent Server "web-http" does not exist`,
	)
	if got := e.Decide(get("shop/api", 8080, "/").request()); got.Route != defaultRef("default") {
		t.Errorf("route = %s, want the default", got.Route)
	}
}
