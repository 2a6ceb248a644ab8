package synth

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/intents"
)

// AnnotationDeclared marks an object that grants access because the
// intents file declares it: the declared clients and their reasons.
const AnnotationDeclared = intents.Annotation

// declarations are the intents turned into evidence: which edges they
// added to and the networks of network clients.
type declarations struct {
	// edges maps an edge to the intents behind it ("sa ns/x: reason").
	edges map[recording.Key][]string
	// networks are the declared networks by their client peer ID.
	networks map[recording.PeerID]netip.Prefix
}

func (d *declarations) declared(k recording.Key) []string {
	if d == nil {
		return nil
	}
	return d.edges[k]
}

// network is the declared network of a network client.
func (d *declarations) network(id recording.PeerID) (netip.Prefix, bool) {
	if d == nil {
		return netip.Prefix{}, false
	}
	p, ok := d.networks[id]
	return p, ok
}

// declare returns a copy of rec with the intents added as evidence: one
// request per declared route (a route template) or, without routes, one
// request without a path, on an edge from the client to the server port.
// A service account client is a client known by its mesh identity; a
// workload client is the recording's workload or, when the recording
// never saw it, the candidate of the cluster objects; a network client is
// a peer whose requests come from that network.
func declare(rec *recording.Recording, list []intents.Intent, candidates []cluster.Candidate) (*recording.Recording, *declarations, error) {
	if len(list) == 0 {
		return rec, nil, nil
	}
	out := *rec
	out.Workloads = slices.Clone(rec.Workloads)
	out.Peers = slices.Clone(rec.Peers)
	out.Edges = slices.Clone(rec.Edges)
	d := &declarations{edges: map[recording.Key][]string{}, networks: map[recording.PeerID]netip.Prefix{}}
	workloads := map[recording.PeerID]int{}
	for i, w := range out.Workloads {
		workloads[w.ID] = i
	}
	peers := map[recording.PeerID]bool{}
	for _, p := range out.Peers {
		peers[p.ID] = true
	}
	edges := map[recording.Key]int{}
	for i := range out.Edges {
		edges[out.Edges[i].Key()] = i
	}
	cp, td := meshNaming(rec)
	identity := func(sa, ns string) string { return recording.ServiceAccountIdentity(sa, ns, cp, td).String() }
	for i := range list {
		in := &list[i]
		where := in.String()
		if in.Line > 0 {
			where = fmt.Sprintf("line %d: %s", in.Line, in)
		}
		srv, ok := workloads[in.ServerID()]
		if !ok || len(out.Workloads[srv].Labels) == 0 {
			return nil, nil, fmt.Errorf("intent %s: the recording does not know the server's pod labels, so no Server can select it: record it with cluster objects (--cluster-file) first", where)
		}
		var client recording.PeerID
		mtls := true
		switch c := in.Client; {
		case c.ServiceAccount != "":
			ns, sa, _ := strings.Cut(c.ServiceAccount, "/")
			client = recording.IdentityPeer(identity(sa, ns))
			if !peers[client] {
				peers[client] = true
				out.Peers = append(out.Peers, recording.Peer{ID: client, Kind: recording.PeerIdentity})
			}
		case c.Workload != "":
			client = recording.PeerID(c.Workload)
			if j, ok := workloads[client]; ok {
				if w := out.Workloads[j]; !w.Meshed || w.ServiceAccount == "" {
					return nil, nil, fmt.Errorf("intent %s: workload %s is not meshed with a known service account: declare its network instead", where, c.Workload)
				}
				break
			}
			k := slices.IndexFunc(candidates, func(cc cluster.Candidate) bool { return cc.ID == client })
			if k < 0 {
				return nil, nil, fmt.Errorf("intent %s: workload %s is neither in the recording nor a meshed workload of the cluster objects (--cluster-file): give its serviceAccount instead", where, c.Workload)
			}
			cc := candidates[k]
			workloads[client] = len(out.Workloads)
			out.Workloads = append(out.Workloads, recording.Workload{ID: client, Namespace: cc.Namespace, Kind: cc.Kind, Name: cc.Name,
				ServiceAccount: cc.ServiceAccount, Identity: identity(cc.ServiceAccount, cc.Namespace), Meshed: true})
		default:
			p, _ := c.Prefix()
			client, mtls = recording.PeerID("ip:"+p.String()), false
			d.networks[client] = p
			if !peers[client] {
				peers[client] = true
				out.Peers = append(out.Peers, recording.Peer{ID: client, Kind: recording.PeerExternal})
			}
		}
		key := recording.Key{Client: client, Server: in.ServerID(), Port: in.Port}
		j, ok := edges[key]
		if !ok {
			j = len(out.Edges)
			edges[key] = j
			out.Edges = append(out.Edges, recording.Edge{Client: client, Server: in.ServerID(), Port: in.Port, Protocol: recording.ProtocolHTTP})
		}
		e := &out.Edges[j]
		e.Routes = slices.Clone(e.Routes)
		e.TLS = cloneCounts(e.TLS)
		e.SourceIPs = slices.Clone(e.SourceIPs)
		n := int64(max(1, len(in.Routes)))
		grpc := len(in.Routes) > 0
		for _, r := range in.Routes {
			e.Routes = append(e.Routes, recording.Route{Method: r.Method, Path: r.Path, Requests: 1, Template: true})
			grpc = grpc && r.Method == "POST" && isGRPCCall(r.Method, r.Path) && strings.Contains(strings.SplitN(r.Path, "/", 3)[1], ".")
		}
		if grpc && !ok {
			e.Protocol = recording.ProtocolGRPC
		}
		e.Requests += n
		if mtls {
			e.TLS["true"] += n
		} else {
			p := d.networks[client]
			e.SourceIPs = append(e.SourceIPs, recording.SourceIP{IP: p.Addr().String(), Requests: n})
		}
		d.edges[key] = append(d.edges[key], in.Client.String()+": "+in.Reason)
	}
	return &out, d, nil
}

func cloneCounts(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// meshNaming is the control plane namespace and trust domain of the
// recording's identities, else Linkerd's defaults.
func meshNaming(rec *recording.Recording) (cp, td string) {
	for _, w := range rec.Workloads {
		if id, ok := recording.ParseIdentity(w.Identity); ok {
			return id.ControlPlane, id.TrustDomain
		}
	}
	return "", ""
}

// declaredText is the annotation value for the callers' declarations.
func declaredText(callers []*caller) string {
	var all []string
	for _, c := range callers {
		all = append(all, c.Declared...)
	}
	slices.Sort(all)
	return strings.Join(slices.Compact(all), "; ")
}
