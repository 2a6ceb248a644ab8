package eval

import "testing"

// Linkerd's "Restricting Access To Services" task: a Server for voting's
// gRPC port, then an authorization for web's service account only.
const votingServer = `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {namespace: emojivoto, name: voting-grpc, labels: {app: voting-svc}}
spec:
  podSelector: {matchLabels: {app: voting-svc}}
  port: grpc
  proxyProtocol: gRPC`

// The task's authorization, written as an AuthorizationPolicy with a
// MeshTLSAuthentication for web's service account.
const votingPolicy = `
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: emojivoto, name: voting-grpc}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: voting-grpc}
  requiredAuthenticationRefs:
  - {group: policy.linkerd.io, kind: MeshTLSAuthentication, name: voting-clients}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {namespace: emojivoto, name: voting-clients}
spec:
  identityRefs: [{kind: ServiceAccount, name: web}]`

// The task's own authorization: the legacy ServerAuthorization.
const votingServerAuthorization = `
apiVersion: policy.linkerd.io/v1beta1
kind: ServerAuthorization
metadata: {namespace: emojivoto, name: voting-grpc}
spec:
  server: {name: voting-grpc}
  client:
    meshTLS:
      serviceAccounts: [{name: web}]`

func TestEmojivotoRestrictingAccess(t *testing.T) {
	vote := func(from, ip string) call {
		return call{dst: "emojivoto/voting", port: 8080, from: from, ip: ip, method: "POST",
			path: "/emojivoto.v1.VotingService/VoteDoughnut", host: "voting-svc.emojivoto:8080"}
	}
	const (
		server  = "server.policy.linkerd.io/voting-grpc"
		dflt    = "default/default"
		webIP   = "10.42.0.11"
		botIP   = "10.42.0.12"
		ap      = "authorizationpolicy.policy.linkerd.io/voting-grpc"
		saz     = "serverauthorization.policy.linkerd.io/voting-grpc"
		allUnau = "default/all-unauthenticated"
	)
	t.Run("server only", func(t *testing.T) {
		// "At this point, no clients have been authorized": the Server's
		// accessPolicy defaults to deny.
		e := newEvaluator(t, readSet(t, votingServer), emojivotoWorkloads, Options{})
		runDecide(t, e, []decideCase{
			{"web is denied", vote(id("web", "emojivoto"), webIP),
				decision(false, ReasonNoAuthorizationMatched, server, dflt, "")},
			{"prom port has no Server: cluster default", call{dst: "emojivoto/voting", port: 8801, ip: "10.42.0.50", method: "GET", path: "/metrics"},
				decision(true, ReasonAuthorized, allUnau, dflt, allUnau)},
			{"the proxy's own localhost is always allowed", vote("", "127.0.0.1"),
				decision(true, ReasonAuthorized, server, dflt, "default/localhost")},
		})
	})
	for _, variant := range []struct{ name, manifests, authz string }{
		{"AuthorizationPolicy", votingPolicy, ap},
		{"ServerAuthorization", votingServerAuthorization, saz},
	} {
		t.Run(variant.name, func(t *testing.T) {
			e := newEvaluator(t, readSet(t, votingServer, variant.manifests), emojivotoWorkloads, Options{})
			checkWarnings(t, e)
			runDecide(t, e, []decideCase{
				{"web may vote", vote(id("web", "emojivoto"), webIP),
					decision(true, ReasonAuthorized, server, dflt, variant.authz)},
				{"vote-bot (default service account) may not", vote(id("default", "emojivoto"), botIP),
					decision(false, ReasonNoAuthorizationMatched, server, dflt, "")},
				{"emoji may not", vote(id("emoji", "emojivoto"), "10.42.0.13"),
					decision(false, ReasonNoAuthorizationMatched, server, dflt, "")},
				{"the task's unmeshed grpcurl pod gets PermissionDenied", vote("", "10.42.0.99"),
					decision(false, ReasonNoAuthorizationMatched, server, dflt, "")},
				{"web's identity from another namespace's service account is not web", vote(id("web", "other"), webIP),
					decision(false, ReasonNoAuthorizationMatched, server, dflt, "")},
				{"a gRPC Server has no probe route: an HTTP GET finds no route", call{dst: "emojivoto/voting", port: 8080,
					ip: "10.0.0.1", method: "GET", path: "/ping"},
					decision(false, ReasonNoRouteMatched, server, "", "")},
				{"web voting with its address unknown (mTLS edges carry none)", vote(id("web", "emojivoto"), ""),
					decision(true, ReasonAuthorized, server, dflt, variant.authz)},
			})
		})
	}
}

// Linkerd's "Configuring Per-Route Authorization Policy" task on the
// booksapp, step by step.
const (
	authorsServer = `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: authors-server, namespace: booksapp}
spec:
  podSelector: {matchLabels: {app: authors, project: booksapp}}
  port: service`
	authorsGetRoute = `
apiVersion: policy.linkerd.io/v1beta1
kind: HTTPRoute
metadata: {name: authors-get-route, namespace: booksapp}
spec:
  parentRefs: [{name: authors-server, kind: Server, group: policy.linkerd.io}]
  rules:
  - matches:
    - path: {value: "/authors.json"}
      method: GET
    - path: {value: "/authors/", type: PathPrefix}
      method: GET
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: authors-get-policy, namespace: booksapp}
spec:
  targetRef: {group: policy.linkerd.io, kind: HTTPRoute, name: authors-get-route}
  requiredAuthenticationRefs:
  - {name: authors-get-authn, kind: MeshTLSAuthentication, group: policy.linkerd.io}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: authors-get-authn, namespace: booksapp}
spec:
  identities:
  - "books.booksapp.serviceaccount.identity.linkerd.cluster.local"
  - "webapp.booksapp.serviceaccount.identity.linkerd.cluster.local"`
	authorsProbeRoute = `
apiVersion: policy.linkerd.io/v1beta1
kind: HTTPRoute
metadata: {name: authors-probe-route, namespace: booksapp}
spec:
  parentRefs: [{name: authors-server, kind: Server, group: policy.linkerd.io}]
  rules:
  - matches:
    - path: {value: "/ping"}
      method: GET
---
apiVersion: policy.linkerd.io/v1alpha1
kind: NetworkAuthentication
metadata: {name: authors-probe-authn, namespace: booksapp}
spec:
  networks: [{cidr: 0.0.0.0/0}, {cidr: "::/0"}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: authors-probe-policy, namespace: booksapp}
spec:
  targetRef: {group: policy.linkerd.io, kind: HTTPRoute, name: authors-probe-route}
  requiredAuthenticationRefs:
  - {name: authors-probe-authn, kind: NetworkAuthentication, group: policy.linkerd.io}`
	authorsModifyRoute = `
apiVersion: policy.linkerd.io/v1beta1
kind: HTTPRoute
metadata: {name: authors-modify-route, namespace: booksapp}
spec:
  parentRefs: [{name: authors-server, kind: Server, group: policy.linkerd.io}]
  rules:
  - matches:
    - path: {value: "/authors/", type: PathPrefix}
      method: DELETE
    - path: {value: "/authors/", type: PathPrefix}
      method: PUT
    - path: {value: "/authors.json"}
      method: POST`
	authorsModifyPolicy = `
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: authors-modify-policy, namespace: booksapp}
spec:
  targetRef: {group: policy.linkerd.io, kind: HTTPRoute, name: authors-modify-route}
  requiredAuthenticationRefs:
  - {name: authors-modify-authn, kind: MeshTLSAuthentication, group: policy.linkerd.io}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {name: authors-modify-authn, namespace: booksapp}
spec:
  identities: ["webapp.booksapp.serviceaccount.identity.linkerd.cluster.local"]`
)

func TestBooksappPerRouteAuthorization(t *testing.T) {
	authors := func(from, method, path string) call {
		return call{dst: "booksapp/authors", port: 7001, from: from, ip: "10.42.1.5", method: method, path: path,
			host: "authors:7001"}
	}
	books, webapp, traffic := id("books", "booksapp"), id("webapp", "booksapp"), id("traffic", "booksapp")
	probe := call{dst: "booksapp/authors", port: 7001, ip: "10.0.0.2", method: "GET", path: "/ping", host: "10.42.1.7:7001"}
	const (
		server     = "server.policy.linkerd.io/authors-server"
		getRoute   = "HTTPRoute.policy.linkerd.io/authors-get-route"
		getPolicy  = "authorizationpolicy.policy.linkerd.io/authors-get-policy"
		probeRoute = "HTTPRoute.policy.linkerd.io/authors-probe-route"
		modRoute   = "HTTPRoute.policy.linkerd.io/authors-modify-route"
		modPolicy  = "authorizationpolicy.policy.linkerd.io/authors-modify-policy"
	)
	steps := []struct {
		name      string
		manifests []string
		cases     []decideCase
	}{
		{"before any policy", nil, []decideCase{
			{"the cluster default allows books", authors(books, "GET", "/authors/1.json"),
				decision(true, ReasonAuthorized, "default/all-unauthenticated", "default/default", "default/all-unauthenticated")},
			{"a separate authorization allows probes", probe,
				decision(true, ReasonAuthorized, "default/all-unauthenticated", "default/probe", "default/probe")},
		}},
		{"Server", []string{authorsServer}, []decideCase{
			{"all traffic to authors is unauthorized", authors(books, "GET", "/authors/1.json"),
				decision(false, ReasonNoAuthorizationMatched, server, "default/default", "")},
			{"probes still pass the Server's probe route", probe,
				decision(true, ReasonAuthorized, server, "default/probe", "default/probe")},
			{"only GET is a probe", call{dst: "booksapp/authors", port: 7001, ip: "10.0.0.2", method: "POST", path: "/ping"},
				decision(false, ReasonNoAuthorizationMatched, server, "default/default", "")},
		}},
		{"authors-get-route", []string{authorsServer, authorsGetRoute}, []decideCase{
			{"books may GET an author", authors(books, "GET", "/authors/1.json"),
				decision(true, ReasonAuthorized, server, getRoute, getPolicy)},
			{"webapp may GET the list", authors(webapp, "GET", "/authors.json"),
				decision(true, ReasonAuthorized, server, getRoute, getPolicy)},
			{"/authors matches the /authors/ prefix (whole segments)", authors(webapp, "GET", "/authors"),
				decision(true, ReasonAuthorized, server, getRoute, getPolicy)},
			{"/authorsx does not", authors(webapp, "GET", "/authorsx"),
				decision(false, ReasonNoRouteMatched, server, "", "")},
			{"a query string does not take part in path matching", authors(webapp, "GET", "/authors.json?page=2"),
				decision(true, ReasonAuthorized, server, getRoute, getPolicy)},
			{"another service account is not authenticated", authors(traffic, "GET", "/authors.json"),
				decision(false, ReasonNoAuthorizationMatched, server, getRoute, "")},
			{"books' HEAD matches no route: 404", authors(books, "HEAD", "/authors/1.json"),
				decision(false, ReasonNoRouteMatched, server, "", "")},
			{"webapp's DELETE matches no route: the 'not found' in the web UI", authors(webapp, "DELETE", "/authors/1.json"),
				decision(false, ReasonNoRouteMatched, server, "", "")},
			{"the probe route is gone: authors becomes unready", probe,
				decision(false, ReasonNoRouteMatched, server, "", "")},
		}},
		{"authors-probe-route", []string{authorsServer, authorsGetRoute, authorsProbeRoute}, []decideCase{
			{"probes are authorized again, by the new route", probe,
				decision(true, ReasonAuthorized, server, probeRoute, "authorizationpolicy.policy.linkerd.io/authors-probe-policy")},
			{"GET /authors.json still goes to authors-get-route", authors(webapp, "GET", "/authors.json"),
				decision(true, ReasonAuthorized, server, getRoute, getPolicy)},
		}},
		{"authors-modify-route", []string{authorsServer, authorsGetRoute, authorsProbeRoute, authorsModifyRoute}, []decideCase{
			{"DELETE now has a route but no authorization: the 'internal server error'", authors(webapp, "DELETE", "/authors/1.json"),
				decision(false, ReasonNoAuthorizationMatched, server, modRoute, "")},
		}},
		{"authors-modify-policy", []string{authorsServer, authorsGetRoute, authorsProbeRoute, authorsModifyRoute, authorsModifyPolicy}, []decideCase{
			{"webapp may delete an author", authors(webapp, "DELETE", "/authors/1.json"),
				decision(true, ReasonAuthorized, server, modRoute, modPolicy)},
			{"webapp may create one", authors(webapp, "POST", "/authors.json"),
				decision(true, ReasonAuthorized, server, modRoute, modPolicy)},
			{"books may not delete", authors(books, "DELETE", "/authors/1.json"),
				decision(false, ReasonNoAuthorizationMatched, server, modRoute, "")},
			{"books may still read", authors(books, "GET", "/authors/7.json"),
				decision(true, ReasonAuthorized, server, getRoute, getPolicy)},
			{"PUT /authors/1.json", authors(webapp, "PUT", "/authors/1.json"),
				decision(true, ReasonAuthorized, server, modRoute, modPolicy)},
			{"other workloads keep the cluster default", call{dst: "booksapp/books", port: 7002, from: webapp, ip: "10.42.1.6", method: "GET", path: "/books.json"},
				decision(true, ReasonAuthorized, "default/all-unauthenticated", "default/default", "default/all-unauthenticated")},
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e := newEvaluator(t, readSet(t, st.manifests...), booksappWorkloads, Options{})
			checkWarnings(t, e)
			runDecide(t, e, st.cases)
		})
	}
}
