package synth

import (
	"net/netip"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

// AdminUnit is the workload name the admin port's objects are filed
// under: <namespace>/linkerd-proxy-admin.yaml with -o DIR.
const AdminUnit = "linkerd-proxy-admin"

// AnnotationPurpose says why an object exists when no observed traffic
// justified it.
const AnnotationPurpose = "cinch.cinchmesh.io/purpose"

const adminPurpose = "default deny: Prometheus scrapes the proxies' /metrics, kubelet probes their /live and /ready"

// AdminPort says what the proxies' admin port policy of one namespace
// admits.
type AdminPort struct {
	Namespace string
	// Server names the admin port's Server.
	Server string
	// Scrapers may GET /metrics: "sa NS/NAME" or a network.
	Scrapers []string
	// Probes may GET /live and /ready: networks, or empty when Linkerd's
	// own probe route admits them (no route written).
	Probes []string
}

// adminPorts writes, in each namespace given, the policy of the proxies'
// admin port (linkerd-admin, 4191): a Server selecting every meshed pod,
// an HTTPRoute for GET /metrics authorized for the scraper (its service
// accounts, its networks) and one for GET /live and /ready authorized for
// kubelet probes. With a route attached Linkerd no longer authorizes the
// probes itself, so when no probe source is known (no --probe-networks,
// no node in the recording) no route is written: the scraper is
// authorized on the whole port and Linkerd's own probe route stays.
func (b *emitter) adminPorts(namespaces []string, probes []netip.Prefix) []AdminPort {
	var out []AdminPort
	if len(namespaces) > 0 && len(probes) == 0 {
		b.warn("the proxies' admin port: no probe source is known (give --probe-networks with your node CIDRs), so its Server gets no routes and the scraper may read every admin path, not only /metrics")
	}
	scrapers := b.opts.Scrapes.scrapers()
	for _, ns := range namespaces {
		u := b.unit(&recording.Workload{ID: recording.PeerID(ns + "/" + AdminUnit), Namespace: ns, Name: AdminUnit})
		srv := policy.Server{
			ObjectMeta: b.adminMeta(policy.KindServer, ns, "proxy-admin"),
			Spec: policy.ServerSpec{
				PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: eval.LabelControlPlaneNS, Operator: metav1.LabelSelectorOpExists}}},
				Port:          intstr.FromString(eval.AdminPortName),
				ProxyProtocol: policy.ProtocolHTTP1,
				AccessPolicy:  policy.Deny,
			},
		}
		if b.opts.Mode == ModeAudit {
			srv.Spec.AccessPolicy = policy.Audit
		}
		u.Set.Servers = append(u.Set.Servers, srv)
		summary := AdminPort{Namespace: ns, Server: srv.Name}
		for _, sa := range scrapers {
			summary.Scrapers = append(summary.Scrapers, "sa "+sa.String())
		}
		for _, p := range b.opts.Scrapes.Networks {
			summary.Scrapers = append(summary.Scrapers, p.Masked().String())
		}
		for _, p := range probes {
			summary.Probes = append(summary.Probes, p.String())
		}
		out = append(out, summary)
		scrapeTarget := policy.LocalTargetRef{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: srv.Name}
		if len(probes) > 0 {
			metrics := b.adminRoute(u, ns, srv.Name, "metrics", eval.AdminMetricsPath)
			live := b.adminRoute(u, ns, srv.Name, "probes", eval.AdminLivePath, eval.AdminReadyPath)
			scrapeTarget = policy.LocalTargetRef{Group: string(b.opts.RouteAPI), Kind: policy.KindHTTPRoute, Name: metrics}
			b.adminNetworks(u, ns, policy.LocalTargetRef{Group: string(b.opts.RouteAPI), Kind: policy.KindHTTPRoute, Name: live}, "probes", probes)
		}
		if len(scrapers) > 0 {
			var refs []policy.NamespacedTargetRef
			for _, sa := range scrapers {
				refs = append(refs, policy.NamespacedTargetRef{Kind: policy.KindServiceAccount, Name: sa.Name, Namespace: sa.Namespace})
			}
			mtls := policy.MeshTLSAuthentication{ObjectMeta: b.adminMeta(policy.KindMeshTLSAuthentication, ns, "proxy-admin-scraper"),
				Spec: policy.MeshTLSAuthenticationSpec{IdentityRefs: refs}}
			u.Set.MeshTLSAuthentications = append(u.Set.MeshTLSAuthentications, mtls)
			u.Set.AuthorizationPolicies = append(u.Set.AuthorizationPolicies, policy.AuthorizationPolicy{
				ObjectMeta: b.adminMeta(policy.KindAuthorizationPolicy, ns, "proxy-admin-scraper"),
				Spec: policy.AuthorizationPolicySpec{TargetRef: scrapeTarget, RequiredAuthenticationRefs: []policy.NamespacedTargetRef{
					{Group: policy.GroupPolicy, Kind: policy.KindMeshTLSAuthentication, Name: mtls.Name}}},
			})
		}
		if nets := b.opts.Scrapes.Networks; len(nets) > 0 {
			b.adminNetworks(u, ns, scrapeTarget, "scraper-network", compactPrefixes(append([]netip.Prefix(nil), nets...)))
		}
	}
	return out
}

func (b *emitter) adminMeta(kind, ns string, parts ...string) policy.ObjectMeta {
	m := b.meta(kind, ns, nil, parts...)
	delete(m.Annotations, AnnotationObserved)
	m.Annotations[AnnotationPurpose] = adminPurpose
	return m
}

// adminRoute writes an HTTPRoute on the admin Server for GET of paths,
// exactly, and returns its name.
func (b *emitter) adminRoute(u *Unit, ns, server, suffix string, paths ...string) string {
	r := policy.HTTPRoute{ObjectMeta: b.adminMeta(policy.KindHTTPRoute, ns, "proxy-admin", suffix)}
	r.APIVersion = policy.APIVersionGatewayHTTPRoute
	if b.opts.RouteAPI == RouteAPIPolicy {
		r.APIVersion = policy.APIVersionPolicyHTTPRoute
	}
	r.Spec.ParentRefs = []policy.ParentReference{{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: server}}
	for _, p := range paths {
		r.Spec.Rules = append(r.Spec.Rules, policy.HTTPRouteRule{Matches: []policy.HTTPRouteMatch{{
			Path: &policy.HTTPPathMatch{Type: policy.MatchExact, Value: p}, Method: "GET"}}})
	}
	u.Set.HTTPRoutes = append(u.Set.HTTPRoutes, r)
	return r.Name
}

// adminNetworks authorizes clients from nets, without mTLS, on target.
func (b *emitter) adminNetworks(u *Unit, ns string, target policy.LocalTargetRef, suffix string, nets []netip.Prefix) {
	na := policy.NetworkAuthentication{ObjectMeta: b.adminMeta(policy.KindNetworkAuthentication, ns, "proxy-admin", suffix)}
	for _, p := range nets {
		na.Spec.Networks = append(na.Spec.Networks, policy.Network{CIDR: p.String()})
	}
	u.Set.NetworkAuthentications = append(u.Set.NetworkAuthentications, na)
	u.Set.AuthorizationPolicies = append(u.Set.AuthorizationPolicies, policy.AuthorizationPolicy{
		ObjectMeta: b.adminMeta(policy.KindAuthorizationPolicy, ns, "proxy-admin", suffix),
		Spec: policy.AuthorizationPolicySpec{TargetRef: target, RequiredAuthenticationRefs: []policy.NamespacedTargetRef{
			{Group: policy.GroupPolicy, Kind: policy.KindNetworkAuthentication, Name: na.Name}}},
	})
}
