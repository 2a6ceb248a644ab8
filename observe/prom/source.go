package prom

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
)

// Metric names (LINKERD-FACTS §4).
const (
	metricAllow = "inbound_http_authz_allow_total"
	metricDeny  = "inbound_http_authz_deny_total"
	metricOpen  = "tcp_open_total"
)

// ownerLabels are the pod owner labels the viz scrape config copies from
// the proxy's linkerd.io/proxy-<kind> pod labels, in the order they are
// preferred, with the workload kind each names.
var ownerLabels = []struct{ label, kind string }{
	{"deployment", "Deployment"},
	{"statefulset", "StatefulSet"},
	{"daemonset", "DaemonSet"},
	{"cronjob", "CronJob"},
	{"job", "Job"},
	{"replicationcontroller", "ReplicationController"},
}

// Unmeshed is the client of requests without a client identity: metrics
// carry no client address, so all unmeshed clients of a server port are
// one peer, with their no-tls reasons in Edge.TLS.
const Unmeshed recording.PeerID = "ip:unknown"

// Options say what to record.
type Options struct {
	// End of the window (default now) and its length.
	End    time.Time
	Window time.Duration
	// Namespaces of servers to record; empty means all.
	Namespaces []string
	// SeriesLimit is the number of series above which a namespace is
	// queried per workload (default 10000).
	SeriesLimit int
	// Resolve maps a client identity to its workload, when exactly one
	// workload runs with that identity. Nil, or false, records the client
	// as an identity peer.
	Resolve func(identity string) (recording.PeerID, bool)
	// Workload returns what the cluster declares about a server workload
	// (labels, ports, service account) when known; nil, or false, keeps
	// what the metric labels tell.
	Workload func(id recording.PeerID) (recording.Workload, bool)
}

// Stats count the work done.
type Stats struct {
	Queries int
	// Split lists the namespaces queried per workload.
	Split []string
}

// Record builds a recording of the inbound traffic of the servers in
// opts.Namespaces over the window ending at opts.End.
func Record(ctx context.Context, c *Client, opts Options) (*recording.Recording, Stats, error) {
	if opts.End.IsZero() {
		opts.End = time.Now()
	}
	if opts.Window <= 0 {
		return nil, Stats{}, errors.New("window must be positive")
	}
	if opts.SeriesLimit <= 0 {
		opts.SeriesLimit = 10000
	}
	r := &run{c: c, opts: opts, rng: promDuration(opts.Window), b: newBuilder(opts.Resolve)}
	counts, err := r.query(ctx, r.countQuery())
	if err != nil {
		return nil, r.stats, err
	}
	// The first failure stops the other namespaces' queries.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(counts))
	for _, s := range counts {
		ns := s.Labels["namespace"]
		if ns == "" {
			continue
		}
		if s.Value > float64(opts.SeriesLimit) {
			r.mu.Lock()
			r.stats.Split = append(r.stats.Split, ns)
			r.mu.Unlock()
		}
		wg.Add(1)
		go func(ns string, split bool) {
			defer wg.Done()
			if err := r.namespace(ctx, ns, split); err != nil {
				errs <- fmt.Errorf("namespace %s: %w", ns, err)
				cancel()
			}
		}(ns, s.Value > float64(opts.SeriesLimit))
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, r.stats, err
	}
	slices.Sort(r.stats.Split)
	rec := r.b.recording()
	if opts.Workload != nil {
		for i, w := range rec.Workloads {
			if cw, ok := opts.Workload(w.ID); ok {
				rec.Workloads[i] = cw
			}
		}
	}
	start := opts.End.Add(-opts.Window).UTC()
	end := opts.End.UTC()
	rec.Windows = []recording.Window{{
		Source:   "prometheus:" + c.URL(),
		Start:    &start,
		End:      &end,
		Sampling: recording.Sampling{Sampled: false},
		Requests: r.b.requests,
		Warnings: r.b.warnings,
	}}
	rec.Normalize()
	return rec, r.stats, nil
}

type run struct {
	c     *Client
	opts  Options
	rng   string
	mu    sync.Mutex
	stats Stats
	b     *builder
}

func (r *run) query(ctx context.Context, q string) ([]Sample, error) {
	r.mu.Lock()
	r.stats.Queries++
	r.mu.Unlock()
	return r.c.Query(ctx, q, r.opts.End)
}

// nsMatcher matches the namespaces asked for.
func (r *run) nsMatcher() string {
	if len(r.opts.Namespaces) == 0 {
		return `namespace!=""`
	}
	q := make([]string, len(r.opts.Namespaces))
	for i, ns := range r.opts.Namespaces {
		q[i] = escape(ns) // namespace names hold no regexp metacharacters
	}
	return `namespace=~"` + strings.Join(q, "|") + `"`
}

func (r *run) countQuery() string {
	return fmt.Sprintf(`count by (namespace) ({__name__=~"%s|%s|%s",%s})`,
		metricAllow, metricDeny, metricOpen, r.nsMatcher())
}

// groupBy are the labels every edge query keeps.
func groupBy(extra ...string) string {
	l := []string{"namespace", "target_addr", "target_port", "client_id", "tls", "no_tls_reason"}
	for _, o := range ownerLabels {
		l = append(l, o.label)
	}
	return strings.Join(append(l, extra...), ",")
}

var decisionLabels = []string{"srv_kind", "srv_group", "srv_name", "route_kind", "route_group", "route_name",
	"authz_kind", "authz_group", "authz_name"}

func (r *run) edgeQueries(sel string) map[string]string {
	return map[string]string{
		metricAllow: fmt.Sprintf(`sum by (%s) (increase(%s{%s}[%s]))`, groupBy(decisionLabels...), metricAllow, sel, r.rng),
		metricDeny:  fmt.Sprintf(`sum by (%s) (increase(%s{%s}[%s]))`, groupBy(), metricDeny, sel, r.rng),
		metricOpen:  fmt.Sprintf(`sum by (%s) (increase(%s{direction="inbound",%s}[%s]))`, groupBy(), metricOpen, sel, r.rng),
	}
}

// namespace records one namespace, in one query per metric or, when split,
// per workload.
func (r *run) namespace(ctx context.Context, ns string, split bool) error {
	sels := []string{`namespace="` + escape(ns) + `"`}
	if split {
		var owners []string
		for _, o := range ownerLabels {
			owners = append(owners, o.label)
		}
		ws, err := r.query(ctx, fmt.Sprintf(`count by (%s) ({__name__=~"%s|%s|%s",%s})`,
			strings.Join(owners, ","), metricAllow, metricDeny, metricOpen, sels[0]))
		if err != nil {
			return err
		}
		sels = sels[:0]
		for _, w := range ws {
			sel := `namespace="` + escape(ns) + `"`
			for _, o := range owners {
				sel += `,` + o + `="` + escape(w.Labels[o]) + `"`
			}
			sels = append(sels, sel)
		}
	}
	for _, sel := range sels {
		qs := r.edgeQueries(sel)
		res := map[string][]Sample{}
		for _, m := range []string{metricAllow, metricDeny, metricOpen} {
			s, err := r.query(ctx, qs[m])
			if err != nil {
				return err
			}
			res[m] = s
		}
		r.b.add(res)
	}
	return nil
}

// builder turns samples into edges; it is safe for concurrent use.
type builder struct {
	mu       sync.Mutex
	resolve  func(string) (recording.PeerID, bool)
	edges    map[recording.Key]*recording.Edge
	tcp      map[recording.Key]*recording.Edge
	work     map[recording.PeerID]recording.Workload
	peers    map[recording.PeerID]recording.Peer
	requests int64
	warnings map[string]int64
}

func newBuilder(resolve func(string) (recording.PeerID, bool)) *builder {
	return &builder{resolve: resolve, edges: map[recording.Key]*recording.Edge{},
		tcp: map[recording.Key]*recording.Edge{}, work: map[recording.PeerID]recording.Workload{},
		peers: map[recording.PeerID]recording.Peer{}, warnings: map[string]int64{}}
}

func (b *builder) add(res map[string][]Sample) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for m, samples := range res {
		for _, s := range samples {
			n := int64(math.Round(s.Value))
			if n <= 0 {
				continue
			}
			key, ok := b.key(s.Labels)
			if !ok {
				b.warnings["no-owner-or-port"] += n
				continue
			}
			edges := b.edges
			if m == metricOpen {
				edges = b.tcp
			}
			e := edges[key]
			if e == nil {
				e = &recording.Edge{Client: key.Client, Server: key.Server, Port: key.Port, Protocol: recording.ProtocolHTTP}
				edges[key] = e
			}
			tls := s.Labels["tls"]
			if tls != "true" {
				tls = cmpOr(s.Labels["no_tls_reason"], tls, "no_identity")
			}
			switch m {
			case metricDeny:
				e.Denied += n
			case metricAllow, metricOpen:
				e.Requests += n
				if e.TLS == nil {
					e.TLS = map[string]int64{}
				}
				e.TLS[tls] += n
				if m == metricAllow {
					b.requests += n
					addDecision(e, s.Labels, n)
				}
			}
		}
	}
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func addDecision(e *recording.Edge, l map[string]string, n int64) {
	d := recording.Decision{Server: ref(l, "srv"), Route: ref(l, "route"), Authz: ref(l, "authz")}
	if d.Server == "" {
		return
	}
	for i := range e.Decisions {
		if x := &e.Decisions[i]; x.Server == d.Server && x.Route == d.Route && x.Authz == d.Authz {
			x.Requests += n
			return
		}
	}
	d.Requests = n
	e.Decisions = append(e.Decisions, d)
}

// ref writes a policy object "kind[.group]/name" as Decision does.
func ref(l map[string]string, p string) string {
	kind, group, name := l[p+"_kind"], l[p+"_group"], l[p+"_name"]
	if name == "" {
		return ""
	}
	if group != "" {
		kind += "." + group
	}
	return kind + "/" + name
}

// key finds the edge of a sample and registers its peers.
func (b *builder) key(l map[string]string) (recording.Key, bool) {
	ns := l["namespace"]
	var kind, name string
	for _, o := range ownerLabels {
		if v := l[o.label]; v != "" {
			kind, name = o.kind, v
			break
		}
	}
	port, err := strconv.ParseUint(l["target_port"], 10, 32)
	if err != nil {
		_, p, _ := net.SplitHostPort(l["target_addr"])
		port, err = strconv.ParseUint(p, 10, 32)
	}
	if ns == "" || name == "" || err != nil {
		return recording.Key{}, false
	}
	server := recording.PeerID(ns + "/" + name)
	if _, ok := b.work[server]; !ok {
		b.work[server] = recording.Workload{ID: server, Namespace: ns, Kind: kind, Name: name, Meshed: true}
	}
	return recording.Key{Client: b.client(l["client_id"]), Server: server, Port: uint32(port)}, true
}

func (b *builder) client(id string) recording.PeerID {
	if id == "" {
		b.peers[Unmeshed] = recording.Peer{ID: Unmeshed, Kind: recording.PeerExternal}
		return Unmeshed
	}
	if b.resolve != nil {
		if w, ok := b.resolve(id); ok {
			return w
		}
	}
	p := recording.PeerID("identity:" + id)
	b.peers[p] = recording.Peer{ID: p, Kind: recording.PeerIdentity}
	return p
}

// recording assembles the edges: a TCP edge is kept only where no HTTP
// edge has the same key, since the proxy counts the connections of HTTP
// traffic in tcp_open_total too.
func (b *builder) recording() *recording.Recording {
	rec := recording.New()
	for k, e := range b.tcp {
		if _, ok := b.edges[k]; ok {
			continue
		}
		e.Protocol = recording.ProtocolTCP
		b.edges[k] = e
	}
	for _, e := range b.edges {
		rec.Edges = append(rec.Edges, *e)
	}
	for _, w := range b.work {
		rec.Workloads = append(rec.Workloads, w)
	}
	for _, p := range b.peers {
		rec.Peers = append(rec.Peers, p)
	}
	return rec
}

// promDuration writes d as a PromQL duration.
func promDuration(d time.Duration) string {
	if d%time.Second != 0 {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// escape quotes s for a PromQL string literal.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
