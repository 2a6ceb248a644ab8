package prom

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
)

// A Server in audit mode (accessPolicy: audit, or the audit default
// policy) admits what no authorization admits with a fallback
// authorization the proxy labels authz_kind="default", authz_name="audit"
// (docs/metrics.md): those requests are the would-be denials of enforcing.
const auditSelector = `authz_kind="default",authz_name="audit",`

// Hit is requests of one client to one server port and route that only
// the audit fallback admitted, or that the policy denied, over a window.
type Hit struct {
	// Denied: counted by inbound_http_authz_deny_total; otherwise
	// admitted by the audit fallback.
	Denied bool
	Client recording.PeerID
	Server recording.PeerID
	Port   uint32
	// ServerPolicy and Route are the srv_* and route_* labels written as
	// recording.Decision writes them ("server.policy.linkerd.io/web").
	ServerPolicy string
	Route        string
	Requests     int64
	// First and Last are the first and last query step (Resolution) at
	// which the counter rose.
	First, Last time.Time
}

// HitStats count the work done.
type HitStats struct {
	Queries int
	// Resolution is the step of first and last seen.
	Resolution time.Duration
}

// hitLabels are the labels a hit is told apart by.
func hitLabels() string {
	l := []string{"namespace", "target_port", "client_id"}
	for _, o := range ownerLabels {
		l = append(l, o.label)
	}
	return strings.Join(append(l, "srv_kind", "srv_group", "srv_name", "route_kind", "route_group", "route_name"), ",")
}

// resolution is the step at which first and last seen are found: the
// window in at most 500 steps, at least 5 minutes (several scrapes, so
// increase() has samples to work with).
func resolution(window time.Duration) time.Duration {
	return max((window / 500).Round(time.Minute), 5*time.Minute)
}

// Hits queries the audit-only and denied requests of the servers in
// opts.Namespaces over the window: per namespace (a first query finds the
// namespaces with any such series), the count over the window and the
// first and last step at which it rose, for each of the two counters.
// Queries are bounded by the client's concurrency, as Record's.
func Hits(ctx context.Context, c *Client, opts Options) ([]Hit, HitStats, error) {
	if opts.End.IsZero() {
		opts.End = time.Now()
	}
	if opts.Window <= 0 {
		return nil, HitStats{}, errors.New("window must be positive")
	}
	h := &hitRun{r: run{c: c, opts: opts, rng: promDuration(opts.Window)}, step: resolution(opts.Window), byKey: map[string]*Hit{}}
	sel := h.r.nsMatcher()
	counts, err := h.r.query(ctx, fmt.Sprintf(`count by (namespace) (%s{%s%s} or %s{%s})`, metricAllow, auditSelector, sel, metricDeny, sel))
	if err != nil {
		return nil, h.stats(), err
	}
	err = perNamespace(ctx, counts, func(ctx context.Context, ns string, _ float64) error { return h.namespace(ctx, ns) })
	if err != nil {
		return nil, h.stats(), err
	}
	out := make([]Hit, 0, len(h.byKey))
	for _, x := range h.byKey {
		if x.Requests > 0 {
			out = append(out, *x)
		}
	}
	slices.SortFunc(out, func(a, b Hit) int {
		return strings.Compare(fmt.Sprint(a.Server, a.Port, a.Client, a.Route, a.Denied), fmt.Sprint(b.Server, b.Port, b.Client, b.Route, b.Denied))
	})
	return out, h.stats(), nil
}

type hitRun struct {
	r     run
	step  time.Duration
	mu    sync.Mutex
	byKey map[string]*Hit
}

func (h *hitRun) stats() HitStats {
	return HitStats{Queries: h.r.stats.Queries, Resolution: h.step}
}

// namespace runs the six queries of one namespace.
func (h *hitRun) namespace(ctx context.Context, ns string) error {
	by := hitLabels()
	step := promDuration(h.step)
	for _, m := range []struct {
		metric, extra string
		denied        bool
	}{{metricAllow, auditSelector, false}, {metricDeny, "", true}} {
		series := fmt.Sprintf(`%s{%snamespace="%s"}`, m.metric, m.extra, escape(ns))
		rose := fmt.Sprintf(`(increase(%s[%s]) > 0) * 0 + time()`, series, step)
		for _, q := range []struct {
			query string
			fold  func(*Hit, float64)
		}{
			{fmt.Sprintf(`sum by (%s) (increase(%s[%s]))`, by, series, h.r.rng), func(x *Hit, v float64) {
				if n, ok := count(v); ok {
					x.Requests += n
				}
			}},
			{fmt.Sprintf(`min by (%s) (min_over_time((%s)[%s:%s]))`, by, rose, h.r.rng, step), func(x *Hit, v float64) {
				if t, ok := stamp(v); ok && (x.First.IsZero() || t.Before(x.First)) {
					x.First = t
				}
			}},
			{fmt.Sprintf(`max by (%s) (max_over_time((%s)[%s:%s]))`, by, rose, h.r.rng, step), func(x *Hit, v float64) {
				if t, ok := stamp(v); ok && t.After(x.Last) {
					x.Last = t
				}
			}},
		} {
			samples, err := h.r.query(ctx, q.query)
			if err != nil {
				return err
			}
			h.fold(samples, m.denied, q.fold)
		}
	}
	return nil
}

// fold adds samples to the hits they name.
func (h *hitRun) fold(samples []Sample, denied bool, f func(*Hit, float64)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b builder
	b.work, b.peers = map[recording.PeerID]recording.Workload{}, map[recording.PeerID]recording.Peer{}
	for _, s := range samples {
		key, ok := b.key(s.Labels)
		if !ok {
			continue
		}
		x := Hit{Denied: denied, Client: key.Client, Server: key.Server, Port: key.Port,
			ServerPolicy: ref(s.Labels, "srv"), Route: ref(s.Labels, "route")}
		k := fmt.Sprint(x.Denied, x.Client, x.Server, x.Port, x.ServerPolicy, x.Route)
		if h.byKey[k] == nil {
			h.byKey[k] = &x
		}
		f(h.byKey[k], s.Value)
	}
}

// stamp takes a sample value as a Unix time in seconds.
func stamp(v float64) (time.Time, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
