package synth

import (
	"cmp"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
	"github.com/cinchmesh/cinch/synth/routes"
)

// maxRulesPerRoute is Linkerd's limit of rules in one HTTPRoute; cinch
// writes one match per rule so each observed route reads as one rule.
const maxRulesPerRoute = 16

// matcher is an inferred route template with its compiled pattern.
type matcher struct {
	routes.Template
	re *regexp.Regexp // nil for Exact
	// path is the HTTPRoute path match: the template's, or, for an exact
	// path the route API does not accept as one (characters outside a
	// plain path, "//", "%2F", ...), an anchored expression of the quoted
	// path, which matches that path alone.
	path policy.HTTPPathMatch
	// unwritable says why no route match can hold the template, if so.
	unwritable string
}

func (m *matcher) matches(method, path string) bool {
	if m.Method != "" && m.Method != method {
		return false
	}
	path, _, _ = strings.Cut(path, "?")
	if m.re == nil {
		return m.Value == path
	}
	return m.re.MatchString(path)
}

// matchPath is the path a template matcher sees for an observed route: a
// redacted route's example path (the templates inferred from it match
// that exactly when they cover the route).
func matchPath(r recording.Route) string {
	if r.Template {
		return routes.Example(r.Path)
	}
	return r.Path
}

// routeGroup is the templates that exactly the same clients used: they
// share one route object and its authorizations.
type routeGroup struct {
	key       string
	templates []*matcher
	callers   []*caller
	probe     bool // kubelet probes use these routes
}

// routes emits the route level of one server port: the observed routes,
// grouped by the set of clients seen on them, each group an HTTPRoute (or
// GRPCRoute) with its own authorizations, plus the probe routes Linkerd no
// longer provides once a route is attached to the Server.
func (b *builder) routes(u *Unit, sp *serverPort, srv *policy.Server, matchers []*matcher) {
	if sp.Overflow > 0 {
		b.warn("%s port %d: %d requests had paths the recording did not keep (its per-edge limit); with routes attached they will get 404: re-record with a higher --max-paths-per-edge or use a coarser level", sp.Server, sp.Port, sp.Overflow)
	}
	for _, c := range sp.Callers {
		if len(c.Routes) == 0 {
			b.warn("%s -> %s port %d: known without paths (metrics only), so no route is written for it and its requests will get 404 at route level: merge a tap recording of it or use a coarser level", c.Peer, sp.Server, sp.Port)
		}
	}
	probeCaller := b.probeCaller(sp)
	groups := map[*matcher]map[*caller]bool{}
	use := func(m *matcher, c *caller) {
		if groups[m] == nil {
			groups[m] = map[*caller]bool{}
		}
		groups[m][c] = true
	}
	for _, c := range sp.Callers {
		for _, r := range c.Routes {
			for _, m := range matchers {
				if m.matches(r.Method, matchPath(r)) {
					use(m, c)
					break
				}
			}
		}
	}
	if probeCaller != nil {
		for _, p := range sp.Workload.Probes {
			if uint32(p.Port) != sp.Port {
				continue
			}
			for _, m := range matchers {
				if m.matches("GET", p.Path) {
					use(m, probeCaller)
					break
				}
			}
		}
	}
	byKey := map[string]*routeGroup{}
	for _, m := range matchers {
		callers := groups[m]
		if len(callers) == 0 {
			continue // a probe path of the pod spec nobody may call
		}
		var peers []string
		g := &routeGroup{}
		for c := range callers {
			peers = append(peers, string(c.Peer))
			g.callers = append(g.callers, c)
			g.probe = g.probe || c == probeCaller
		}
		slices.Sort(peers)
		key := strings.Join(peers, "\x00")
		if have := byKey[key]; have != nil {
			have.templates = append(have.templates, m)
			continue
		}
		slices.SortFunc(g.callers, func(a, b *caller) int { return strings.Compare(string(a.Peer), string(b.Peer)) })
		g.key, g.templates = key, []*matcher{m}
		byKey[key] = g
	}
	var ordered []*routeGroup
	for _, g := range byKey {
		ordered = append(ordered, g)
	}
	slices.SortFunc(ordered, func(a, b *routeGroup) int {
		return cmp.Compare(templateKey(a.templates[0]), templateKey(b.templates[0]))
	})
	for _, g := range ordered {
		for start := 0; start < len(g.templates); start += maxRulesPerRoute {
			chunk := g.templates[start:min(start+maxRulesPerRoute, len(g.templates))]
			b.routeObject(u, sp, srv, g, chunk)
		}
	}
}

func templateKey(m *matcher) string { return m.Value + "\x00" + m.Method }

// inferRoutes turns the port's observed paths, and the probe paths of its
// pod spec, into templates.
func (b *builder) inferRoutes(sp *serverPort) []*matcher {
	merged := map[[2]string]*routes.Sample{}
	var order [][2]string
	add := func(method, path string, n int64, probe, template bool) {
		k := [2]string{method, path}
		if template {
			k[1] = "\x00" + path
		}
		s := merged[k]
		if s == nil {
			s = &routes.Sample{Method: method, Path: path, Template: template}
			merged[k] = s
			order = append(order, k)
		}
		s.Requests += n
		s.Probe = s.Probe || probe
	}
	for _, c := range sp.Callers {
		for _, r := range c.Routes {
			add(r.Method, r.Path, r.Requests, r.Probe, r.Template)
		}
	}
	if !sp.GRPC {
		for _, p := range sp.Workload.Probes {
			if uint32(p.Port) == sp.Port {
				add("GET", p.Path, 0, true, false)
			}
		}
	}
	samples := make([]routes.Sample, 0, len(order))
	for _, k := range order {
		samples = append(samples, *merged[k])
	}
	var out []*matcher
	for _, t := range routes.Infer(samples, b.opts.Routes, sp.GRPC) {
		m := &matcher{Template: t, path: policy.HTTPPathMatch{Type: t.Match, Value: t.Value}}
		if t.Match == policy.MatchRegularExpression {
			m.re = regexp.MustCompile("^(?:" + t.Value + ")$")
		} else if len(policy.CheckPathMatch(m.path, true)) > 0 {
			m.path = policy.HTTPPathMatch{Type: policy.MatchRegularExpression, Value: regexp.QuoteMeta(t.Value)}
		}
		switch {
		case sp.GRPC && t.GRPCService == "":
			m.unwritable = "is not a gRPC method a GRPCRoute can name (/package.Service/Method)"
		case !sp.GRPC && len(m.path.Value) > policy.MaxPathLength:
			m.unwritable = fmt.Sprintf("is %d characters long, more than a route match can hold", len(m.path.Value))
		}
		out = append(out, m)
	}
	return out
}

// probeCaller is the kubelet as a client of the port's probe routes: the
// probe networks given, or every node address in the recording (a pod may
// move to any node). Nil for gRPC servers, which Linkerd gives no probe
// route, and when no source is known.
func (b *builder) probeCaller(sp *serverPort) *caller {
	if sp.GRPC {
		return nil
	}
	nets := b.opts.ProbeNetworks
	if len(nets) == 0 {
		var addrs []netip.Addr
		for _, ip := range b.nodes {
			if a, err := netip.ParseAddr(ip); err == nil {
				addrs = append(addrs, a)
			}
		}
		nets = prefixes(addrs, PrefixLengths{})
	}
	if len(nets) == 0 {
		return nil
	}
	return &caller{Peer: "kubelet", Networks: compactPrefixes(slices.Clone(nets))}
}

// routeObject emits one HTTPRoute or GRPCRoute for templates used by
// g's clients, and its authorizations.
func (b *builder) routeObject(u *Unit, sp *serverPort, srv *policy.Server, g *routeGroup, templates []*matcher) {
	ns := sp.Workload.Namespace
	var nameParts []string
	if len(templates) == 1 {
		nameParts = []string{srv.Name, templates[0].Name}
	} else {
		nameParts = []string{srv.Name, "routes"}
	}
	if g.probe && len(g.callers) == 1 {
		nameParts = []string{srv.Name, "probes"}
	}
	parent := policy.ParentReference{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: srv.Name}
	var target policy.LocalTargetRef
	if sp.GRPC {
		r := policy.GRPCRoute{ObjectMeta: b.meta(policy.KindGRPCRoute, ns, sp, nameParts...)}
		r.Spec.ParentRefs = []policy.ParentReference{parent}
		for _, t := range templates {
			r.Spec.Rules = append(r.Spec.Rules, policy.GRPCRouteRule{Matches: []policy.GRPCRouteMatch{{
				Method: &policy.GRPCMethodMatch{Type: policy.MatchExact, Service: t.GRPCService, Method: t.GRPCMethod},
			}}})
		}
		u.Set.GRPCRoutes = append(u.Set.GRPCRoutes, r)
		target = policy.LocalTargetRef{Group: policy.GroupGateway, Kind: policy.KindGRPCRoute, Name: r.Name}
	} else {
		r := policy.HTTPRoute{ObjectMeta: b.meta(policy.KindHTTPRoute, ns, sp, nameParts...)}
		r.APIVersion = policy.APIVersionGatewayHTTPRoute
		if b.opts.RouteAPI == RouteAPIPolicy {
			r.APIVersion = policy.APIVersionPolicyHTTPRoute
		}
		r.Spec.ParentRefs = []policy.ParentReference{parent}
		for _, t := range templates {
			r.Spec.Rules = append(r.Spec.Rules, policy.HTTPRouteRule{Matches: []policy.HTTPRouteMatch{{
				// A copy: a pointer into the matcher would keep its
				// compiled expression alive as long as the policy.
				Path:   new(t.path),
				Method: t.Method,
			}}})
		}
		u.Set.HTTPRoutes = append(u.Set.HTTPRoutes, r)
		target = policy.LocalTargetRef{Group: string(b.opts.RouteAPI), Kind: policy.KindHTTPRoute, Name: r.Name}
	}
	b.authorize(u, sp, target, target.Name, g.callers)
}

// serviceProfiles emits a ServiceProfile for every Service in front of an
// observed server, with the port's route templates, so that per-route
// metrics work for its clients.
func (b *builder) serviceProfiles(ports []*serverPort) {
	type profile struct {
		unit   *Unit
		routes map[string]policy.ServiceProfileRoute
	}
	profiles := map[string]*profile{} // namespace/service
	badServices := map[string]bool{}
	var keys []string
	for _, sp := range ports {
		w := &sp.Workload
		if len(w.Services) == 0 {
			continue
		}
		matchers := b.inferRoutes(sp)
		for _, svc := range w.Services {
			k := w.Namespace + "/" + svc
			if len(validation.IsDNS1035Label(svc)) > 0 {
				if !badServices[k] {
					b.warn("%s: Service %q is not a Service name: no ServiceProfile for it", w.ID, svc)
				}
				badServices[k] = true
				continue
			}
			p := profiles[k]
			if p == nil {
				p = &profile{unit: b.unit(w), routes: map[string]policy.ServiceProfileRoute{}}
				profiles[k] = p
				keys = append(keys, k)
			}
			for _, m := range matchers {
				name := m.Method + " " + m.Pattern
				p.routes[name] = policy.ServiceProfileRoute{Name: name, Condition: policy.RequestMatch{Method: m.Method, PathRegex: m.ProfileRegex}}
			}
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := profiles[k]
		ns, svc, _ := strings.Cut(k, "/")
		sp := policy.ServiceProfile{ObjectMeta: policy.ObjectMeta{
			Name:        svc + "." + ns + ".svc." + b.opts.ClusterDomain,
			Namespace:   ns,
			Labels:      map[string]string{LabelManagedBy: ManagedBy},
			Annotations: map[string]string{AnnotationObserved: b.observed(nil)},
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
