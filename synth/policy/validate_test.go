package policy

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Each case breaks one rule of a valid set (booksSet) and states the one
// error Validate must report: "Kind namespace/name: field: detail" (a
// prefix of the detail is enough).
func TestValidate(t *testing.T) {
	ptr := func(i int32) *int32 { return &i }
	srv := func(s *Set) *Server { return &s.Servers[0] }
	ap := func(s *Set, name string) *AuthorizationPolicy {
		for i := range s.AuthorizationPolicies {
			if s.AuthorizationPolicies[i].Name == name {
				return &s.AuthorizationPolicies[i]
			}
		}
		panic(name)
	}
	getRoute := func(s *Set) *HTTPRoute {
		for i := range s.HTTPRoutes {
			if s.HTTPRoutes[i].Name == "authors-get-route" {
				return &s.HTTPRoutes[i]
			}
		}
		panic("no route")
	}
	match := func(s *Set) *HTTPRouteMatch { return &getRoute(s).Spec.Rules[0].Matches[0] }
	mtls := func(s *Set) *MeshTLSAuthentication { return &s.MeshTLSAuthentications[0] }
	nets := func(s *Set) *NetworkAuthentication { return &s.NetworkAuthentications[0] }
	saz := func(s *Set) *ServerAuthorization { return &s.ServerAuthorizations[0] }
	grpc := func(s *Set) *GRPCRouteMatch { return &s.GRPCRoutes[0].Spec.Rules[0].Matches[0] }
	profile := func(s *Set) *ServiceProfile { return &s.ServiceProfiles[0] }
	const (
		server   = "Server booksapp/authors-server: "
		getR     = "HTTPRoute booksapp/authors-get-route: "
		getP     = "AuthorizationPolicy booksapp/authors-get-policy: "
		everyone = "AuthorizationPolicy booksapp/everyone: "
		authn    = "MeshTLSAuthentication booksapp/authors-get-authn: "
		netAuthn = "NetworkAuthentication booksapp/authors-probe-authn: "
		legacy   = "ServerAuthorization booksapp/legacy: "
		voting   = "GRPCRoute booksapp/voting: "
		prof     = "ServiceProfile booksapp/authors.booksapp.svc.cluster.local: "
	)
	tests := []struct {
		name   string
		mutate func(*Set)
		want   string
	}{
		// Metadata and types.
		{"name longer than 63", func(s *Set) { srv(s).Name = strings.Repeat("a", 64) },
			"Server booksapp/" + strings.Repeat("a", 64) + ": metadata.name: \"" + strings.Repeat("a", 64) + "\": must be no more than 63"},
		{"name not a DNS label", func(s *Set) { srv(s).Name = "Authors_Server" },
			"Server booksapp/Authors_Server: metadata.name: \"Authors_Server\": a lowercase RFC 1123 label"},
		{"namespace missing", func(s *Set) { srv(s).Namespace = "" },
			"Server /authors-server: metadata.namespace: required"},
		{"bad label", func(s *Set) { srv(s).Labels = map[string]string{"app": "a b"} },
			server + "metadata.labels: Invalid value: \"a b\""},
		{"unserved apiVersion", func(s *Set) { ap(s, "everyone").APIVersion = "policy.linkerd.io/v1beta1" },
			everyone + "apiVersion: \"policy.linkerd.io/v1beta1\" is not a served version of AuthorizationPolicy"},
		{"kind does not match", func(s *Set) { srv(s).Kind = "Service" },
			"Service booksapp/authors-server: kind: \"Service\" among objects of kind Server"},
		{"duplicate object", func(s *Set) { s.Servers = append(s.Servers, s.Servers[0]) },
			server + "metadata.name: duplicate object"},

		// Server.
		{"no pod selector", func(s *Set) { srv(s).Spec.PodSelector = nil },
			server + "spec.podSelector: required"},
		{"both selectors", func(s *Set) { srv(s).Spec.ExternalWorkloadSelector = &metav1.LabelSelector{} },
			server + "spec: podSelector and externalWorkloadSelector are exclusive"},
		{"bad selector operator", func(s *Set) {
			srv(s).Spec.PodSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Is"}}
		}, server + "spec.podSelector.matchExpressions[0].operator: Invalid value: \"Is\""},
		{"port 0", func(s *Set) { srv(s).Spec.Port = intstr.FromInt32(0) },
			server + "spec.port: 0 is not a port number"},
		{"port name that is a number", func(s *Set) { srv(s).Spec.Port = intstr.FromString("8080") },
			server + "spec.port: \"8080\" is not a container port name"},
		{"port name too long", func(s *Set) { srv(s).Spec.Port = intstr.FromString("authors-service-port") },
			server + "spec.port: \"authors-service-port\" is not a container port name: must be no more than 15"},
		{"proxyProtocol not in the enum", func(s *Set) { srv(s).Spec.ProxyProtocol = "http" },
			server + "spec.proxyProtocol: \"http\" is not one of"},
		{"accessPolicy not a default policy", func(s *Set) { srv(s).Spec.AccessPolicy = "allow" },
			server + "spec.accessPolicy: \"allow\" is not one of"},
		{"accessPolicy on an old version", func(s *Set) { srv(s).APIVersion = "policy.linkerd.io/v1beta1" },
			server + "spec.accessPolicy: needs policy.linkerd.io/v1beta3"},

		// AuthorizationPolicy.
		{"namespace target in another namespace", func(s *Set) { ap(s, "everyone").Spec.TargetRef.Name = "emojivoto" },
			everyone + "spec.targetRef.name: cannot target another namespace"},
		{"namespace target with a group", func(s *Set) { ap(s, "everyone").Spec.TargetRef.Group = "core" },
			everyone + "spec.targetRef.group: must be empty for Namespace"},
		{"server target without group", func(s *Set) {
			ap(s, "everyone").Spec.TargetRef = LocalTargetRef{Kind: KindServer, Name: "authors-server"}
		}, everyone + "spec.targetRef.group: \"\" is not a group of Server"},
		{"unsupported target", func(s *Set) { ap(s, "everyone").Spec.TargetRef.Kind = "Deployment" },
			everyone + "spec.targetRef.kind: unsupported target \"Deployment\""},
		{"target without name", func(s *Set) { ap(s, "everyone").Spec.TargetRef.Name = "" },
			everyone + "spec.targetRef: kind and name are required"},
		{"missing requiredAuthenticationRefs", func(s *Set) { ap(s, "everyone").Spec.RequiredAuthenticationRefs = nil },
			everyone + "spec.requiredAuthenticationRefs: required"},
		{"two MeshTLSAuthentications", func(s *Set) {
			p := ap(s, "authors-get-policy")
			p.Spec.RequiredAuthenticationRefs = append(p.Spec.RequiredAuthenticationRefs, p.Spec.RequiredAuthenticationRefs[0])
		}, getP + "spec.requiredAuthenticationRefs: only a single MeshTLSAuthentication"},
		{"MeshTLSAuthentication and ServiceAccount", func(s *Set) {
			p := ap(s, "authors-get-policy")
			p.Spec.RequiredAuthenticationRefs = append(p.Spec.RequiredAuthenticationRefs, NamespacedTargetRef{Kind: KindServiceAccount, Name: "books"})
		}, getP + "spec.requiredAuthenticationRefs: a MeshTLSAuthentication and a ServiceAccount may not be set together"},
		{"two ServiceAccounts", func(s *Set) {
			ap(s, "authors-get-policy").Spec.RequiredAuthenticationRefs = []NamespacedTargetRef{
				{Kind: KindServiceAccount, Name: "books"}, {Kind: KindServiceAccount, Name: "webapp"}}
		}, getP + "spec.requiredAuthenticationRefs: only a single ServiceAccount"},
		{"two NetworkAuthentications", func(s *Set) {
			ref := NamespacedTargetRef{Group: GroupPolicy, Kind: KindNetworkAuthentication, Name: "authors-probe-authn"}
			p := ap(s, "authors-get-policy")
			p.Spec.RequiredAuthenticationRefs = append(p.Spec.RequiredAuthenticationRefs, ref, ref)
		}, getP + "spec.requiredAuthenticationRefs: only a single NetworkAuthentication"},
		{"ServiceAccount ref with a group", func(s *Set) {
			ap(s, "authors-get-policy").Spec.RequiredAuthenticationRefs = []NamespacedTargetRef{
				{Group: "core", Kind: KindServiceAccount, Name: "books"}}
		}, getP + "spec.requiredAuthenticationRefs[0].group: must be empty for ServiceAccount"},
		{"MeshTLSAuthentication ref without group", func(s *Set) {
			ap(s, "authors-get-policy").Spec.RequiredAuthenticationRefs[0].Group = ""
		}, getP + "spec.requiredAuthenticationRefs[0].group: must be policy.linkerd.io"},
		{"unsupported authentication", func(s *Set) {
			ap(s, "authors-get-policy").Spec.RequiredAuthenticationRefs[0].Kind = "Secret"
		}, getP + "spec.requiredAuthenticationRefs[0].kind: unsupported authentication \"Secret\""},
		{"authentication ref namespace invalid", func(s *Set) {
			ap(s, "authors-get-policy").Spec.RequiredAuthenticationRefs[0].Namespace = "Books"
		}, getP + "spec.requiredAuthenticationRefs[0].namespace: \"Books\""},

		// MeshTLSAuthentication.
		{"no identities", func(s *Set) { mtls(s).Spec.Identities = nil },
			authn + "spec: one of identities or identityRefs is required"},
		{"identities and identityRefs", func(s *Set) {
			mtls(s).Spec.IdentityRefs = []NamespacedTargetRef{{Kind: KindServiceAccount, Name: "books"}}
		}, authn + "spec: identities and identityRefs are exclusive"},
		{"invalid identity", func(s *Set) { mtls(s).Spec.Identities = []string{"books.*"} },
			authn + "spec.identities[0]: \"books.*\" is not a valid identity"},
		{"invalid SPIFFE identity", func(s *Set) { mtls(s).Spec.Identities = []string{"spiffe://td/ns//sa"} },
			authn + "spec.identities[0]: \"spiffe://td/ns//sa\": invalid SPIFFE path"},
		{"Namespace identityRef with a namespace", func(s *Set) {
			mtls(s).Spec = MeshTLSAuthenticationSpec{IdentityRefs: []NamespacedTargetRef{{Kind: KindNamespace, Name: "a", Namespace: "b"}}}
		}, authn + "spec.identityRefs[0].namespace: must be empty"},
		{"identityRef of another kind", func(s *Set) {
			mtls(s).Spec = MeshTLSAuthenticationSpec{IdentityRefs: []NamespacedTargetRef{{Kind: "Pod", Name: "a"}}}
		}, authn + "spec.identityRefs[0].kind: \"Pod\" is not ServiceAccount or Namespace"},
		{"ServiceAccount identityRef with a group", func(s *Set) {
			mtls(s).Spec = MeshTLSAuthenticationSpec{IdentityRefs: []NamespacedTargetRef{{Group: GroupPolicy, Kind: KindServiceAccount, Name: "a"}}}
		}, authn + "spec.identityRefs[0].group: must be empty for ServiceAccount"},
		{"ServiceAccount identityRef without name", func(s *Set) {
			mtls(s).Spec = MeshTLSAuthenticationSpec{IdentityRefs: []NamespacedTargetRef{{Kind: KindServiceAccount}}}
		}, authn + "spec.identityRefs[0].name: required"},

		// NetworkAuthentication.
		{"no networks", func(s *Set) { nets(s).Spec.Networks = nil },
			netAuthn + "spec.networks: at least one network is required"},
		{"bad cidr", func(s *Set) { nets(s).Spec.Networks[0].CIDR = "10.0.0.0/33" },
			netAuthn + "spec.networks[0].cidr: \"10.0.0.0/33\" is not a CIDR"},
		{"except outside cidr", func(s *Set) {
			nets(s).Spec.Networks = []Network{{CIDR: "10.0.0.0/8", Except: []string{"192.168.0.0/16"}}}
		},
			netAuthn + "spec.networks[0].except[0]: 192.168.0.0/16 is not inside cidr 10.0.0.0/8"},
		{"except of another family", func(s *Set) { nets(s).Spec.Networks = []Network{{CIDR: "10.0.0.0/8", Except: []string{"fd00::/8"}}} },
			netAuthn + "spec.networks[0].except[0]: fd00::/8 is not inside cidr 10.0.0.0/8"},
		{"except negates cidr", func(s *Set) { nets(s).Spec.Networks = []Network{{CIDR: "10.1.0.0/16", Except: []string{"10.0.0.0/8"}}} },
			netAuthn + "spec.networks[0].except[0]: 10.0.0.0/8 negates all of cidr 10.1.0.0/16"},

		// HTTPRoute.
		{"parent without kind", func(s *Set) { getRoute(s).Spec.ParentRefs[0].Kind = "" },
			getR + "spec.parentRefs[0].kind: required: it defaults to Gateway"},
		{"parent of another kind", func(s *Set) { getRoute(s).Spec.ParentRefs[0].Kind = "Service" },
			getR + "spec.parentRefs[0].kind: \"Service\": inbound routes attach to a Server"},
		{"parent in the gateway group", func(s *Set) { getRoute(s).Spec.ParentRefs[0].Group = GroupGateway },
			getR + "spec.parentRefs[0].group: \"gateway.networking.k8s.io\": a Server's group is policy.linkerd.io"},
		{"gateway route parent without group", func(s *Set) {
			r := getRoute(s)
			r.APIVersion = APIVersionGatewayHTTPRoute
			r.Spec.ParentRefs[0].Group = ""
		}, getR + "spec.parentRefs[0].group: \"\": a Server's group is policy.linkerd.io"},
		{"parent in another namespace", func(s *Set) { getRoute(s).Spec.ParentRefs[0].Namespace = "emojivoto" },
			getR + "spec.parentRefs[0].namespace: \"emojivoto\": a route may only attach to a Server of its own namespace"},
		{"parent port", func(s *Set) { getRoute(s).Spec.ParentRefs[0].Port = ptr(7001) },
			getR + "spec.parentRefs[0].port: must not be set"},
		{"parent sectionName", func(s *Set) { getRoute(s).Spec.ParentRefs[0].SectionName = "http" },
			getR + "spec.parentRefs[0].sectionName: must not be set"},
		{"no parent", func(s *Set) { getRoute(s).Spec.ParentRefs = nil },
			getR + "spec.parentRefs: a route without a parent Server has no effect"},
		{"duplicate parent", func(s *Set) {
			r := getRoute(s)
			r.Spec.ParentRefs = append(r.Spec.ParentRefs, r.Spec.ParentRefs[0])
		}, getR + "spec.parentRefs[1]: duplicate parent reference"},
		{"33 parents", func(s *Set) {
			r := getRoute(s)
			for i := range 32 {
				r.Spec.ParentRefs = append(r.Spec.ParentRefs, ParentReference{Group: GroupPolicy, Kind: KindServer, Name: fmt.Sprint("s", i)})
			}
		}, getR + "spec.parentRefs: 33 parentRefs, at most 32 allowed"},
		{"17 hostnames", func(s *Set) {
			for i := range 17 {
				getRoute(s).Spec.Hostnames = append(getRoute(s).Spec.Hostnames, fmt.Sprint("h", i, ".example.com"))
			}
		}, getR + "spec.hostnames: 17 hostnames, at most 16 allowed"},
		{"IP hostname", func(s *Set) { getRoute(s).Spec.Hostnames = []string{"10.0.0.1"} },
			getR + "spec.hostnames[0]: \"10.0.0.1\": a hostname must not be an IP address"},
		{"upper-case hostname", func(s *Set) { getRoute(s).Spec.Hostnames = []string{"Authors.example.com"} },
			getR + "spec.hostnames[0]: \"Authors.example.com\" is not a hostname"},
		{"17 rules", func(s *Set) {
			r := getRoute(s)
			for range 16 {
				r.Spec.Rules = append(r.Spec.Rules, HTTPRouteRule{})
			}
		}, getR + "spec.rules: 17 rules, at most 16 allowed"},
		{"9 matches", func(s *Set) {
			r := getRoute(s)
			for range 7 {
				r.Spec.Rules[0].Matches = append(r.Spec.Rules[0].Matches, HTTPRouteMatch{})
			}
		}, getR + "spec.rules[0].matches: 9 matches, at most 8 allowed"},
		{"17 headers", func(s *Set) {
			for i := range 17 {
				match(s).Headers = append(match(s).Headers, ValueMatch{Name: fmt.Sprint("x-", i), Value: "v"})
			}
		}, getR + "spec.rules[0].matches[0].headers: 17 matches, at most 16 allowed"},
		{"relative path", func(s *Set) { match(s).Path.Value = "authors.json" },
			getR + "spec.rules[0].matches[0].path.value: \"authors.json\" must be an absolute path"},
		{"path type not in the enum", func(s *Set) { match(s).Path.Type = "Prefix" },
			getR + "spec.rules[0].matches[0].path.type: \"Prefix\" is not one of"},
		{"gateway path with //", func(s *Set) {
			getRoute(s).APIVersion = APIVersionGatewayHTTPRoute
			match(s).Path.Value = "/authors//x"
		}, getR + "spec.rules[0].matches[0].path.value: \"/authors//x\" must not contain \"//\""},
		{"bad path regex", func(s *Set) { match(s).Path = &HTTPPathMatch{Type: MatchRegularExpression, Value: "/authors/(["} },
			getR + "spec.rules[0].matches[0].path.value: invalid regular expression"},
		{"method not in the enum", func(s *Set) { match(s).Method = "get" },
			getR + "spec.rules[0].matches[0].method: \"get\" is not one of"},
		{"header matched twice", func(s *Set) {
			match(s).Headers = []ValueMatch{{Name: "X-Id", Value: "1"}, {Name: "x-id", Value: "2"}}
		}, getR + "spec.rules[0].matches[0].headers[1].name: \"x-id\" is matched twice"},
		{"header without value", func(s *Set) { match(s).Headers = []ValueMatch{{Name: "x-id"}} },
			getR + "spec.rules[0].matches[0].headers[0].value: required"},
		{"header name with a space", func(s *Set) { match(s).Headers = []ValueMatch{{Name: "x id", Value: "1"}} },
			getR + "spec.rules[0].matches[0].headers[0].name: \"x id\" is not a valid name"},
		{"header type not in the enum", func(s *Set) { match(s).Headers = []ValueMatch{{Type: "Prefix", Name: "x-id", Value: "1"}} },
			getR + "spec.rules[0].matches[0].headers[0].type: \"Prefix\" is not one of"},
		{"bad query regex", func(s *Set) {
			match(s).QueryParams = []ValueMatch{{Type: MatchRegularExpression, Name: "page", Value: "(("}}
		}, getR + "spec.rules[0].matches[0].queryParams[0].value: invalid regular expression"},

		// GRPCRoute.
		{"gRPC method regex", func(s *Set) { grpc(s).Method.Type = MatchRegularExpression },
			voting + "spec.rules[0].matches[0].method.type: RegularExpression is not supported by Linkerd"},
		{"gRPC method empty", func(s *Set) { grpc(s).Method = &GRPCMethodMatch{} },
			voting + "spec.rules[0].matches[0].method: one or both of service and method must be set"},
		{"gRPC service name", func(s *Set) { grpc(s).Method.Service = "emojivoto/VotingService" },
			voting + "spec.rules[0].matches[0].method.service: \"emojivoto/VotingService\" is not a gRPC service name"},
		{"gRPC method name", func(s *Set) { grpc(s).Method.Method = "Vote-Dog" },
			voting + "spec.rules[0].matches[0].method.method: \"Vote-Dog\" is not a gRPC method name"},
		{"gRPC route in the policy group", func(s *Set) { s.GRPCRoutes[0].APIVersion = "policy.linkerd.io/v1beta3" },
			voting + "apiVersion: \"policy.linkerd.io/v1beta3\" is not a served version of GRPCRoute"},

		// ServerAuthorization.
		{"no server", func(s *Set) { saz(s).Spec.Server = ServerAuthorizationServer{} },
			legacy + "spec.server: one of name or selector is required"},
		{"server name and selector", func(s *Set) { saz(s).Spec.Server.Selector = &metav1.LabelSelector{} },
			legacy + "spec.server: name and selector are exclusive"},
		{"no client authentication", func(s *Set) { saz(s).Spec.Client = ServerAuthorizationClient{} },
			legacy + "spec.client: no client authentication"},
		{"unauthenticated with meshTLS", func(s *Set) { saz(s).Spec.Client.Unauthenticated = true },
			legacy + "spec.client.unauthenticated: must be false when meshTLS is set"},
		{"unauthenticatedTLS with service accounts", func(s *Set) { saz(s).Spec.Client.MeshTLS.UnauthenticatedTLS = true },
			legacy + "spec.client.meshTLS.unauthenticatedTLS: must be false when identities or serviceAccounts are set"},
		{"empty meshTLS", func(s *Set) { saz(s).Spec.Client.MeshTLS = &MeshTLSClient{} },
			legacy + "spec.client.meshTLS: authorizes no clients"},
		{"bad service account name", func(s *Set) { saz(s).Spec.Client.MeshTLS.ServiceAccounts[0].Name = "Web" },
			legacy + "spec.client.meshTLS.serviceAccounts[0].name: \"Web\""},
		{"client network except outside", func(s *Set) {
			saz(s).Spec.Client.Networks = []Network{{CIDR: "10.0.0.0/16", Except: []string{"10.1.0.0/24"}}}
		}, legacy + "spec.client.networks[0].except[0]: 10.1.0.0/24 is not inside cidr 10.0.0.0/16"},

		// ServiceProfile.
		{"profile name", func(s *Set) { profile(s).Name = "authors" },
			"ServiceProfile booksapp/authors: metadata.name: \"authors\" is not <service>.booksapp.svc.<cluster domain>"},
		{"route without name", func(s *Set) { profile(s).Spec.Routes[0].Name = "" },
			prof + "spec.routes[0].name: required"},
		{"route name twice", func(s *Set) { profile(s).Spec.Routes[1].Name = profile(s).Spec.Routes[0].Name },
			prof + "spec.routes[1].name: \"GET /authors/{id}.json\" is used twice"},
		{"empty condition", func(s *Set) { profile(s).Spec.Routes[0].Condition = RequestMatch{} },
			prof + "spec.routes[0].condition: a condition needs at least one of"},
		{"bad pathRegex", func(s *Set) { profile(s).Spec.Routes[0].Condition.PathRegex = "/authors/(" },
			prof + "spec.routes[0].condition.pathRegex: invalid regular expression"},
		{"bad timeout", func(s *Set) { profile(s).Spec.Routes[0].Timeout = "300" },
			prof + "spec.routes[0].timeout: time: missing unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := booksSet()
			tt.mutate(s)
			errs := Validate(s)
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tt.want) {
				t.Fatalf("Validate = %q\nwant one error starting %q", errs, tt.want)
			}
		})
	}
}
