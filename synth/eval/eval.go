// Package eval decides, the way a Linkerd proxy does, whether a request
// reaching a workload's port would be allowed by a set of policy objects
// (docs/linkerd.md, "How a proxy decides"; docs/evaluator.md). It is the one implementation of
// Linkerd's decision procedure that synth's self-check and `cinch diff`
// share.
//
// New indexes a policy.Set and the cluster's workloads once; Decide then
// answers many requests cheaply and may be called concurrently. Objects
// Linkerd would ignore are ignored here too, each with a Warning.
//
// It imports the standard library, k8s.io/apimachinery (label selectors),
// synth/policy and observe/recording (for the Workload type).
package eval

import (
	"cmp"
	"fmt"
	"net/http"
	"net/netip"
	"slices"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

// What the injected proxy adds to every meshed pod: its admin server
// (Prometheus scrapes /metrics there, kubelet probes /live and /ready) on
// a container port of its own, and the label naming the control plane.
// Under a deny default policy the admin port needs a Server of its own
// like any other port.
const (
	AdminPort           = 4191
	AdminPortName       = "linkerd-admin"
	AdminMetricsPath    = "/metrics"
	AdminLivePath       = "/live"
	AdminReadyPath      = "/ready"
	LabelControlPlaneNS = "linkerd.io/control-plane-ns"
)

// Options describe the cluster's Linkerd installation.
type Options struct {
	// DefaultPolicy is the cluster-wide default inbound policy
	// (the chart value proxy.defaultInboundPolicy); empty means
	// all-unauthenticated.
	DefaultPolicy string
	// ClusterNetworks are the cluster's pod networks (the clusterNetworks
	// value); nil means DefaultClusterNetworks.
	ClusterNetworks []netip.Prefix
	// ProbeNetworks are where kubelet probes come from (the
	// policyController.probeNetworks value); nil means every address.
	ProbeNetworks []netip.Prefix
	// ControlPlaneNamespace (default linkerd) and TrustDomain (default
	// cluster.local) make up mesh identities.
	ControlPlaneNamespace string
	TrustDomain           string
}

// DefaultClusterNetworks returns Linkerd's default clusterNetworks.
func DefaultClusterNetworks() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("fd00::/8"),
	}
}

var allNetworks = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

func (o Options) withDefaults() (Options, error) {
	o.DefaultPolicy = cmp.Or(o.DefaultPolicy, policy.AllUnauthenticated)
	if !policy.IsDefaultPolicy(o.DefaultPolicy) {
		return o, fmt.Errorf("default inbound policy %q: want one of all-unauthenticated, all-authenticated, "+
			"cluster-authenticated, cluster-unauthenticated, deny, audit", o.DefaultPolicy)
	}
	if o.ClusterNetworks == nil {
		o.ClusterNetworks = DefaultClusterNetworks()
	}
	if o.ProbeNetworks == nil {
		o.ProbeNetworks = allNetworks
	}
	o.ControlPlaneNamespace = cmp.Or(o.ControlPlaneNamespace, recording.DefaultControlPlaneNamespace)
	o.TrustDomain = cmp.Or(o.TrustDomain, recording.DefaultTrustDomain)
	return o, nil
}

// identity is the mesh identity of a service account ("*" for every
// service account of the namespace).
func (o Options) identity(serviceAccount, namespace string) string {
	return recording.Identity{ServiceAccount: serviceAccount, Namespace: namespace, ControlPlane: o.ControlPlaneNamespace, TrustDomain: o.TrustDomain}.String()
}

// Cluster is the state policy is evaluated against.
type Cluster struct {
	// Workloads are the possible destinations: labels, container ports,
	// httpGet probes and default-inbound-policy annotation are what
	// matter. Their ID names them in requests.
	Workloads []recording.Workload
	// NamespacePolicies maps a namespace to its
	// config.linkerd.io/default-inbound-policy annotation, for workloads
	// without one of their own (the injector copies it onto pods).
	NamespacePolicies map[string]string
}

// Request is one request as the destination's proxy sees it.
type Request struct {
	Destination recording.PeerID
	Port        uint32
	// ClientIdentity is the client's mTLS identity, empty when the
	// connection carried none.
	ClientIdentity string
	// TLS says the connection was TLS (implied by ClientIdentity).
	TLS bool
	// SourceIP is the client's address. When it is not known (the zero
	// Addr), it is taken to be some in-cluster pod address: it satisfies
	// networks that cover all addresses or every cluster network.
	SourceIP netip.Addr
	// Method, Path (which may carry "?query"), Authority (host[:port]) and
	// Headers (canonical keys, as http.Header.Set makes them) of the HTTP
	// request; a gRPC request is a POST to "/service/method".
	Method    string
	Path      string
	Authority string
	Headers   http.Header
	// Route, when set, is the route the request is known to have matched
	// (a proxy's route_kind/route_name labels, where the path is not
	// known): route matching is skipped and the port's route of that
	// kind and name is taken, or none matches when it has no such route.
	Route Ref
}

// Reason says why a request was allowed or denied.
type Reason string

const (
	// ReasonAuthorized: an authorization admitted the request.
	ReasonAuthorized Reason = "Authorized"
	// ReasonAudit: only an audit authorization admitted it, so it is
	// allowed (and logged) but would be denied without audit mode.
	ReasonAudit Reason = "Audit"
	// ReasonNoRouteMatched: no route of the server matches (HTTP 404).
	ReasonNoRouteMatched Reason = "NoRouteMatched"
	// ReasonNoAuthorizationMatched: a route matched but none of its
	// authorizations admits the client (HTTP 403, gRPC PermissionDenied).
	ReasonNoAuthorizationMatched Reason = "NoAuthorizationMatched"
	// ReasonDefaultDeny: no Server claims the port and the default policy
	// is deny.
	ReasonDefaultDeny Reason = "DefaultDeny"
	// ReasonUnknownDestination: the destination is not among the
	// cluster's workloads.
	ReasonUnknownDestination Reason = "UnknownDestination"
)

// Ref names a server, route or authorization the way the proxy labels its
// decisions (srv_group/kind/name etc.): a Server is
// {policy.linkerd.io server NAME}, a default server
// {"" default all-unauthenticated}, a route {GROUP HTTPRoute NAME} or
// {"" default default|probe}, an authorization
// {policy.linkerd.io authorizationpolicy NAME}, or
// {"" default all-unauthenticated|probe|audit|localhost|...}.
type Ref struct {
	Group string
	Kind  string
	Name  string
}

// String writes r as "kind[.group]/name", the form of the recording's
// decisions.
func (r Ref) String() string {
	if r.Kind == "" && r.Name == "" {
		return ""
	}
	if r.Group != "" {
		return r.Kind + "." + r.Group + "/" + r.Name
	}
	return r.Kind + "/" + r.Name
}

const kindDefault = "default"

func defaultRef(name string) Ref { return Ref{Kind: kindDefault, Name: name} }

// Decision is the outcome for one request.
type Decision struct {
	Allowed bool
	Reason  Reason
	// Server is the Server that claimed the port, or the default policy.
	Server Ref
	// Route is the matched route; zero when none matched and for opaque
	// and TLS servers, which have no routes.
	Route Ref
	// Authorization is the one that admitted the request; zero when
	// denied.
	Authorization Ref
}

// Warning is an object (or a workload) that Linkerd would ignore or that
// has no effect, and why.
type Warning struct {
	Object  policy.Key
	Message string
}

func (w Warning) String() string { return w.Object.String() + ": " + w.Message }

// Evaluator answers requests against an indexed policy set.
type Evaluator struct {
	workloads map[recording.PeerID]*workload
	// servers are the Servers by namespace, for traces.
	servers  map[string]*namespaceServers
	warnings []Warning
	grants   []Grant
}

// New indexes set and cluster. It fails only on invalid options; problems
// with the objects become warnings.
func New(set *policy.Set, cluster Cluster, opts Options) (*Evaluator, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	b := newBuilder(set, opts)
	e := &Evaluator{workloads: make(map[recording.PeerID]*workload, len(cluster.Workloads))}
	for i := range cluster.Workloads {
		w := &cluster.Workloads[i]
		if _, dup := e.workloads[w.ID]; dup {
			b.warn(workloadKey(w), "listed twice: the first one is used")
			continue
		}
		e.workloads[w.ID] = b.workload(w, cluster.NamespacePolicies[w.Namespace])
	}
	e.grants = b.grants()
	e.servers = b.servers
	e.warnings = b.warnings
	slices.SortStableFunc(e.warnings, func(a, b Warning) int {
		return cmp.Or(cmp.Compare(a.Object.Namespace, b.Object.Namespace), cmp.Compare(a.Object.Kind, b.Object.Kind),
			cmp.Compare(a.Object.Name, b.Object.Name))
	})
	return e, nil
}

// Warnings lists what Linkerd would ignore, by namespace, kind and name.
func (e *Evaluator) Warnings() []Warning { return e.warnings }

// Decide evaluates one request: the Server claiming the port (or the
// default policy), then the route, then the route's and the server's
// authorizations (docs/evaluator.md).
func (e *Evaluator) Decide(req Request) Decision { return e.decide(&req, nil) }

// Explain evaluates one request as Decide does and returns how: every
// Server, route and authorization considered, and why each did or did not
// apply. Its Decision is the one Decide returns.
func (e *Evaluator) Explain(req Request) *Trace {
	tr := &Trace{Request: req}
	tr.Decision = e.decide(&req, tr)
	return tr
}

// decide is the decision procedure; with tr it also fills the trace.
func (e *Evaluator) decide(req *Request, tr *Trace) Decision {
	w, ok := e.workloads[req.Destination]
	if !ok {
		return Decision{Reason: ReasonUnknownDestination}
	}
	pp, ok := w.ports[req.Port]
	if !ok {
		pp = w.other
	}
	srv := pp.srv
	d := Decision{Server: srv.ref}
	if tr != nil {
		e.traceServers(tr, w, pp)
	}
	var (
		routeAuthz []*authorization
		picked     *route
	)
	if !srv.tcp {
		hr := newHTTPRequest(req)
		if req.Route != (Ref{}) {
			picked = givenRoute(pp.routes, req.Route, tr)
		} else {
			picked = findRoute(pp.routes, &hr, tr)
		}
		if picked == nil {
			d.Reason = ReasonNoRouteMatched
			return d
		}
		d.Route = picked.ref
		routeAuthz = picked.authz
	}
	client := client{identity: req.ClientIdentity, tls: req.TLS || req.ClientIdentity != "", ip: req.SourceIP.Unmap()}
	if tr != nil {
		traceAuthorizations(tr, pp, picked, &client)
	}
	for _, list := range [2][]*authorization{routeAuthz, srv.authz} {
		for _, a := range list {
			if a.admits(&client) {
				d.Allowed, d.Authorization, d.Reason = true, a.ref, ReasonAuthorized
				if a.audit {
					d.Reason = ReasonAudit
				}
				return d
			}
		}
	}
	d.Reason = ReasonNoAuthorizationMatched
	if srv.isDefault && srv.policy == policy.Deny {
		d.Reason = ReasonDefaultDeny
	}
	return d
}
