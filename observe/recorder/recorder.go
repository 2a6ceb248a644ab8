// Package recorder folds tap events into a recorded service graph. It
// correlates request, response and end events per reporting proxy, counts
// each request once (the server's inbound report is the authority; requests
// only the client's proxy reported are kept and marked), and keeps memory
// bounded by the number of distinct routes, not the number of events.
//
// It imports observe/event, observe/cluster and observe/recording.
package recorder

import (
	"bytes"
	"cmp"
	"net/netip"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/recording"
)

// Options configure a Recorder.
type Options struct {
	Limits recording.Limits
	// Inventory, when set, names addresses that events carry no labels for
	// (the text format, unmeshed peers) and enriches workloads with what
	// the cluster declares.
	Inventory *cluster.Inventory
	// KeepQuery keeps query strings in recorded paths (they are cut off
	// by default: paths with queries can carry secrets).
	KeepQuery bool
	// MaxPending bounds the requests awaiting their response; beyond it new
	// requests are still counted but their responses are not attributed.
	MaxPending int
}

// DefaultMaxPending is enough for any realistic number of requests in
// flight in one tap stream.
const DefaultMaxPending = 1 << 18

// Recorder accumulates events. It is not safe for concurrent use.
type Recorder struct {
	opts Options

	peerCache map[peerKey]*peerEntry
	workloads map[recording.PeerID]*recording.Workload
	others    map[recording.PeerID]*recording.Peer

	edges map[edgeKey]*edgeAcc
	// inboundFrom holds the addresses whose proxies reported inbound
	// events: requests their clients reported outbound are counted by them.
	inboundFrom map[netip.Addr]struct{}
	pending     map[pendingKey]*edgeAcc

	windows []recording.Window
	cur     *recording.Window

	scratch scratch
}

// New returns an empty Recorder.
func New(opts Options) *Recorder {
	if opts.Limits == (recording.Limits{}) {
		opts.Limits = recording.DefaultLimits
	}
	opts.MaxPending = cmp.Or(opts.MaxPending, DefaultMaxPending)
	return &Recorder{
		opts:        opts,
		peerCache:   map[peerKey]*peerEntry{},
		workloads:   map[recording.PeerID]*recording.Workload{},
		others:      map[recording.PeerID]*recording.Peer{},
		edges:       map[edgeKey]*edgeAcc{},
		inboundFrom: map[netip.Addr]struct{}{},
		pending:     map[pendingKey]*edgeAcc{},
	}
}

// BeginWindow starts a window; events added until EndWindow count in it.
func (r *Recorder) BeginWindow(w recording.Window) {
	r.windows = append(r.windows, w)
	r.cur = &r.windows[len(r.windows)-1]
}

// EndWindow closes the current window, recording the decoder's warnings
// and, when reading stopped early, the error.
func (r *Recorder) EndWindow(warnings map[string]int, err error) {
	if r.cur == nil {
		return
	}
	for reason, n := range warnings {
		r.warn(reason, int64(n))
	}
	if err != nil {
		r.cur.Error = err.Error()
	}
	r.cur = nil
	// Requests still pending belong to the stream that ended; their
	// responses will not come.
	clear(r.pending)
}

// Interrupt notes in the current window that reading it was interrupted,
// and how far it got.
func (r *Recorder) Interrupt(at string) {
	r.cur.Interrupted = at
}

// AddGap notes in the current window that a stream was down.
func (r *Recorder) AddGap(g recording.Gap) {
	r.cur.Gaps = append(r.cur.Gaps, g)
}

func (r *Recorder) warn(reason string, n int64) {
	if r.cur.Warnings == nil {
		r.cur.Warnings = map[string]int64{}
	}
	r.cur.Warnings[reason] += n
}

type pendingKey struct {
	dir      event.Direction
	reporter netip.Addr
	id       event.StreamID
}

type edgeKey struct {
	client, server recording.PeerID
	port           uint32
	// dest is the server address of outbound reports, zero for inbound
	// ones; it decides at the end whether the server's proxy reported them.
	dest netip.Addr
}

// Add folds one event in. It must be called between BeginWindow and
// EndWindow.
func (r *Recorder) Add(ev *event.Event) {
	r.cur.Events++
	var reporter netip.Addr
	switch ev.Direction {
	case event.Inbound:
		reporter = ev.Destination.IP
	case event.Outbound:
		reporter = ev.Source.IP
	default:
		r.warn("event without proxy direction", 1)
		return
	}
	if !ev.Source.IP.IsValid() || !ev.Destination.IP.IsValid() {
		r.warn("event without address", 1)
		return
	}
	pk := pendingKey{ev.Direction, reporter, ev.ID}
	switch ev.Kind {
	case event.RequestInit:
		r.cur.Requests++
		acc := r.request(ev)
		if len(r.pending) < r.opts.MaxPending {
			r.pending[pk] = acc
		} else {
			r.warn("responses not attributed: too many requests in flight", 1)
		}
	case event.ResponseInit:
		acc, ok := r.pending[pk]
		if !ok {
			r.warn("response without its request", 1)
			return
		}
		acc.status[ev.HTTPStatus]++
		acc.observeLatency(ev.SinceRequestInit)
	case event.ResponseEnd:
		acc, ok := r.pending[pk]
		if !ok {
			r.warn("response end without its request", 1)
			return
		}
		delete(r.pending, pk)
		switch ev.End {
		case event.EndGRPC:
			acc.grpcStatus[ev.GRPCStatus]++
		case event.EndReset:
			acc.resets++
		}
	default:
		r.warn("event of unknown kind", 1)
	}
}

// request counts a request on its edge and returns the edge.
func (r *Recorder) request(ev *event.Event) *edgeAcc {
	client := r.peer(&ev.Source, false, ev.Direction == event.Outbound)
	server := r.peer(&ev.Destination, true, ev.Direction == event.Inbound)
	key := edgeKey{client: client, server: server, port: ev.Destination.Port}
	if ev.Direction == event.Inbound {
		r.inboundFrom[ev.Destination.IP] = struct{}{}
	} else {
		key.dest = ev.Destination.IP
	}
	acc, ok := r.edges[key]
	if !ok {
		acc = newEdgeAcc()
		r.edges[key] = acc
	}
	if i := bytes.IndexByte(ev.Path, '?'); i >= 0 && !r.opts.KeepQuery {
		// Query strings carry user data (tokens, emails) and never decide
		// a route: they stay out of the recording unless asked for.
		ev.Path = ev.Path[:i]
	}
	acc.add(ev, r.opts.Limits, &r.scratch)
	return acc
}

// Recording returns what was recorded so far. It may be called more than
// once; the recorder is not changed.
func (r *Recorder) Recording() *recording.Recording {
	rec := recording.New()
	rec.Windows = append(rec.Windows, r.windows...)

	// Outbound reports of servers whose proxy also reported inbound are the
	// same requests again: drop them. The rest are requests to servers that
	// were not tapped; they join their edge and mark it when nothing else
	// does.
	merged := map[recording.Key]*edgeAcc{}
	inbound := map[recording.Key]bool{}
	for k, acc := range r.edges {
		if k.dest.IsValid() {
			if _, seen := r.inboundFrom[k.dest]; seen {
				continue
			}
		} else {
			inbound[recording.Key{Client: k.client, Server: k.server, Port: k.port}] = true
		}
		rk := recording.Key{Client: k.client, Server: k.server, Port: k.port}
		if have, ok := merged[rk]; ok {
			have.merge(acc)
		} else {
			merged[rk] = acc.clone()
		}
	}
	for k, acc := range merged {
		e := acc.edge(k, r.opts.Limits)
		e.OutboundOnly = !inbound[k]
		r.markProbes(&e)
		rec.Edges = append(rec.Edges, e)
	}
	for _, w := range r.workloads {
		rec.Workloads = append(rec.Workloads, r.enrich(*w))
	}
	for _, p := range r.others {
		c := *p
		c.IPs = append([]string(nil), p.IPs...)
		rec.Peers = append(rec.Peers, c)
	}
	rec.Normalize()
	return rec
}

// enrich fills what the cluster declares about w.
func (r *Recorder) enrich(w recording.Workload) recording.Workload {
	if r.opts.Inventory == nil {
		return w
	}
	known, ok := r.opts.Inventory.Workload(w.ID)
	if !ok {
		return w
	}
	known.Identity = cmp.Or(w.Identity, known.Identity)
	known.ServiceAccount = cmp.Or(w.ServiceAccount, known.ServiceAccount)
	known.Meshed = known.Meshed || w.Meshed
	if w.Kind != "" {
		known.Kind = w.Kind
	}
	return known
}

// markProbes flags the routes that are kubelet probes: all of a node's
// requests, and the requests of the server's probes on that port (a GET
// of an httpGet probe's path, whatever the query string; the gRPC health
// check of a gRPC probe).
func (r *Recorder) markProbes(e *recording.Edge) {
	client, ok := r.others[e.Client]
	fromNode := ok && client.Kind == recording.PeerNode
	var probes map[[2]string]bool
	if w, ok := r.workloads[e.Server]; ok && r.opts.Inventory != nil {
		if known, ok := r.opts.Inventory.Workload(w.ID); ok {
			for _, p := range known.Probes {
				if method, path, ok := p.Request(); ok && uint32(p.Port) == e.Port {
					if probes == nil {
						probes = map[[2]string]bool{}
					}
					probes[[2]string{method, path}] = true
				}
			}
		}
	}
	for i := range e.Routes {
		rt := &e.Routes[i]
		path, _, _ := strings.Cut(rt.Path, "?")
		if fromNode || probes[[2]string{rt.Method, path}] {
			rt.Probe = true
		}
	}
}

// timestamps of live events widen the edge's first/last seen.
func widen(first, last *time.Time, t time.Time) {
	if t.IsZero() {
		return
	}
	if first.IsZero() || t.Before(*first) {
		*first = t
	}
	if t.After(*last) {
		*last = t
	}
}

// Stats are running totals of the current window, for a progress display.
type Stats struct {
	Events int64
	// Edges are the distinct (client, server, port) seen so far; Routes the
	// distinct routes (templates, or raw paths without ids) on them.
	Edges, Routes int
}

// Stats sums up what has been recorded in the current window so far. It
// walks the edges, so call it now and then, not per event.
func (r *Recorder) Stats() Stats {
	var s Stats
	if r.cur != nil {
		s.Events = r.cur.Events
	}
	type route struct {
		edge edgeKey
		path string
	}
	edges := make(map[edgeKey]struct{}, len(r.edges))
	routes := map[route]struct{}{}
	for k, a := range r.edges {
		k.dest = netip.Addr{}
		edges[k] = struct{}{}
		for p := range a.routes {
			routes[route{k, p}] = struct{}{}
		}
	}
	s.Edges, s.Routes = len(edges), len(routes)
	return s
}
