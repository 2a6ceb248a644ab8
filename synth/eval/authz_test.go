package eval

import (
	"reflect"
	"testing"

	"github.com/cinchmesh/cinch/synth/policy"
)

// Two Servers in shop, both deny unless authorized.
const shopServers = `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: api-http, namespace: shop, labels: {tier: backend}}
spec: {podSelector: {matchLabels: {app: api}}, port: http}
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: web-http, namespace: shop, labels: {tier: frontend}}
spec: {podSelector: {matchLabels: {app: web}}, port: http}`

func authzPolicy(name, target, refs string) string {
	return "apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: " + name +
		", namespace: shop}\nspec:\n  targetRef: " + target + "\n  requiredAuthenticationRefs: " + refs
}

const (
	toAPI     = "{group: policy.linkerd.io, kind: Server, name: api-http}"
	toShop    = "{kind: Namespace, name: shop}"
	meshTLSTo = "[{group: policy.linkerd.io, kind: MeshTLSAuthentication, name: clients}]"
)

func meshTLS(spec string) string {
	return "apiVersion: policy.linkerd.io/v1alpha1\nkind: MeshTLSAuthentication\nmetadata: {name: clients, namespace: shop}\nspec: " + spec
}

func networkAuthn(name, networks string) string {
	return "apiVersion: policy.linkerd.io/v1alpha1\nkind: NetworkAuthentication\nmetadata: {name: " + name +
		", namespace: shop}\nspec: {networks: " + networks + "}"
}

func TestAuthorization(t *testing.T) {
	const (
		apiSrv = "server.policy.linkerd.io/api-http"
		webSrv = "server.policy.linkerd.io/web-http"
		dflt   = "default/default"
	)
	toAPIFrom := func(from, ip string) call {
		return call{dst: "shop/api", port: 8080, from: from, ip: ip, method: "GET", path: "/"}
	}
	allowed := func(srv, authz string) Decision {
		return decision(true, ReasonAuthorized, srv, dflt, "authorizationpolicy.policy.linkerd.io/"+authz)
	}
	denied := decision(false, ReasonNoAuthorizationMatched, apiSrv, dflt, "")
	web, other := id("web", "shop"), id("web", "other")
	tests := []struct {
		name      string
		manifests []string
		call      call
		want      Decision
		warnings  []string
	}{
		{"a Namespace target covers every Server of the namespace",
			[]string{authzPolicy("all", toShop, "[{kind: ServiceAccount, name: web}]")},
			call{dst: "shop/web", port: 8080, from: web, method: "GET", path: "/"}, allowed(webSrv, "all"), nil},
		{"a Namespace target in another namespace is ignored",
			[]string{authzPolicy("all", "{kind: Namespace, name: other}", "[]")},
			toAPIFrom(web, "10.1.1.1"), denied,
			[]string{`AuthorizationPolicy shop/all: targets namespace "other", not its own`}},
		{"a ServiceAccount reference is that account's identity",
			[]string{authzPolicy("web", toAPI, "[{kind: ServiceAccount, name: web}]")},
			toAPIFrom(other, "10.1.1.1"), denied, nil},
		{"a ServiceAccount of another namespace",
			[]string{authzPolicy("web", toAPI, "[{kind: ServiceAccount, name: web, namespace: other}]")},
			toAPIFrom(other, "10.1.1.1"), allowed(apiSrv, "web"), nil},
		{"identities: exact",
			[]string{authzPolicy("ids", toAPI, meshTLSTo), meshTLS("{identities: [" + web + "]}")},
			toAPIFrom(web, "10.1.1.1"), allowed(apiSrv, "ids"), nil},
		{"identities: * is any mesh client",
			[]string{authzPolicy("ids", toAPI, meshTLSTo), meshTLS(`{identities: ["*"]}`)},
			toAPIFrom(other, "10.1.1.1"), allowed(apiSrv, "ids"), nil},
		{"identities: * is not a plain client",
			[]string{authzPolicy("ids", toAPI, meshTLSTo), meshTLS(`{identities: ["*"]}`)},
			toAPIFrom("", "10.1.1.1"), denied, nil},
		{"identities: *.suffix",
			[]string{authzPolicy("ids", toAPI, meshTLSTo), meshTLS(`{identities: ["*.other.serviceaccount.identity.linkerd.cluster.local"]}`)},
			toAPIFrom(other, "10.1.1.1"), allowed(apiSrv, "ids"), nil},
		{"identities: *.suffix is not its own namespace",
			[]string{authzPolicy("ids", toAPI, meshTLSTo), meshTLS(`{identities: ["*.other.serviceaccount.identity.linkerd.cluster.local"]}`)},
			toAPIFrom(web, "10.1.1.1"), denied, nil},
		{"identityRefs: a Namespace is any of its service accounts",
			[]string{authzPolicy("ids", toAPI, meshTLSTo), meshTLS(`{identityRefs: [{kind: Namespace, name: other}]}`)},
			toAPIFrom(other, "10.1.1.1"), allowed(apiSrv, "ids"), nil},
		{"identityRefs: a ServiceAccount defaults to the authentication's namespace",
			[]string{authzPolicy("ids", toAPI, meshTLSTo), meshTLS(`{identityRefs: [{kind: ServiceAccount, name: web}]}`)},
			toAPIFrom(web, "10.1.1.1"), allowed(apiSrv, "ids"), nil},
		{"a SPIFFE identity matches exactly, never by suffix",
			[]string{authzPolicy("ids", toAPI, meshTLSTo), meshTLS(`{identities: ["*.example.org"]}`)},
			toAPIFrom("spiffe://x.example.org", "10.1.1.1"), denied, nil},
		{"networks only: no TLS needed inside",
			[]string{authzPolicy("nets", toAPI, "[{group: policy.linkerd.io, kind: NetworkAuthentication, name: lan}]"),
				networkAuthn("lan", "[{cidr: 10.0.0.0/8, except: [10.9.0.0/16]}, {cidr: 192.168.1.1}]")},
			toAPIFrom("", "10.1.1.1"), allowed(apiSrv, "nets"), nil},
		{"networks only: an excepted address",
			[]string{authzPolicy("nets", toAPI, "[{group: policy.linkerd.io, kind: NetworkAuthentication, name: lan}]"),
				networkAuthn("lan", "[{cidr: 10.0.0.0/8, except: [10.9.0.0/16]}, {cidr: 192.168.1.1}]")},
			toAPIFrom("", "10.9.1.1"), denied, nil},
		{"networks only: a single address",
			[]string{authzPolicy("nets", toAPI, "[{group: policy.linkerd.io, kind: NetworkAuthentication, name: lan}]"),
				networkAuthn("lan", "[{cidr: 10.0.0.0/8, except: [10.9.0.0/16]}, {cidr: 192.168.1.1}]")},
			toAPIFrom("", "192.168.1.1"), allowed(apiSrv, "nets"), nil},
		{"networks only: an unknown address is not known to be inside",
			[]string{authzPolicy("nets", toAPI, "[{group: policy.linkerd.io, kind: NetworkAuthentication, name: lan}]"),
				networkAuthn("lan", "[{cidr: 10.0.0.0/8, except: [10.9.0.0/16]}, {cidr: 192.168.1.1}]")},
			toAPIFrom(web, ""), denied, nil},
		{"identity AND network: right identity, wrong network",
			[]string{authzPolicy("both", toAPI, "[{kind: ServiceAccount, name: web}, {group: policy.linkerd.io, kind: NetworkAuthentication, name: lan}]"),
				networkAuthn("lan", "[{cidr: 10.0.0.0/8}]")},
			toAPIFrom(web, "172.16.0.1"), denied, nil},
		{"identity AND network: both",
			[]string{authzPolicy("both", toAPI, "[{kind: ServiceAccount, name: web}, {group: policy.linkerd.io, kind: NetworkAuthentication, name: lan}]"),
				networkAuthn("lan", "[{cidr: 10.0.0.0/8}]")},
			toAPIFrom(web, "10.0.0.1"), allowed(apiSrv, "both"), nil},
		{"OR across policies",
			[]string{authzPolicy("a-web", toAPI, "[{kind: ServiceAccount, name: web}]"),
				authzPolicy("b-other", toAPI, "[{kind: ServiceAccount, name: web, namespace: other}]")},
			toAPIFrom(other, "10.0.0.1"), allowed(apiSrv, "b-other"), nil},
		{"an empty requiredAuthenticationRefs admits everyone",
			[]string{authzPolicy("open", toAPI, "[]")},
			toAPIFrom("", "203.0.113.1"), allowed(apiSrv, "open"), nil},
		{"a missing MeshTLSAuthentication makes Linkerd ignore the policy",
			[]string{authzPolicy("ids", toAPI, meshTLSTo)},
			toAPIFrom(web, "10.1.1.1"), denied,
			[]string{"AuthorizationPolicy shop/ids: MeshTLSAuthentication shop/clients does not exist: Linkerd ignores it"}},
		{"a missing NetworkAuthentication too",
			[]string{authzPolicy("nets", toAPI, "[{group: policy.linkerd.io, kind: NetworkAuthentication, name: lan}]")},
			toAPIFrom("", "10.1.1.1"), denied,
			[]string{"AuthorizationPolicy shop/nets: NetworkAuthentication shop/lan does not exist"}},
		{"an invalid MeshTLSAuthentication is missing to its policies",
			[]string{authzPolicy("ids", toAPI, meshTLSTo), meshTLS(`{identityRefs: [{kind: Deployment, name: web}]}`)},
			toAPIFrom(web, "10.1.1.1"), denied,
			[]string{"AuthorizationPolicy shop/ids: MeshTLSAuthentication shop/clients does not exist",
				`MeshTLSAuthentication shop/clients: identityRefs[0]: unsupported reference to Deployment "web"`}},
		{"two identity sources make Linkerd ignore the policy",
			[]string{authzPolicy("ids", toAPI, "[{kind: ServiceAccount, name: web}, {group: policy.linkerd.io, kind: MeshTLSAuthentication, name: clients}]"),
				meshTLS(`{identities: ["*"]}`)},
			toAPIFrom(web, "10.1.1.1"), denied,
			[]string{"AuthorizationPolicy shop/ids: more than one identity source"}},
		{"an unsupported authentication kind too",
			[]string{authzPolicy("ids", toAPI, "[{kind: Secret, name: token}]")},
			toAPIFrom(web, "10.1.1.1"), denied,
			[]string{`AuthorizationPolicy shop/ids: unsupported authentication Secret "token"`}},
		{"an unsupported target kind",
			[]string{authzPolicy("deploy", "{group: apps, kind: Deployment, name: api}", "[]")},
			toAPIFrom(web, "10.1.1.1"), denied,
			[]string{`AuthorizationPolicy shop/deploy: unsupported targetRef Deployment "api" (group "apps")`}},
		{"a Server target without group is not a Server",
			[]string{authzPolicy("srv", "{kind: Server, name: api-http}", "[]")},
			toAPIFrom(web, "10.1.1.1"), denied,
			[]string{`AuthorizationPolicy shop/srv: unsupported targetRef Server "api-http" (group "")`}},
		{"a target Server that does not exist",
			[]string{authzPolicy("srv", "{group: policy.linkerd.io, kind: Server, name: api-https}", "[]")},
			toAPIFrom(web, "10.1.1.1"), denied,
			[]string{`AuthorizationPolicy shop/srv: targets Server "api-https", which does not exist`}},
		{"localhost is always allowed",
			nil, toAPIFrom("", "127.0.0.1"), decision(true, ReasonAuthorized, apiSrv, dflt, "default/localhost"), nil},
		{"localhost over IPv6",
			nil, toAPIFrom("", "::1"), decision(true, ReasonAuthorized, apiSrv, dflt, "default/localhost"), nil},
		{"localhost as an IPv4-mapped address",
			nil, toAPIFrom("", "::ffff:127.0.0.1"), decision(true, ReasonAuthorized, apiSrv, dflt, "default/localhost"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvaluator(t, readSet(t, append([]string{shopServers}, tt.manifests...)...), shopWorkloads, Options{})
			checkWarnings(t, e, tt.warnings...)
			if got := e.Decide(tt.call.request()); got != tt.want {
				t.Errorf("Decide = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

func TestServerAuthorization(t *testing.T) {
	saz := func(server, client string) string {
		return "apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {name: legacy, namespace: shop}\nspec:\n  server: " +
			server + "\n  client: " + client
	}
	const apiSrv = "server.policy.linkerd.io/api-http"
	allowed := decision(true, ReasonAuthorized, apiSrv, "default/default", "serverauthorization.policy.linkerd.io/legacy")
	denied := decision(false, ReasonNoAuthorizationMatched, apiSrv, "default/default", "")
	toAPI := func(from, ip string) call {
		return call{dst: "shop/api", port: 8080, from: from, ip: ip, method: "GET", path: "/"}
	}
	tests := []struct {
		name     string
		saz      string
		call     call
		tls      bool
		want     Decision
		warnings []string
	}{
		{"selects Servers by their labels", saz("{selector: {matchLabels: {tier: backend}}}", "{unauthenticated: true}"),
			toAPI("", "10.1.1.1"), false, allowed, nil},
		{"a selector that matches no Server", saz("{selector: {matchLabels: {tier: db}}}", "{unauthenticated: true}"),
			toAPI("", "10.1.1.1"), false, denied, []string{"ServerAuthorization shop/legacy: selects no Server"}},
		{"unauthenticated without networks: the cluster networks", saz("{name: api-http}", "{unauthenticated: true}"),
			toAPI("", "203.0.113.1"), false, denied, nil},
		{"unauthenticated with networks", saz("{name: api-http}", "{unauthenticated: true, networks: [{cidr: 203.0.113.0/24}]}"),
			toAPI("", "203.0.113.1"), false, allowed, nil},
		{"unauthenticatedTLS admits a TLS client without identity", saz("{name: api-http}", "{meshTLS: {unauthenticatedTLS: true}}"),
			toAPI("", "10.1.1.1"), true, allowed, nil},
		{"unauthenticatedTLS rejects plain clients", saz("{name: api-http}", "{meshTLS: {unauthenticatedTLS: true}}"),
			toAPI("", "10.1.1.1"), false, denied, nil},
		{"identities", saz("{name: api-http}", `{meshTLS: {identities: ["*.shop.serviceaccount.identity.linkerd.cluster.local"]}}`),
			toAPI(id("web", "shop"), "10.1.1.1"), false, allowed, nil},
		{"no client authentication: ignored", saz("{name: api-http}", "{networks: [{cidr: 0.0.0.0/0}]}"),
			toAPI("", "10.1.1.1"), false, denied,
			[]string{"ServerAuthorization shop/legacy: no client authentication configured: Linkerd ignores it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEvaluator(t, readSet(t, shopServers, tt.saz), shopWorkloads, Options{})
			checkWarnings(t, e, tt.warnings...)
			req := tt.call.request()
			req.TLS = tt.tls
			if got := e.Decide(req); got != tt.want {
				t.Errorf("Decide = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

func TestGrants(t *testing.T) {
	set := readSet(t, shopServers, authorsServer, authorsGetRoute,
		authzPolicy("everyone", toShop, "[]"),
		authzPolicy("lan-web", toAPI, "[{kind: ServiceAccount, name: web}, {group: policy.linkerd.io, kind: NetworkAuthentication, name: lan}]"),
		networkAuthn("lan", "[{cidr: 10.0.0.0/8, except: [10.9.0.0/16]}]"),
		"apiVersion: policy.linkerd.io/v1beta1\nkind: ServerAuthorization\nmetadata: {name: tls, namespace: shop}\n"+
			"spec: {server: {selector: {}}, client: {meshTLS: {unauthenticatedTLS: true}}}")
	e := newEvaluator(t, set, append(shopWorkloads, booksappWorkloads...), Options{})
	checkWarnings(t, e)
	ap := func(name string) Ref { return Ref{Group: policy.GroupPolicy, Kind: "authorizationpolicy", Name: name} }
	all := []policy.Network{{CIDR: "0.0.0.0/0"}, {CIDR: "::/0"}}
	want := []Grant{
		{Authorization: ap("authors-get-policy"), Namespace: "booksapp",
			Target: Ref{Group: policy.GroupPolicy, Kind: "HTTPRoute", Name: "authors-get-route"}, Servers: []string{"authors-server"},
			Route: Ref{Group: policy.GroupPolicy, Kind: "HTTPRoute", Name: "authors-get-route"}, Authentication: AuthenticationIdentities,
			Identities: []string{id("books", "booksapp"), id("webapp", "booksapp")}, Networks: all},
		{Authorization: ap("everyone"), Namespace: "shop", Target: Ref{Kind: "Namespace", Name: "shop"},
			Servers: []string{"api-http", "web-http"}, Authentication: AuthenticationNone, Networks: all},
		{Authorization: ap("lan-web"), Namespace: "shop", Target: Ref{Group: policy.GroupPolicy, Kind: "Server", Name: "api-http"},
			Servers: []string{"api-http"}, Authentication: AuthenticationIdentities, Identities: []string{id("web", "shop")},
			Networks: []policy.Network{{CIDR: "10.0.0.0/8", Except: []string{"10.9.0.0/16"}}}},
		{Authorization: Ref{Group: policy.GroupPolicy, Kind: "serverauthorization", Name: "tls"}, Namespace: "shop",
			Servers: []string{"api-http", "web-http"}, Authentication: AuthenticationTLS,
			Networks: []policy.Network{{CIDR: "10.0.0.0/8"}, {CIDR: "100.64.0.0/10"}, {CIDR: "172.16.0.0/12"}, {CIDR: "192.168.0.0/16"}, {CIDR: "fd00::/8"}}},
	}
	if got := e.Grants(); !reflect.DeepEqual(got, want) {
		t.Errorf("Grants =\n%+v\nwant\n%+v", got, want)
	}
}

func TestWarnings(t *testing.T) {
	set := readSet(t, shopServers, shopServers, // every object twice
		networkAuthn("bad", "[{cidr: 10.0.0.0/33}]"),
		networkAuthn("none", "[]"),
		meshTLS("{}"),
		"apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: odd, namespace: shop}\n"+
			"spec: {podSelector: {matchLabels: {app: nothing}}, port: 80, accessPolicy: allow}",
		"apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: bad-selector, namespace: shop}\n"+
			"spec: {podSelector: {matchExpressions: [{key: app, operator: Is}]}, port: 80}",
		"apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: no-port, namespace: shop}\n"+
			"spec: {podSelector: {}, port: 0}")
	e, err := New(set, Cluster{Workloads: append(shopWorkloads, shopWorkloads[0])}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkWarnings(t, e,
		`MeshTLSAuthentication shop/clients: no identities: Linkerd ignores it`,
		`NetworkAuthentication shop/bad: "10.0.0.0/33" is not a CIDR or an IP address: Linkerd ignores it`,
		`NetworkAuthentication shop/none: no networks: Linkerd ignores it`,
		`Server shop/api-http: defined twice: the first one is used`,
		`Server shop/bad-selector: invalid podSelector:`,
		`Server shop/no-port: invalid port "0": Linkerd ignores it`,
		`Server shop/odd: invalid accessPolicy "allow": Linkerd treats it as deny`,
		`Server shop/web-http: defined twice: the first one is used`,
		`Workload shop/api: listed twice: the first one is used`,
	)
}
