package synth

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/routes"
)

// portKey names one server port: a workload and a port number.
type portKey struct {
	Server recording.PeerID
	Port   uint32
}

// serverPort is everything the recording says about one server port: who
// called it, on which routes, and how.
type serverPort struct {
	portKey
	Workload recording.Workload
	GRPC     bool
	// TCP is set when every edge of the port is a connection-level edge
	// from metrics: the Server is opaque and has no routes.
	TCP bool
	// Callers are the clients, sorted by peer ID.
	Callers []*caller
	// OutboundOnly is set when only client proxies reported the traffic.
	OutboundOnly bool
	// Overflow counts requests whose paths the recording did not keep.
	Overflow    int64
	First, Last time.Time
}

// caller is one client of a server port.
type caller struct {
	Peer recording.PeerID
	// Mesh is the client's mesh identity when some of its requests came
	// over mTLS.
	Mesh *meshIdentity
	// Networks are the client addresses of its requests without mTLS.
	Networks []netip.Prefix
	// NetworksIncomplete is set when the recording dropped some of those
	// addresses (its per-edge limit).
	NetworksIncomplete bool
	Routes             []recording.Route
	Requests           int64
	// Declared are the intents behind the caller's evidence ("sa ns/x:
	// reason"), when the intents file declared some of it.
	Declared []string
	// Node says the client is a node: the kubelet probing, which the
	// probe sources stand for (a pod may be rescheduled on any node).
	Node bool
}

// meshIdentity is a meshed client's identity.
type meshIdentity struct {
	Namespace, ServiceAccount string
	// Identity is the full mesh identity, used when the service account is
	// not known.
	Identity string
}

// evidence is what a recording says for a synthesis: the inbound traffic
// per server port, what was refused and why, and what the later stages
// need of the rest of the recording.
type evidence struct {
	rec   *recording.Recording
	ports []*serverPort // sorted by server and port
	// warnings say what was skipped or refused, and why.
	warnings []string
	// refused is what the self-check must not expect admitted.
	refused *refusals
	// nodes are the node addresses seen (probe sources at route level);
	// sampled says some window is a sample (tap).
	nodes   []string
	sampled bool
}

// collect gathers the recording's inbound evidence per server port. Edges
// to servers that are not meshed workloads (external addresses, nodes,
// unmeshed pods) are skipped: Linkerd has no policy to give them.
func collect(rec *recording.Recording, opts *Options, decl *declarations) *evidence {
	workloads := map[recording.PeerID]recording.Workload{}
	for _, w := range rec.Workloads {
		workloads[w.ID] = w
	}
	peers := map[recording.PeerID]recording.Peer{}
	for _, p := range rec.Peers {
		peers[p.ID] = p
	}
	var warnings []string
	refused := newRefusals()
	plain := map[recording.PeerID]string{} // server workloads checked: why not, or ""
	ports := map[portKey]*serverPort{}
	for i := range rec.Edges {
		e := &rec.Edges[i]
		w, ok := workloads[e.Server]
		if !ok || !opts.selects(w.Namespace) {
			continue
		}
		why, checked := plain[w.ID]
		if !checked {
			why = plainWorkload(&w)
			plain[w.ID] = why
			if why != "" {
				warnings = append(warnings, fmt.Sprintf("%s: %s, so no policy is written for it", w.ID, why))
				refused.servers[w.ID] = true
			}
		}
		if why != "" {
			continue
		}
		if !w.Meshed {
			warnings = append(warnings, fmt.Sprintf("%s is not meshed: no Linkerd policy applies to it (%d requests from %s skipped)", e.Server, e.Requests, e.Client))
			continue
		}
		if e.Requests == 0 && !opts.GrantDenied {
			warnings = append(warnings, fmt.Sprintf("%s -> %s port %d: all %d requests were denied by the policy in force, so none is granted (--grant-denied grants them)", e.Client, e.Server, e.Port, e.Denied))
			continue
		}
		k := portKey{e.Server, e.Port}
		sp := ports[k]
		if sp == nil {
			sp = &serverPort{portKey: k, Workload: w, OutboundOnly: true, TCP: true}
			ports[k] = sp
		}
		sp.GRPC = sp.GRPC || e.Protocol == recording.ProtocolGRPC
		sp.TCP = sp.TCP && e.Protocol == recording.ProtocolTCP
		sp.OutboundOnly = sp.OutboundOnly && e.OutboundOnly
		sp.Overflow += e.RoutesOverflow
		if e.FirstSeen != nil && (sp.First.IsZero() || e.FirstSeen.Before(sp.First)) {
			sp.First = *e.FirstSeen
		}
		if e.LastSeen != nil && e.LastSeen.After(sp.Last) {
			sp.Last = *e.LastSeen
		}
		c := &caller{Peer: e.Client, Requests: max(e.Requests, e.Denied), Declared: decl.declared(e.Key()), Node: peers[e.Client].Kind == recording.PeerNode}
		for _, r := range e.Routes {
			if !routes.Expressible(r.Path) {
				warnings = append(warnings, fmt.Sprintf("%s -> %s port %d: path %q is not UTF-8, so no route can match it (%d requests)", e.Client, e.Server, e.Port, r.Path, r.Requests))
				continue
			}
			c.Routes = append(c.Routes, r)
		}
		if e.TLS["true"] > 0 {
			c.Mesh = identityOf(e.Client, workloads)
			if c.Mesh == nil {
				warnings = append(warnings, fmt.Sprintf("%s called %s over mTLS but its identity is unknown: record with cluster access or --cluster-file", e.Client, e.Server))
			} else if why := plainIdentity(c.Mesh); why != "" {
				warnings = append(warnings, fmt.Sprintf("%s -> %s port %d: %s, so its %d requests over mTLS are not granted", e.Client, e.Server, e.Port, why, e.TLS["true"]))
				refused.identities[e.Client] = true
				c.Mesh = nil
			}
		}
		if c.Requests-e.TLS["true"] > 0 {
			c.Networks = networksOf(e, peers[e.Client], opts.NetworkPrefix)
			if p, ok := decl.network(e.Client); ok {
				c.Networks = compactPrefixes(append(c.Networks, p))
			}
			c.NetworksIncomplete = e.SourceIPsOverflow > 0
			if len(c.Networks) == 0 {
				warnings = append(warnings, fmt.Sprintf("%s -> %s port %d: %d requests without mTLS from addresses the recording does not hold (metrics do not name them): not granted; merge a tap recording of this client or mesh it", e.Client, e.Server, e.Port, c.Requests-e.TLS["true"]))
			}
		}
		sp.Callers = append(sp.Callers, c)
	}
	out := make([]*serverPort, 0, len(ports))
	for _, sp := range ports {
		slices.SortFunc(sp.Callers, func(a, b *caller) int { return strings.Compare(string(a.Peer), string(b.Peer)) })
		out = append(out, sp)
	}
	slices.SortFunc(out, func(a, b *serverPort) int {
		return cmp.Or(strings.Compare(string(a.Server), string(b.Server)), cmp.Compare(a.Port, b.Port))
	})
	for _, sp := range out {
		if !sp.GRPC {
			continue
		}
		// Linkerd matches gRPC routes, its default route too, by the
		// service and method of a POST.
		for _, c := range sp.Callers {
			c.Routes = slices.DeleteFunc(c.Routes, func(r recording.Route) bool {
				if isGRPCCall(r.Method, r.RequestPath()) {
					return false
				}
				warnings = append(warnings, fmt.Sprintf("%s -> %s port %d: %s %q is not a gRPC call (POST /package.Service/Method), so no route can match it (%d requests)", c.Peer, sp.Server, sp.Port, r.Method, abbreviate(r.Path, 80), r.Requests))
				k := recording.Key{Client: c.Peer, Server: sp.Server, Port: sp.Port}
				refused.routes[k] = append(refused.routes[k], r)
				return true
			})
		}
	}
	ev := &evidence{rec: rec, ports: out, warnings: warnings, refused: refused}
	for _, w := range rec.Windows {
		ev.sampled = ev.sampled || w.Sampling.Sampled
	}
	for _, p := range rec.Peers {
		if p.Kind == recording.PeerNode {
			ev.nodes = append(ev.nodes, p.IPs...)
		}
	}
	return ev
}

// identityOf returns the mesh identity of a client workload, or of a
// client that metrics know only by identity ("identity:<id>").
func identityOf(id recording.PeerID, workloads map[recording.PeerID]recording.Workload) *meshIdentity {
	if ident, ok := id.Identity(); ok {
		m := &meshIdentity{Identity: ident}
		if sa, ok := recording.ParseIdentity(ident); ok {
			m.ServiceAccount, m.Namespace = sa.ServiceAccount, sa.Namespace
		}
		return m
	}
	w, ok := workloads[id]
	if !ok {
		return nil
	}
	if w.ServiceAccount != "" {
		return &meshIdentity{Namespace: w.Namespace, ServiceAccount: w.ServiceAccount, Identity: w.Identity}
	}
	if w.Identity != "" {
		return &meshIdentity{Namespace: w.Namespace, Identity: w.Identity}
	}
	return nil
}

// networksOf lists the narrowest prefixes covering the client addresses of
// an edge's requests without mTLS, widened to prefix bits when asked.
func networksOf(e *recording.Edge, p recording.Peer, widen PrefixLengths) []netip.Prefix {
	var addrs []netip.Addr
	for _, s := range e.SourceIPs {
		if a, err := netip.ParseAddr(s.IP); err == nil {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		// Older recordings, or peers the recorder named without keeping
		// sources: the peer's own addresses.
		for _, s := range p.IPs {
			if a, err := netip.ParseAddr(s); err == nil {
				addrs = append(addrs, a)
			}
		}
	}
	return prefixes(addrs, widen)
}

// PrefixLengths widen single client addresses into networks: 0 keeps them
// single (/32, /128).
type PrefixLengths struct{ IPv4, IPv6 int }

// prefixes turns addresses into sorted, de-duplicated prefixes.
func prefixes(addrs []netip.Addr, widen PrefixLengths) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range addrs {
		bits := a.BitLen()
		if a.Is4() && widen.IPv4 > 0 {
			bits = widen.IPv4
		} else if a.Is6() && widen.IPv6 > 0 {
			bits = widen.IPv6
		}
		p, err := a.Prefix(bits)
		if err == nil {
			out = append(out, p)
		}
	}
	return compactPrefixes(out)
}

// compactPrefixes sorts prefixes and drops those inside another.
func compactPrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	var out []netip.Prefix
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].Bits() <= p.Bits() && out[n-1].Contains(p.Addr()) {
			continue
		}
		out = append(out, p)
	}
	return out
}
