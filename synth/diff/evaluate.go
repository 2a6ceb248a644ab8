package diff

import (
	"cmp"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

// principal is one way a client reached a server as the server's proxy
// saw it: its mTLS identity, or an address without mTLS. weight is its
// share of the edge's requests; skip, when set, says why its requests
// are not evaluated.
type principal struct {
	key      string
	identity string
	ip       netip.Addr
	weight   int64
	skip     string
}

// findingKey aggregates findings.
type findingKey struct {
	client, principal string
	server            recording.PeerID
	port              uint32
	srvPolicy, route  eval.Ref
	reason            eval.Reason
}

// decisionKey is a decision's labels, as refs: cheaper to count by than
// their strings.
type decisionKey struct{ server, route, authz eval.Ref }

// run is one evaluation of a recording.
type run struct {
	ev        *eval.Evaluator
	opts      *Options
	workloads map[recording.PeerID]*recording.Workload
	peers     map[recording.PeerID]*recording.Peer
	// clients are the recording's own workloads: the identities clients
	// had are what was observed, whatever the cluster says now.
	clients map[recording.PeerID]*recording.Workload
	sum     Summary
	denied  map[findingKey]*Finding
	audit   map[findingKey]*Finding
	skipped map[string]int64
	usage   map[usageKey]*usage
	// hit are the Servers that had observed traffic.
	hit    map[nsName]bool
	live   *LiveCheck
	warned map[string]bool
	warns  []string

	// Per edge, reused.
	principals []principal
	shares     []int64
	ours       map[decisionKey]int64
}

func newRun(rec *recording.Recording, ev *eval.Evaluator, workloads []recording.Workload, opts *Options) *run {
	r := &run{
		ev:        ev,
		opts:      opts,
		workloads: make(map[recording.PeerID]*recording.Workload, len(workloads)),
		peers:     make(map[recording.PeerID]*recording.Peer, len(rec.Peers)),
		clients:   make(map[recording.PeerID]*recording.Workload, len(rec.Workloads)),
		denied:    map[findingKey]*Finding{},
		audit:     map[findingKey]*Finding{},
		skipped:   map[string]int64{},
		usage:     map[usageKey]*usage{},
		hit:       map[nsName]bool{},
		warned:    map[string]bool{},
		ours:      map[decisionKey]int64{},
	}
	for i := range workloads {
		r.workloads[workloads[i].ID] = &workloads[i]
	}
	for i := range rec.Workloads {
		r.clients[rec.Workloads[i].ID] = &rec.Workloads[i]
	}
	for i := range rec.Peers {
		r.peers[rec.Peers[i].ID] = &rec.Peers[i]
	}
	if opts.LiveCheck {
		r.live = &LiveCheck{}
	}
	return r
}

func (r *run) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !r.warned[msg] {
		r.warned[msg] = true
		r.warns = append(r.warns, msg)
	}
}

// edge evaluates the observed requests of one edge: every recorded route
// for every principal, with the route's requests split between the
// principals in proportion to their requests.
func (r *run) edge(e *recording.Edge) {
	w := r.workloads[e.Server]
	switch {
	case w == nil:
		r.skip(NotAWorkload, e.Requests)
		return
	case len(r.opts.Namespaces) > 0 && !slices.Contains(r.opts.Namespaces, w.Namespace):
		return
	case !w.Meshed:
		r.skip(NotMeshed, e.Requests)
		return
	}
	r.skip(DeniedLive, e.Denied)
	if e.Requests <= 0 {
		return
	}
	if len(w.Labels) == 0 {
		r.warn("%s: the recording has no labels for it, so no Server selects it: record with cluster objects, or give them with --cluster-file", w.ID)
	}
	r.setPrincipals(e)
	clear(r.ours)
	evaluated := false
	var routed int64
	for i := range e.Routes {
		rt := &e.Routes[i]
		routed += rt.Requests
		evaluated = r.route(e, rt, rt.Requests, false) || evaluated
	}
	if rest := e.Requests - routed; rest > 0 {
		evaluated = r.route(e, &recording.Route{}, rest, true) || evaluated
	}
	if evaluated {
		r.sum.Edges++
	}
	if r.live != nil && len(e.Decisions) > 0 {
		r.live.compare(e, r.ours)
	}
}

func (r *run) skip(reason string, n int64) {
	if n > 0 {
		r.skipped[reason] += n
	}
}

// setPrincipals lists how the edge's client reached the server: with its
// mesh identity for the requests over mTLS, from each recorded address
// for those without.
func (r *run) setPrincipals(e *recording.Edge) {
	r.principals = r.principals[:0]
	mtls := min(e.TLS["true"], e.Requests)
	if mtls > 0 {
		p := principal{weight: mtls}
		id := r.identityOf(e.Client)
		switch {
		case id == "":
			p.skip = UnknownIdentity
			r.warn("%s called %s over mTLS but its identity is unknown: record with cluster objects", e.Client, e.Server)
		case strings.Contains(id, "*") || policy.CheckIdentity(id) != nil:
			// No proxy reports such an identity: the recording was edited.
			p.skip = UnknownIdentity
			r.warn("%s called %s with the identity %q, which is a wildcard or not a mesh identity: not evaluated", e.Client, e.Server, id)
		default:
			p.identity, p.key = id, "id:"+id
		}
		r.principals = append(r.principals, p)
	}
	plain := e.Requests - mtls
	if plain <= 0 {
		return
	}
	for _, s := range e.SourceIPs {
		ip, err := netip.ParseAddr(s.IP)
		if err != nil || s.Requests <= 0 {
			continue
		}
		ip = ip.Unmap()
		r.principals = append(r.principals, principal{key: "ip:" + ip.String(), ip: ip, weight: s.Requests})
		plain -= s.Requests
	}
	if n := min(e.SourceIPsOverflow, plain); n > 0 {
		r.principals = append(r.principals, principal{weight: n, skip: NotRecordedAddresses})
		plain -= n
	}
	if plain > 0 {
		// No address recorded (older recordings, metrics): the peer's own
		// when it has exactly one, else unknown, which eval takes to be
		// some pod of the cluster.
		p := principal{key: "peer:" + string(e.Client), weight: plain}
		if peer := r.peers[e.Client]; peer != nil && len(peer.IPs) == 1 {
			if ip, err := netip.ParseAddr(peer.IPs[0]); err == nil {
				p.ip = ip.Unmap()
				p.key = "ip:" + p.ip.String()
			}
		}
		r.principals = append(r.principals, p)
	}
}

// identityOf is the mesh identity a client had: the recording's, else the
// one its service account makes.
func (r *run) identityOf(id recording.PeerID) string {
	w := r.clients[id]
	if w == nil {
		return ""
	}
	if w.Identity != "" {
		return w.Identity
	}
	if w.ServiceAccount != "" {
		return recording.ServiceAccountIdentity(w.ServiceAccount, w.Namespace, r.opts.Eval.ControlPlaneNamespace, r.opts.Eval.TrustDomain).String()
	}
	return ""
}

// route evaluates one route (or, with noPath, the requests whose paths
// were not recorded) for every principal; it reports whether any request
// was evaluated.
func (r *run) route(e *recording.Edge, rt *recording.Route, n int64, noPath bool) bool {
	r.split(n)
	evaluated := false
	for i := range r.principals {
		p := &r.principals[i]
		share := r.shares[i]
		if p.skip != "" {
			r.skip(p.skip, share)
			continue
		}
		d := r.ev.Decide(eval.Request{
			Destination: e.Server, Port: e.Port,
			ClientIdentity: p.identity, TLS: p.identity != "", SourceIP: p.ip,
			Method: rt.Method, Path: rt.RequestPath(),
		})
		if noPath && (d.Route != (eval.Ref{}) || d.Reason == eval.ReasonNoRouteMatched) {
			// The decision depends on the route, and the path is unknown.
			r.skip(NotRecordedPaths, share)
			continue
		}
		evaluated = true
		r.record(e, p, rt, share, d)
	}
	return evaluated
}

// split divides n requests between the principals in proportion to their
// weights, largest remainders first, so the shares add up to n.
func (r *run) split(n int64) {
	r.shares = r.shares[:0]
	if len(r.principals) == 1 {
		r.shares = append(r.shares, n)
		return
	}
	var total int64
	for _, p := range r.principals {
		total += p.weight
	}
	rems := make([]uint64, len(r.principals))
	var given int64
	for i, p := range r.principals {
		hi, lo := bits.Mul64(uint64(n), uint64(p.weight))
		var q, rem uint64
		if hi < uint64(total) {
			q, rem = bits.Div64(hi, lo, uint64(total))
		}
		r.shares = append(r.shares, int64(q))
		rems[i] = rem
		given += int64(q)
	}
	order := make([]int, len(r.principals))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rems[b], rems[a]) })
	for _, i := range order {
		if given >= n {
			break
		}
		r.shares[i]++
		given++
	}
}

// record counts one evaluated tuple.
func (r *run) record(e *recording.Edge, p *principal, rt *recording.Route, n int64, d eval.Decision) {
	r.sum.Observed.add(n)
	if d.Server.Kind != kindDefault {
		r.hit[nsName{r.workloads[e.Server].Namespace, d.Server.Name}] = true
	}
	if r.live != nil {
		r.ours[decisionKey{d.Server, d.Route, d.Authorization}] += n
	}
	switch d.Reason {
	case eval.ReasonAuthorized:
		r.sum.Admitted.add(n)
	case eval.ReasonAudit:
		r.sum.Audit.add(n)
		r.find(r.audit, e, p, rt, n, d)
	default:
		r.sum.Denied.add(n)
		r.find(r.denied, e, p, rt, n, d)
	}
	if d.Allowed {
		r.use(e, p, n, d)
	}
}

func (r *run) find(into map[findingKey]*Finding, e *recording.Edge, p *principal, rt *recording.Route, n int64, d eval.Decision) {
	k := findingKey{client: string(e.Client), principal: p.key, server: e.Server, port: e.Port,
		srvPolicy: d.Server, route: d.Route, reason: d.Reason}
	f := into[k]
	if f == nil {
		f = &Finding{Client: e.Client, Identity: p.identity, Server: e.Server, Port: e.Port,
			ServerPolicy: d.Server.String(), Route: d.Route.String(), Reason: d.Reason, sampleRequests: -1}
		if p.ip.IsValid() {
			f.SourceIP = p.ip.String()
		}
		into[k] = f
	}
	f.Tuples++
	f.Requests += n
	sample := "(connection)"
	if rt.Method != "" || rt.Path != "" {
		sample = rt.Method + " " + rt.Path
	}
	if n > f.sampleRequests || (n == f.sampleRequests && sample < f.Sample) {
		f.Sample, f.sampleRequests = sample, n
	}
}

// report assembles the findings and counts.
func (r *run) report() *Report {
	rep := &Report{Summary: r.sum, Denied: values(r.denied), Audit: values(r.audit), Live: r.live,
		Warnings: append([]string{}, r.warns...)}
	sortFindings(rep.Denied)
	sortFindings(rep.Audit)
	rep.Summary.NotEvaluated = []NotEvaluated{}
	for reason, n := range r.skipped {
		rep.Summary.NotEvaluated = append(rep.Summary.NotEvaluated, NotEvaluated{Reason: reason, Requests: n})
	}
	slices.SortFunc(rep.Summary.NotEvaluated, func(a, b NotEvaluated) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Reason, b.Reason))
	})
	if r.live != nil {
		r.live.finish()
	}
	return rep
}

func values(m map[findingKey]*Finding) []Finding {
	out := make([]Finding, 0, len(m))
	for _, f := range m {
		out = append(out, *f)
	}
	return out
}
