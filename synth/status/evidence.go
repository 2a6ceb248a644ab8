package status

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/cinchmesh/cinch/observe/prom"
	"github.com/cinchmesh/cinch/observe/recording"
)

// auditAuthz is the audit fallback authorization as a recording's
// decisions write it (docs/metrics.md).
const auditAuthz = "default/audit"

// FromMetrics takes the hits Prometheus counted.
func FromMetrics(hits []prom.Hit) []Hit {
	out := make([]Hit, 0, len(hits))
	for _, h := range hits {
		x := Hit{Kind: HitAudit, Client: h.Client, Server: h.Server, Port: h.Port, ServerPolicy: h.ServerPolicy,
			Route: h.Route, Requests: h.Requests}
		if h.Denied {
			x.Kind = HitDenied
		}
		if !h.First.IsZero() {
			x.First = &h.First
		}
		if !h.Last.IsZero() {
			x.Last = &h.Last
		}
		out = append(out, x)
	}
	return out
}

// FromRecording takes the hits a recording holds: requests the live
// decisions say only the audit fallback admitted (tap and metrics
// recordings carry them), and denied requests (metrics recordings), seen
// between the edge's first and last request when it says.
func FromRecording(rec *recording.Recording) []Hit {
	var out []Hit
	for i := range rec.Edges {
		e := &rec.Edges[i]
		for _, d := range e.Decisions {
			if d.Authz == auditAuthz && d.Requests > 0 {
				out = append(out, Hit{Kind: HitAudit, Client: e.Client, Server: e.Server, Port: e.Port, ServerPolicy: d.Server,
					Route: d.Route, Requests: d.Requests, First: e.FirstSeen, Last: e.LastSeen})
			}
		}
		if e.Denied > 0 {
			out = append(out, Hit{Kind: HitDenied, Client: e.Client, Server: e.Server, Port: e.Port, Requests: e.Denied,
				First: e.FirstSeen, Last: e.LastSeen})
		}
	}
	return out
}

// MergeHits merges hits of the same kind, client, server port and route
// (denials: whatever the route) from several sources (a metrics recording and the same Prometheus asked
// again): the larger count and the widest first and last seen are kept.
func MergeHits(lists ...[]Hit) []Hit {
	type key struct {
		kind   HitKind
		client recording.PeerID
		server recording.PeerID
		port   uint32
		route  string
	}
	byKey := map[key]*Hit{}
	var keys []key
	for _, l := range lists {
		for _, h := range l {
			k := key{h.Kind, h.Client, h.Server, h.Port, h.Route}
			if h.Kind == HitDenied {
				// A recording's denied requests carry no route.
				k.route = ""
			}
			x := byKey[k]
			if x == nil {
				h := h
				byKey[k] = &h
				keys = append(keys, k)
				continue
			}
			x.Requests = max(x.Requests, h.Requests)
			x.ServerPolicy = cmp.Or(x.ServerPolicy, h.ServerPolicy)
			x.Route = cmp.Or(x.Route, h.Route)
			if h.First != nil && (x.First == nil || h.First.Before(*x.First)) {
				x.First = h.First
			}
			if h.Last != nil && (x.Last == nil || h.Last.After(*x.Last)) {
				x.Last = h.Last
			}
		}
	}
	out := make([]Hit, 0, len(keys))
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	slices.SortFunc(out, compareHits)
	return out
}

// WindowOf is the span the recording's windows cover; zero when none
// says when it was.
func WindowOf(rec *recording.Recording) Window {
	var w Window
	for _, x := range rec.Windows {
		if x.Start != nil && (w.Start.IsZero() || x.Start.Before(w.Start)) {
			w.Start = x.Start.UTC()
		}
		if x.End != nil && x.End.After(w.End) {
			w.End = x.End.UTC()
		}
	}
	if w.End.IsZero() {
		return Window{}
	}
	return w
}

// Span is the union of windows.
func Span(ws ...Window) Window {
	var out Window
	for _, w := range ws {
		if w.End.IsZero() {
			continue
		}
		if out.End.IsZero() || w.Start.Before(out.Start) {
			out.Start = w.Start
		}
		out.End = later(out.End, w.End)
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Sources say where the evidence comes from.
type Sources struct {
	// Recordings are the recordings given, merged; nil when none.
	Recordings *recording.Recording
	// Prometheus, when set, is asked for the window Metrics describes:
	// the edges (prom.Record) and the audit-only and denied requests with
	// first and last seen (prom.Hits).
	Prometheus *prom.Client
	Metrics    prom.Options
	// Limits bound the merged recording.
	Limits recording.Limits
}

// Evidence is what Collect gathered.
type Evidence struct {
	Recording *recording.Recording
	// Metrics is the part of Recording recorded from Prometheus for the
	// window, nil without it: evidence no file given holds.
	Metrics *recording.Recording
	Hits    []Hit
	Window  Window
	// Queries counts the Prometheus queries made.
	Queries int
}

// Collect gathers the evidence: the recordings, and from Prometheus the
// window's edges and hits, merged; the window is the span of both.
func Collect(ctx context.Context, src Sources) (*Evidence, error) {
	rec := src.Recordings
	if rec == nil {
		rec = recording.New()
	}
	ev := &Evidence{Recording: rec, Window: WindowOf(rec)}
	var fromMetrics []Hit
	if src.Prometheus != nil {
		mrec, stats, err := prom.Record(ctx, src.Prometheus, src.Metrics)
		if err != nil {
			return nil, err
		}
		hits, hstats, err := prom.Hits(ctx, src.Prometheus, src.Metrics)
		if err != nil {
			return nil, err
		}
		ev.Queries = stats.Queries + hstats.Queries
		ev.Window = Span(ev.Window, WindowOf(mrec))
		ev.Recording = recording.Merge(src.Limits, rec, mrec)
		ev.Metrics = mrec
		fromMetrics = FromMetrics(hits)
	}
	ev.Hits = MergeHits(FromRecording(rec), fromMetrics)
	return ev, nil
}
