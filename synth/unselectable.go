package synth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
)

// UnselectableError is a synthesis that can select none of the observed
// servers, because the recording lacks what a Server selects pods by: the
// servers' pod labels (the recording was made without cluster objects), or
// the servers themselves, known only by address (text tap output recorded
// without cluster objects). Writing no policy and succeeding would read as
// "nothing to do"; it is a failure.
type UnselectableError struct {
	// Unlabeled are server workloads with traffic and no pod labels.
	Unlabeled []recording.PeerID
	// Addresses are servers the recording knows only by address.
	Addresses []recording.PeerID
}

func (e *UnselectableError) Error() string {
	var parts []string
	if n := len(e.Unlabeled); n > 0 {
		parts = append(parts, fmt.Sprintf("%d servers with traffic have no pod labels in the recording (%s)", n, listSome(e.Unlabeled, 3)))
	}
	if n := len(e.Addresses); n > 0 {
		parts = append(parts, fmt.Sprintf("%d servers are known only by address (%s), as in text tap output recorded without cluster objects", n, listSome(e.Addresses, 3)))
	}
	return "no Server can select any observed server, so there is no policy to write: " + strings.Join(parts, "; ")
}

// listSome names the first n ids and counts the rest.
func listSome(ids []recording.PeerID, n int) string {
	if len(ids) <= n {
		return joinIDs(ids)
	}
	return fmt.Sprintf("%s and %d more", joinIDs(ids[:n]), len(ids)-n)
}

// Unlabeled returns the server workloads with observed traffic in the
// namespaces opts selects whose pod labels the recording lacks: cluster
// objects (Inventory.Enrich) can complete them.
func Unlabeled(rec *recording.Recording, opts Options) []recording.Workload {
	servers := map[recording.PeerID]bool{}
	for _, e := range rec.Edges {
		servers[e.Server] = true
	}
	var out []recording.Workload
	for _, w := range rec.Workloads {
		if servers[w.ID] && len(w.Labels) == 0 && opts.selects(w.Namespace) {
			out = append(out, w)
		}
	}
	return out
}

// unselectable is the error for a synthesis that wrote nothing although
// servers had traffic that cluster objects would have made selectable, or
// nil.
func unselectable(rec *recording.Recording, opts *Options) error {
	e := &UnselectableError{}
	for _, w := range Unlabeled(rec, *opts) {
		e.Unlabeled = append(e.Unlabeled, w.ID)
	}
	if len(opts.Namespaces) == 0 {
		seen := map[recording.PeerID]bool{}
		for _, edge := range rec.Edges {
			if strings.HasPrefix(string(edge.Server), "ip:") && !seen[edge.Server] {
				seen[edge.Server] = true
				e.Addresses = append(e.Addresses, edge.Server)
			}
		}
	}
	if len(e.Unlabeled) == 0 && len(e.Addresses) == 0 {
		return nil
	}
	slices.Sort(e.Unlabeled)
	slices.Sort(e.Addresses)
	return e
}
