package synth

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
	"github.com/cinchmesh/cinch/synth/routes"
)

// portGrant is what the level grants on one server port, decided before
// any object is built: whether a Server can select it, its route
// templates and coverage, and who is authorized, on the Server itself or
// on which routes.
type portGrant struct {
	*serverPort
	// selectable says a Server can select the port: its pod labels are
	// known. Nothing else is granted on a port that is not.
	selectable bool
	// templates are the port's route templates, inferred once for the
	// route level, the coverage estimate and ServiceProfiles; kept past
	// the decision only for ServiceProfiles.
	templates []routes.Template
	coverage  PortCoverage
	// routeLevel says the port's clients are authorized per route:
	// routes lists its route objects in the order they are written.
	// Otherwise callers are authorized on the Server.
	routeLevel bool
	routes     []routeObject
	// clients are authorized on the Server: every client when the port is
	// not at route level, else the clients declared without routes (the
	// whole port, whatever the route).
	clients clients
	// warnings say what the decision left out, in the order they apply.
	warnings []string
	// merges are the route matches written for several templates.
	merges []RouteMerge
	// kubelet says the probe sources are granted on the port.
	kubelet bool
}

// routeObject is one HTTPRoute or GRPCRoute to write: its name after the
// Server's, at most maxRulesPerRoute rules of one route group, and the
// clients it authorizes. It holds no compiled expression, so the
// matchers are garbage once the port is decided.
type routeObject struct {
	name    string
	rules   []routeRule
	clients clients
}

// routeRule is one match of a route object: method and path, or gRPC
// service and method.
type routeRule struct {
	method                  string
	path                    policy.HTTPPathMatch
	grpcService, grpcMethod string
}

// clients are who one authorization admits, named as the level names
// them: client namespaces or service accounts, identities where the
// service account is not known, and the networks of requests without
// mTLS. Refs are in caller order, the others sorted; none repeats.
type clients struct {
	refs       []policy.NamespacedTargetRef
	identities []string
	networks   []string
	// meshDeclared and networksDeclared are the intents behind the meshed
	// clients and the networks (AnnotationDeclared), "" for none.
	meshDeclared, networksDeclared string
}

// grants are the decisions for every server port, in port order, and per
// namespace the servers with observed traffic that no Server can select:
// default deny there would cut them off.
type grants struct {
	ports      []*portGrant
	unselected map[string][]recording.PeerID
}

// decide decides, per server port, what the level grants.
func decide(ev *evidence, opts *Options) *grants {
	g := &grants{unselected: map[string][]recording.PeerID{}}
	for _, w := range ev.rec.Workloads {
		if ev.refused.servers[w.ID] {
			g.unselected[w.Namespace] = append(g.unselected[w.Namespace], w.ID)
		}
	}
	for _, sp := range ev.ports {
		pg := decidePort(sp, ev, opts)
		if w := &sp.Workload; !pg.selectable && !slices.Contains(g.unselected[w.Namespace], w.ID) {
			g.unselected[w.Namespace] = append(g.unselected[w.Namespace], w.ID)
		}
		g.ports = append(g.ports, pg)
	}
	return g
}

// decidePort decides one server port: at route level its routes grouped
// by the clients seen on them (unless a route cannot be written or the
// coverage is too low, which keep it at service-account level), else the
// callers the Server must authorize.
func decidePort(sp *serverPort, ev *evidence, opts *Options) *portGrant {
	templates := inferTemplates(sp, opts.Routes)
	g := &portGrant{serverPort: sp, selectable: len(sp.Workload.Labels) > 0}
	if opts.ServiceProfiles {
		g.templates = templates
	}
	if !g.selectable {
		g.warn("%s port %d: no pod labels known, so no Server can select it; give --cluster-file, or run where the kube context reaches the cluster", sp.Server, sp.Port)
		return g
	}
	if sp.OutboundOnly {
		g.warn("%s port %d: only its clients' proxies reported this traffic (the server was not tapped); the policy rests on their reports", sp.Server, sp.Port)
	}
	g.coverage = coverageOf(sp, templates, ev.sampled)
	if opts.Level == LevelRoute && !sp.TCP {
		matchers := newMatchers(templates, sp.GRPC)
		bad := slices.IndexFunc(matchers, func(m *matcher) bool { return m.unwritable != "" })
		switch {
		case bad >= 0:
			g.warn("%s port %d: the route %s %q %s: kept at service-account level", sp.Server, sp.Port, matchers[bad].Method, abbreviate(matchers[bad].Pattern, 60), matchers[bad].unwritable)
		case g.coverage.Coverage < opts.MinCoverage:
			g.warn("%s port %d: estimated coverage %.2f is below --min-coverage %.2f (%d of %d requests on routes seen once): kept at service-account level; record longer or merge more windows", sp.Server, sp.Port, g.coverage.Coverage, opts.MinCoverage, g.coverage.Singletons, g.coverage.Requests)
		default:
			g.routeLevel = true
			g.decideRoutes(matchers, probeCaller(sp, opts, ev.nodes), opts.MaxRoutesPerServer)
			return g
		}
	}
	// The kubelet needs a grant of its own where Linkerd's implicit probe
	// route does not cover it: gRPC probes, and a probe that redirects
	// (seen as a node's GET of a probe path with its trailing slash
	// toggled). It is granted from the probe sources, not only the nodes
	// seen; a node keeps its own grant for anything else it sent, or when
	// the probe sources do not cover it.
	kubelet := probeCaller(sp, opts, ev.nodes)
	needKubelet := slices.ContainsFunc(probeRequests(sp), func(r probeRequest) bool { return r.method == "POST" })
	var callers []*caller
	for _, c := range sp.Callers {
		if !needsGrant(sp, c) {
			continue
		}
		own := kubelet == nil || !c.Node || !coveredBy(c.Networks, kubelet.Networks) || c.Requests > sumRequests(c.Routes)
		for _, r := range c.Routes {
			switch {
			case kubelet != nil && c.Node && probeRedirect(sp, r):
				needKubelet = true
			case !r.Probe || r.Method != "GET" || !isProbePath(&sp.Workload, sp.Port, r.Path):
				own = true
			}
		}
		if own {
			callers = append(callers, c)
		}
	}
	switch {
	case needKubelet && kubelet != nil:
		callers = append(callers, kubelet)
		g.kubelet = true
	case needKubelet:
		g.warn("%s port %d: its gRPC probe gets no probe route from Linkerd, and no probe source is known: give --probe-networks with your node CIDRs, or the probe is denied once the Server enforces", sp.Server, sp.Port)
	}
	g.clients = g.clientsOf(callers, opts.Level)
	return g
}

func (g *portGrant) warn(format string, args ...any) {
	g.warnings = append(g.warnings, fmt.Sprintf(format, args...))
}

// clientsOf names the callers one authorization admits at level, and
// warns when the recording dropped some of their addresses.
func (g *portGrant) clientsOf(callers []*caller, level Level) clients {
	var who clients
	seenRef := map[policy.NamespacedTargetRef]bool{}
	incomplete := false
	var meshed, plain []*caller
	for _, c := range callers {
		if c.Mesh != nil {
			meshed = append(meshed, c)
		}
		if len(c.Networks) > 0 {
			plain = append(plain, c)
		}
		if m := c.Mesh; m != nil {
			var ref policy.NamespacedTargetRef
			switch {
			case level == LevelNamespace && m.Namespace != "":
				ref = policy.NamespacedTargetRef{Kind: policy.KindNamespace, Name: m.Namespace}
			case m.ServiceAccount != "":
				ref = policy.NamespacedTargetRef{Kind: policy.KindServiceAccount, Name: m.ServiceAccount, Namespace: m.Namespace}
			default:
				who.identities = append(who.identities, m.Identity)
			}
			if ref.Kind != "" && !seenRef[ref] {
				seenRef[ref] = true
				who.refs = append(who.refs, ref)
			}
		}
		for _, p := range c.Networks {
			who.networks = append(who.networks, p.String())
		}
		incomplete = incomplete || c.NetworksIncomplete
	}
	if incomplete {
		g.warn("%s port %d: the recording dropped some client addresses of requests without mTLS (its per-edge limit); those clients will be denied: re-record with a higher --max-source-ips-per-edge or widen with --widen-ipv4", g.Server, g.Port)
	}
	who.identities, who.networks = dedupe(who.identities), dedupe(who.networks)
	who.meshDeclared, who.networksDeclared = declaredText(meshed), declaredText(plain)
	return who
}

// needsGrant says whether a caller needs an authorization at the server
// level: a caller whose every request was a kubelet probe on one of the
// port's probe paths is admitted by the Server's implicit probe route.
func needsGrant(sp *serverPort, c *caller) bool {
	if sp.GRPC || sp.TCP {
		return true
	}
	for _, r := range c.Routes {
		if !r.Probe || r.Method != "GET" || !isProbePath(&sp.Workload, sp.Port, r.Path) {
			return true
		}
	}
	return len(c.Routes) == 0 || c.Requests > sumRequests(c.Routes)
}

// isProbePath says whether path (its query string aside) is one of the
// httpGet probe paths on port: Linkerd's implicit probe route admits it.
func isProbePath(w *recording.Workload, port uint32, path string) bool {
	path, _, _ = strings.Cut(path, "?")
	for _, p := range w.Probes {
		if method, probe, ok := p.Request(); ok && method == "GET" && uint32(p.Port) == port && probe == path {
			return true
		}
	}
	return false
}

// probeRedirect says whether a node's request r is the kubelet following
// a probe's redirect: a GET of an httpGet probe path with its trailing
// slash added or removed (the redirect web frameworks send; Linkerd's
// probe route matches the probe paths exactly, so it misses it).
func probeRedirect(sp *serverPort, r recording.Route) bool {
	if r.Method != "GET" || r.Template {
		return false
	}
	path, _, _ := strings.Cut(r.Path, "?")
	for _, p := range probeRequests(sp) {
		if p.method == "GET" && path != p.path && strings.TrimSuffix(path, "/") == strings.TrimSuffix(p.path, "/") {
			return true
		}
	}
	return false
}

// isProbeRequest says whether r is one of the port's probe requests.
func isProbeRequest(sp *serverPort, r recording.Route) bool {
	path, _, _ := strings.Cut(r.RequestPath(), "?")
	return slices.Contains(probeRequests(sp), probeRequest{r.Method, path})
}

// coveredBy says whether every network of nets lies within one of by.
func coveredBy(nets, by []netip.Prefix) bool {
	for _, n := range nets {
		if !slices.ContainsFunc(by, func(b netip.Prefix) bool { return b.Bits() <= n.Bits() && b.Contains(n.Addr()) }) {
			return false
		}
	}
	return true
}

// probeRequest is a request the kubelet sends for a probe.
type probeRequest struct{ method, path string }

// probeRequests are the requests the kubelet sends to the port for its
// workload's probes: a GET of each httpGet probe's path and the health
// check of each gRPC probe; on a gRPC port only the latter (a route there
// names gRPC methods). tcpSocket probes send none: the proxy accepts the
// connection whatever the policy.
func probeRequests(sp *serverPort) []probeRequest {
	var out []probeRequest
	for _, p := range sp.Workload.Probes {
		method, path, ok := p.Request()
		if !ok || uint32(p.Port) != sp.Port || sp.GRPC && p.Handler != recording.ProbeGRPC {
			continue
		}
		if r := (probeRequest{method, path}); !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func sumRequests(rs []recording.Route) int64 {
	var n int64
	for _, r := range rs {
		n += r.Requests
	}
	return n
}

// probeCaller is the kubelet as a client of the port's probe requests:
// the probe networks given, or every node address in the recording (a pod
// may move to any node). Nil when no source is known.
func probeCaller(sp *serverPort, opts *Options, nodes []string) *caller {
	nets := probeNetworks(opts, nodes)
	if len(nets) == 0 {
		return nil
	}
	return &caller{Peer: "kubelet", Networks: nets, Node: true}
}

// probeNetworks are where kubelet probes come from: the probe networks
// given, or every node address in the recording (a pod may move to any
// node); nil when neither is known.
func probeNetworks(opts *Options, nodes []string) []netip.Prefix {
	if len(opts.ProbeNetworks) > 0 {
		return compactPrefixes(slices.Clone(opts.ProbeNetworks))
	}
	var addrs []netip.Addr
	for _, ip := range nodes {
		if a, err := netip.ParseAddr(ip); err == nil {
			addrs = append(addrs, a)
		}
	}
	return prefixes(addrs, PrefixLengths{})
}

// recordedProbeSources warns when the probe sources granted are the node
// addresses of the recording (no --probe-networks): a node added later,
// or one the window did not see, cannot probe the pods scheduled on it.
func recordedProbeSources(ev *evidence, g *grants, res *Result, opts *Options) string {
	if len(opts.ProbeNetworks) > 0 || len(ev.nodes) == 0 {
		return ""
	}
	used := len(res.AdminPorts) > 0 && len(res.AdminPorts[0].Probes) > 0
	for _, pg := range g.ports {
		used = used || pg.kubelet
	}
	if !used {
		return ""
	}
	return fmt.Sprintf("probes are authorized from the %d node addresses in the recording only: a node added later (or one the window did not see) cannot probe the pods scheduled on it; give --probe-networks with your node CIDRs", len(ev.nodes))
}
