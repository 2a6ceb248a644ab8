package eval

import (
	"net/netip"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
)

// shop workloads: api serves HTTP on a named port and an admin port; a
// UDP port shares the http port's name in another container.
var shopWorkloads = []recording.Workload{
	{ID: "shop/api", Namespace: "shop", Name: "api", ServiceAccount: "api",
		Labels: map[string]string{"app": "api", "tier": "backend"},
		Ports: []recording.ContainerPort{{Port: 8080, Name: "http"}, {Port: 9090, Name: "admin"},
			{Port: 5353, Name: "dns", Protocol: "UDP"}},
		Probes: []recording.Probe{{Kind: "liveness", Port: 8080, Path: "/healthz"}, {Kind: "readiness", Port: 9090, Path: "/ready?full=1"}}},
	{ID: "shop/web", Namespace: "shop", Name: "web", ServiceAccount: "web",
		Labels: map[string]string{"app": "web", "tier": "frontend"},
		Ports:  []recording.ContainerPort{{Port: 8080, Name: "http"}}},
	{ID: "shop/denied", Namespace: "shop", Name: "denied", ServiceAccount: "denied", DefaultInboundPolicy: "deny",
		Labels: map[string]string{"app": "denied"},
		Ports:  []recording.ContainerPort{{Port: 8080, Name: "http"}},
		Probes: []recording.Probe{{Kind: "readiness", Port: 8080, Path: "/ready"}}},
}

func srvYAML(name, created, selector, port, extra string) string {
	meta := "{name: " + name + ", namespace: shop"
	if created != "" {
		meta += ", creationTimestamp: " + created
	}
	return "apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: " + meta + "}\nspec:\n  podSelector: " + selector +
		"\n  port: " + port + "\n  accessPolicy: all-unauthenticated\n" + extra
}

func get(dst recording.PeerID, port uint32, path string) call {
	return call{dst: dst, port: port, ip: "10.42.0.200", method: "GET", path: path}
}

func TestServerSelection(t *testing.T) {
	const allUnau = "default/all-unauthenticated"
	srvRef := func(name string) string { return "server.policy.linkerd.io/" + name }
	tests := []struct {
		name      string
		manifests []string
		call      call
		want      string // the server
		warnings  []string
	}{
		{"port by name selects the named container port",
			[]string{srvYAML("api-http", "", "{matchLabels: {app: api}}", "http", "")},
			get("shop/api", 8080, "/"), srvRef("api-http"), nil},
		{"port by name leaves other ports to the default",
			[]string{srvYAML("api-http", "", "{matchLabels: {app: api}}", "http", "")},
			get("shop/api", 9090, "/"), allUnau, nil},
		{"a named UDP port is not selected",
			[]string{srvYAML("api-dns", "", "{matchLabels: {app: api}}", "dns", "")},
			get("shop/api", 5353, "/"), allUnau, nil},
		{"port by number selects it even if not declared",
			[]string{srvYAML("api-7000", "", "{matchLabels: {app: api}}", "7000", "")},
			get("shop/api", 7000, "/"), srvRef("api-7000"), nil},
		{"the selector must match the pod's labels",
			[]string{srvYAML("web-http", "", "{matchLabels: {app: web}}", "http", "")},
			get("shop/api", 8080, "/"), allUnau, nil},
		{"matchExpressions",
			[]string{srvYAML("backends", "", "{matchExpressions: [{key: tier, operator: In, values: [backend, db]}, {key: app, operator: Exists}]}", "http", "")},
			get("shop/api", 8080, "/"), srvRef("backends"), nil},
		{"matchExpressions NotIn",
			[]string{srvYAML("not-backends", "", "{matchExpressions: [{key: tier, operator: NotIn, values: [backend]}]}", "http", "")},
			get("shop/api", 8080, "/"), allUnau, nil},
		{"an empty selector selects every pod of the namespace",
			[]string{srvYAML("everything", "", "{}", "8080", "")},
			get("shop/web", 8080, "/"), srvRef("everything"), nil},
		{"a Server of another namespace does not apply",
			[]string{"apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: api, namespace: other}\nspec: {podSelector: {}, port: 8080}"},
			get("shop/api", 8080, "/"), allUnau, nil},
		{"oldest Server wins",
			[]string{
				srvYAML("a-new", "2024-06-01T00:00:00Z", "{matchLabels: {app: api}}", "http", ""),
				srvYAML("z-old", "2024-01-01T00:00:00Z", "{matchLabels: {app: api}}", "8080", ""),
			},
			get("shop/api", 8080, "/"), srvRef("z-old"),
			[]string{"Server shop/a-new: selects port 8080 of shop/api, which Server z-old"}},
		{"same age: first by name",
			[]string{
				srvYAML("b", "2024-01-01T00:00:00Z", "{matchLabels: {app: api}}", "http", ""),
				srvYAML("a", "2024-01-01T00:00:00Z", "{matchLabels: {tier: backend}}", "8080", ""),
			},
			get("shop/api", 8080, "/"), srvRef("a"),
			[]string{"Server shop/b: selects port 8080 of shop/api, which Server a"}},
		{"a Server not yet applied comes after existing ones",
			[]string{
				srvYAML("a-proposed", "", "{matchLabels: {app: api}}", "http", ""),
				srvYAML("z-existing", "2024-01-01T00:00:00Z", "{matchLabels: {app: api}}", "http", ""),
			},
			get("shop/api", 8080, "/"), srvRef("z-existing"),
			[]string{"Server shop/a-proposed: selects port 8080 of shop/api, which Server z-existing"}},
		{"a Server for external workloads selects no pod",
			[]string{"apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: vm, namespace: shop}\nspec: {externalWorkloadSelector: {}, port: 8080}"},
			get("shop/api", 8080, "/"), allUnau,
			[]string{"Server shop/vm: has no podSelector"}},
		{"an invalid proxyProtocol makes Linkerd ignore the Server",
			[]string{srvYAML("api-http", "", "{matchLabels: {app: api}}", "http", "  proxyProtocol: HTTP/3\n")},
			get("shop/api", 8080, "/"), allUnau,
			[]string{"Server shop/api-http: invalid proxyProtocol \"HTTP/3\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvaluator(t, readSet(t, tt.manifests...), shopWorkloads, Options{})
			checkWarnings(t, e, tt.warnings...)
			if got := e.Decide(tt.call.request()); got.Server != parseRef(tt.want) {
				t.Errorf("server = %s, want %s", got.Server, tt.want)
			}
		})
	}
}

func TestDefaultPolicies(t *testing.T) {
	const (
		inCluster = "10.1.2.3"
		outside   = "203.0.113.5"
	)
	req := func(dst recording.PeerID, from, ip, path string) call {
		return call{dst: dst, port: 8080, from: from, ip: ip, method: "GET", path: path}
	}
	webID := id("web", "shop")
	tests := []struct {
		policy string
		call   call
		want   Decision
	}{
		{"all-unauthenticated", req("shop/api", "", outside, "/"),
			decision(true, ReasonAuthorized, "default/all-unauthenticated", "default/default", "default/all-unauthenticated")},
		{"all-authenticated", req("shop/api", "", inCluster, "/"),
			decision(false, ReasonNoAuthorizationMatched, "default/all-authenticated", "default/default", "")},
		{"all-authenticated", req("shop/api", webID, outside, "/"),
			decision(true, ReasonAuthorized, "default/all-authenticated", "default/default", "default/all-authenticated")},
		{"cluster-authenticated", req("shop/api", webID, inCluster, "/"),
			decision(true, ReasonAuthorized, "default/cluster-authenticated", "default/default", "default/cluster-authenticated")},
		{"cluster-authenticated", req("shop/api", webID, outside, "/"),
			decision(false, ReasonNoAuthorizationMatched, "default/cluster-authenticated", "default/default", "")},
		{"cluster-authenticated", req("shop/api", webID, "", "/"), // unknown address: taken to be a pod's
			decision(true, ReasonAuthorized, "default/cluster-authenticated", "default/default", "default/cluster-authenticated")},
		{"cluster-authenticated", req("shop/api", webID, "fd00::12", "/"),
			decision(true, ReasonAuthorized, "default/cluster-authenticated", "default/default", "default/cluster-authenticated")},
		{"cluster-unauthenticated", req("shop/api", "", "192.168.7.7", "/"),
			decision(true, ReasonAuthorized, "default/cluster-unauthenticated", "default/default", "default/cluster-unauthenticated")},
		{"cluster-unauthenticated", req("shop/api", "", outside, "/"),
			decision(false, ReasonNoAuthorizationMatched, "default/cluster-unauthenticated", "default/default", "")},
		{"deny", req("shop/api", webID, inCluster, "/"),
			decision(false, ReasonDefaultDeny, "default/deny", "default/default", "")},
		{"deny", req("shop/api", "", "10.0.0.1", "/healthz"), // the probe route survives deny
			decision(true, ReasonAuthorized, "default/deny", "default/probe", "default/probe")},
		{"deny", req("shop/api", "", "::1", "/"),
			decision(true, ReasonAuthorized, "default/deny", "default/default", "default/localhost")},
		{"audit", req("shop/api", "", outside, "/"),
			decision(true, ReasonAudit, "default/audit", "default/default", "default/audit")},
	}
	for _, tt := range tests {
		t.Run(tt.policy+" "+tt.call.from+"@"+tt.call.ip+tt.call.path, func(t *testing.T) {
			e := newEvaluator(t, readSet(t), shopWorkloads, Options{DefaultPolicy: tt.policy})
			if got := e.Decide(tt.call.request()); got != tt.want {
				t.Errorf("Decide = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

func TestDefaultPolicyPrecedence(t *testing.T) {
	workloads := []recording.Workload{
		{ID: "a/own", Namespace: "a", Name: "own", DefaultInboundPolicy: "all-authenticated"},
		{ID: "a/inherits", Namespace: "a", Name: "inherits"},
		{ID: "b/cluster", Namespace: "b", Name: "cluster"},
		{ID: "b/typo", Namespace: "b", Name: "typo", DefaultInboundPolicy: "allow"},
	}
	e, err := New(readSet(t), Cluster{Workloads: workloads, NamespacePolicies: map[string]string{"a": "deny"}},
		Options{DefaultPolicy: "cluster-unauthenticated"})
	if err != nil {
		t.Fatal(err)
	}
	checkWarnings(t, e, `Workload b/typo: its default-inbound-policy "allow" is invalid: the cluster default cluster-unauthenticated applies`)
	for dst, want := range map[recording.PeerID]string{
		"a/own":      "default/all-authenticated",       // the pod's annotation
		"a/inherits": "default/deny",                    // the namespace's
		"b/cluster":  "default/cluster-unauthenticated", // the cluster's
		"b/typo":     "default/cluster-unauthenticated",
	} {
		if got := e.Decide(call{dst: dst, port: 80, method: "GET", path: "/"}.request()).Server; got != parseRef(want) {
			t.Errorf("%s: server %s, want %s", dst, got, want)
		}
	}
	if _, err := New(readSet(t), Cluster{}, Options{DefaultPolicy: "allow-all"}); err == nil {
		t.Error("New accepted an invalid default policy")
	}
	if got := e.Decide(call{dst: "nowhere/x", port: 80}.request()); got != (Decision{Reason: ReasonUnknownDestination}) {
		t.Errorf("unknown destination: %+v", got)
	}
}

func TestOptions(t *testing.T) {
	set := readSet(t, `
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: web-only, namespace: shop}
spec:
  targetRef: {kind: Namespace, name: shop}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: web}]`,
		srvYAML("api-http", "", "{matchLabels: {app: api}}", "http", ""))
	set.Servers[0].Spec.AccessPolicy = "deny"
	opts := Options{
		ControlPlaneNamespace: "mesh",
		TrustDomain:           "example.org",
		ClusterNetworks:       []netip.Prefix{netip.MustParsePrefix("100.96.0.0/11")},
		ProbeNetworks:         []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")},
	}
	e := newEvaluator(t, set, shopWorkloads, opts)
	runDecide(t, e, []decideCase{
		{"identity with the control plane namespace and trust domain", call{dst: "shop/api", port: 8080,
			from: "web.shop.serviceaccount.identity.mesh.example.org", ip: "100.96.1.1", method: "GET", path: "/"},
			decision(true, ReasonAuthorized, "server.policy.linkerd.io/api-http", "default/default", "authorizationpolicy.policy.linkerd.io/web-only")},
		{"the default identity form is someone else", call{dst: "shop/api", port: 8080, from: id("web", "shop"), ip: "100.96.1.1", method: "GET", path: "/"},
			decision(false, ReasonNoAuthorizationMatched, "server.policy.linkerd.io/api-http", "default/default", "")},
		{"probe from the probe networks", get("shop/api", 8080, "/healthz").withIP("10.0.0.9"),
			decision(true, ReasonAuthorized, "server.policy.linkerd.io/api-http", "default/probe", "default/probe")},
		{"probe from elsewhere", get("shop/api", 8080, "/healthz").withIP("10.0.1.9"),
			decision(false, ReasonNoAuthorizationMatched, "server.policy.linkerd.io/api-http", "default/probe", "")},
		{"probe path without its query string", get("shop/api", 9090, "/ready").withIP("10.0.0.9"),
			decision(true, ReasonAuthorized, "default/all-unauthenticated", "default/probe", "default/probe")},
	})
	noProbes := newEvaluator(t, set, shopWorkloads, Options{ProbeNetworks: []netip.Prefix{}})
	runDecide(t, noProbes, []decideCase{
		{"no probe networks, no probe route", get("shop/api", 8080, "/healthz").withIP("10.0.0.9"),
			decision(false, ReasonNoAuthorizationMatched, "server.policy.linkerd.io/api-http", "default/default", "")},
	})
}

func (c call) withIP(ip string) call {
	c.ip = ip
	return c
}

func TestAccessPolicy(t *testing.T) {
	policyFor := func(sa string) string {
		return `
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: api-` + sa + `, namespace: shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: api-http}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: ` + sa + `}]`
	}
	server := func(access string) string {
		return "apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: api-http, namespace: shop}\n" +
			"spec: {podSelector: {matchLabels: {app: api}}, port: http, accessPolicy: " + access + "}"
	}
	const srv = "server.policy.linkerd.io/api-http"
	tests := []struct {
		name, access string
		call         call
		want         Decision
	}{
		{"audit: an authorized client is authorized by its policy", "audit",
			call{dst: "shop/api", port: 8080, from: id("web", "shop"), ip: "10.1.1.1", method: "GET", path: "/"},
			decision(true, ReasonAuthorized, srv, "default/default", "authorizationpolicy.policy.linkerd.io/api-web")},
		{"audit: anyone else is allowed but would be denied", "audit",
			call{dst: "shop/api", port: 8080, from: id("other", "shop"), ip: "10.1.1.1", method: "GET", path: "/"},
			decision(true, ReasonAudit, srv, "default/default", "default/audit")},
		{"all-authenticated accessPolicy admits any mesh client", "all-authenticated",
			call{dst: "shop/api", port: 8080, from: id("other", "shop"), ip: "10.1.1.1", method: "GET", path: "/"},
			decision(true, ReasonAuthorized, srv, "default/default", "default/all-authenticated")},
		{"all-authenticated accessPolicy rejects plain clients", "all-authenticated",
			call{dst: "shop/api", port: 8080, ip: "10.1.1.1", method: "GET", path: "/"},
			decision(false, ReasonNoAuthorizationMatched, srv, "default/default", "")},
		{"deny", "deny",
			call{dst: "shop/api", port: 8080, from: id("other", "shop"), ip: "10.1.1.1", method: "GET", path: "/"},
			decision(false, ReasonNoAuthorizationMatched, srv, "default/default", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvaluator(t, readSet(t, server(tt.access), policyFor("web")), shopWorkloads, Options{})
			if got := e.Decide(tt.call.request()); got != tt.want {
				t.Errorf("Decide = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

func TestOpaqueServerHasNoRoutes(t *testing.T) {
	set := readSet(t, `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: api-tcp, namespace: shop}
spec: {podSelector: {matchLabels: {app: api}}, port: 9090, proxyProtocol: opaque, accessPolicy: cluster-unauthenticated}
---
apiVersion: policy.linkerd.io/v1beta3
kind: HTTPRoute
metadata: {name: api-admin, namespace: shop}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: api-tcp}]
  rules: [{matches: [{path: {value: /admin}}]}]`)
	e := newEvaluator(t, set, shopWorkloads, Options{})
	checkWarnings(t, e, "Server shop/api-tcp: has routes but its proxyProtocol is opaque or TLS")
	runDecide(t, e, []decideCase{
		{"in-cluster connection", get("shop/api", 9090, "/anything").withIP("10.9.9.9"),
			decision(true, ReasonAuthorized, "server.policy.linkerd.io/api-tcp", "", "default/cluster-unauthenticated")},
		{"outside connection", get("shop/api", 9090, "/admin").withIP("198.51.100.1"),
			decision(false, ReasonNoAuthorizationMatched, "server.policy.linkerd.io/api-tcp", "", "")},
	})
}
