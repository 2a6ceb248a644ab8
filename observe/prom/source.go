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

// Metric names (docs/linkerd.md, "Metrics and audit mode").
const (
	metricAllow = "inbound_http_authz_allow_total"
	metricDeny  = "inbound_http_authz_deny_total"
	metricOpen  = "tcp_open_total"
	// request_total gives the HTTP edges of proxies (or scrape configs)
	// without the authz counters; response_total tells gRPC apart: the
	// proxy labels a response with grpc_status only when it carried one.
	metricRequest  = "request_total"
	metricResponse = "response_total"
)

// metrics are queried for every namespace or workload, in this order.
var metrics = []string{metricAllow, metricDeny, metricOpen, metricRequest, metricResponse}

// maxCount bounds the values taken as counts: float64 holds every integer
// up to it exactly, and sums of them stay far from overflowing int64.
const maxCount = 1 << 53

// ownerLabels are the pod owner labels the viz scrape config copies from
// the proxy's linkerd.io/proxy-<kind> pod labels, in the order they are
// preferred, with the workload kind each names. A Job's is k8s_job: job is
// Prometheus' own label, the scrape job ("linkerd-proxy").
var ownerLabels = []struct{ label, kind string }{
	{"deployment", "Deployment"},
	{"statefulset", "StatefulSet"},
	{"daemonset", "DaemonSet"},
	{"cronjob", "CronJob"},
	{"k8s_job", "Job"},
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
}

// Stats count the work done.
type Stats struct {
	Queries int
	// Split lists the namespaces queried per workload.
	Split []string
}

// Record builds a recording of the inbound traffic of the servers in
// opts.Namespaces over the window ending at opts.End. Meshed clients are
// identity peers ("identity:<id>") and workloads carry only what metric
// labels tell: cluster.Inventory.Enrich names and fills them in.
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
	r := &run{c: c, opts: opts, rng: promDuration(opts.Window), b: newBuilder()}
	counts, err := r.query(ctx, r.countQuery())
	if err != nil {
		return nil, r.stats, err
	}
	err = perNamespace(ctx, counts, func(ctx context.Context, ns string, series float64) error {
		split := series > float64(opts.SeriesLimit)
		if split {
			r.mu.Lock()
			r.stats.Split = append(r.stats.Split, ns)
			r.mu.Unlock()
		}
		return r.namespace(ctx, ns, split)
	})
	if err != nil {
		return nil, r.stats, err
	}
	slices.Sort(r.stats.Split)
	rec := r.b.recording()
	start := opts.End.Add(-opts.Window).UTC()
	end := opts.End.UTC()
	rec.Windows = []recording.Window{{
		Source:   "prometheus:" + c.URL(),
		Start:    &start,
		End:      &end,
		Sampling: recording.Sampling{Sampled: false},
		Requests: r.b.total,
		Warnings: r.b.warnings,
	}}
	rec.Normalize()
	return rec, r.stats, nil
}

// perNamespace calls f for every namespace of a count by namespace, all at
// once (the client bounds the queries in flight); the first failure stops
// the others.
func perNamespace(ctx context.Context, counts []Sample, f func(ctx context.Context, ns string, series float64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(counts))
	for _, s := range counts {
		ns := s.Labels["namespace"]
		if ns == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx, ns, s.Value); err != nil {
				errs <- fmt.Errorf("namespace %s: %w", ns, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
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
	return seriesCount("namespace", r.nsMatcher())
}

// seriesCount counts the series of the queried metrics by the labels; the
// proxies' outbound series are never queried, so they are left out.
func seriesCount(by, sel string) string {
	return fmt.Sprintf(`count by (%s) ({__name__=~"%s",direction!="outbound",%s})`, by, strings.Join(metrics, "|"), sel)
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
	q := func(by, metric, matchers string) string {
		return fmt.Sprintf(`sum by (%s) (increase(%s{%s%s}[%s]))`, by, metric, matchers, sel, r.rng)
	}
	return map[string]string{
		metricAllow:    q(groupBy(decisionLabels...), metricAllow, ""),
		metricDeny:     q(groupBy(), metricDeny, ""),
		metricOpen:     q(groupBy(), metricOpen, `direction="inbound",`),
		metricRequest:  q(groupBy(decisionLabels...), metricRequest, `direction="inbound",`),
		metricResponse: q(groupBy(), metricResponse, `direction="inbound",grpc_status!="",`),
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
		ws, err := r.query(ctx, seriesCount(strings.Join(owners, ","), sels[0]))
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
		for _, m := range metrics {
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
	edges    map[recording.Key]*recording.Edge
	tcp      map[recording.Key]*recording.Edge
	grpc     map[recording.Key]bool
	work     map[recording.PeerID]recording.Workload
	peers    map[recording.PeerID]recording.Peer
	total    int64
	warnings map[string]int64
}

// target is an edge at one server address (target_addr: a pod's IP and
// port), the unit in which a proxy has the authz counters or not.
type target struct {
	key  recording.Key
	addr string
}

func newBuilder() *builder {
	return &builder{edges: map[recording.Key]*recording.Edge{},
		tcp: map[recording.Key]*recording.Edge{}, grpc: map[recording.Key]bool{},
		work: map[recording.PeerID]recording.Workload{}, peers: map[recording.PeerID]recording.Peer{},
		warnings: map[string]int64{}}
}

// add folds in the answers of one namespace or workload, by metric. A
// server workload's series all match the same selector, so the allow
// counter and request_total of a server address are in the same call:
// request_total, which counts the same requests, is taken only where the
// allow counter has nothing.
func (b *builder) add(res map[string][]Sample) {
	b.mu.Lock()
	defer b.mu.Unlock()
	allowed := map[target]bool{}
	for _, m := range metrics {
		for _, s := range res[m] {
			n, ok := count(s.Value)
			if !ok {
				b.warnings["bad-value"]++
				continue
			}
			if n == 0 {
				continue
			}
			key, ok := b.key(s.Labels)
			if !ok {
				b.warnings["no-owner-or-port"] += n
				continue
			}
			t := target{key, s.Labels["target_addr"]}
			switch m {
			case metricAllow:
				allowed[t] = true
				b.count(b.edge(b.edges, key), s.Labels, n)
			case metricDeny:
				b.edge(b.edges, key).Denied += n
			case metricOpen:
				e := b.edge(b.tcp, key)
				e.Requests += n
				addTLS(e, s.Labels, n)
			case metricRequest:
				if !allowed[t] {
					b.count(b.edge(b.edges, key), s.Labels, n)
				}
			case metricResponse:
				b.grpc[key] = true
			}
		}
	}
}

// count takes a sample's value as a count: a whole number of requests or
// connections (increase() extrapolates, so it is rounded).
func count(v float64) (int64, bool) {
	if math.IsNaN(v) || v < 0 || v > maxCount {
		return 0, false
	}
	return int64(math.Round(v)), true
}

func (b *builder) edge(edges map[recording.Key]*recording.Edge, key recording.Key) *recording.Edge {
	e := edges[key]
	if e == nil {
		e = &recording.Edge{Client: key.Client, Server: key.Server, Port: key.Port, Protocol: recording.ProtocolHTTP}
		edges[key] = e
	}
	return e
}

// count adds n allowed requests with their tls and policy decision.
func (b *builder) count(e *recording.Edge, l map[string]string, n int64) {
	e.Requests += n
	b.total += n
	addTLS(e, l, n)
	addDecision(e, l, n)
}

func addTLS(e *recording.Edge, l map[string]string, n int64) {
	tls := l["tls"]
	if tls != "true" {
		tls = cmpOr(l["no_tls_reason"], tls, "no_identity")
	}
	if e.TLS == nil {
		e.TLS = map[string]int64{}
	}
	e.TLS[tls] += n
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
	p := recording.IdentityPeer(id)
	b.peers[p] = recording.Peer{ID: p, Kind: recording.PeerIdentity}
	return p
}

// recording assembles the edges. A TCP edge is kept only where no HTTP
// edge has the same key, since the proxy counts the connections of HTTP
// traffic in tcp_open_total too. An HTTP edge with responses that carry a
// gRPC status is gRPC.
func (b *builder) recording() *recording.Recording {
	rec := recording.New()
	for k, e := range b.tcp {
		if _, ok := b.edges[k]; ok {
			continue
		}
		e.Protocol = recording.ProtocolTCP
		b.edges[k] = e
	}
	// Peers are registered for every sample, also those that make no
	// edge (responses without requests): only the edges' are kept.
	used := map[recording.PeerID]bool{}
	for k, e := range b.edges {
		if e.Protocol == recording.ProtocolHTTP && b.grpc[k] {
			e.Protocol = recording.ProtocolGRPC
		}
		rec.Edges = append(rec.Edges, *e)
		used[e.Client], used[e.Server] = true, true
	}
	for _, w := range b.work {
		if used[w.ID] {
			rec.Workloads = append(rec.Workloads, w)
		}
	}
	for _, p := range b.peers {
		if used[p.ID] {
			rec.Peers = append(rec.Peers, p)
		}
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
