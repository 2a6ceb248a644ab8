package eval

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cinchmesh/cinch/observe/recording"
)

// Trace is how the evaluator reached a decision, step by step, with every
// Server, route and authorization it considered and why each did or did
// not apply. Explain returns it; Decision is what Decide returns for the
// same request.
type Trace struct {
	Request Request
	// Workload is the destination as the evaluator knows it; nil when it
	// is not among the cluster's workloads.
	Workload *recording.Workload
	// Servers are the Servers of the destination's namespace in
	// precedence order (oldest first, then by name), each with whether it
	// claims the port and why not.
	Servers []ServerStep
	// Default is set when no Server claims the port: the default policy
	// that applies and where it comes from.
	Default *DefaultStep
	// Protocol is the proxyProtocol of the Server that claims the port
	// ("unknown" for a default policy): gRPC uses GRPCRoutes, opaque and
	// TLS have no routes, anything else uses HTTPRoutes.
	Protocol string
	// ImplicitRoutes says the port has none of the routes its protocol
	// uses, so Linkerd gives it its default route (and a probe route for
	// the port's httpGet probes).
	ImplicitRoutes bool
	// RouteGiven says the request named its route (Request.Route) instead
	// of being matched by path.
	RouteGiven bool
	// Routes are the port's routes in precedence order.
	Routes []RouteStep
	// Authorizations are the ones that could admit the request: the
	// picked route's, then the server's, in the order the evaluator tries
	// them.
	Authorizations []AuthorizationStep
	// Elsewhere are authorizations of the port's other routes that would
	// admit the client, had the request matched their route: they do not
	// count, since the route is chosen before authorization.
	Elsewhere []AuthorizationStep
	// Ignored are the warnings about objects of the destination's
	// namespace: what Linkerd ignores or what has no effect.
	Ignored  []Warning
	Decision Decision
}

// ServerOutcome is what a Server has to do with a request's port.
type ServerOutcome string

const (
	// ServerClaims: the Server selects the pod and claims the port.
	ServerClaims ServerOutcome = "claims"
	// ServerNotSelected: its podSelector does not select the pod.
	ServerNotSelected ServerOutcome = "not selected"
	// ServerOtherPort: it selects the pod but claims another port.
	ServerOtherPort ServerOutcome = "other port"
	// ServerOlderClaims: it selects the pod and port, but an older Server
	// (or one first by name) claimed the port first.
	ServerOlderClaims ServerOutcome = "claimed by another"
)

// ServerStep is one Server considered for the request's port.
type ServerStep struct {
	Server        Ref
	Created       *time.Time
	AccessPolicy  string
	ProxyProtocol string
	Outcome       ServerOutcome
	// Why says why it claims the port, or why not.
	Why string
}

// DefaultStep is the default policy of a port no Server claims.
type DefaultStep struct {
	Policy string
	// From says where the policy comes from: the workload's or its
	// namespace's annotation, or the cluster default.
	From string
}

// RouteStep is one route of the port.
type RouteStep struct {
	Route   Ref
	Created *time.Time
	Rules   int
	Matched bool
	// Picked is the route the proxy picks.
	Picked bool
	// Why says why the route did not match, why it lost to the picked
	// route, or why the picked route won.
	Why string
}

// AuthorizationStep is one authorization considered.
type AuthorizationStep struct {
	Authorization Ref
	// Route is the route a route-level authorization belongs to.
	Route Ref
	// Requires says what it admits, in words.
	Requires string
	Admits   bool
	// Named is the authorization the decision names (the first that
	// admits, in the evaluator's order).
	Named bool
	// Why says why it does or does not admit the client.
	Why string
}

// traceServers explains which Server claims the port: every Server of
// the namespace, in the order the evaluator resolved the workload's ports.
func (e *Evaluator) traceServers(tr *Trace, w *workload, pp *portPolicy) {
	srv := pp.srv
	tr.Workload = &w.src
	tr.Protocol = srv.protocol
	tr.ImplicitRoutes = len(pp.routes) > 0 && pp.routes[0].ref.Kind == kindDefault
	if srv.isDefault {
		tr.Protocol = "unknown"
		tr.Default = &DefaultStep{Policy: srv.policy, From: w.defaultFrom}
	}
	for _, wr := range e.warnings {
		if wr.Object.Namespace == w.src.Namespace {
			tr.Ignored = append(tr.Ignored, wr)
		}
	}
	nss := e.servers[w.src.Namespace]
	if nss == nil {
		return
	}
	set := labels.Set(w.src.Labels)
	claimed := map[uint32]*server{}
	for _, s := range nss.list {
		st := ServerStep{Server: s.ref, Created: s.created, AccessPolicy: s.policy, ProxyProtocol: s.protocol}
		if !s.selector.Matches(set) {
			st.Outcome, st.Why = ServerNotSelected, selectorMiss(s.selector, set)
			tr.Servers = append(tr.Servers, st)
			continue
		}
		ports := s.ports(&w.src)
		var prior *server
		for _, p := range ports {
			if c, ok := claimed[p]; ok && p == tr.Request.Port {
				prior = c
			}
			if _, ok := claimed[p]; !ok {
				claimed[p] = s
			}
		}
		switch {
		case !slices.Contains(ports, tr.Request.Port):
			st.Outcome, st.Why = ServerOtherPort, portMiss(s, &w.src, ports)
		case prior != nil:
			st.Outcome = ServerOlderClaims
			st.Why = fmt.Sprintf("it selects the pod and port %d, but server %s %s claims the port first: the oldest Server wins",
				tr.Request.Port, prior.ref.Name, olderWhy(prior.created, s.created))
		default:
			st.Outcome, st.Why = ServerClaims, "it selects the pod ("+describeSelector(s.selector)+") and "+portHit(s, tr.Request.Port)
		}
		tr.Servers = append(tr.Servers, st)
	}
}

// olderWhy says why a Server created at a comes before one created at b.
func olderWhy(a, b *time.Time) string {
	switch {
	case a != nil && b == nil:
		return "(created " + a.UTC().Format(time.RFC3339) + "; the other is not applied yet)"
	case a != nil && b != nil && a.Before(*b):
		return "(created " + a.UTC().Format(time.RFC3339) + ", earlier)"
	}
	return "(same age, first by name)"
}

func describeSelector(sel labels.Selector) string {
	if sel.Empty() {
		return "an empty podSelector selects every pod of the namespace"
	}
	return "podSelector " + sel.String()
}

// selectorMiss says which requirement of sel the pod's labels fail.
func selectorMiss(sel labels.Selector, set labels.Set) string {
	reqs, _ := sel.Requirements()
	for _, r := range reqs {
		if r.Matches(set) {
			continue
		}
		if v, ok := set[r.Key()]; ok {
			return fmt.Sprintf("its podSelector requires %s, the pod has %s=%s", r.String(), r.Key(), v)
		}
		return fmt.Sprintf("its podSelector requires %s, the pod has no label %s", r.String(), r.Key())
	}
	return "its podSelector " + sel.String() + " does not select the pod"
}

func portHit(s *server, port uint32) string {
	if s.port.Type == intstr.Int {
		return fmt.Sprintf("claims port %d by number", port)
	}
	return fmt.Sprintf("claims port %d through the container port named %q", port, s.port.StrVal)
}

func portMiss(s *server, w *recording.Workload, ports []uint32) string {
	if s.port.Type == intstr.Int {
		return fmt.Sprintf("it selects the pod but claims port %d", s.port.IntVal)
	}
	if len(ports) == 0 {
		return fmt.Sprintf("it selects the pod but names port %q, and the pod has no TCP container port of that name", s.port.StrVal)
	}
	return fmt.Sprintf("it selects the pod but names port %q, which is port %s of %s", s.port.StrVal, joinPorts(ports), w.ID)
}

func joinPorts(ports []uint32) string {
	out := make([]string, len(ports))
	for i, p := range ports {
		out[i] = fmt.Sprint(p)
	}
	return strings.Join(out, ", ")
}

// givenRoute takes the port's route that ref names (compared as the
// policy controller compares kinds: case-insensitively).
func givenRoute(routes []*route, ref Ref, tr *Trace) *route {
	var found *route
	for _, rt := range routes {
		hit := found == nil && strings.EqualFold(rt.ref.Kind, ref.Kind) && strings.EqualFold(rt.ref.Group, ref.Group) &&
			rt.ref.Name == ref.Name
		if hit {
			found = rt
		}
		if tr != nil {
			st := RouteStep{Route: rt.ref, Created: rt.created, Rules: len(rt.rules), Matched: hit, Picked: hit,
				Why: "not the route the request matched (" + ref.String() + ")"}
			if hit {
				st.Why = "the route the request is known to have matched"
			}
			tr.Routes = append(tr.Routes, st)
		}
	}
	if tr != nil {
		tr.RouteGiven = true
	}
	return found
}

// explainRouteChoice marks the picked route and says why every other
// matching route lost to it.
func (tr *Trace) explainRouteChoice(best int, sums []summary) {
	b := &tr.Routes[best]
	b.Picked = true
	b.Why = "the most specific match" + sums[best].describe(tr.Protocol == "gRPC")
	for i := range tr.Routes {
		r := &tr.Routes[i]
		if i == best || !r.Matched {
			continue
		}
		r.Why = "matches, but " + b.Route.Name + " wins: " + sums[best].beats(&sums[i], tr.Protocol == "gRPC", b, r) +
			"; only the picked route's authorizations count"
	}
}

// describe writes what a winning summary matched on.
func (s *summary) describe(grpc bool) string {
	var parts []string
	if s.hostKind > 0 {
		parts = append(parts, "hostname")
	}
	if grpc {
		if s.a > 0 {
			parts = append(parts, "service")
		}
		if s.b > 0 {
			parts = append(parts, "method")
		}
		if s.c > 0 {
			parts = append(parts, fmt.Sprintf("%d headers", s.c))
		}
	} else {
		parts = append(parts, fmt.Sprintf("path match of %d characters", s.a))
		if s.b > 0 {
			parts = append(parts, fmt.Sprintf("%d headers", s.b))
		}
		if s.c > 0 {
			parts = append(parts, fmt.Sprintf("%d query parameters", s.c))
		}
		if s.d > 0 {
			parts = append(parts, "method")
		}
	}
	if len(parts) == 0 {
		return " (it matches every request)"
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// beats says why summary s (of route w) wins over o (of route l), by the
// first criterion that differs; equal summaries go to the older route.
func (s *summary) beats(o *summary, grpc bool, w, l *RouteStep) string {
	switch {
	case s.hostKind != o.hostKind && o.hostKind == 0:
		return "its hostnames match the request's authority"
	case s.hostKind != o.hostKind:
		return "its hostname matches exactly, not by wildcard"
	case s.hostLen != o.hostLen:
		return fmt.Sprintf("its hostname match is longer (%d characters against %d)", s.hostLen, o.hostLen)
	case s.a != o.a && grpc:
		return fmt.Sprintf("its service match is longer (%d characters against %d)", s.a, o.a)
	case s.a != o.a:
		return fmt.Sprintf("the longest path match wins (%d characters against %d)", s.a, o.a)
	case s.b != o.b && grpc:
		return fmt.Sprintf("its method match is longer (%d characters against %d)", s.b, o.b)
	case s.b != o.b:
		return fmt.Sprintf("more header matches (%d against %d)", s.b, o.b)
	case s.c != o.c && grpc:
		return fmt.Sprintf("more header matches (%d against %d)", s.c, o.c)
	case s.c != o.c:
		return fmt.Sprintf("more query parameter matches (%d against %d)", s.c, o.c)
	case s.d != o.d:
		return "it also matches the method"
	}
	return "the matches are equally specific and ties go to the oldest route " + olderWhy(w.Created, l.Created)
}

// hostMiss says why no hostname of rt matches.
func (rt *route) hostMiss(host string) string {
	names := make([]string, len(rt.hosts))
	for i, h := range rt.hosts {
		names[i] = h.String()
	}
	if host == "" {
		return "its hostnames (" + strings.Join(names, ", ") + ") need the request's authority, which is not known"
	}
	return "the authority " + host + " is none of its hostnames (" + strings.Join(names, ", ") + ")"
}

func (h hostMatch) String() string {
	if h.suffix == nil {
		return h.exact
	}
	labels := slices.Clone(h.suffix)
	slices.Reverse(labels)
	return "*." + strings.Join(labels, ".")
}

// describeMisses says why no match of a route matched: each match and
// the condition it failed.
func describeMisses(misses []matchMiss, req *httpRequest) string {
	if len(misses) == 0 {
		return "it has no rule that matches"
	}
	parts := make([]string, 0, len(misses))
	for _, m := range misses {
		parts = append(parts, m.describe(req))
	}
	parts = slices.Compact(parts)
	return "no match: " + strings.Join(parts, "; ")
}

func (mm matchMiss) describe(req *httpRequest) string {
	m := mm.m
	switch mm.kind {
	case missMethod:
		return fmt.Sprintf("method %s is not %s", req.method, m.method)
	case missPath:
		return fmt.Sprintf("path %s does not match %s", req.path, m.path.String())
	case missHeader:
		names := make([]string, len(m.headers))
		for i, h := range m.headers {
			names[i] = h.name
		}
		return "headers " + strings.Join(names, ", ") + " do not all match"
	case missQuery:
		names := make([]string, len(m.query))
		for i, q := range m.query {
			names[i] = q.name
		}
		return "query parameters " + strings.Join(names, ", ") + " do not all match"
	case missNotGRPC:
		return fmt.Sprintf("%s %s is not a gRPC call (POST /service/method)", req.method, req.path)
	case missService:
		service, _, _ := grpcPath(req)
		return fmt.Sprintf("service %s is not %s", service, m.service)
	case missRPC:
		_, method, _ := grpcPath(req)
		return fmt.Sprintf("method %s is not %s/%s", method, m.service, m.rpc)
	}
	return "matched"
}

func (p *pathMatch) String() string {
	switch p.kind {
	case pathExact:
		return "Exact " + p.value
	case pathPrefix:
		return "PathPrefix " + p.value
	case pathRegex:
		return "RegularExpression " + p.value
	}
	return "PathPrefix /"
}

// traceAuthorizations explains every authorization that could admit the
// request (the picked route's, then the server's) and the other routes'
// authorizations that would have admitted the client.
func traceAuthorizations(tr *Trace, pp *portPolicy, picked *route, c *client) {
	step := func(a *authorization, rt *route) AuthorizationStep {
		st := AuthorizationStep{Authorization: a.ref, Requires: a.requires()}
		if rt != nil {
			st.Route = rt.ref
		}
		r := a.check(c)
		st.Admits, st.Why = r == admitted, a.explain(r, c)
		return st
	}
	if picked != nil {
		for _, a := range picked.authz {
			tr.Authorizations = append(tr.Authorizations, step(a, picked))
		}
	}
	for _, a := range pp.srv.authz {
		tr.Authorizations = append(tr.Authorizations, step(a, nil))
	}
	for i := range tr.Authorizations {
		if tr.Authorizations[i].Admits {
			tr.Authorizations[i].Named = true
			break
		}
	}
	for _, rt := range pp.routes {
		if rt == picked {
			continue
		}
		for _, a := range rt.authz {
			if a.check(c) == admitted {
				tr.Elsewhere = append(tr.Elsewhere, step(a, rt))
			}
		}
	}
}

// requires says what an authorization admits, in words.
func (a *authorization) requires() string {
	var who string
	switch a.authn {
	case authnNone:
		who = "any client, meshed or not"
	case authnTLS:
		who = "any TLS client"
	default:
		if len(a.ids.wildcards) == 1 && a.ids.wildcards[0] == "*" && len(a.ids.exact) == 0 {
			who = "any mTLS identity"
		} else {
			who = "mTLS identities " + strings.Join(a.ids.patterns(), ", ")
		}
	}
	if a.anyAddr {
		return who + ", from any address"
	}
	return who + ", from " + a.networkList()
}

func (a *authorization) networkList() string {
	nets := make([]string, len(a.networks))
	for i, n := range a.networks {
		nets[i] = n.net.String()
		if len(n.except) > 0 {
			ex := make([]string, len(n.except))
			for j, e := range n.except {
				ex[j] = e.String()
			}
			nets[i] += " except " + strings.Join(ex, ", ")
		}
	}
	return strings.Join(nets, ", ")
}

// explain says why a (does not) admit c.
func (a *authorization) explain(r refusal, c *client) string {
	switch r {
	case refusedNetwork:
		return "the source address " + c.ip.String() + " is not in " + a.networkList()
	case refusedUnknownIP:
		return "the source address is not known, and " + a.networkList() + " does not cover every cluster network"
	case refusedNoTLS:
		return "the connection is not TLS"
	case refusedNoIdentity:
		return "the client has no mTLS identity (not meshed, or its connection was not mTLS)"
	case refusedIdentity:
		return "the identity " + c.identity + " is not among " + strings.Join(a.ids.patterns(), ", ")
	case refusedSPIFFE:
		return "the SPIFFE identity " + c.identity + " matches exact identities only"
	}
	var parts []string
	switch {
	case a.authn == authnIdentity && a.ids.exact[c.identity]:
		parts = append(parts, "identity "+c.identity+" is listed")
	case a.authn == authnIdentity:
		parts = append(parts, "identity "+c.identity+" matches "+strings.Join(a.ids.patterns(), ", "))
	case a.authn == authnTLS:
		parts = append(parts, "the connection is TLS")
	}
	switch {
	case a.anyAddr:
	case c.ip.IsValid():
		parts = append(parts, "the source address "+c.ip.String()+" is in "+a.networkList())
	default:
		parts = append(parts, "its networks cover every cluster network, where the unknown source address is taken to be")
	}
	if a.audit {
		parts = append(parts, "audit mode admits what nothing else does, and the proxy counts it as authz default/audit")
	}
	if len(parts) == 0 {
		return "it admits every client"
	}
	return strings.Join(parts, "; ")
}
