package synth

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/pathseg"
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
	// leaves are the templates merged into this match
	// (--max-routes-per-server), nil for an inferred template.
	leaves []*matcher
}

func (m *matcher) matches(method, path string) bool {
	if m.Method != "" && m.Method != method {
		return false
	}
	path, _, _ = strings.Cut(path, "?")
	switch {
	case m.path.Type == policy.MatchPathPrefix:
		return prefixMatches(m.path.Value, path)
	case m.re == nil:
		return m.Value == path
	}
	return m.re.MatchString(path)
}

// routeGroup is the templates that exactly the same clients used: they
// share one route object and its authorizations.
type routeGroup struct {
	key       string
	templates []*matcher
	callers   []*caller
	probe     bool // kubelet probes use these routes
}

// decideRoutes groups the port's route templates by the set of clients
// seen on them, the kubelet on probe paths included (Linkerd's implicit
// probe route is gone once a route is attached to the Server): each group
// becomes route objects of at most maxRulesPerRoute rules that authorize
// its clients.
func (g *portGrant) decideRoutes(matchers []*matcher, probeCaller *caller, maxRoutes int) {
	sp := g.serverPort
	if sp.Overflow > 0 {
		g.warn("%s port %d: %d requests had paths the recording did not keep (its per-edge limit); with routes attached they will get 404: re-record with a higher --max-paths-per-edge or use a coarser level", sp.Server, sp.Port, sp.Overflow)
	}
	var wholePort []*caller
	for _, c := range sp.Callers {
		switch {
		case len(c.Routes) == 0 && len(c.Declared) > 0:
			// Declared without routes: the whole port, as far as routes
			// go; an authorization on the Server applies to every route.
			wholePort = append(wholePort, c)
		case len(c.Routes) == 0:
			g.warn("%s -> %s port %d: known without paths (metrics only), so no route is written for it and its requests will get 404 at route level: merge a tap recording of it or use a coarser level", c.Peer, sp.Server, sp.Port)
		}
	}
	g.clients = g.clientsOf(wholePort, LevelRoute)
	groups := map[*matcher]map[*caller]bool{}
	use := func(m *matcher, c *caller) {
		if groups[m] == nil {
			groups[m] = map[*caller]bool{}
		}
		groups[m][c] = true
	}
	for _, c := range sp.Callers {
		own := probeCaller == nil || !c.Node || !coveredBy(c.Networks, probeCaller.Networks)
		for _, r := range c.Routes {
			for _, m := range matchers {
				if m.matches(r.Method, r.RequestPath()) {
					// A node's probe requests, and a probe's redirect, are
					// the kubelet's, from any node.
					kubelet := probeCaller != nil && c.Node && (probeRedirect(sp, r) || isProbeRequest(sp, r))
					if kubelet {
						use(m, probeCaller)
						g.kubelet = true
					}
					if own || !kubelet {
						use(m, c)
					}
					break
				}
			}
		}
	}
	if probeCaller != nil {
		for _, p := range probeRequests(sp) {
			for _, m := range matchers {
				if m.matches(p.method, p.path) {
					use(m, probeCaller)
					g.kubelet = true
					break
				}
			}
		}
	}
	matchers = g.mergeRoutes(matchers, groups, maxRoutes)
	byKey := map[string]*routeGroup{}
	for _, m := range matchers {
		callers := groups[m]
		if len(callers) == 0 {
			continue // a probe path of the pod spec nobody may call
		}
		var peers []string
		rg := &routeGroup{}
		for c := range callers {
			peers = append(peers, string(c.Peer))
			rg.callers = append(rg.callers, c)
			rg.probe = rg.probe || c == probeCaller
		}
		slices.Sort(peers)
		key := strings.Join(peers, "\x00")
		if have := byKey[key]; have != nil {
			have.templates = append(have.templates, m)
			continue
		}
		slices.SortFunc(rg.callers, func(a, b *caller) int { return strings.Compare(string(a.Peer), string(b.Peer)) })
		rg.key, rg.templates = key, []*matcher{m}
		byKey[key] = rg
	}
	var ordered []*routeGroup
	for _, rg := range byKey {
		ordered = append(ordered, rg)
	}
	slices.SortFunc(ordered, func(a, b *routeGroup) int {
		return cmp.Compare(templateKey(a.templates[0]), templateKey(b.templates[0]))
	})
	for _, rg := range ordered {
		for start := 0; start < len(rg.templates); start += maxRulesPerRoute {
			templates := rg.templates[start:min(start+maxRulesPerRoute, len(rg.templates))]
			ro := routeObject{name: "routes", clients: g.clientsOf(rg.callers, LevelRoute)}
			switch {
			case rg.probe && len(rg.callers) == 1:
				ro.name = "probes"
			case len(templates) == 1:
				ro.name = templates[0].Name
			}
			for _, m := range templates {
				ro.rules = append(ro.rules, routeRule{method: m.Method, path: m.path, grpcService: m.GRPCService, grpcMethod: m.GRPCMethod})
			}
			g.routes = append(g.routes, ro)
		}
	}
}

func templateKey(m *matcher) string { return m.Value + "\x00" + m.Method }

// inferTemplates turns the port's observed paths, and the probe paths of
// its pod spec, into route templates.
func inferTemplates(sp *serverPort, opts routes.Options) []routes.Template {
	merged := map[[2]string]*routes.Sample{}
	var order [][2]string
	add := func(method, path string, n int64, probe, template bool, params []pathseg.Evidence) {
		k := [2]string{method, path}
		if template {
			k[1] = "\x00" + path
		}
		s := merged[k]
		if s == nil {
			s = &routes.Sample{Method: method, Path: path, Template: template, Params: pathseg.CloneParams(params)}
			merged[k] = s
			order = append(order, k)
		} else {
			s.Params = pathseg.MergeParams(s.Params, params)
		}
		s.Requests += n
		if probe {
			s.Probe = true
			s.ProbeRequests += n
		}
	}
	for _, c := range sp.Callers {
		for _, r := range c.Routes {
			add(r.Method, r.Path, r.Requests, r.Probe, r.Template, r.Params)
		}
	}
	for _, p := range probeRequests(sp) {
		add(p.method, p.path, 0, true, false, nil)
	}
	samples := make([]routes.Sample, 0, len(order))
	for _, k := range order {
		samples = append(samples, *merged[k])
	}
	return routes.Infer(samples, opts, sp.GRPC)
}

// newMatchers compiles templates into route matches, and says which of
// them no route match can hold.
func newMatchers(templates []routes.Template, grpc bool) []*matcher {
	out := make([]*matcher, 0, len(templates))
	for _, t := range templates {
		m := &matcher{Template: t, path: policy.HTTPPathMatch{Type: t.Match, Value: t.Value}}
		if t.Match == policy.MatchRegularExpression {
			m.re = regexp.MustCompile("^(?:" + t.Value + ")$")
		} else if len(policy.CheckPathMatch(m.path, true)) > 0 {
			m.path = policy.HTTPPathMatch{Type: policy.MatchRegularExpression, Value: regexp.QuoteMeta(t.Value)}
		}
		switch {
		case grpc && t.GRPCService == "":
			m.unwritable = "is not a gRPC method a GRPCRoute can name (/package.Service/Method)"
		case !grpc && len(m.path.Value) > policy.MaxPathLength:
			m.unwritable = fmt.Sprintf("is %d characters long, more than a route match can hold", len(m.path.Value))
		}
		out = append(out, m)
	}
	return out
}
