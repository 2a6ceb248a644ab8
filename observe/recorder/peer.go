package recorder

import (
	"net/netip"

	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/recording"
)

// peerKey is everything that decides which peer an event's address is.
type peerKey struct {
	ip                          netip.Addr
	namespace, ownerKind, owner string
	pod, node                   string
}

type peerEntry struct {
	id       recording.PeerID
	workload *recording.Workload // nil for nodes and plain addresses
}

// maxPeerCache bounds the resolution cache (a stream with endless distinct
// external addresses must not grow it without limit; resolving is only
// slower beyond it).
const maxPeerCache = 1 << 16

// ownerKinds maps the tap server's owner label keys to workload kinds.
var ownerKinds = map[string]string{
	"deployment":            "Deployment",
	"statefulset":           "StatefulSet",
	"daemonset":             "DaemonSet",
	"replicaset":            "ReplicaSet",
	"replicationcontroller": "ReplicationController",
	"k8s_job":               "Job",
	"job":                   "Job",
	"cronjob":               "CronJob",
}

// peer resolves one side of an event to its peer ID. reporter says the
// peer's own proxy reported the event, which proves it is meshed.
func (r *Recorder) peer(p *event.Peer, dest, reporter bool) recording.PeerID {
	k := peerKey{ip: p.IP, namespace: p.Namespace, ownerKind: p.OwnerKind, owner: p.Owner, pod: p.Pod, node: p.Node}
	e, ok := r.peerCache[k]
	if !ok {
		e = r.resolve(p)
		if len(r.peerCache) < maxPeerCache {
			r.peerCache[k] = e
		}
	}
	if w := e.workload; w != nil {
		// What one event lacks another may carry: outbound reports have no
		// client identity, inbound ones do.
		if w.Identity == "" && p.Identity != "" && (dest || p.TLS == "true") {
			w.Identity = p.Identity
			w.Meshed = true
		}
		if w.ServiceAccount == "" {
			w.ServiceAccount = p.ServiceAccount
		}
		if reporter {
			w.Meshed = true
		}
	}
	return e.id
}

// resolve names a peer from its labels, else from the inventory by address,
// else by the address itself.
func (r *Recorder) resolve(p *event.Peer) *peerEntry {
	if p.Namespace != "" && (p.Owner != "" || p.Pod != "") {
		kind, name := ownerKinds[p.OwnerKind], p.Owner
		if name == "" || kind == "" {
			kind, name = "Pod", p.Pod
		}
		return r.workload(p.Namespace, kind, name)
	}
	if p.Node != "" {
		return r.other(recording.PeerID("node:"+p.Node), recording.PeerNode, p.IP.String())
	}
	if inv := r.opts.Inventory; inv != nil {
		if pod, ok := inv.Pod(p.IP); ok {
			w, _ := inv.Workload(pod.Workload)
			return r.workload(w.Namespace, w.Kind, w.Name)
		}
		if node, ok := inv.Node(p.IP); ok {
			return r.other(recording.PeerID("node:"+node), recording.PeerNode, p.IP.String())
		}
	}
	return r.other(recording.PeerID("ip:"+p.IP.String()), recording.PeerExternal, "")
}

func (r *Recorder) workload(namespace, kind, name string) *peerEntry {
	id := recording.PeerID(namespace + "/" + name)
	w, ok := r.workloads[id]
	if !ok {
		w = &recording.Workload{ID: id, Namespace: namespace, Kind: kind, Name: name}
		r.workloads[id] = w
	}
	return &peerEntry{id: id, workload: w}
}

func (r *Recorder) other(id recording.PeerID, kind recording.PeerKind, ip string) *peerEntry {
	p, ok := r.others[id]
	if !ok {
		p = &recording.Peer{ID: id, Kind: kind}
		r.others[id] = p
	}
	if ip != "" {
		p.IPs = append(p.IPs, ip)
	}
	return &peerEntry{id: id}
}
