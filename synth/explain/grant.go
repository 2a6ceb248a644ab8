package explain

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

// Grant is the narrowest change at the level of the policy in force that
// admits a denied (or audit-only) request.
type Grant struct {
	// Level is the level the grant is written at: namespace,
	// serviceaccount or route.
	Level synth.Level
	// Summary says what the grant does, in words.
	Summary string
	// Objects are the objects to apply; nil when no grant can admit the
	// request, and Note says why.
	Objects *policy.Set
	Note    string
}

// YAML writes the grant's objects as a manifest stream, ready for
// kubectl apply.
func (g *Grant) YAML() ([]byte, error) {
	if g.Objects == nil {
		return nil, nil
	}
	var b bytes.Buffer
	if err := policy.Encode(&b, g.Objects); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// builder assembles the objects of one grant.
type builder struct {
	x     *Explainer
	ex    *Explanation
	w     *recording.Workload
	level synth.Level
	set   policy.Set
}

// suggest writes the grant that admits ex's request, and checks it: the
// objects pass admission and, added to the policy, the evaluator admits
// the request with them.
func (x *Explainer) suggest(ex *Explanation) (*Grant, error) {
	tr := ex.Trace
	if tr.Decision.Reason == eval.ReasonUnknownDestination {
		return &Grant{Note: "the server is not a workload of the cluster objects given"}, nil
	}
	b := &builder{x: x, ex: ex, w: tr.Workload}
	g := b.build()
	if g.Objects == nil {
		return g, nil
	}
	if errs := policy.Validate(g.Objects); len(errs) > 0 {
		return nil, fmt.Errorf("the suggested grant does not pass admission (a cinch bug): %w", errs[0])
	}
	withGrant := &policy.Set{}
	withGrant.Add(x.in.Policy)
	withGrant.Add(g.Objects)
	ev, err := eval.New(withGrant, eval.Cluster{Workloads: x.in.Workloads, NamespacePolicies: x.in.NamespacePolicies}, x.in.Eval)
	if err != nil {
		return nil, err
	}
	req := tr.Request
	if d := ev.Decide(req); d.Reason != eval.ReasonAuthorized {
		return nil, fmt.Errorf("the suggested grant does not admit the request (a cinch bug): %s", d.Reason)
	}
	return g, nil
}

func (b *builder) build() *Grant {
	tr := b.ex.Trace
	if b.ex.Identity == "" && !b.ex.Address.IsValid() {
		return &Grant{Note: "the client has no mTLS identity and its address is not known: give the address it calls from (--from ADDRESS) to grant it"}
	}
	b.level = b.x.levelOf(b.w.Namespace, tr)
	d := tr.Decision
	switch {
	case tr.Default != nil:
		return b.serverForPort()
	case d.Reason == eval.ReasonNoRouteMatched:
		return b.newRoute(d.Server.Name)
	case d.Route.Kind != "" && d.Route.Kind != "default":
		g := &Grant{Level: synth.LevelRoute}
		target := policy.LocalTargetRef{Group: d.Route.Group, Kind: d.Route.Kind, Name: d.Route.Name}
		name := b.authorize(target, d.Route.Name)
		g.Summary = fmt.Sprintf("AuthorizationPolicy %s admits %s on %s %s, the route the request matched", name, b.who(), d.Route.Kind, d.Route.Name)
		g.Objects = &b.set
		return g
	}
	g := &Grant{Level: b.level}
	if g.Level == synth.LevelRoute {
		// A Server without routes (opaque, or all its requests on the
		// default route): routes would take the probe route away.
		g.Level = synth.LevelServiceAccount
	}
	b.level = g.Level
	name := b.authorize(policy.LocalTargetRef{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: d.Server.Name}, d.Server.Name)
	g.Summary = fmt.Sprintf("AuthorizationPolicy %s admits %s on Server %s", name, b.who(), d.Server.Name)
	g.Objects = &b.set
	return g
}

// serverForPort grants a port no Server claims: a Server for it that keeps
// the default policy for everyone else (its accessPolicy), and an
// authorization for the client. Routes would take the implicit probe
// route away, so the grant is at the server level.
func (b *builder) serverForPort() *Grant {
	tr := b.ex.Trace
	port := intstr.FromInt32(int32(tr.Request.Port))
	for _, p := range b.w.Ports {
		if uint32(p.Port) == tr.Request.Port && p.Name != "" && (p.Protocol == "" || strings.EqualFold(p.Protocol, "TCP")) {
			port = intstr.FromString(p.Name)
			break
		}
	}
	name := b.unique(policy.KindServer, synth.ObjectName(b.w.Name, port.String()))
	srv := policy.Server{
		TypeMeta:   policy.TypeMeta{APIVersion: policy.APIVersionServer, Kind: policy.KindServer},
		ObjectMeta: b.meta(name),
		Spec: policy.ServerSpec{PodSelector: &metav1.LabelSelector{MatchLabels: b.w.Labels}, Port: port,
			ProxyProtocol: policy.ProtocolUnknown, AccessPolicy: tr.Default.Policy},
	}
	b.set.Servers = append(b.set.Servers, srv)
	if b.level == synth.LevelRoute {
		b.level = synth.LevelServiceAccount
	}
	authz := b.authorize(policy.LocalTargetRef{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: name}, name)
	return &Grant{Level: b.level, Objects: &b.set,
		Summary: fmt.Sprintf("Server %s claims port %d (accessPolicy %s, the default policy it had, so nothing else changes) and AuthorizationPolicy %s admits %s on it",
			name, tr.Request.Port, tr.Default.Policy, authz, b.who())}
}

// newRoute grants a request no route of its Server matches: a route for
// exactly its method and path (for gRPC its service and method) and an
// authorization for the client on it.
func (b *builder) newRoute(server string) *Grant {
	tr := b.ex.Trace
	req := tr.Request
	if req.Path == "" {
		return &Grant{Level: synth.LevelRoute, Note: "the request's path is not known, so no route can be written for it: explain it with --method and --path"}
	}
	path, _, _ := strings.Cut(req.Path, "?")
	b.level = synth.LevelRoute
	if tr.Protocol == policy.ProtocolGRPC {
		service, method, ok := grpcMethod(req.Method, path)
		if !ok {
			return &Grant{Level: synth.LevelRoute, Note: fmt.Sprintf("%s %s is not a gRPC call (POST /service/method): no route of a gRPC Server can match it", req.Method, path)}
		}
		name := b.unique(policy.KindGRPCRoute, synth.ObjectName(server, method))
		b.set.GRPCRoutes = append(b.set.GRPCRoutes, policy.GRPCRoute{
			TypeMeta:   policy.TypeMeta{APIVersion: policy.APIVersionGRPCRoute, Kind: policy.KindGRPCRoute},
			ObjectMeta: b.meta(name),
			Spec: policy.GRPCRouteSpec{ParentRefs: []policy.ParentReference{serverParent(server)},
				Rules: []policy.GRPCRouteRule{{Matches: []policy.GRPCRouteMatch{{Method: &policy.GRPCMethodMatch{
					Type: policy.MatchExact, Service: service, Method: method}}}}}},
		})
		authz := b.authorize(policy.LocalTargetRef{Group: policy.GroupGateway, Kind: policy.KindGRPCRoute, Name: name}, name)
		return &Grant{Level: synth.LevelRoute, Objects: &b.set,
			Summary: fmt.Sprintf("GRPCRoute %s matches %s/%s on Server %s and AuthorizationPolicy %s admits %s on it", name, service, method, server, authz, b.who())}
	}
	apiVersion := b.x.routeAPIVersion(b.w.Namespace, server)
	match := policy.HTTPRouteMatch{Path: &policy.HTTPPathMatch{Type: policy.MatchExact, Value: path}, Method: req.Method}
	if fe := policy.CheckPathMatch(*match.Path, apiVersion == policy.APIVersionGatewayHTTPRoute); len(fe) > 0 {
		return &Grant{Level: synth.LevelRoute, Note: fmt.Sprintf("the path %q cannot be an exact route match (%v): write its route by hand", path, fe[0])}
	}
	name := b.unique(policy.KindHTTPRoute, synth.ObjectName(server, req.Method, path))
	b.set.HTTPRoutes = append(b.set.HTTPRoutes, policy.HTTPRoute{
		TypeMeta:   policy.TypeMeta{APIVersion: apiVersion, Kind: policy.KindHTTPRoute},
		ObjectMeta: b.meta(name),
		Spec: policy.HTTPRouteSpec{ParentRefs: []policy.ParentReference{serverParent(server)},
			Rules: []policy.HTTPRouteRule{{Matches: []policy.HTTPRouteMatch{match}}}},
	})
	group := strings.Split(apiVersion, "/")[0]
	authz := b.authorize(policy.LocalTargetRef{Group: group, Kind: policy.KindHTTPRoute, Name: name}, name)
	what := path
	if req.Method != "" {
		what = req.Method + " " + path
	}
	return &Grant{Level: synth.LevelRoute, Objects: &b.set,
		Summary: fmt.Sprintf("HTTPRoute %s matches exactly %s on Server %s and AuthorizationPolicy %s admits %s on it", name, what, server, authz, b.who())}
}

func grpcMethod(method, path string) (service, rpc string, ok bool) {
	if method != http.MethodPost {
		return "", "", false
	}
	service, rpc, ok = strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return service, rpc, ok && service != "" && rpc != "" && !strings.Contains(rpc, "/")
}

func serverParent(name string) policy.ParentReference {
	return policy.ParentReference{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: name}
}

// routeAPIVersion is the HTTPRoute API the Server's routes already use
// (in the version cinch writes), else the Gateway API's.
func (x *Explainer) routeAPIVersion(ns, server string) string {
	for _, r := range x.in.Policy.HTTPRoutes {
		if r.Namespace != ns {
			continue
		}
		for _, p := range r.Spec.ParentRefs {
			if p.Name == server && p.Kind == policy.KindServer && r.Group() == policy.GroupPolicy {
				return policy.APIVersionPolicyHTTPRoute
			}
		}
	}
	return policy.APIVersionGatewayHTTPRoute
}

// authorize adds an AuthorizationPolicy on target for the client, with
// the authentication the level asks for, and returns its name.
func (b *builder) authorize(target policy.LocalTargetRef, targetName string) string {
	var refs []policy.NamespacedTargetRef
	clientNS, sa, isSA := b.x.serviceAccountOf(b.ex.Identity)
	switch {
	case b.ex.Identity != "" && isSA && b.level == synth.LevelNamespace:
		name := b.unique(policy.KindMeshTLSAuthentication, synth.ObjectName(targetName, clientNS, "namespace"))
		b.set.MeshTLSAuthentications = append(b.set.MeshTLSAuthentications, policy.MeshTLSAuthentication{
			TypeMeta:   policy.TypeMeta{APIVersion: policy.APIVersionMeshTLSAuthentication, Kind: policy.KindMeshTLSAuthentication},
			ObjectMeta: b.meta(name),
			Spec:       policy.MeshTLSAuthenticationSpec{IdentityRefs: []policy.NamespacedTargetRef{{Kind: policy.KindNamespace, Name: clientNS}}},
		})
		refs = []policy.NamespacedTargetRef{{Group: policy.GroupPolicy, Kind: policy.KindMeshTLSAuthentication, Name: name}}
	case b.ex.Identity != "" && isSA:
		refs = []policy.NamespacedTargetRef{{Kind: policy.KindServiceAccount, Name: sa, Namespace: clientNS}}
	case b.ex.Identity != "":
		name := b.unique(policy.KindMeshTLSAuthentication, synth.ObjectName(targetName, "client"))
		b.set.MeshTLSAuthentications = append(b.set.MeshTLSAuthentications, policy.MeshTLSAuthentication{
			TypeMeta:   policy.TypeMeta{APIVersion: policy.APIVersionMeshTLSAuthentication, Kind: policy.KindMeshTLSAuthentication},
			ObjectMeta: b.meta(name),
			Spec:       policy.MeshTLSAuthenticationSpec{Identities: []string{b.ex.Identity}},
		})
		refs = []policy.NamespacedTargetRef{{Group: policy.GroupPolicy, Kind: policy.KindMeshTLSAuthentication, Name: name}}
	default:
		ip := b.ex.Address
		name := b.unique(policy.KindNetworkAuthentication, synth.ObjectName(targetName, ip.String()))
		b.set.NetworkAuthentications = append(b.set.NetworkAuthentications, policy.NetworkAuthentication{
			TypeMeta:   policy.TypeMeta{APIVersion: policy.APIVersionNetworkAuthentication, Kind: policy.KindNetworkAuthentication},
			ObjectMeta: b.meta(name),
			Spec:       policy.NetworkAuthenticationSpec{Networks: []policy.Network{{CIDR: fmt.Sprintf("%s/%d", ip, ip.BitLen())}}},
		})
		refs = []policy.NamespacedTargetRef{{Group: policy.GroupPolicy, Kind: policy.KindNetworkAuthentication, Name: name}}
	}
	name := b.unique(policy.KindAuthorizationPolicy, synth.ObjectName(targetName, b.clientPart()))
	b.set.AuthorizationPolicies = append(b.set.AuthorizationPolicies, policy.AuthorizationPolicy{
		TypeMeta:   policy.TypeMeta{APIVersion: policy.APIVersionAuthorizationPolicy, Kind: policy.KindAuthorizationPolicy},
		ObjectMeta: b.meta(name),
		Spec:       policy.AuthorizationPolicySpec{TargetRef: target, RequiredAuthenticationRefs: refs},
	})
	return name
}

// clientPart names the client in object names.
func (b *builder) clientPart() string {
	if ns, sa, ok := b.x.serviceAccountOf(b.ex.Identity); ok {
		if b.level == synth.LevelNamespace {
			return ns
		}
		return sa + "-" + ns
	}
	if b.ex.Identity != "" {
		return "client"
	}
	return b.ex.Address.String()
}

// who names the client as the grant admits it.
func (b *builder) who() string {
	ns, sa, ok := b.x.serviceAccountOf(b.ex.Identity)
	switch {
	case ok && b.level == synth.LevelNamespace:
		return "every service account of namespace " + ns
	case ok:
		return "service account " + ns + "/" + sa
	case b.ex.Identity != "":
		return "identity " + b.ex.Identity
	}
	return "address " + b.ex.Address.String()
}

func (b *builder) meta(name string) policy.ObjectMeta {
	return policy.ObjectMeta{Name: name, Namespace: b.w.Namespace,
		Annotations: map[string]string{synth.AnnotationLevel: string(b.level), AnnotationExplained: b.ex.describe()}}
}

// AnnotationExplained marks the objects of a suggested grant with the
// request they were written for.
const AnnotationExplained = "cinch.cinchmesh.io/explained"

// unique returns name, or name-2, -3, ... when the policy or the grant
// already has an object of that kind and name in the namespace.
func (b *builder) unique(kind, name string) string {
	taken := func(n string) bool {
		for _, s := range []*policy.Set{b.x.in.Policy, &b.set} {
			for _, o := range s.Objects() {
				if o.Type().Kind == kind && o.Meta().Namespace == b.w.Namespace && o.Meta().Name == n {
					return true
				}
			}
		}
		return false
	}
	out := name
	for i := 2; taken(out); i++ {
		suffix := fmt.Sprintf("-%d", i)
		out = strings.TrimRight(name[:min(len(name), 63-len(suffix))], "-") + suffix
	}
	return out
}

// levelOf is the level of the policy in force in the namespace: the level
// cinch annotated its Servers with (the most common), else what the
// objects show (routes: route; namespace identity refs: namespace),
// else the service-account level.
func (x *Explainer) levelOf(ns string, tr *eval.Trace) synth.Level {
	count := map[synth.Level]int{}
	for _, s := range x.in.Policy.Servers {
		if s.Namespace == ns {
			if l := synth.Level(s.Annotations[synth.AnnotationLevel]); l != "" {
				count[l]++
			}
		}
	}
	if len(count) > 0 {
		levels := []synth.Level{synth.LevelRoute, synth.LevelServiceAccount, synth.LevelNamespace}
		return slices.MaxFunc(levels, func(a, b synth.Level) int { return cmp.Compare(count[a], count[b]) })
	}
	if !tr.ImplicitRoutes && len(tr.Routes) > 0 {
		return synth.LevelRoute
	}
	for _, m := range x.in.Policy.MeshTLSAuthentications {
		if m.Namespace != ns {
			continue
		}
		for _, r := range m.Spec.IdentityRefs {
			if r.Kind == policy.KindNamespace {
				return synth.LevelNamespace
			}
		}
	}
	return synth.LevelServiceAccount
}

// describe writes the request as one line, for annotations and headings.
func (e *Explanation) describe() string {
	q := e.Query
	from := string(q.From.Workload)
	if from == "" {
		from = cmp.Or(shortIdentity(e.Identity), e.Address.String())
	}
	s := fmt.Sprintf("%s -> %s:%d", from, q.To, q.Port)
	switch {
	case q.Route != (eval.Ref{}):
		s += " " + q.Route.String()
	case q.Method != "" || q.Path != "":
		s += " " + strings.TrimSpace(q.Method+" "+q.Path)
	}
	return s
}

// parseServiceAccount writes a service account identity (of any control
// plane and trust domain) as namespace/name.
func parseServiceAccount(id string) (string, bool) {
	if i, ok := recording.ParseIdentity(id); ok && i.ServiceAccount != "*" {
		return i.Namespace + "/" + i.ServiceAccount, true
	}
	return "", false
}

// shortIdentity writes a service account identity as namespace/name.
func shortIdentity(id string) string {
	if i, ok := recording.ParseIdentity(id); ok {
		return i.Namespace + "/" + i.ServiceAccount
	}
	return id
}
