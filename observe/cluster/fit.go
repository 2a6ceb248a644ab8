package cluster

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
)

// Fit says how well cluster objects fit a recording's traffic: objects of
// another cluster, another app or another day name addresses as the wrong
// workloads, or none at all, and the policy made from them would select
// the wrong pods. Counts are of the recording's edges and their requests.
type Fit struct {
	// Servers and Peers count the distinct servers, and the distinct
	// peers of either side, the check looked at; UnknownServers and
	// UnknownPeers those the objects do not hold (an address no pod or
	// node has, a workload not among the objects).
	Servers, UnknownServers int
	Peers, UnknownPeers     int
	// Requests counts the requests looked at, UnknownRequests those to an
	// unknown server.
	Requests, UnknownRequests int64
	// Unknown lists the unknown servers, sorted.
	Unknown []recording.PeerID
	// Undeclared are the requests to a port that no container of the
	// server's pods declares, by server and port, though the server
	// declares others. Kubernetes does not require ports to be declared,
	// so this alone is no proof of a misfit.
	Undeclared []UndeclaredPort
	// Younger are the workloads whose pods (or workload object) the
	// objects show created after traffic that involved them.
	Younger []YoungerWorkload
	// NoTimes says the recording gives no time for its traffic (saved
	// output without --window-start/--window-end): creation times could
	// not be checked.
	NoTimes bool
}

// UndeclaredPort is traffic to a port its server does not declare.
type UndeclaredPort struct {
	Server   recording.PeerID
	Port     uint32
	Requests int64
	// Declared are the ports the server's containers do declare.
	Declared []int32
}

// YoungerWorkload is a workload whose pods the objects show created after
// traffic it took part in.
type YoungerWorkload struct {
	Workload recording.PeerID
	// Created is when its oldest pod (or, for traffic named by labels,
	// the workload object) was created; Traffic is the earliest time the
	// recording places traffic of it at or before.
	Created, Traffic time.Time
	Requests         int64
}

// FitOptions scope a fit check.
type FitOptions struct {
	// Namespaces limits the check to workloads of these namespaces, when
	// the objects were read for them only; empty checks every workload.
	Namespaces []string
}

// Fit checks the recording's traffic against the inventory's objects:
// which of its peers the objects hold, whether the ports requested are
// ports the servers declare, and whether the pods existed when the
// traffic was recorded. Addresses are judged as the recording names them:
// an address the recording kept is unknown unless a pod or node of the
// objects has it; a workload is unknown unless the objects hold it. Node
// peers and peers known only by mesh identity (metrics) are not judged.
func (inv *Inventory) Fit(rec *recording.Recording, opts FitOptions) Fit {
	inScope := func(id recording.PeerID) bool {
		if len(opts.Namespaces) == 0 {
			return true
		}
		ns, _, ok := strings.Cut(string(id), "/")
		return ok && slices.Contains(opts.Namespaces, ns)
	}
	// known says whether a peer is judged at all and whether the objects
	// hold it.
	known := func(id recording.PeerID) (judged, ok bool) {
		s := string(id)
		switch {
		case strings.HasPrefix(s, "ip:"):
			ip, err := netip.ParseAddr(strings.TrimPrefix(s, "ip:"))
			if err != nil {
				return false, false
			}
			_, pod := inv.pods[ip]
			_, node := inv.nodes[ip]
			return len(opts.Namespaces) == 0, pod || node
		case strings.HasPrefix(s, "node:"), strings.HasPrefix(s, "identity:"):
			return false, false
		}
		_, ok = inv.workloads[id]
		return inScope(id), ok
	}
	labelled := !slices.ContainsFunc(rec.Windows, func(w recording.Window) bool { return w.Format == "text" })
	windowEnd, timed := latestEnd(rec.Windows)

	var f Fit
	peers := map[recording.PeerID]bool{}
	servers := map[recording.PeerID]bool{}
	type serverPort struct {
		server recording.PeerID
		port   uint32
	}
	undeclared := map[serverPort]int64{}
	younger := map[recording.PeerID]*YoungerWorkload{}
	for i := range rec.Edges {
		e := &rec.Edges[i]
		for _, id := range []recording.PeerID{e.Client, e.Server} {
			if judged, ok := known(id); judged {
				peers[id] = ok
			}
		}
		judged, ok := known(e.Server)
		if !judged {
			continue
		}
		servers[e.Server] = ok
		f.Requests += e.Requests
		if !ok {
			f.UnknownRequests += e.Requests
			continue
		}
		if w := inv.workloads[e.Server]; w != nil && e.Port != 0 && len(w.Ports) > 0 &&
			!slices.ContainsFunc(w.Ports, func(p recording.ContainerPort) bool { return uint32(p.Port) == e.Port }) {
			undeclared[serverPort{e.Server, e.Port}] += e.Requests
		}
		at := windowEnd
		switch {
		case e.FirstSeen != nil:
			at = *e.FirstSeen
		case !timed:
			f.NoTimes = true
			continue
		}
		for _, id := range []recording.PeerID{e.Client, e.Server} {
			created, ok := inv.createdAt(id, labelled)
			if !ok || !created.After(at) {
				continue
			}
			y := younger[id]
			if y == nil {
				y = &YoungerWorkload{Workload: id, Created: created, Traffic: at}
				younger[id] = y
			}
			if at.Before(y.Traffic) {
				y.Traffic = at
			}
			y.Requests += e.Requests
		}
	}
	for _, ok := range peers {
		f.Peers++
		if !ok {
			f.UnknownPeers++
		}
	}
	for id, ok := range servers {
		f.Servers++
		if !ok {
			f.UnknownServers++
			f.Unknown = append(f.Unknown, id)
		}
	}
	slices.Sort(f.Unknown)
	for sp, n := range undeclared {
		u := UndeclaredPort{Server: sp.server, Port: sp.port, Requests: n}
		for _, p := range inv.workloads[u.Server].Ports {
			u.Declared = append(u.Declared, p.Port)
		}
		slices.Sort(u.Declared)
		u.Declared = slices.Compact(u.Declared)
		f.Undeclared = append(f.Undeclared, u)
	}
	slices.SortFunc(f.Undeclared, func(a, b UndeclaredPort) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Server, b.Server), cmp.Compare(a.Port, b.Port))
	})
	for _, y := range younger {
		f.Younger = append(f.Younger, *y)
	}
	slices.SortFunc(f.Younger, func(a, b YoungerWorkload) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Workload, b.Workload))
	})
	return f
}

// createdAt is when the objects show a workload came to be, as far as
// traffic can tell: for traffic named by address (text tap output) its
// oldest pod, since an address names a pod; for traffic named by labels
// the workload object (its pods may have been replaced since, which
// changes no name).
func (inv *Inventory) createdAt(id recording.PeerID, labelled bool) (time.Time, bool) {
	if labelled {
		if c, ok := inv.created[id]; ok {
			return c, true
		}
	}
	c, ok := inv.oldestPod[id]
	return c, ok
}

// latestEnd is the latest end of the windows, when every window has one:
// the time no event of the recording is after.
func latestEnd(ws []recording.Window) (time.Time, bool) {
	var end time.Time
	for _, w := range ws {
		if w.End == nil {
			return time.Time{}, false
		}
		if w.End.After(end) {
			end = *w.End
		}
	}
	return end, len(ws) > 0
}

// NothingFits says no judged peer of the traffic is among the objects:
// they are the objects of another cluster or app.
func (f Fit) NothingFits() bool {
	return f.Peers > 0 && f.UnknownPeers == f.Peers
}

// MostlyUnknown says more than half of the servers, or of the requests,
// are unknown to the objects.
func (f Fit) MostlyUnknown() bool {
	return 2*f.UnknownServers > f.Servers || 2*f.UnknownRequests > f.Requests
}

// Findings describe, one line each with counts and examples, what does not
// fit; none when everything does.
func (f Fit) Findings() []string {
	var out []string
	if f.UnknownServers > 0 && f.MostlyUnknown() {
		out = append(out, fmt.Sprintf("%d of %d servers (%d of %d requests) are not among the objects: %s",
			f.UnknownServers, f.Servers, f.UnknownRequests, f.Requests, f.UnknownExamples()))
	}
	if len(f.Undeclared) > 0 {
		out = append(out, fmt.Sprintf("%d requests to %d server port(s) that no container of the server declares: %s",
			total(f.Undeclared, func(u UndeclaredPort) int64 { return u.Requests }), len(f.Undeclared), examples(f.Undeclared, func(u UndeclaredPort) string {
				return fmt.Sprintf("%s:%d (%d requests; declares %s)", u.Server, u.Port, u.Requests, joinPorts(u.Declared))
			})))
	}
	if len(f.Younger) > 0 {
		out = append(out, fmt.Sprintf("%d requests involve %d workload(s) whose pods were created after the traffic: %s",
			total(f.Younger, func(y YoungerWorkload) int64 { return y.Requests }), len(f.Younger), examples(f.Younger, func(y YoungerWorkload) string {
				return fmt.Sprintf("%s (created %s, traffic by %s)", y.Workload, y.Created.Format(time.RFC3339), y.Traffic.Format(time.RFC3339))
			})))
	}
	return out
}

// UnknownExamples names the first unknown servers, and how many more
// there are.
func (f Fit) UnknownExamples() string {
	return examples(f.Unknown, func(id recording.PeerID) string { return string(id) })
}

func total[T any](items []T, n func(T) int64) int64 {
	var sum int64
	for _, it := range items {
		sum += n(it)
	}
	return sum
}

// maxExamples bounds the examples a finding lists.
const maxExamples = 3

func examples[T any](items []T, str func(T) string) string {
	var parts []string
	for _, it := range items[:min(len(items), maxExamples)] {
		parts = append(parts, str(it))
	}
	s := strings.Join(parts, ", ")
	if len(items) > maxExamples {
		s += fmt.Sprintf(" and %d more", len(items)-maxExamples)
	}
	return s
}

func joinPorts(ports []int32) string {
	var parts []string
	for _, p := range ports {
		parts = append(parts, fmt.Sprint(p))
	}
	return strings.Join(parts, ", ")
}
