package cluster

import (
	"github.com/cinchmesh/cinch/observe/recording"
)

// Enrich names what a recording made without cluster objects (from
// metrics) knows only by identity, and fills in its workloads: a client
// peer "identity:<id>" becomes the workload that runs with that identity
// when exactly one does, and every workload the recording's edges name,
// clients included, gets what the cluster declares (labels, ports, probes,
// service account, default inbound policy). It returns the recording, with
// edges that came to share a key merged within limits.
func (inv *Inventory) Enrich(rec *recording.Recording, limits recording.Limits) *recording.Recording {
	byIdentity := map[string]recording.PeerID{}
	shared := map[string]bool{}
	for id, w := range inv.workloads {
		if !w.Meshed {
			continue
		}
		if _, ok := byIdentity[w.Identity]; ok {
			shared[w.Identity] = true
		}
		byIdentity[w.Identity] = id
	}
	renamed := map[recording.PeerID]recording.PeerID{}
	for _, p := range rec.Peers {
		ident, ok := p.ID.Identity()
		if w, found := byIdentity[ident]; ok && found && !shared[ident] {
			renamed[p.ID] = w
		}
	}
	out := *rec
	out.Peers = nil
	for _, p := range rec.Peers {
		if _, ok := renamed[p.ID]; !ok {
			out.Peers = append(out.Peers, p)
		}
	}
	out.Edges = make([]recording.Edge, len(rec.Edges))
	named := map[recording.PeerID]bool{}
	for i, e := range rec.Edges {
		if w, ok := renamed[e.Client]; ok {
			e.Client = w
		}
		out.Edges[i] = e
		named[e.Client], named[e.Server] = true, true
	}
	have := map[recording.PeerID]bool{}
	out.Workloads = nil
	for _, w := range rec.Workloads {
		if cw, ok := inv.Workload(w.ID); ok {
			w = cw
		}
		have[w.ID] = true
		out.Workloads = append(out.Workloads, w)
	}
	for id := range named {
		if cw, ok := inv.Workload(id); ok && !have[id] {
			out.Workloads = append(out.Workloads, cw)
		}
	}
	return recording.Merge(limits, &out)
}
