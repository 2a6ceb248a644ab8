package eval

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/synth/policy"
)

// routeKey identifies a route the way an AuthorizationPolicy's targetRef
// names it (compared case-insensitively).
func routeKey(namespace, group, kind, name string) string {
	return strings.ToLower(namespace + "/" + group + "/" + kind + "/" + name)
}

// indexRoutes compiles the HTTPRoutes and GRPCRoutes and attaches each to
// the Servers that accept it: a parent Server of the same namespace must
// exist, and an HTTPRoute is not accepted by a Server a GRPCRoute also
// attaches to (Gateway API route-kind precedence).
func (b *builder) indexRoutes(set *policy.Set) {
	grpcParents := map[nsName]bool{}
	type pending struct {
		r       *route
		key     policy.Key
		ns      string
		parents []string
	}
	var all []pending
	for i := range set.GRPCRoutes {
		g := &set.GRPCRoutes[i]
		r, parents, err := b.compileGRPCRoute(g)
		for _, p := range parents {
			grpcParents[nsName{g.Namespace, p}] = true
		}
		if err != nil {
			b.warn(policy.KeyOf(g), "%v: Linkerd ignores this GRPCRoute", err)
			continue
		}
		all = append(all, pending{r, policy.KeyOf(g), g.Namespace, parents})
	}
	for i := range set.HTTPRoutes {
		h := &set.HTTPRoutes[i]
		r, parents, err := b.compileHTTPRoute(h)
		if err != nil {
			b.warn(policy.KeyOf(h), "%v: Linkerd ignores this HTTPRoute", err)
			continue
		}
		all = append(all, pending{r, policy.KeyOf(h), h.Namespace, parents})
	}
	for _, p := range all {
		rk := routeKey(p.ns, p.r.ref.Group, p.r.ref.Kind, p.r.ref.Name)
		if _, dup := b.routes[rk]; dup {
			b.warn(p.key, "defined twice: the first one is used")
			continue
		}
		b.routes[rk] = p.r
		for _, name := range p.parents {
			var srv *server
			if nss := b.servers[p.ns]; nss != nil {
				srv = nss.byName[name]
			}
			switch {
			case srv == nil:
				b.warn(p.key, "parent Server %q does not exist: not accepted there", name)
			case !p.r.grpc && grpcParents[nsName{p.ns, name}]:
				b.warn(p.key, "Server %q also has GRPCRoutes, which take precedence: not accepted there", name)
			case p.r.grpc:
				srv.grpcRoutes = append(srv.grpcRoutes, p.r)
				p.r.servers = append(p.r.servers, name)
			default:
				srv.httpRoutes = append(srv.httpRoutes, p.r)
				p.r.servers = append(p.r.servers, name)
			}
		}
	}
}

// sortRoutes puts routes in precedence order: oldest first (routes not yet
// applied last), then by name, group and kind.
func sortRoutes(rs []*route) {
	slices.SortFunc(rs, func(a, b *route) int {
		return cmp.Or(compareCreated(a.created, b.created), cmp.Compare(a.ref.Name, b.ref.Name),
			cmp.Compare(a.ref.Group, b.ref.Group), cmp.Compare(a.ref.Kind, b.ref.Kind))
	})
}

// serverParents returns the names of the Servers refs attach to. A parent
// Server in another namespace, or given with a port or section name,
// invalidates the whole route, as in Linkerd. Other parents (Services,
// Gateways) are outbound configuration and are skipped.
func serverParents(refs []policy.ParentReference, routeNS, defaultGroup string) ([]string, error) {
	var out []string
	for _, p := range refs {
		group, kind := cmp.Or(p.Group, defaultGroup), cmp.Or(p.Kind, "Gateway")
		if !isKind(group, kind, policy.GroupPolicy, policy.KindServer) || p.Name == "" {
			continue
		}
		switch {
		case p.Namespace != "" && p.Namespace != routeNS:
			return nil, fmt.Errorf("parent Server %q is in another namespace (%s)", p.Name, p.Namespace)
		case p.Port != nil:
			return nil, fmt.Errorf("parent Server %q is given with a port", p.Name)
		case p.SectionName != "":
			return nil, fmt.Errorf("parent Server %q is given with a sectionName", p.Name)
		}
		if !slices.Contains(out, p.Name) {
			out = append(out, p.Name)
		}
	}
	return out, nil
}

func newRoute(meta *policy.ObjectMeta, group, kind string, hostnames []string) *route {
	r := &route{ref: Ref{Group: group, Kind: kind, Name: meta.Name}}
	if meta.CreationTimestamp != nil {
		r.created = &meta.CreationTimestamp.Time
	}
	for _, h := range hostnames {
		r.hosts = append(r.hosts, newHostMatch(h))
	}
	return r
}

func (b *builder) compileHTTPRoute(h *policy.HTTPRoute) (*route, []string, error) {
	group := h.Group()
	if group == "" {
		group = policy.GroupPolicy
	}
	parents, err := serverParents(h.Spec.ParentRefs, h.Namespace, group)
	if err != nil {
		return nil, nil, err
	}
	r := newRoute(&h.ObjectMeta, group, policy.KindHTTPRoute, h.Spec.Hostnames)
	if len(h.Spec.Rules) == 0 {
		r.rules = []rule{{}} // the CRD's default: one rule matching PathPrefix "/"
	}
	for i, hr := range h.Spec.Rules {
		if err := checkFilters(hr.Filters); err != nil {
			return nil, nil, fmt.Errorf("rules[%d]: %w", i, err)
		}
		var ru rule
		for j, m := range hr.Matches {
			cm, err := b.compileHTTPMatch(m)
			if err != nil {
				return nil, nil, fmt.Errorf("rules[%d].matches[%d]: %w", i, j, err)
			}
			ru.matches = append(ru.matches, cm)
		}
		r.rules = append(r.rules, ru)
	}
	return r, parents, nil
}

// checkFilters rejects the filters the policy controller does not support.
func checkFilters(filters []json.RawMessage) error {
	for _, f := range filters {
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(f, &head); err != nil {
			return fmt.Errorf("filter: %w", err)
		}
		switch head.Type {
		case "RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect":
		default:
			return fmt.Errorf("filter %q is not supported", head.Type)
		}
	}
	return nil
}

func (b *builder) compileHTTPMatch(m policy.HTTPRouteMatch) (*requestMatch, error) {
	cm := &requestMatch{method: m.Method}
	if m.Path != nil {
		value := cmp.Or(m.Path.Value, "/")
		switch m.Path.Type {
		case "", policy.MatchPathPrefix:
			if !strings.HasPrefix(value, "/") {
				return nil, fmt.Errorf("path %q is not absolute", value)
			}
			if value != "/" {
				cm.path = pathMatch{kind: pathPrefix, value: strings.TrimRight(value, "/")}
			}
		case policy.MatchExact:
			if !strings.HasPrefix(value, "/") {
				return nil, fmt.Errorf("path %q is not absolute", value)
			}
			cm.path = pathMatch{kind: pathExact, value: value}
		case policy.MatchRegularExpression:
			re, err := b.compileRegexp(value)
			if err != nil {
				return nil, fmt.Errorf("path: %w", err)
			}
			cm.path = pathMatch{kind: pathRegex, value: value, re: re}
		default:
			return nil, fmt.Errorf("unknown path match type %q", m.Path.Type)
		}
	}
	var err error
	if cm.headers, err = b.compileValueMatches(m.Headers, true); err != nil {
		return nil, err
	}
	if cm.query, err = b.compileValueMatches(m.QueryParams, false); err != nil {
		return nil, err
	}
	return cm, nil
}

func (b *builder) compileValueMatches(ms []policy.ValueMatch, header bool) ([]valueMatch, error) {
	var out []valueMatch
	for _, m := range ms {
		if m.Name == "" {
			return nil, errors.New("a header or query parameter match without name")
		}
		vm := valueMatch{name: m.Name, value: m.Value}
		if header {
			vm.name = http.CanonicalHeaderKey(m.Name)
		}
		switch m.Type {
		case "", policy.MatchExact:
		case policy.MatchRegularExpression:
			re, err := b.compileRegexp(m.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", m.Name, err)
			}
			vm.re = re
		default:
			return nil, fmt.Errorf("%s: unknown match type %q", m.Name, m.Type)
		}
		out = append(out, vm)
	}
	return out, nil
}

// compileGRPCRoute returns the route and its parent Servers; the parents
// are returned even when the route is invalid, since Linkerd still counts
// the route against HTTPRoutes of the same Server.
func (b *builder) compileGRPCRoute(g *policy.GRPCRoute) (*route, []string, error) {
	group := cmp.Or(g.Group(), policy.GroupGateway)
	parents, err := serverParents(g.Spec.ParentRefs, g.Namespace, group)
	if err != nil {
		return nil, nil, err
	}
	r := newRoute(&g.ObjectMeta, group, policy.KindGRPCRoute, g.Spec.Hostnames)
	r.grpc = true
	if len(g.Spec.Rules) == 0 {
		r.rules = []rule{{}}
	}
	for i, gr := range g.Spec.Rules {
		var ru rule
		for j, m := range gr.Matches {
			cm := &requestMatch{}
			if mm := m.Method; mm != nil {
				if mm.Type != "" && mm.Type != policy.MatchExact {
					return nil, parents, fmt.Errorf("rules[%d].matches[%d]: method match type %q is not supported", i, j, mm.Type)
				}
				cm.service, cm.rpc = mm.Service, mm.Method
			}
			if cm.headers, err = b.compileValueMatches(m.Headers, true); err != nil {
				return nil, parents, fmt.Errorf("rules[%d].matches[%d]: %w", i, j, err)
			}
			ru.matches = append(ru.matches, cm)
		}
		r.rules = append(r.rules, ru)
	}
	return r, parents, nil
}

// compileRegexp compiles expr once per policy: route-level policy repeats the
// same few expressions ("/api/orders/[0-9]+") across thousands of routes,
// and a compiled expression is safe to share.
func (b *builder) compileRegexp(expr string) (*regexp.Regexp, error) {
	if re, ok := b.regexps[expr]; ok {
		return re, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	b.regexps[expr] = re
	return re, nil
}
