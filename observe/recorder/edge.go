package recorder

import (
	"bytes"
	"maps"
	"net/netip"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/event"
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
	paths          map[string]*pathAcc
	pathOverflow   int64
}

// pathAcc counts one raw path by method.
type pathAcc struct {
	methods map[string]int64
	probe   map[string]bool // methods the proxy labelled with its probe route
	grpc    bool
}

func newEdgeAcc() *edgeAcc {
	return &edgeAcc{
		tls:        map[string]int64{},
		status:     map[uint32]int64{},
		grpcStatus: map[uint32]int64{},
		decisions:  map[event.Policy]int64{},
		paths:      map[string]*pathAcc{},
	}
}

func (a *edgeAcc) add(ev *event.Event, limits recording.Limits) {
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

	pa, ok := a.paths[string(ev.Path)]
	if !ok {
		if len(a.paths) >= limits.MaxPathsPerEdge {
			a.pathOverflow++
			if isGRPC(ev) {
				a.grpcRequests++
			}
			return
		}
		pa = &pathAcc{methods: map[string]int64{}, grpc: grpcPath(ev.Path)}
		a.paths[string(ev.Path)] = pa
	}
	pa.methods[ev.Method]++
	if strings.HasPrefix(ev.ContentType, "application/grpc") || (ev.Method == "POST" && pa.grpc) {
		a.grpcRequests++
	}
	if ev.Policy.RouteKind == "default" && ev.Policy.RouteName == "probe" {
		if pa.probe == nil {
			pa.probe = map[string]bool{}
		}
		pa.probe[ev.Method] = true
	}
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
// edge at the end). The path limit is re-applied by recording.Merge's rules
// when the edge is written.
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
	for p, opa := range o.paths {
		pa, ok := a.paths[p]
		if !ok {
			pa = &pathAcc{methods: map[string]int64{}, grpc: opa.grpc}
			a.paths[p] = pa
		}
		addAll(pa.methods, opa.methods)
		if len(opa.probe) > 0 {
			if pa.probe == nil {
				pa.probe = map[string]bool{}
			}
			maps.Copy(pa.probe, opa.probe)
		}
	}
	a.pathOverflow += o.pathOverflow
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
		RoutesOverflow:    a.pathOverflow,
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
	for p, pa := range a.paths {
		for m, n := range pa.methods {
			e.Routes = append(e.Routes, recording.Route{Method: m, Path: p, Requests: n, Probe: pa.probe[m]})
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
