// Package explain says, step by step and in Linkerd's own vocabulary, how
// a Linkerd proxy decides one request against a policy: which Server
// claims the port (and why the others do not), or the default policy;
// which route matches (and which lost to it); every authorization
// considered and why it does or does not admit the client; the verdict
// with the labels the proxy counts it under; and, when it is denied, the
// narrowest grant at the level of the policy in force that would admit
// it (docs/explain.md).
//
// The trace is synth/eval's own (Evaluator.Explain): explain renders it
// and suggests the grant, it does not decide anything itself. Denied
// explains every denied or audit-only request of a recording, grouped.
//
// It imports the standard library, observe/recording, synth (object
// names and annotations), synth/eval, synth/diff and synth/policy. It
// never prints to a terminal and never imports cobra.
package explain

import (
	"cmp"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

// Client is who makes the request: a workload of the cluster, a mesh
// identity, an address, or a workload with an address.
type Client struct {
	Workload recording.PeerID `json:"workload,omitempty"`
	Identity string           `json:"identity,omitempty"`
	Address  netip.Addr       `json:"address,omitzero"`
}

// ParseClient reads a client as the command line gives it: an address
// (10.42.0.7), a mesh identity (web.shop.serviceaccount.identity.linkerd.
// cluster.local, or a spiffe:// one) or a workload (shop/web).
func ParseClient(s string) (Client, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return Client{Address: ip.Unmap()}, nil
	}
	if _, ok := recording.ParseIdentity(s); ok || strings.HasPrefix(s, "spiffe://") {
		if strings.Contains(s, "*") {
			return Client{}, fmt.Errorf("client %q: a client's identity is never a wildcard: name one identity", s)
		}
		if err := policy.CheckIdentity(s); err != nil {
			return Client{}, fmt.Errorf("client %q: %w", s, err)
		}
		return Client{Identity: s}, nil
	}
	if ns, name, ok := strings.Cut(s, "/"); ok && ns != "" && name != "" && !strings.Contains(name, "/") {
		return Client{Workload: recording.PeerID(s)}, nil
	}
	return Client{}, fmt.Errorf("client %q: want a workload (namespace/name), a mesh identity or an IP address", s)
}

// ParseTarget reads a server as the command line gives it:
// namespace/workload:port.
func ParseTarget(s string) (recording.PeerID, uint32, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("server %q: want namespace/workload:port", s)
	}
	port, err := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("server %q: %q is not a port number (want namespace/workload:port)", s, s[i+1:])
	}
	id := s[:i]
	if ns, name, ok := strings.Cut(id, "/"); !ok || ns == "" || name == "" {
		return "", 0, fmt.Errorf("server %q: want namespace/workload:port", s)
	}
	return recording.PeerID(id), uint32(port), nil
}

// Query is one request to explain.
type Query struct {
	From Client
	// To and Port are the server workload and port.
	To   recording.PeerID
	Port uint32
	// Method and Path (which may carry ?query) of the request; a gRPC call
	// is POST /package.Service/Method. Empty for a TCP connection or when
	// Route is given.
	Method string
	Path   string
	// Route, when set, is the route the proxy labelled the request with
	// (route_kind and route_name of its metrics): route matching is then
	// not needed.
	Route eval.Ref
}

// Input is the policy and the cluster a request is explained against.
type Input struct {
	Policy *policy.Set
	// Workloads are the cluster's workloads: the server's labels, ports,
	// probes and default-policy annotation, and clients' identities.
	Workloads []recording.Workload
	// NamespacePolicies are the namespaces' default-inbound-policy
	// annotations.
	NamespacePolicies map[string]string
	Eval              eval.Options
}

// Explainer explains requests against one Input.
type Explainer struct {
	in        Input
	ev        *eval.Evaluator
	workloads map[recording.PeerID]*recording.Workload
}

// New indexes in once for many requests.
func New(in Input) (*Explainer, error) {
	in.Eval.ControlPlaneNamespace = cmp.Or(in.Eval.ControlPlaneNamespace, "linkerd")
	in.Eval.TrustDomain = cmp.Or(in.Eval.TrustDomain, "cluster.local")
	if in.Policy == nil {
		in.Policy = &policy.Set{}
	}
	ev, err := eval.New(in.Policy, eval.Cluster{Workloads: in.Workloads, NamespacePolicies: in.NamespacePolicies}, in.Eval)
	if err != nil {
		return nil, err
	}
	x := &Explainer{in: in, ev: ev, workloads: make(map[recording.PeerID]*recording.Workload, len(in.Workloads))}
	for i := range in.Workloads {
		if _, dup := x.workloads[in.Workloads[i].ID]; !dup {
			x.workloads[in.Workloads[i].ID] = &in.Workloads[i]
		}
	}
	return x, nil
}

// Explanation is one request explained.
type Explanation struct {
	Query Query
	// Identity and Address are the client as the server's proxy sees it:
	// its mTLS identity (empty for none) and source address (invalid when
	// not known).
	Identity string
	Address  netip.Addr
	Trace    *eval.Trace
	// Grant is what would admit the request when it is denied or admitted
	// only by audit; nil when it is admitted.
	Grant *Grant
}

// Denied reports whether the proxy denies the request.
func (e *Explanation) Denied() bool { return !e.Trace.Decision.Allowed }

// Explain explains q.
func (x *Explainer) Explain(q Query) (*Explanation, error) {
	if _, ok := x.workloads[q.To]; !ok {
		return nil, fmt.Errorf("server %s is not a workload of the cluster objects given: give them with --cluster-file, --from-cluster or a recording that saw it", q.To)
	}
	ex := &Explanation{Query: q, Address: q.From.Address, Identity: q.From.Identity}
	if q.From.Workload != "" {
		w, ok := x.workloads[q.From.Workload]
		if !ok {
			return nil, fmt.Errorf("client %s is not a workload of the cluster objects given: name it by identity or address instead", q.From.Workload)
		}
		if ex.Identity == "" && w.Meshed {
			ex.Identity = x.identityOf(w)
		}
	}
	ex.Trace = x.ev.Explain(eval.Request{Destination: q.To, Port: q.Port, ClientIdentity: ex.Identity,
		SourceIP: ex.Address, Method: q.Method, Path: q.Path, Route: q.Route})
	if d := ex.Trace.Decision; !d.Allowed || d.Reason == eval.ReasonAudit {
		g, err := x.suggest(ex)
		if err != nil {
			return nil, err
		}
		ex.Grant = g
	}
	return ex, nil
}

// identityOf is a meshed workload's identity: the recorded one, else its
// service account's.
func (x *Explainer) identityOf(w *recording.Workload) string {
	if w.Identity != "" {
		return w.Identity
	}
	if w.ServiceAccount == "" {
		return ""
	}
	return recording.ServiceAccountIdentity(w.ServiceAccount, w.Namespace, x.in.Eval.ControlPlaneNamespace, x.in.Eval.TrustDomain).String()
}

// serviceAccountOf splits a service account identity into its namespace
// and name, for the trust domain and control plane in use.
func (x *Explainer) serviceAccountOf(id string) (ns, sa string, ok bool) {
	i, ok := recording.ParseIdentity(id)
	if !ok || i.ServiceAccount == "*" || i.ControlPlane != x.in.Eval.ControlPlaneNamespace || i.TrustDomain != x.in.Eval.TrustDomain {
		return "", "", false
	}
	return i.Namespace, i.ServiceAccount, true
}
