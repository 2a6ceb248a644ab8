package recording

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/pathseg"
)

// Normalize puts every slice in its canonical order so that equal
// recordings encode to equal bytes.
func (r *Recording) Normalize() {
	slices.SortFunc(r.Windows, compareWindows)
	slices.SortFunc(r.Workloads, func(a, b Workload) int { return cmp.Compare(a.ID, b.ID) })
	for i := range r.Workloads {
		w := &r.Workloads[i]
		slices.SortFunc(w.Ports, func(a, b ContainerPort) int {
			return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Protocol, b.Protocol))
		})
		w.Ports = slices.Compact(w.Ports)
		slices.SortFunc(w.Probes, func(a, b Probe) int {
			return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Handler, b.Handler), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Scheme, b.Scheme))
		})
		w.Probes = slices.Compact(w.Probes)
		slices.Sort(w.Services)
		w.Services = slices.Compact(w.Services)
	}
	slices.SortFunc(r.Peers, func(a, b Peer) int { return cmp.Compare(a.ID, b.ID) })
	for i := range r.Peers {
		slices.Sort(r.Peers[i].IPs)
		r.Peers[i].IPs = slices.Compact(r.Peers[i].IPs)
	}
	slices.SortFunc(r.Edges, func(a, b Edge) int { return compareKeys(a.Key(), b.Key()) })
	for i := range r.Edges {
		e := &r.Edges[i]
		slices.SortFunc(e.Routes, compareRoutes)
		for j := range e.Routes {
			slices.Sort(e.Routes[j].Examples)
			for k := range e.Routes[j].Params {
				e.Routes[j].Params[k].Normalize()
			}
		}
		slices.SortFunc(e.Decisions, compareDecisions)
		slices.SortFunc(e.SourceIPs, compareSources)
	}
}

func compareWindows(a, b Window) int {
	return cmp.Or(
		compareTimes(a.Start, b.Start), compareTimes(a.End, b.End),
		cmp.Compare(a.Source, b.Source), cmp.Compare(a.Format, b.Format),
		cmp.Compare(a.Events, b.Events), cmp.Compare(a.Requests, b.Requests),
		cmp.Compare(a.Error, b.Error), cmp.Compare(a.Interrupted, b.Interrupted))
}

func compareTimes(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return a.Compare(*b)
}

func earliest(a, b *time.Time) *time.Time {
	if a == nil || (b != nil && b.Before(*a)) {
		return b
	}
	return a
}

func latest(a, b *time.Time) *time.Time {
	if a == nil || (b != nil && b.After(*a)) {
		return b
	}
	return a
}

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Server, b.Server), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Client, b.Client))
}

func compareSources(a, b SourceIP) int { return cmp.Compare(a.IP, b.IP) }

func compareRoutes(a, b Route) int {
	return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method), cmp.Compare(strconv.FormatBool(a.Template), strconv.FormatBool(b.Template)))
}

func compareDecisions(a, b Decision) int {
	return cmp.Or(cmp.Compare(a.Server, b.Server), cmp.Compare(a.Route, b.Route), cmp.Compare(a.Authz, b.Authz))
}

// Limits bound what one edge keeps; beyond them requests are counted, not
// listed.
type Limits struct {
	MaxPathsPerEdge     int
	MaxSourceIPsPerEdge int
}

// DefaultLimits are the recorder's and merge's defaults.
var DefaultLimits = Limits{MaxPathsPerEdge: 1000, MaxSourceIPsPerEdge: 64}

// Merge combines recordings of several windows into one. Counts add up, so
// merging is associative and commutative on counts; when a limit cuts routes
// or source addresses, the ones with the most requests are kept (ties by
// name) and the rest are counted as overflow.
func Merge(limits Limits, recs ...*Recording) *Recording {
	out := New()
	workloads := map[PeerID]*Workload{}
	peers := map[PeerID]*Peer{}
	edges := map[Key]*Edge{}
	for _, r := range recs {
		out.Windows = append(out.Windows, r.Windows...)
		for _, w := range r.Workloads {
			if have, ok := workloads[w.ID]; ok {
				mergeWorkload(have, w)
				continue
			}
			w := cloneWorkload(w)
			workloads[w.ID] = &w
		}
		for _, p := range r.Peers {
			if have, ok := peers[p.ID]; ok {
				have.IPs = append(have.IPs, p.IPs...)
				continue
			}
			p.IPs = slices.Clone(p.IPs)
			peers[p.ID] = &p
		}
		for _, e := range r.Edges {
			if have, ok := edges[e.Key()]; ok {
				mergeEdge(have, e)
				continue
			}
			e := cloneEdge(e)
			edges[e.Key()] = &e
		}
	}
	for _, w := range workloads {
		out.Workloads = append(out.Workloads, *w)
	}
	for _, p := range peers {
		out.Peers = append(out.Peers, *p)
	}
	for _, e := range edges {
		e.limit(limits)
		out.Edges = append(out.Edges, *e)
	}
	out.Normalize()
	return out
}

// mergeWorkload fills what a lacks from b and unions the lists, so a
// recording made with cluster objects enriches one made without. When both
// know a scalar or the labels and disagree (the cluster changed between
// windows), the greater value is kept: the same one in any merge order.
func mergeWorkload(a *Workload, b Workload) {
	a.ServiceAccount = either(a.ServiceAccount, b.ServiceAccount)
	a.Identity = either(a.Identity, b.Identity)
	a.Meshed = a.Meshed || b.Meshed
	a.DefaultInboundPolicy = either(a.DefaultInboundPolicy, b.DefaultInboundPolicy)
	if b.Labels != nil && (a.Labels == nil || labelString(b.Labels) > labelString(a.Labels)) {
		a.Labels = maps.Clone(b.Labels)
	}
	a.Ports = append(a.Ports, b.Ports...)
	a.Probes = append(a.Probes, b.Probes...)
	a.Services = append(a.Services, b.Services...)
}

// either is the non-empty one of a and b, the greater when both are.
func either(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return max(a, b)
}

// labelString is a canonical form of labels, for comparing them.
func labelString(l map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		b.WriteString(k + "\x00" + l[k] + "\x00")
	}
	return b.String()
}

func cloneWorkload(w Workload) Workload {
	w.Labels = maps.Clone(w.Labels)
	w.Ports = slices.Clone(w.Ports)
	w.Probes = slices.Clone(w.Probes)
	w.Services = slices.Clone(w.Services)
	return w
}

func cloneEdge(e Edge) Edge {
	e.TLS = addCounts(nil, e.TLS)
	e.Status = addCounts(nil, e.Status)
	e.GRPCStatus = addCounts(nil, e.GRPCStatus)
	e.SourceIPs = slices.Clone(e.SourceIPs)
	e.Decisions = slices.Clone(e.Decisions)
	e.Routes = slices.Clone(e.Routes)
	for i := range e.Routes {
		e.Routes[i] = cloneRoute(e.Routes[i])
	}
	e.Latency.Buckets = slices.Clone(e.Latency.Buckets)
	return e
}

func addCounts(dst, src map[string]int64) map[string]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string]int64, len(src))
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

func mergeEdge(a *Edge, b Edge) {
	// What tap or HTTP metrics saw on a port is more precise than a
	// connection count for it; gRPC and plain HTTP together are HTTP.
	switch {
	case a.Protocol == b.Protocol, b.Protocol == ProtocolTCP:
	case a.Protocol == ProtocolTCP:
		a.Protocol = b.Protocol
	default:
		a.Protocol = ProtocolHTTP
	}
	a.Requests += b.Requests
	a.Denied += b.Denied
	a.OutboundOnly = a.OutboundOnly && b.OutboundOnly
	a.TLS = addCounts(a.TLS, b.TLS)
	sources := map[string]int64{}
	for _, s := range append(a.SourceIPs, b.SourceIPs...) {
		sources[s.IP] += s.Requests
	}
	a.SourceIPs = a.SourceIPs[:0]
	for ip, n := range sources {
		a.SourceIPs = append(a.SourceIPs, SourceIP{IP: ip, Requests: n})
	}
	a.SourceIPsOverflow += b.SourceIPsOverflow
	a.Status = addCounts(a.Status, b.Status)
	a.GRPCStatus = addCounts(a.GRPCStatus, b.GRPCStatus)
	a.Resets += b.Resets
	a.Latency.Add(b.Latency)
	a.FirstSeen = earliest(a.FirstSeen, b.FirstSeen)
	a.LastSeen = latest(a.LastSeen, b.LastSeen)
	a.RoutesOverflow += b.RoutesOverflow

	decisions := map[Decision]int64{}
	for _, d := range append(a.Decisions, b.Decisions...) {
		n := d.Requests
		d.Requests = 0
		decisions[d] += n
	}
	a.Decisions = a.Decisions[:0]
	for d, n := range decisions {
		d.Requests = n
		a.Decisions = append(a.Decisions, d)
	}

	routes := map[routeKey]Route{}
	for _, r := range append(a.Routes, b.Routes...) {
		addRoute(routes, r)
	}
	a.Routes = a.Routes[:0]
	for _, r := range routes {
		a.Routes = append(a.Routes, r)
	}
}

// routeKey identifies a route of an edge.
type routeKey struct {
	method, path string
	template     bool
}

// addRoute adds r to the route of routes with its method and path.
func addRoute(routes map[routeKey]Route, r Route) {
	k := routeKey{r.Method, r.Path, r.Template}
	have, ok := routes[k]
	if !ok {
		routes[k] = cloneRoute(r)
		return
	}
	have.Requests += r.Requests
	have.Probe = have.Probe || r.Probe
	have.Examples = unionExamples(have.Examples, r.Examples)
	have.Params = pathseg.MergeParams(have.Params, r.Params)
	routes[k] = have
}

func cloneRoute(r Route) Route {
	r.Examples = slices.Clone(r.Examples)
	r.Params = pathseg.CloneParams(r.Params)
	return r
}

// foldRaw folds the raw paths of e with typed ids into their templates
// (gRPC methods and probes stay as they are), as the recorder does.
func (e *Edge) foldRaw() {
	if e.Protocol == ProtocolGRPC {
		return
	}
	routes := map[routeKey]Route{}
	var buf []byte
	for _, r := range e.Routes {
		if !r.Template && !r.Probe {
			buf = pathseg.AppendPath(buf[:0], r.Path, pathseg.DefaultHexMinLength)
			if t := string(buf); t != pathseg.EscapeBraces(r.Path) {
				segs := pathseg.ParsePath(t)
				params := make([]pathseg.Evidence, pathseg.Params(segs))
				pathseg.AddPathValues(segs, r.Path, params)
				r = Route{Method: r.Method, Path: t, Requests: r.Requests, Template: true, Examples: []string{r.Path}, Params: params}
			}
		}
		addRoute(routes, r)
	}
	e.Routes = e.Routes[:0]
	for _, r := range routes {
		e.Routes = append(e.Routes, r)
	}
	slices.SortFunc(e.Routes, compareRoutes)
}

// unionExamples is the MaxExamples first of a's and b's examples, sorted:
// the same whatever the order of merging.
func unionExamples(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	out = slices.Compact(out)
	return out[:min(len(out), MaxExamples)]
}

// limit applies limits after a merge: the source addresses and distinct
// paths with the most requests are kept, the rest counted as overflow.
func (e *Edge) limit(l Limits) {
	if l.MaxSourceIPsPerEdge > 0 && len(e.SourceIPs) > l.MaxSourceIPsPerEdge {
		slices.SortFunc(e.SourceIPs, func(a, b SourceIP) int {
			return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.IP, b.IP))
		})
		for _, s := range e.SourceIPs[l.MaxSourceIPsPerEdge:] {
			e.SourceIPsOverflow += s.Requests
		}
		e.SourceIPs = e.SourceIPs[:l.MaxSourceIPsPerEdge]
	}
	if l.MaxPathsPerEdge <= 0 {
		return
	}
	perPath := map[string]int64{}
	for _, r := range e.Routes {
		perPath[r.Path] += r.Requests
	}
	if len(perPath) > l.MaxPathsPerEdge {
		// Raw paths of older recordings fold into the templates the
		// recorder writes today before anything is cut.
		e.foldRaw()
		clear(perPath)
		for _, r := range e.Routes {
			perPath[r.Path] += r.Requests
		}
	}
	if len(perPath) <= l.MaxPathsPerEdge {
		return
	}
	paths := make([]string, 0, len(perPath))
	for p := range perPath {
		paths = append(paths, p)
	}
	slices.SortFunc(paths, func(a, b string) int {
		return cmp.Or(cmp.Compare(perPath[b], perPath[a]), cmp.Compare(a, b))
	})
	keep := map[string]bool{}
	for _, p := range paths[:l.MaxPathsPerEdge] {
		keep[p] = true
	}
	kept := e.Routes[:0]
	for _, r := range e.Routes {
		if keep[r.Path] {
			kept = append(kept, r)
		} else {
			e.RoutesOverflow += r.Requests
		}
	}
	e.Routes = kept
}

// StatusKey is how HTTP and gRPC status codes are written as map keys.
func StatusKey(code uint32) string { return strconv.FormatUint(uint64(code), 10) }
