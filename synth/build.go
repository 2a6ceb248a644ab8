package synth

import (
	"cmp"
	"errors"
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

// Labels and annotations on every generated object.
const (
	LabelManagedBy     = "app.kubernetes.io/managed-by"
	ManagedBy          = "cinch"
	AnnotationObserved = "cinch.cinchmesh.io/observed"
	AnnotationLevel    = "cinch.cinchmesh.io/level"
)

// Unit is the policy of one workload: what goes into one file.
type Unit struct {
	Namespace string
	Workload  string // the workload's name; its file is <Workload>.yaml
	Set       policy.Set
}

// Result is a synthesis.
type Result struct {
	// Units are the workloads' policies, by namespace and workload.
	Units []Unit
	// DefaultDeny lists the namespaces to annotate with the deny default
	// inbound policy (with Options.DefaultDeny).
	DefaultDeny []string
	// Warnings say what was left out and why.
	Warnings []string
	// Coverage estimates, per server port with a Server, how complete the
	// recording is.
	Coverage []PortCoverage
}

// builder accumulates one synthesis.
type builder struct {
	opts   *Options
	names  *namer
	rec    *recording.Recording
	nodes  []string // node addresses seen, for probe routes
	units  map[recording.PeerID]*Unit
	warned []string
	// sampled says some window is a sample (tap).
	sampled  bool
	coverage []PortCoverage
	// unselected are, per namespace, the servers with observed traffic
	// that no Server can select: default deny there would cut them off.
	unselected map[string][]recording.PeerID
}

// Synthesize turns rec into policy at opts.Level.
func Synthesize(rec *recording.Recording, opts Options) (*Result, error) {
	opts.ClusterDomain = cmp.Or(opts.ClusterDomain, "cluster.local")
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ports, warnings, refused := collect(rec, &opts)
	b := &builder{opts: &opts, names: newNamer(), rec: rec, units: map[recording.PeerID]*Unit{}, warned: warnings,
		unselected: map[string][]recording.PeerID{}}
	for _, w := range rec.Workloads {
		if refused.servers[w.ID] {
			b.unselected[w.Namespace] = append(b.unselected[w.Namespace], w.ID)
		}
	}
	for _, w := range rec.Windows {
		b.sampled = b.sampled || w.Sampling.Sampled
	}
	for _, p := range rec.Peers {
		if p.Kind == recording.PeerNode {
			b.nodes = append(b.nodes, p.IPs...)
		}
	}
	for _, sp := range ports {
		b.serverPort(sp)
	}
	if opts.ServiceProfiles {
		b.serviceProfiles(ports)
	}
	res := &Result{Coverage: b.coverage}
	namespaces := map[string]bool{}
	for _, u := range b.units {
		u.Set.Normalize()
		res.Units = append(res.Units, *u)
		namespaces[u.Namespace] = true
	}
	slices.SortFunc(res.Units, func(a, b Unit) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Workload, b.Workload))
	})
	if opts.DefaultDeny {
		for _, ns := range slices.Sorted(maps.Keys(namespaces)) {
			if cut := b.unselected[ns]; len(cut) > 0 {
				b.warn("namespace %s is left without default deny: %s had observed traffic that no Server can select, and default deny would cut it off", ns, joinIDs(cut))
				continue
			}
			res.DefaultDeny = append(res.DefaultDeny, ns)
		}
	}
	res.Warnings = b.warned
	var all policy.Set
	for i := range res.Units {
		all.Add(&res.Units[i].Set)
	}
	if errs := policy.Validate(&all); len(errs) > 0 {
		return nil, fmt.Errorf("synthesized policy fails Linkerd's admission rules (a cinch bug, please report it):\n%w", errors.Join(errs...))
	}
	wide, err := checkOpenness(&all, &opts)
	if err != nil {
		return nil, err
	}
	res.Warnings = append(res.Warnings, wide...)
	if err := selfCheck(refused.remove(rec), res); err != nil {
		return nil, err
	}
	return res, nil
}

func (b *builder) warn(format string, args ...any) {
	b.warned = append(b.warned, fmt.Sprintf(format, args...))
}

func (b *builder) unit(w *recording.Workload) *Unit {
	u := b.units[w.ID]
	if u == nil {
		u = &Unit{Namespace: w.Namespace, Workload: w.Name}
		b.units[w.ID] = u
	}
	return u
}

// meta builds the metadata of a generated object.
func (b *builder) meta(kind, namespace string, sp *serverPort, nameParts ...string) policy.ObjectMeta {
	m := policy.ObjectMeta{
		Name:        b.names.name(kind, namespace, nameParts...),
		Namespace:   namespace,
		Labels:      map[string]string{LabelManagedBy: ManagedBy},
		Annotations: map[string]string{AnnotationLevel: string(b.opts.Level)},
	}
	if obs := b.observed(sp); obs != "" {
		m.Annotations[AnnotationObserved] = obs
	}
	return m
}

// observed says which traffic justified an object: the time span of the
// server port's evidence, or the windows' sources when events carried no
// times.
func (b *builder) observed(sp *serverPort) string {
	if sp != nil && !sp.First.IsZero() {
		return sp.First.UTC().Format(time.RFC3339) + "/" + sp.Last.UTC().Format(time.RFC3339)
	}
	var sources []string
	for _, w := range b.rec.Windows {
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

// serverPort emits the Server for one observed port and its
// authorizations at the chosen level.
func (b *builder) serverPort(sp *serverPort) {
	w := &sp.Workload
	if len(w.Labels) == 0 {
		b.warn("%s port %d: no pod labels known, so no Server can select it; record with cluster access or --cluster-file", sp.Server, sp.Port)
		if !slices.Contains(b.unselected[w.Namespace], w.ID) {
			b.unselected[w.Namespace] = append(b.unselected[w.Namespace], w.ID)
		}
		return
	}
	if sp.OutboundOnly {
		b.warn("%s port %d: only its clients' proxies reported this traffic (the server was not tapped); the policy rests on their reports", sp.Server, sp.Port)
	}
	u := b.unit(w)
	portName := strconv.Itoa(int(sp.Port))
	port := intstr.FromInt32(int32(sp.Port))
	for _, cp := range w.Ports {
		// A name Kubernetes would not allow cannot be the pod's: the
		// number selects the same port.
		if uint32(cp.Port) == sp.Port && cp.Name != "" && len(validation.IsValidPortName(cp.Name)) == 0 {
			portName, port = cp.Name, intstr.FromString(cp.Name)
			break
		}
	}
	srv := policy.Server{
		ObjectMeta: b.meta(policy.KindServer, w.Namespace, sp, w.Name, portName),
		Spec: policy.ServerSpec{
			PodSelector:   &metav1.LabelSelector{MatchLabels: w.Labels},
			Port:          port,
			ProxyProtocol: policy.ProtocolUnknown,
			AccessPolicy:  policy.Deny,
		},
	}
	switch {
	case sp.TCP:
		srv.Spec.ProxyProtocol = policy.ProtocolOpaque
	case sp.GRPC:
		srv.Spec.ProxyProtocol = policy.ProtocolGRPC
	}
	if b.opts.Mode == ModeAudit {
		srv.Spec.AccessPolicy = policy.Audit
	}
	u.Set.Servers = append(u.Set.Servers, srv)
	target := policy.LocalTargetRef{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: srv.Name}
	cov := coverageOf(sp, b.opts.Routes, b.sampled)
	b.coverage = append(b.coverage, cov)
	if b.opts.Level == LevelRoute && !sp.TCP {
		matchers := b.inferRoutes(sp)
		bad := slices.IndexFunc(matchers, func(m *matcher) bool { return m.unwritable != "" })
		switch {
		case bad >= 0:
			b.warn("%s port %d: the route %s %q %s: kept at service-account level", sp.Server, sp.Port, matchers[bad].Method, abbreviate(matchers[bad].Pattern, 60), matchers[bad].unwritable)
		case cov.Coverage < b.opts.MinCoverage:
			b.warn("%s port %d: estimated coverage %.2f is below --min-coverage %.2f (%d of %d requests on routes seen once): kept at service-account level; record longer or merge more windows", sp.Server, sp.Port, cov.Coverage, b.opts.MinCoverage, cov.Singletons, cov.Requests)
		default:
			b.routes(u, sp, &srv, matchers)
			return
		}
	}
	var grants []*caller
	for _, c := range sp.Callers {
		if b.needsGrant(sp, c) {
			grants = append(grants, c)
		}
	}
	b.authorize(u, sp, target, srv.Name, grants)
}

// needsGrant says whether a caller needs an authorization at the server
// level: a caller whose every request was a kubelet probe on one of the
// port's probe paths is admitted by the Server's implicit probe route.
func (b *builder) needsGrant(sp *serverPort, c *caller) bool {
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

func isProbePath(w *recording.Workload, port uint32, path string) bool {
	for _, p := range w.Probes {
		if uint32(p.Port) == port && p.Path == path {
			return true
		}
	}
	return false
}

func sumRequests(rs []recording.Route) int64 {
	var n int64
	for _, r := range rs {
		n += r.Requests
	}
	return n
}

// authorize emits the authorizations that admit callers to target: one
// AuthorizationPolicy with a MeshTLSAuthentication for the meshed callers
// (their namespaces or service accounts, by level), and one with a
// NetworkAuthentication for the addresses of requests without mTLS. They
// are separate policies because the refs inside one policy are ANDed.
func (b *builder) authorize(u *Unit, sp *serverPort, target policy.LocalTargetRef, base string, callers []*caller) {
	ns := sp.Workload.Namespace
	var refs []policy.NamespacedTargetRef
	var identities []string
	var networks []string
	seenRef := map[policy.NamespacedTargetRef]bool{}
	incomplete := false
	for _, c := range callers {
		if m := c.Mesh; m != nil {
			var ref policy.NamespacedTargetRef
			switch {
			case b.opts.Level == LevelNamespace && m.Namespace != "":
				ref = policy.NamespacedTargetRef{Kind: policy.KindNamespace, Name: m.Namespace}
			case m.ServiceAccount != "":
				ref = policy.NamespacedTargetRef{Kind: policy.KindServiceAccount, Name: m.ServiceAccount, Namespace: m.Namespace}
			default:
				identities = append(identities, m.Identity)
			}
			if ref.Kind != "" && !seenRef[ref] {
				seenRef[ref] = true
				refs = append(refs, ref)
			}
		}
		for _, p := range c.Networks {
			networks = append(networks, p.String())
		}
		incomplete = incomplete || c.NetworksIncomplete
	}
	if incomplete {
		b.warn("%s port %d: the recording dropped some client addresses of requests without mTLS (its per-edge limit); those clients will be denied: re-record with a higher --max-source-ips-per-edge or widen with --widen-ipv4", sp.Server, sp.Port)
	}
	// One MeshTLSAuthentication holds either refs or identities: clients
	// known only by identity get a policy of their own.
	if len(refs) > 0 {
		b.meshPolicy(u, sp, target, base, "mesh", policy.MeshTLSAuthenticationSpec{IdentityRefs: refs})
	}
	if len(identities) > 0 {
		b.meshPolicy(u, sp, target, base, "mesh-ids", policy.MeshTLSAuthenticationSpec{Identities: dedupe(identities)})
	}
	if len(networks) > 0 {
		na := policy.NetworkAuthentication{ObjectMeta: b.meta(policy.KindNetworkAuthentication, ns, sp, base, "network")}
		for _, n := range dedupe(networks) {
			na.Spec.Networks = append(na.Spec.Networks, policy.Network{CIDR: n})
		}
		u.Set.NetworkAuthentications = append(u.Set.NetworkAuthentications, na)
		u.Set.AuthorizationPolicies = append(u.Set.AuthorizationPolicies, policy.AuthorizationPolicy{
			ObjectMeta: b.meta(policy.KindAuthorizationPolicy, ns, sp, base, "network"),
			Spec: policy.AuthorizationPolicySpec{
				TargetRef:                  target,
				RequiredAuthenticationRefs: []policy.NamespacedTargetRef{{Group: policy.GroupPolicy, Kind: policy.KindNetworkAuthentication, Name: na.Name}},
			},
		})
	}
}

func (b *builder) meshPolicy(u *Unit, sp *serverPort, target policy.LocalTargetRef, base, suffix string, spec policy.MeshTLSAuthenticationSpec) {
	ns := sp.Workload.Namespace
	mtls := policy.MeshTLSAuthentication{ObjectMeta: b.meta(policy.KindMeshTLSAuthentication, ns, sp, base, suffix), Spec: spec}
	u.Set.MeshTLSAuthentications = append(u.Set.MeshTLSAuthentications, mtls)
	u.Set.AuthorizationPolicies = append(u.Set.AuthorizationPolicies, policy.AuthorizationPolicy{
		ObjectMeta: b.meta(policy.KindAuthorizationPolicy, ns, sp, base, suffix),
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
