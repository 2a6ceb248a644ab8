package synth

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

// emitter builds the objects of one synthesis from its grants. Names are
// handed out in emission order, so the order below is part of the output.
type emitter struct {
	opts     *Options
	names    *namer
	rec      *recording.Recording
	units    map[recording.PeerID]*Unit
	warnings []string
}

// emit writes the objects the grants call for: per selectable server port
// a Server and its authorizations (on the Server or on its routes), then
// the ServiceProfiles, then the namespaces that get default deny. The
// result's warnings are the evidence's, the grants' and emission's own,
// in that order.
func emit(ev *evidence, g *grants, opts *Options) *Result {
	e := &emitter{opts: opts, names: newNamer(), rec: ev.rec, units: map[recording.PeerID]*Unit{}}
	res := &Result{Warnings: slices.Clone(ev.warnings)}
	for _, pg := range g.ports {
		res.Warnings = append(res.Warnings, pg.warnings...)
		res.RouteMerges = append(res.RouteMerges, pg.merges...)
		if pg.selectable {
			e.port(pg)
			res.Coverage = append(res.Coverage, pg.coverage)
		}
	}
	if opts.ServiceProfiles {
		e.serviceProfiles(g.ports)
	}
	namespaces := map[string]bool{}
	for _, u := range e.units {
		namespaces[u.Namespace] = true
	}
	if opts.DefaultDeny {
		for _, ns := range slices.Sorted(maps.Keys(namespaces)) {
			if cut := g.unselected[ns]; len(cut) > 0 {
				e.warn("namespace %s is left without default deny: %s had observed traffic that no Server can select, and default deny would cut it off", ns, joinIDs(cut))
				continue
			}
			res.DefaultDeny = append(res.DefaultDeny, ns)
		}
		if !opts.Scrapes.Disabled {
			res.AdminPorts = e.adminPorts(res.DefaultDeny, probeNetworks(opts, ev.nodes))
		}
		res.RareClients = rareClients(ev.rec, opts.Candidates)
		e.warnRareClients(res.RareClients)
	}
	for _, u := range e.units {
		u.Set.Normalize()
		res.Units = append(res.Units, *u)
	}
	slices.SortFunc(res.Units, func(a, b Unit) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Workload, b.Workload))
	})
	res.Warnings = append(res.Warnings, e.warnings...)
	res.Intents = opts.Intents
	return res
}

func (e *emitter) warn(format string, args ...any) {
	e.warnings = append(e.warnings, fmt.Sprintf(format, args...))
}

// port emits the Server of one server port and the authorizations its
// grant calls for.
func (e *emitter) port(g *portGrant) {
	w := &g.Workload
	u := e.unit(w)
	portName := strconv.Itoa(int(g.Port))
	port := intstr.FromInt32(int32(g.Port))
	for _, cp := range w.Ports {
		// A name Kubernetes would not allow cannot be the pod's: the
		// number selects the same port.
		if uint32(cp.Port) == g.Port && cp.Name != "" && len(validation.IsValidPortName(cp.Name)) == 0 {
			portName, port = cp.Name, intstr.FromString(cp.Name)
			break
		}
	}
	srv := policy.Server{
		ObjectMeta: e.meta(policy.KindServer, w.Namespace, g.serverPort, w.Name, portName),
		Spec: policy.ServerSpec{
			PodSelector:   &metav1.LabelSelector{MatchLabels: w.Labels},
			Port:          port,
			ProxyProtocol: policy.ProtocolUnknown,
			AccessPolicy:  policy.Deny,
		},
	}
	switch {
	case g.TCP:
		srv.Spec.ProxyProtocol = policy.ProtocolOpaque
	case g.GRPC:
		srv.Spec.ProxyProtocol = policy.ProtocolGRPC
	}
	if e.opts.Mode == ModeAudit {
		srv.Spec.AccessPolicy = policy.Audit
	}
	u.Set.Servers = append(u.Set.Servers, srv)
	if g.routeLevel {
		for _, r := range g.routes {
			e.routeObject(u, g.serverPort, &srv, r)
		}
	}
	target := policy.LocalTargetRef{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: srv.Name}
	e.authorize(u, g.serverPort, target, srv.Name, g.clients)
}

func (e *emitter) unit(w *recording.Workload) *Unit {
	u := e.units[w.ID]
	if u == nil {
		u = &Unit{Namespace: w.Namespace, Workload: w.Name}
		e.units[w.ID] = u
	}
	return u
}

// meta builds the metadata of a generated object.
func (e *emitter) meta(kind, namespace string, sp *serverPort, nameParts ...string) policy.ObjectMeta {
	m := policy.ObjectMeta{
		Name:        e.names.name(kind, namespace, nameParts...),
		Namespace:   namespace,
		Labels:      map[string]string{LabelManagedBy: ManagedBy},
		Annotations: map[string]string{AnnotationLevel: string(e.opts.Level)},
	}
	if obs := e.observed(sp); obs != "" {
		m.Annotations[AnnotationObserved] = obs
	}
	return m
}

// declaredMeta is meta marked with the intents behind the object's grants,
// if any.
func (e *emitter) declaredMeta(kind, namespace string, sp *serverPort, declared string, nameParts ...string) policy.ObjectMeta {
	m := e.meta(kind, namespace, sp, nameParts...)
	if declared != "" {
		m.Annotations[AnnotationDeclared] = declared
	}
	return m
}

// observed says which traffic justified an object: the time span of the
// server port's evidence, or the windows' sources when events carried no
// times.
func (e *emitter) observed(sp *serverPort) string {
	if sp != nil && !sp.First.IsZero() {
		return sp.First.UTC().Format(time.RFC3339) + "/" + sp.Last.UTC().Format(time.RFC3339)
	}
	var sources []string
	for _, w := range e.rec.Windows {
		src := w.Source
		// A file's directory is the recording machine's business, not the
		// manifest's.
		if name, ok := strings.CutPrefix(src, "file:"); ok {
			src = "file:" + filepath.Base(name)
		}
		if !slices.Contains(sources, src) {
			sources = append(sources, src)
		}
	}
	return strings.Join(sources, ",")
}

// joinIDs lists peer IDs for a message.
func joinIDs(ids []recording.PeerID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ", ")
}

// authorize emits the authorizations that admit clients to target: one
// AuthorizationPolicy with a MeshTLSAuthentication for the meshed clients
// (their namespaces or service accounts), one for the clients known only
// by identity, and one with a NetworkAuthentication for the addresses of
// requests without mTLS. They are separate policies because the refs
// inside one policy are ANDed.
func (e *emitter) authorize(u *Unit, sp *serverPort, target policy.LocalTargetRef, base string, who clients) {
	ns := sp.Workload.Namespace
	refs, identities, networks := who.refs, who.identities, who.networks
	// One MeshTLSAuthentication holds either refs or identities: clients
	// known only by identity get a policy of their own.
	if len(refs) > 0 {
		e.meshPolicy(u, sp, target, base, "mesh", policy.MeshTLSAuthenticationSpec{IdentityRefs: refs}, who.meshDeclared)
	}
	if len(identities) > 0 {
		e.meshPolicy(u, sp, target, base, "mesh-ids", policy.MeshTLSAuthenticationSpec{Identities: identities}, who.meshDeclared)
	}
	if len(networks) > 0 {
		na := policy.NetworkAuthentication{ObjectMeta: e.declaredMeta(policy.KindNetworkAuthentication, ns, sp, who.networksDeclared, base, "network")}
		for _, n := range networks {
			na.Spec.Networks = append(na.Spec.Networks, policy.Network{CIDR: n})
		}
		u.Set.NetworkAuthentications = append(u.Set.NetworkAuthentications, na)
		u.Set.AuthorizationPolicies = append(u.Set.AuthorizationPolicies, policy.AuthorizationPolicy{
			ObjectMeta: e.declaredMeta(policy.KindAuthorizationPolicy, ns, sp, who.networksDeclared, base, "network"),
			Spec: policy.AuthorizationPolicySpec{
				TargetRef:                  target,
				RequiredAuthenticationRefs: []policy.NamespacedTargetRef{{Group: policy.GroupPolicy, Kind: policy.KindNetworkAuthentication, Name: na.Name}},
			},
		})
	}
}

func (e *emitter) meshPolicy(u *Unit, sp *serverPort, target policy.LocalTargetRef, base, suffix string, spec policy.MeshTLSAuthenticationSpec, declared string) {
	ns := sp.Workload.Namespace
	mtls := policy.MeshTLSAuthentication{ObjectMeta: e.declaredMeta(policy.KindMeshTLSAuthentication, ns, sp, declared, base, suffix), Spec: spec}
	u.Set.MeshTLSAuthentications = append(u.Set.MeshTLSAuthentications, mtls)
	u.Set.AuthorizationPolicies = append(u.Set.AuthorizationPolicies, policy.AuthorizationPolicy{
		ObjectMeta: e.declaredMeta(policy.KindAuthorizationPolicy, ns, sp, declared, base, suffix),
		Spec: policy.AuthorizationPolicySpec{
			TargetRef:                  target,
			RequiredAuthenticationRefs: []policy.NamespacedTargetRef{{Group: policy.GroupPolicy, Kind: policy.KindMeshTLSAuthentication, Name: mtls.Name}},
		},
	})
}

func dedupe(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// abbreviate cuts s to at most n bytes, on a character boundary, and
// marks the cut.
func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// routeObject emits one HTTPRoute or GRPCRoute for templates used by
// g's clients, and its authorizations.
func (e *emitter) routeObject(u *Unit, sp *serverPort, srv *policy.Server, ro routeObject) {
	ns := sp.Workload.Namespace
	parent := policy.ParentReference{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: srv.Name}
	var target policy.LocalTargetRef
	if sp.GRPC {
		r := policy.GRPCRoute{ObjectMeta: e.meta(policy.KindGRPCRoute, ns, sp, srv.Name, ro.name)}
		r.Spec.ParentRefs = []policy.ParentReference{parent}
		for _, rule := range ro.rules {
			r.Spec.Rules = append(r.Spec.Rules, policy.GRPCRouteRule{Matches: []policy.GRPCRouteMatch{{
				Method: &policy.GRPCMethodMatch{Type: policy.MatchExact, Service: rule.grpcService, Method: rule.grpcMethod},
			}}})
		}
		u.Set.GRPCRoutes = append(u.Set.GRPCRoutes, r)
		target = policy.LocalTargetRef{Group: policy.GroupGateway, Kind: policy.KindGRPCRoute, Name: r.Name}
	} else {
		r := policy.HTTPRoute{ObjectMeta: e.meta(policy.KindHTTPRoute, ns, sp, srv.Name, ro.name)}
		r.APIVersion = policy.APIVersionGatewayHTTPRoute
		if e.opts.RouteAPI == RouteAPIPolicy {
			r.APIVersion = policy.APIVersionPolicyHTTPRoute
		}
		r.Spec.ParentRefs = []policy.ParentReference{parent}
		for _, rule := range ro.rules {
			r.Spec.Rules = append(r.Spec.Rules, policy.HTTPRouteRule{Matches: []policy.HTTPRouteMatch{{
				Path:   new(rule.path),
				Method: rule.method,
			}}})
		}
		u.Set.HTTPRoutes = append(u.Set.HTTPRoutes, r)
		target = policy.LocalTargetRef{Group: string(e.opts.RouteAPI), Kind: policy.KindHTTPRoute, Name: r.Name}
	}
	e.authorize(u, sp, target, target.Name, ro.clients)
}

// serviceProfiles emits a ServiceProfile for every Service in front of an
// observed server, with the port's route templates, so that per-route
// metrics work for its clients.
func (e *emitter) serviceProfiles(ports []*portGrant) {
	type profile struct {
		unit   *Unit
		routes map[string]policy.ServiceProfileRoute
	}
	profiles := map[string]*profile{} // namespace/service
	badServices := map[string]bool{}
	var keys []string
	for _, pg := range ports {
		w := &pg.Workload
		if len(w.Services) == 0 {
			continue
		}
		for _, svc := range w.Services {
			k := w.Namespace + "/" + svc
			if len(validation.IsDNS1035Label(svc)) > 0 {
				if !badServices[k] {
					e.warn("%s: Service %q is not a Service name: no ServiceProfile for it", w.ID, svc)
				}
				badServices[k] = true
				continue
			}
			p := profiles[k]
			if p == nil {
				p = &profile{unit: e.unit(w), routes: map[string]policy.ServiceProfileRoute{}}
				profiles[k] = p
				keys = append(keys, k)
			}
			for _, t := range pg.templates {
				name := t.Method + " " + t.Pattern
				p.routes[name] = policy.ServiceProfileRoute{Name: name, Condition: policy.RequestMatch{Method: t.Method, PathRegex: t.ProfileRegex}}
			}
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := profiles[k]
		ns, svc, _ := strings.Cut(k, "/")
		sp := policy.ServiceProfile{ObjectMeta: policy.ObjectMeta{
			Name:        svc + "." + ns + ".svc." + e.opts.ClusterDomain,
			Namespace:   ns,
			Labels:      map[string]string{LabelManagedBy: ManagedBy},
			Annotations: map[string]string{AnnotationObserved: e.observed(nil)},
		}}
		names := make([]string, 0, len(p.routes))
		for n := range p.routes {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			sp.Spec.Routes = append(sp.Spec.Routes, p.routes[n])
		}
		p.unit.Set.ServiceProfiles = append(p.unit.Set.ServiceProfiles, sp)
	}
}
