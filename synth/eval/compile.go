package eval

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

type nsName struct{ ns, name string }

// server is a compiled Server, or a default policy acting as one.
type server struct {
	ref       Ref
	namespace string
	labels    labels.Set // the Server's own labels, for ServerAuthorization selectors
	created   *time.Time
	selector  labels.Selector
	port      intstr.IntOrString
	isDefault bool
	// policy is the accessPolicy of a Server, the policy of a default one.
	policy string
	// protocol is the proxyProtocol ("unknown" when not given).
	protocol string
	grpc     bool
	tcp      bool // opaque or TLS: no routes, authorization only
	// policies and sazs are the server-level AuthorizationPolicies and
	// ServerAuthorizations, gathered until finish makes authz.
	policies, sazs []*authorization
	// authz is what every request to the server may be admitted by, after
	// its route's own authorizations.
	authz      []*authorization
	httpRoutes []*route
	grpcRoutes []*route
	plain      *portPolicy // the port policy without a probe route
}

// namespaceServers are the Servers of one namespace in precedence order,
// indexed by one pair of their matchLabels to find a pod's candidates
// without trying every selector.
type namespaceServers struct {
	list      []*server
	byName    map[string]*server
	byLabel   map[string][]int // "key=value" -> indexes into list
	unindexed []int            // Servers without matchLabels
}

// portPolicy is what applies to one port of one workload.
type portPolicy struct {
	srv    *server
	routes []*route
}

// workload is a destination with its ports resolved.
type workload struct {
	ports map[uint32]*portPolicy
	other *portPolicy // ports no Server claims and without probes
	// src and defaultFrom (where its default policy comes from) are what
	// a trace explains server selection with.
	src         recording.Workload
	defaultFrom string
}

type builder struct {
	opts        Options
	warnings    []Warning
	meshTLS     map[nsName]*identities
	networks    map[nsName][]network
	servers     map[string]*namespaceServers
	routes      map[string]*route // by routeKey
	defaults    map[string]*server
	localhost   *authorization
	probe       *authorization // nil without probe networks
	defaultHTTP *route
	defaultGRPC *route
	grantList   []*grantBuild
	regexps     map[string]*regexp.Regexp
}

func (b *builder) warn(k policy.Key, format string, args ...any) {
	b.warnings = append(b.warnings, Warning{Object: k, Message: fmt.Sprintf(format, args...)})
}

func workloadKey(w *recording.Workload) policy.Key {
	return policy.Key{Kind: "Workload", Namespace: w.Namespace, Name: w.Name}
}

func newBuilder(set *policy.Set, opts Options) *builder {
	b := &builder{
		opts:     opts,
		meshTLS:  map[nsName]*identities{},
		networks: map[nsName][]network{},
		servers:  map[string]*namespaceServers{},
		routes:   map[string]*route{},
		defaults: map[string]*server{},
		regexps:  map[string]*regexp.Regexp{},
	}
	b.localhost = newAuthorization(defaultRef("localhost"), networksOf([]netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}), authnNone, identities{}, &b.opts)
	if len(opts.ProbeNetworks) > 0 {
		b.probe = newAuthorization(defaultRef("probe"), networksOf(opts.ProbeNetworks), authnNone, identities{}, &b.opts)
	}
	b.defaultHTTP = &route{ref: defaultRef("default"), rules: []rule{{}}}
	b.defaultGRPC = &route{ref: defaultRef("default"), grpc: true, rules: []rule{{matches: []*requestMatch{{}}}}}
	b.indexMeshTLS(set)
	b.indexNetworks(set)
	b.indexServers(set)
	b.indexRoutes(set)
	b.indexAuthorizationPolicies(set)
	b.indexServerAuthorizations(set)
	for _, r := range b.routes {
		slices.SortFunc(r.authz, byName)
	}
	for _, ns := range sortedKeys(b.servers) {
		for _, s := range b.servers[ns].list {
			b.finish(s)
		}
	}
	return b
}

func byName(a, b *authorization) int { return cmp.Compare(a.ref.Name, b.ref.Name) }

// isKind compares a reference's group and kind the way the policy
// controller does: case-insensitively, an empty group being the core one.
func isKind(group, kind, wantGroup, wantKind string) bool {
	if group == "core" {
		group = ""
	}
	return strings.EqualFold(group, wantGroup) && strings.EqualFold(kind, wantKind)
}

func (b *builder) indexMeshTLS(set *policy.Set) {
	for i := range set.MeshTLSAuthentications {
		m := &set.MeshTLSAuthentications[i]
		id := nsName{m.Namespace, m.Name}
		if _, dup := b.meshTLS[id]; dup {
			b.warn(policy.KeyOf(m), "defined twice: the first one is used")
			continue
		}
		ids, err := b.meshTLSIdentities(m)
		if err != nil {
			b.warn(policy.KeyOf(m), "%v: Linkerd ignores it (and every policy that requires it)", err)
			continue
		}
		b.meshTLS[id] = ids
	}
}

func (b *builder) meshTLSIdentities(m *policy.MeshTLSAuthentication) (*identities, error) {
	ids := &identities{}
	for _, id := range m.Spec.Identities {
		ids.add(id)
	}
	for i, r := range m.Spec.IdentityRefs {
		switch {
		case isKind(r.Group, r.Kind, "", policy.KindServiceAccount) && r.Name != "":
			ids.add(b.opts.identity(r.Name, cmp.Or(r.Namespace, m.Namespace)))
		case isKind(r.Group, r.Kind, "", policy.KindNamespace) && r.Name != "":
			ids.add(b.opts.identity("*", r.Name))
		default:
			return nil, fmt.Errorf("identityRefs[%d]: unsupported reference to %s %q", i, r.Kind, r.Name)
		}
	}
	if ids.empty() {
		return nil, fmt.Errorf("no identities")
	}
	return ids, nil
}

func (b *builder) indexNetworks(set *policy.Set) {
	for i := range set.NetworkAuthentications {
		n := &set.NetworkAuthentications[i]
		id := nsName{n.Namespace, n.Name}
		if _, dup := b.networks[id]; dup {
			b.warn(policy.KeyOf(n), "defined twice: the first one is used")
			continue
		}
		nets, err := parseNetworks(n.Spec.Networks)
		if err == nil && len(nets) == 0 {
			err = fmt.Errorf("no networks")
		}
		if err != nil {
			b.warn(policy.KeyOf(n), "%v: Linkerd ignores it (and every policy that requires it)", err)
			continue
		}
		b.networks[id] = nets
	}
}

func parseNetworks(in []policy.Network) ([]network, error) {
	out := make([]network, 0, len(in))
	for _, n := range in {
		p, err := policy.ParseCIDR(n.CIDR)
		if err != nil {
			return nil, err
		}
		nw := network{net: p}
		for _, e := range n.Except {
			ep, err := policy.ParseCIDR(e)
			if err != nil {
				return nil, err
			}
			nw.except = append(nw.except, ep)
		}
		out = append(out, nw)
	}
	return out, nil
}

func (b *builder) indexServers(set *policy.Set) {
	for i := range set.Servers {
		s := &set.Servers[i]
		srv, err := newServer(s)
		if err != nil {
			b.warn(policy.KeyOf(s), "%v", err)
			continue
		}
		if !policy.IsDefaultPolicy(srv.policy) {
			b.warn(policy.KeyOf(s), "invalid accessPolicy %q: Linkerd treats it as deny", srv.policy)
			srv.policy = policy.Deny
		}
		nss := b.servers[s.Namespace]
		if nss == nil {
			nss = &namespaceServers{byName: map[string]*server{}, byLabel: map[string][]int{}}
			b.servers[s.Namespace] = nss
		}
		if _, dup := nss.byName[s.Name]; dup {
			b.warn(policy.KeyOf(s), "defined twice: the first one is used")
			continue
		}
		nss.byName[s.Name] = srv
		nss.list = append(nss.list, srv)
	}
	for _, nss := range b.servers {
		slices.SortFunc(nss.list, func(a, b *server) int {
			return cmp.Or(compareCreated(a.created, b.created), cmp.Compare(a.ref.Name, b.ref.Name))
		})
		for i, srv := range nss.list {
			if reqs, ok := srv.selector.Requirements(); ok {
				if key, ok := equalityKey(reqs); ok {
					nss.byLabel[key] = append(nss.byLabel[key], i)
					continue
				}
			}
			nss.unindexed = append(nss.unindexed, i)
		}
	}
}

func newServer(s *policy.Server) (*server, error) {
	if s.Spec.PodSelector == nil {
		return nil, fmt.Errorf("has no podSelector: it selects no pods")
	}
	sel, err := metav1.LabelSelectorAsSelector(s.Spec.PodSelector)
	if err != nil {
		return nil, fmt.Errorf("invalid podSelector: %w: Linkerd ignores it", err)
	}
	if p := s.Spec.Port; (p.Type == intstr.Int && (p.IntVal < 1 || p.IntVal > 65535)) || (p.Type == intstr.String && p.StrVal == "") {
		return nil, fmt.Errorf("invalid port %q: Linkerd ignores it", p.String())
	}
	srv := &server{
		ref:       Ref{Group: policy.GroupPolicy, Kind: "server", Name: s.Name},
		namespace: s.Namespace,
		labels:    labels.Set(s.Labels),
		selector:  sel,
		port:      s.Spec.Port,
		policy:    cmp.Or(s.Spec.AccessPolicy, policy.Deny),
		protocol:  cmp.Or(s.Spec.ProxyProtocol, policy.ProtocolUnknown),
	}
	if s.CreationTimestamp != nil {
		srv.created = &s.CreationTimestamp.Time
	}
	switch s.Spec.ProxyProtocol {
	case "", policy.ProtocolUnknown, policy.ProtocolHTTP1, policy.ProtocolHTTP2:
	case policy.ProtocolGRPC:
		srv.grpc = true
	case policy.ProtocolOpaque, policy.ProtocolTLS:
		srv.tcp = true
	default:
		return nil, fmt.Errorf("invalid proxyProtocol %q: Linkerd ignores it", s.Spec.ProxyProtocol)
	}
	return srv, nil
}

// equalityKey returns "key=value" of the first equality requirement: a
// pod must carry that label to be selected.
func equalityKey(reqs labels.Requirements) (string, bool) {
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			if vals := r.Values(); vals.Len() == 1 {
				return r.Key() + "=" + vals.UnsortedList()[0], true
			}
		}
	}
	return "", false
}

// compareCreated orders creation timestamps oldest first; an object
// without one is not yet applied and will be the newest once it is.
func compareCreated(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return a.Compare(*b)
}

// finish makes a Server's authorization list: AuthorizationPolicies, then
// ServerAuthorizations (each by name), then localhost, then what its
// accessPolicy allows. The proxy takes the first that admits a request
// in an order Linkerd does not define; this one names the most specific
// (route-level authorizations, sorted by name too, come before all).
func (b *builder) finish(s *server) {
	slices.SortFunc(s.policies, byName)
	slices.SortFunc(s.sazs, byName)
	s.authz = append(append(append(s.authz, s.policies...), s.sazs...), b.localhost)
	if a := defaultAuthorization(s.policy, &b.opts); a != nil {
		s.authz = append(s.authz, a)
	}
	s.policies, s.sazs = nil, nil
	sortRoutes(s.httpRoutes)
	sortRoutes(s.grpcRoutes)
	k := policy.Key{Kind: policy.KindServer, Namespace: s.namespace, Name: s.ref.Name}
	switch {
	case s.tcp && len(s.httpRoutes)+len(s.grpcRoutes) > 0:
		b.warn(k, "has routes but its proxyProtocol is opaque or TLS: they have no effect")
	case s.grpc && len(s.httpRoutes) > 0:
		b.warn(k, "is gRPC: its HTTPRoutes (%s) have no effect, it uses GRPCRoutes", routeNames(s.httpRoutes))
	case !s.grpc && !s.tcp && len(s.grpcRoutes) > 0:
		b.warn(k, "is not gRPC: its GRPCRoutes (%s) have no effect, it uses HTTPRoutes", routeNames(s.grpcRoutes))
	}
	s.plain = b.portPolicy(s, nil)
}

func routeNames(rs []*route) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.ref.Name
	}
	return strings.Join(names, ", ")
}

// defaultServer is the server of ports no Server claims.
func (b *builder) defaultServer(name string) *server {
	if s, ok := b.defaults[name]; ok {
		return s
	}
	s := &server{ref: defaultRef(name), isDefault: true, policy: name, authz: []*authorization{b.localhost}}
	if a := defaultAuthorization(name, &b.opts); a != nil {
		s.authz = append(s.authz, a)
	}
	s.plain = b.portPolicy(s, nil)
	b.defaults[name] = s
	return s
}

// portPolicy gives a port of server s its routes: the accepted routes of
// the kind its protocol uses, else the default route and, for HTTP, the
// probe route of the port's probe paths.
func (b *builder) portPolicy(s *server, probePaths []string) *portPolicy {
	if len(probePaths) == 0 && s.plain != nil {
		return s.plain
	}
	pp := &portPolicy{srv: s}
	switch {
	case s.tcp:
	case s.grpc && len(s.grpcRoutes) > 0:
		pp.routes = s.grpcRoutes
	case s.grpc:
		pp.routes = []*route{b.defaultGRPC}
	case len(s.httpRoutes) > 0:
		pp.routes = s.httpRoutes
	default:
		pp.routes = []*route{b.defaultHTTP}
		if len(probePaths) > 0 && b.probe != nil {
			pp.routes = append(pp.routes, b.probeRoute(probePaths))
		}
	}
	return pp
}

// probeRoute authorizes GET of each probe path from the probe networks.
func (b *builder) probeRoute(paths []string) *route {
	r := &route{ref: defaultRef("probe"), rules: []rule{{}}, authz: []*authorization{b.probe}}
	for _, p := range paths {
		r.rules[0].matches = append(r.rules[0].matches, &requestMatch{method: "GET", path: pathMatch{kind: pathExact, value: p}})
	}
	return r
}

// defaultPolicy is the workload's default inbound policy: its annotation,
// else its namespace's, else the cluster's; from says which.
func (b *builder) defaultPolicy(w *recording.Workload, nsPolicy string) (name, from string) {
	for _, p := range []struct{ value, from string }{
		{w.DefaultInboundPolicy, "its"}, {nsPolicy, "its namespace's"}} {
		if p.value == "" {
			continue
		}
		if policy.IsDefaultPolicy(p.value) {
			return p.value, p.from + " " + annotationDefaultPolicy + " annotation"
		}
		b.warn(workloadKey(w), "%s default-inbound-policy %q is invalid: the cluster default %s applies",
			p.from, p.value, b.opts.DefaultPolicy)
		return b.opts.DefaultPolicy, fmt.Sprintf("the cluster default (%s %s annotation %q is invalid)", p.from, annotationDefaultPolicy, p.value)
	}
	return b.opts.DefaultPolicy, "the cluster default (proxy.defaultInboundPolicy)"
}

const annotationDefaultPolicy = "config.linkerd.io/default-inbound-policy"

// workload resolves each port of w: the oldest Server selecting the pod
// that claims the port (by number, or by the name of a TCP container
// port), else the default policy.
func (b *builder) workload(w *recording.Workload, nsPolicy string) *workload {
	src := *w
	if w.Meshed {
		w = b.withProxy(w)
	}
	probes := map[uint32][]string{}
	for _, p := range w.Probes {
		// Linkerd's probe route covers httpGet probes only.
		if method, path, ok := p.Request(); ok && method == "GET" {
			probes[uint32(p.Port)] = append(probes[uint32(p.Port)], path)
		}
	}
	wl := &workload{ports: map[uint32]*portPolicy{}, src: src}
	claimed := map[uint32]*server{}
	for _, s := range b.candidates(w) {
		for _, port := range s.ports(w) {
			if prior, ok := claimed[port]; ok {
				b.warn(policy.Key{Kind: policy.KindServer, Namespace: s.namespace, Name: s.ref.Name},
					"selects port %d of %s, which Server %s (older, or first by name) already claims: no effect there",
					port, w.ID, prior.ref.Name)
				continue
			}
			claimed[port] = s
			wl.ports[port] = b.portPolicy(s, sortedUnique(probes[port]))
		}
	}
	defName, from := b.defaultPolicy(w, nsPolicy)
	def := b.defaultServer(defName)
	wl.defaultFrom = from
	for port, paths := range probes {
		if _, ok := wl.ports[port]; !ok {
			wl.ports[port] = b.portPolicy(def, sortedUnique(paths))
		}
	}
	wl.other = def.plain
	return wl
}

// withProxy returns a copy of a meshed workload with what the injected
// proxy container adds to every pod: the label naming the control plane,
// the admin port (linkerd-admin, 4191) and its httpGet probes on /live and
// /ready, which Linkerd counts among the pod's probe paths.
func (b *builder) withProxy(w *recording.Workload) *recording.Workload {
	c := *w
	c.Labels = maps.Clone(w.Labels)
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	if _, ok := c.Labels[LabelControlPlaneNS]; !ok {
		c.Labels[LabelControlPlaneNS] = b.opts.ControlPlaneNamespace
	}
	if !slices.ContainsFunc(w.Ports, func(p recording.ContainerPort) bool { return p.Name == AdminPortName }) {
		c.Ports = append(slices.Clone(w.Ports), recording.ContainerPort{Port: AdminPort, Name: AdminPortName, Protocol: "TCP"})
		c.Probes = append(slices.Clone(w.Probes),
			recording.Probe{Kind: "liveness", Port: AdminPort, Path: AdminLivePath},
			recording.Probe{Kind: "readiness", Port: AdminPort, Path: AdminReadyPath})
	}
	return &c
}

// candidates returns the Servers of w's namespace whose podSelector
// selects w, in precedence order.
func (b *builder) candidates(w *recording.Workload) []*server {
	nss := b.servers[w.Namespace]
	if nss == nil {
		return nil
	}
	idx := slices.Clone(nss.unindexed)
	for k, v := range w.Labels {
		idx = append(idx, nss.byLabel[k+"="+v]...)
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	set := labels.Set(w.Labels)
	var out []*server
	for _, i := range idx {
		if s := nss.list[i]; s.selector.Matches(set) {
			out = append(out, s)
		}
	}
	return out
}

// ports lists the ports of w that s claims.
func (s *server) ports(w *recording.Workload) []uint32 {
	if s.port.Type == intstr.Int {
		return []uint32{uint32(s.port.IntVal)}
	}
	var out []uint32
	for _, p := range w.Ports {
		if p.Name == s.port.StrVal && (p.Protocol == "" || strings.EqualFold(p.Protocol, "TCP")) && p.Port > 0 &&
			!slices.Contains(out, uint32(p.Port)) {
			out = append(out, uint32(p.Port))
		}
	}
	return out
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
