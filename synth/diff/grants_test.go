package diff

import (
	"fmt"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
)

// describeGrants writes grants compactly: "OPENS NAMESPACE AUTHORIZATION
// -> TARGET used/granted, N requests: BEYOND; BEYOND".
func describeGrants(gs []Grant) []string {
	out := []string{}
	for _, g := range gs {
		line := fmt.Sprintf("%s %s %s -> %s %d/%d, %d requests:", g.Opens, g.Namespace, g.Authorization, g.Target, g.Used, g.Granted, g.Requests)
		for _, b := range g.Beyond {
			line += "\n    " + b
		}
		out = append(out, line)
	}
	return out
}

const grantsPolicy = `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {namespace: shop, name: api-http}
spec:
  podSelector: {matchLabels: {app: api}}
  port: http
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: api-shop}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: api-http}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: shop}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {namespace: shop, name: shop}
spec:
  identityRefs: [{kind: Namespace, name: shop}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: api-net}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: api-http}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: NetworkAuthentication, name: ten}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: NetworkAuthentication
metadata: {namespace: shop, name: ten}
spec:
  networks: [{cidr: 10.0.0.0/8}]
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {namespace: shop, name: web-http}
spec:
  podSelector: {matchLabels: {app: web}}
  port: http
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: web-any}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: web-http}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: anyone}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {namespace: shop, name: anyone}
spec:
  identities: ["*"]
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {namespace: shop, name: cart-http}
spec:
  podSelector: {matchLabels: {app: cart}}
  port: http
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {namespace: shop, name: cart-read}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: cart-http}]
  rules: [{matches: [{method: GET, path: {type: PathPrefix, value: /cart}}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {namespace: shop, name: cart-admin}
spec:
  parentRefs: [{group: policy.linkerd.io, kind: Server, name: cart-http}]
  rules: [{matches: [{method: DELETE, path: {type: PathPrefix, value: /cart}}]}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: cart-read}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: cart-read}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: cart-readers}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {namespace: shop, name: cart-readers}
spec:
  identities: [web.shop.serviceaccount.identity.linkerd.cluster.local, batch.jobs.serviceaccount.identity.linkerd.cluster.local]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: cart-admin}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: HTTPRoute, name: cart-admin}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: admin}]
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {namespace: shop, name: orphan}
spec:
  podSelector: {matchLabels: {app: orphan}}
  port: http
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: orphan}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: orphan}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: web}]`

func TestUnusedGrants(t *testing.T) {
	cart := meshed("shop", "cart")
	rec := newRecording([]recording.Workload{web, api, cart, batch},
		mtls("shop/web", "shop/api", 8080, get("/v1/items/1", 3)),
		mtls("shop/cart", "shop/api", 8080, get("/v1/items/2", 2)),
		plain("ip:10.1.2.3", "shop/api", 8080, "10.1.2.3", get("/v1/items/3", 1)),
		mtls("jobs/batch", "shop/web", 8080, get("/home", 4)),
		mtls("shop/web", "shop/cart", 8080, get("/cart/1", 5)),
	)
	rep := evaluate(t, rec, readSet(t, grantsPolicy), Options{})
	equalLines(t, "denied", describe(rep.Denied), []string{})
	const ap = "authorizationpolicy.policy.linkerd.io/"
	equalLines(t, "unused grants", describeGrants(rep.Unused), []string{
		// "*": 2 clients (batch, any other) x 1 Server x 2 routes (default, any other).
		"any identity shop " + ap + "web-any -> Server.policy.linkerd.io/web-http 1/4, 4 requests:" +
			"\n    identity * admits every mesh identity; used by 1 client: jobs/batch" +
			"\n    admits every route of its Servers; observed on 1 route: default/default",
		// The namespace: web, cart and any other; 3 x 1 x 2.
		"namespace shop " + ap + "api-shop -> Server.policy.linkerd.io/api-http 2/6, 5 requests:" +
			"\n    identity *.shop.serviceaccount.identity.linkerd.cluster.local admits every service account of namespace shop; used by 2 clients: shop/cart, shop/web" +
			"\n    admits every route of its Servers; observed on 1 route: default/default",
		"network shop " + ap + "api-net -> Server.policy.linkerd.io/api-http 1/4, 1 requests:" +
			"\n    network 10.0.0.0/8 (2^24 addresses) used by 1 address: 10.1.2.3" +
			"\n    admits every route of its Servers; observed on 1 route: default/default",
		"unused shop " + ap + "cart-admin -> HTTPRoute.gateway.networking.k8s.io/cart-admin 0/1, 0 requests:" +
			"\n    admitted nothing observed" +
			"\n    1 identity never used: shop/admin" +
			"\n    route HTTPRoute.gateway.networking.k8s.io/cart-admin never hit",
		"unused shop " + ap + "cart-read -> HTTPRoute.gateway.networking.k8s.io/cart-read 1/2, 5 requests:" +
			"\n    1 identity never used: jobs/batch",
		"unused shop " + ap + "orphan -> Server.policy.linkerd.io/orphan 0/1, 0 requests:" +
			"\n    admitted nothing observed" +
			"\n    1 identity never used: shop/web" +
			"\n    Server orphan has no observed traffic",
	})
	// 1+2+1+0+1+0 used of 4+6+4+1+2+1 granted.
	if s := rep.Summary.LeastPrivilege; s.Used != 5 || s.Granted != 18 {
		t.Errorf("least privilege = %+v, want 5 of 18", s)
	}
}

func TestDefaultPolicyGrants(t *testing.T) {
	rec := newRecording(workloads, webToAPI, probe, plain("ip:192.0.2.7", "shop/api", 8080, "192.0.2.7", get("/", 1)))
	rep := evaluate(t, rec, readSet(t, `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {namespace: shop, name: web-http}
spec:
  podSelector: {matchLabels: {app: web}}
  port: http
  accessPolicy: all-authenticated`), Options{})
	equalLines(t, "unused grants", describeGrants(rep.Unused), []string{
		// web and 192.0.2.7 (the kubelet's probes are Linkerd's own), and
		// any other client; api's port and any other; the default route
		// and any other.
		"any client shop default/all-unauthenticated -> ports without a Server 2/12, 6 requests:" +
			"\n    ports without a Server fall back to all-unauthenticated: any client, on any port and route; used by 2 clients: shop/web, 192.0.2.7, on 1 port: shop/api:8080",
		"any identity shop default/all-authenticated -> Server.policy.linkerd.io/web-http 0/1, 0 requests:" +
			"\n    admitted nothing observed" +
			"\n    accessPolicy all-authenticated admits any mTLS client on every route; used by no client" +
			"\n    Server web-http has no observed traffic",
	})
	if s := rep.Summary.LeastPrivilege; s.Used != 2 || s.Granted != 13 {
		t.Errorf("least privilege = %+v, want 2 of 13", s)
	}
}

func TestNothingGrantedScoresOne(t *testing.T) {
	rep := evaluate(t, newRecording(workloads, webToAPI), readSet(t, apiServer), Options{})
	if s := rep.Summary.LeastPrivilege; s != (Score{Value: 1}) {
		t.Errorf("least privilege with nothing granted = %+v, want 1 (0 of 0)", s)
	}
}

// A namespace-wide authorization applies to every Server of the
// namespace: those it admitted nothing on are what it opens beyond use.
func TestNamespaceTargetGrant(t *testing.T) {
	rec := newRecording(workloads, webToAPI, mtls("jobs/batch", "shop/web", 8080, get("/home", 4)))
	rep := evaluate(t, rec, readSet(t, apiServer, `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {namespace: shop, name: web-http}
spec:
  podSelector: {matchLabels: {app: web}}
  port: http
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: web-everywhere}
spec:
  targetRef: {kind: Namespace, name: shop}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: web}]`), Options{})
	equalLines(t, "denied", describe(rep.Denied), []string{
		"jobs/batch as jobs/batch -> shop/web:8080 default/default NoAuthorizationMatched: 4 requests, 1 paths (GET /home)"})
	// web on 2 Servers, on the default route and any other.
	equalLines(t, "unused grants", describeGrants(rep.Unused), []string{
		"unused shop authorizationpolicy.policy.linkerd.io/web-everywhere -> Namespace/shop 1/4, 5 requests:" +
			"\n    admitted nothing observed on Server web-http" +
			"\n    admits every route of its Servers; observed on 1 route: default/default"})
}

// An unused address that is a recorded node's is named as where kubelet
// probes come from, so a reviewer does not take it for a stray grant;
// other unused addresses are just unused. Both still count as granted.
func TestUnusedNodeAddressIsAProbeSource(t *testing.T) {
	rec := newRecording(workloads, plain("ip:192.0.2.7", "shop/api", 8080, "192.0.2.7", get("/", 1)))
	rec.Peers = append(rec.Peers, recording.Peer{ID: "node:node-1", Kind: recording.PeerNode, IPs: []string{"10.0.0.1"}})
	rep := evaluate(t, rec, readSet(t, apiServer, `
apiVersion: policy.linkerd.io/v1alpha1
kind: NetworkAuthentication
metadata: {namespace: shop, name: api-net}
spec:
  networks: [{cidr: 192.0.2.7/32}, {cidr: 10.0.0.1/32}, {cidr: 10.9.9.9/32}]
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: api-net}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: api-http}
  requiredAuthenticationRefs: [{group: policy.linkerd.io, kind: NetworkAuthentication, name: api-net}]`), Options{})
	equalLines(t, "unused grants", describeGrants(rep.Unused), []string{
		"unused shop authorizationpolicy.policy.linkerd.io/api-net -> Server.policy.linkerd.io/api-http 1/6, 1 requests:" +
			"\n    address 10.0.0.1 never used: node node-1, where kubelet probes come from (no probe seen in the window)" +
			"\n    address 10.9.9.9 never used" +
			"\n    admits every route of its Servers; observed on 1 route: default/default"})
}
