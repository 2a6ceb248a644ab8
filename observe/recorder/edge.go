package recorder

import (
	"bytes"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/pathseg"
	"github.com/cinchmesh/cinch/observe/recording"
)

// edgeAcc accumulates one edge. Its maps are keyed by interned or small
// values so the per-event path allocates nothing once an edge has seen its
// routes.
type edgeAcc struct {
	requests       int64
	grpcRequests   int64
	tls            map[string]int64
	sources        map[netip.Addr]int64
	sourceOverflow int64
	status         map[uint32]int64
	grpcStatus     map[uint32]int64
	resets         int64
	latency        []int64 // indexed like recording.Bounds, allocated on first use
	latencySum     int64
	first, last    time.Time
	decisions      map[event.Policy]int64
	// routes are keyed by template text (observe/pathseg): a path with
	// typed ids is counted under its template, so the number of routes
	// follows the routes a server has, not the ids its clients use.
	routes        map[string]*routeAcc
	routeOverflow int64
	// segments are the literal segments of the routes kept, after the
	// template text before them ("/orders\x00ORD-1"), and fanout how many
	// there are after each such prefix: once an edge holds as many routes
	// as it may, a literal segment not seen after a prefix that already
	// has several (foldFanout) is folded (pathseg.AppendFolded).
	segments map[string]struct{}
	fanout   map[string]int
}

// routeAcc counts one route by method.
type routeAcc struct {
	methods map[string]int64
	probe   map[string]bool // methods the proxy labelled with its probe route
	grpc    bool
	// raw is the path of a route without parameters; a template keeps a
	// few raw paths as examples instead.
	raw      string
	template bool
	examples []string
	// segs are a template's segments, params the evidence of its
	// parameters: each request's values are counted as it streams by.
	segs   []pathseg.Segment
	params []pathseg.Evidence
}

func newEdgeAcc() *edgeAcc {
	return &edgeAcc{
		tls:        map[string]int64{},
		status:     map[uint32]int64{},
		grpcStatus: map[uint32]int64{},
		decisions:  map[event.Policy]int64{},
		routes:     map[string]*routeAcc{},
		segments:   map[string]struct{}{},
		fanout:     map[string]int{},
	}
}

func (a *edgeAcc) add(ev *event.Event, limits recording.Limits, sc *scratch) {
	a.requests++
	// The connection's tls state: the server's proxy labels its client,
	// the client's proxy labels its server.
	tls := ev.Source.TLS
	if ev.Direction == event.Outbound {
		tls = ev.Destination.TLS
	}
	a.tls[tls]++
	if tls != "true" {
		if _, ok := a.sources[ev.Source.IP]; ok || len(a.sources) < limits.MaxSourceIPsPerEdge {
			if a.sources == nil {
				a.sources = map[netip.Addr]int64{}
			}
			a.sources[ev.Source.IP]++
		} else {
			a.sourceOverflow++
		}
	}
	if !ev.Policy.IsZero() {
		a.decisions[ev.Policy]++
	}
	widen(&a.first, &a.last, ev.Time)

	probe := ev.Policy.RouteKind == "default" && ev.Policy.RouteName == "probe"
	ra := a.route(ev, probe, limits, sc)
	if ra == nil {
		a.routeOverflow++
		if isGRPC(ev) {
			a.grpcRequests++
		}
		return
	}
	ra.methods[ev.Method]++
	if strings.HasPrefix(ev.ContentType, "application/grpc") || (ev.Method == "POST" && ra.grpc) {
		a.grpcRequests++
	}
	if probe {
		if ra.probe == nil {
			ra.probe = map[string]bool{}
		}
		ra.probe[ev.Method] = true
	}
}

// scratch is the recorder's reusable buffers for route keys.
type scratch struct{ key, folded, lookup []byte }

// route returns the route ev counts under, adding it when new, or nil when
// the edge holds as many routes as it may and ev's is not one of them.
// gRPC methods and probes are kept as raw paths; other paths are folded
// into their templates (typed on sight), and, once the edge is full, their
// unseen literal segments too.
func (a *edgeAcc) route(ev *event.Event, probe bool, limits recording.Limits, sc *scratch) *routeAcc {
	raw := probe || isGRPC(ev)
	if raw {
		sc.key = pathseg.AppendLiteralPath(sc.key[:0], ev.Path)
	} else {
		sc.key = pathseg.AppendPath(sc.key[:0], ev.Path, pathseg.DefaultHexMinLength)
	}
	ra, ok := a.routes[string(sc.key)]
	if !ok && len(a.routes) >= limits.MaxPathsPerEdge {
		if !raw && a.fold(sc, limits) {
			ra, ok = a.routes[string(sc.key)]
		}
		if !ok && len(a.routes) >= 2*limits.MaxPathsPerEdge {
			return nil
		}
	}
	if !ok {
		key := string(sc.key)
		ra = &routeAcc{methods: map[string]int64{}, grpc: grpcPath(ev.Path)}
		if pathseg.IsLiteral(key) {
			ra.raw = string(ev.Path) // the one path this key stands for
		} else {
			ra.template = true
			ra.segs = pathseg.ParsePath(key)
			ra.params = make([]pathseg.Evidence, pathseg.Params(ra.segs))
		}
		a.routes[key] = ra
		a.remember(key)
	}
	if ra.template {
		pathseg.AddPathValues(ra.segs, ev.Path, ra.params)
		if len(ra.examples) < recording.MaxExamples && !slices.Contains(ra.examples, string(ev.Path)) {
			ra.examples = append(ra.examples, string(ev.Path))
		}
	}
	return ra
}

// remember notes the literal segments of a new route after their
// prefixes.
func (a *edgeAcc) remember(key string) {
	for start := 1; start <= len(key); {
		end := strings.IndexByte(key[start:], '/')
		if end < 0 {
			end = len(key)
		} else {
			end += start
		}
		if seg := key[start:end]; pathseg.IsLiteral(seg) {
			k := key[:start] + "\x00" + seg
			if _, ok := a.segments[k]; !ok {
				a.segments[k] = struct{}{}
				a.fanout[key[:start]]++
			}
		}
		start = end + 1
	}
}

// foldFanout is how many literal segments one prefix must have shown
// before unseen ones after it are folded: 10, route inference's default
// for a parameter (or the edge's limit, when it is lower). The first
// segment is never folded: new top-level resources stay routes of their
// own.
func foldFanout(limits recording.Limits) int { return min(limits.MaxPathsPerEdge, 10) }

// fold rewrites the template in sc.key with every literal segment folded
// that the edge has not seen after a prefix with many; it says whether
// anything was.
func (a *edgeAcc) fold(sc *scratch, limits recording.Limits) bool {
	in := sc.key
	out := sc.folded[:0]
	folded := false
	for start := 1; start <= len(in); {
		end := bytes.IndexByte(in[start:], '/')
		if end < 0 {
			end = len(in)
		} else {
			end += start
		}
		seg := in[start:end]
		out = append(out, '/')
		sc.lookup = append(append(append(sc.lookup[:0], out...), 0), seg...)
		_, known := a.segments[string(sc.lookup)]
		if known || !pathseg.IsLiteral(seg) || start == 1 || a.fanout[string(out)] < foldFanout(limits) {
			out = append(out, seg...)
		} else {
			n := len(out)
			out = pathseg.AppendFolded(out, pathseg.Unescape(string(seg)))
			folded = folded || string(out[n:]) != string(seg)
		}
		start = end + 1
	}
	sc.key, sc.folded = out, in
	return folded
}

func (a *edgeAcc) observeLatency(d time.Duration) {
	if a.latency == nil {
		a.latency = make([]int64, len(recording.Bounds))
	}
	us := d.Microseconds()
	a.latency[recording.BucketIndex(us)]++
	a.latencySum += us
}

// isGRPC tells whether a request is gRPC: its content type when tap
// extracted headers, else its shape (POST to /package.Service/Method).
func isGRPC(ev *event.Event) bool {
	return strings.HasPrefix(ev.ContentType, "application/grpc") || (ev.Method == "POST" && grpcPath(ev.Path))
}

// grpcPath reports whether p looks like a gRPC method path:
// "/pkg.Service/Method" with a dotted service whose last part and the
// method are capitalised identifiers, as protoc-generated code names them.
// Tap carries neither the HTTP version nor (without header extraction) the
// content type, so the shape is the evidence every format shares.
func grpcPath(p []byte) bool {
	if len(p) < 4 || p[0] != '/' {
		return false
	}
	svc, method, ok := bytes.Cut(p[1:], []byte{'/'})
	if !ok || len(method) == 0 || bytes.IndexByte(method, '/') >= 0 {
		return false
	}
	dot := bytes.LastIndexByte(svc, '.')
	if dot <= 0 || dot == len(svc)-1 {
		return false
	}
	return identifier(svc[dot+1:]) && identifier(method) && upper(svc[dot+1]) && upper(method[0])
}

func upper(c byte) bool { return c >= 'A' && c <= 'Z' }

func identifier(b []byte) bool {
	for _, c := range b {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return len(b) > 0
}

func (a *edgeAcc) clone() *edgeAcc {
	c := newEdgeAcc()
	c.merge(a)
	return c
}

// merge adds o's counts to a (used for outbound-only reports that join an
// edge at the end).
func (a *edgeAcc) merge(o *edgeAcc) {
	a.requests += o.requests
	a.grpcRequests += o.grpcRequests
	addAll(a.tls, o.tls)
	if len(o.sources) > 0 && a.sources == nil {
		a.sources = map[netip.Addr]int64{}
	}
	addAll(a.sources, o.sources)
	a.sourceOverflow += o.sourceOverflow
	addAll(a.status, o.status)
	addAll(a.grpcStatus, o.grpcStatus)
	a.resets += o.resets
	if o.latency != nil {
		if a.latency == nil {
			a.latency = make([]int64, len(recording.Bounds))
		}
		for i, n := range o.latency {
			a.latency[i] += n
		}
	}
	a.latencySum += o.latencySum
	widen(&a.first, &a.last, o.first)
	widen(&a.first, &a.last, o.last)
	addAll(a.decisions, o.decisions)
	for k, ora := range o.routes {
		ra, ok := a.routes[k]
		if !ok {
			ra = &routeAcc{methods: map[string]int64{}, grpc: ora.grpc, raw: ora.raw, template: ora.template, segs: ora.segs,
				params: pathseg.CloneParams(ora.params)}
			a.routes[k] = ra
		} else {
			pathseg.MergeParams(ra.params, ora.params)
		}
		addAll(ra.methods, ora.methods)
		if len(ora.probe) > 0 {
			if ra.probe == nil {
				ra.probe = map[string]bool{}
			}
			maps.Copy(ra.probe, ora.probe)
		}
		for _, x := range ora.examples {
			if len(ra.examples) < recording.MaxExamples && !slices.Contains(ra.examples, x) {
				ra.examples = append(ra.examples, x)
			}
		}
	}
	a.routeOverflow += o.routeOverflow
}

func addAll[K comparable](dst, src map[K]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

// edge writes the accumulator as a recording edge.
func (a *edgeAcc) edge(k recording.Key, limits recording.Limits) recording.Edge {
	e := recording.Edge{
		Client:            k.Client,
		Server:            k.Server,
		Port:              k.Port,
		Protocol:          recording.ProtocolHTTP,
		Requests:          a.requests,
		TLS:               maps.Clone(a.tls),
		Status:            stringKeys(a.status),
		Resets:            a.resets,
		SourceIPsOverflow: a.sourceOverflow,
		RoutesOverflow:    a.routeOverflow,
	}
	if a.requests > 0 && a.grpcRequests == a.requests {
		e.Protocol = recording.ProtocolGRPC
		e.GRPCStatus = stringKeys(a.grpcStatus)
	}
	if a.latency != nil {
		e.Latency = recording.FromDense(a.latency, a.latencySum)
	}
	if !a.first.IsZero() {
		first, last := a.first.UTC(), a.last.UTC()
		e.FirstSeen, e.LastSeen = &first, &last
	}
	for ip, n := range a.sources {
		e.SourceIPs = append(e.SourceIPs, recording.SourceIP{IP: ip.String(), Requests: n})
	}
	for p, n := range a.decisions {
		e.Decisions = append(e.Decisions, recording.Decision{
			Server:   ref(p.ServerGroup, p.ServerKind, p.ServerName),
			Route:    ref(p.RouteGroup, p.RouteKind, p.RouteName),
			Authz:    ref(p.AuthzGroup, p.AuthzKind, p.AuthzName),
			Requests: n,
		})
	}
	for k, ra := range a.routes {
		path := ra.raw
		var examples []string
		if ra.template {
			path, examples = k, slices.Sorted(slices.Values(ra.examples))
		}
		for m, n := range ra.methods {
			e.Routes = append(e.Routes, recording.Route{Method: m, Path: path, Requests: n, Probe: ra.probe[m], Template: ra.template,
				Examples: slices.Clone(examples), Params: pathseg.CloneParams(ra.params)})
		}
	}
	return e
}

// ref writes a policy label triple as "kind[.group]/name".
func ref(group, kind, name string) string {
	if kind == "" && name == "" {
		return ""
	}
	if group != "" {
		kind += "." + group
	}
	return kind + "/" + name
}

func stringKeys(m map[uint32]int64) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[recording.StatusKey(k)] = v
	}
	return out
}
