package eval

import (
	"cmp"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// route is a compiled HTTPRoute, GRPCRoute or default route.
type route struct {
	ref Ref
	// created orders routes (oldest first); nil for objects not yet
	// applied, which come after every created one.
	created *time.Time
	hosts   []hostMatch
	rules   []rule
	grpc    bool
	// authz are the route-level authorizations; the server's follow them.
	authz []*authorization
	// servers are the names of the Servers that accepted the route.
	servers []string
}

// rule matches when any of its matches does, or always when it has none.
type rule struct {
	matches []*requestMatch
}

// requestMatch is one match of a rule: HTTP (path, method, headers, query
// parameters) or gRPC (service, method, headers). Empty fields match
// anything.
type requestMatch struct {
	path    pathMatch
	method  string
	headers []valueMatch
	query   []valueMatch
	service string
	rpc     string
}

type pathKind uint8

const (
	pathAny pathKind = iota
	pathExact
	pathPrefix
	pathRegex
)

// pathMatch is a path condition. A PathPrefix "/" is pathAny; other
// prefixes are kept without their trailing slashes.
type pathMatch struct {
	kind  pathKind
	value string
	re    *regexp.Regexp
}

// valueMatch matches a header (name canonical) or a query parameter.
type valueMatch struct {
	name  string
	value string
	re    *regexp.Regexp
}

// hostMatch is a route hostname: exact, or a "*." suffix kept as labels in
// reverse order.
type hostMatch struct {
	exact  string
	suffix []string
}

// httpRequest is a Request prepared for matching.
type httpRequest struct {
	method, path, rawQuery, host string
	headers                      http.Header
	query                        url.Values
}

func newHTTPRequest(r *Request) httpRequest {
	path, rawQuery, _ := strings.Cut(r.Path, "?")
	if path == "" {
		path = "/"
	}
	host := r.Authority
	// Most requests carry no authority (recordings keep none): skip the
	// split, whose error would allocate on every request.
	if host != "" {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return httpRequest{method: r.Method, path: path, rawQuery: rawQuery, host: host, headers: r.Headers}
}

func (r *httpRequest) queryValues() url.Values {
	if r.query == nil {
		r.query, _ = url.ParseQuery(r.rawQuery) // what parses is used, as the proxy does
	}
	return r.query
}

// summary ranks a match; a greater one wins. For HTTP a..d are the path
// match length, header and query parameter counts and whether the method
// matched; for gRPC the service and method name lengths and the header
// count. A route with hostnames that match beats one without.
type summary struct {
	hostKind, hostLen int // 0 no hostnames, 1 suffix, 2 exact
	a, b, c, d        int
}

func (s *summary) compare(o *summary) int {
	switch {
	case s.hostKind != o.hostKind:
		return cmp.Compare(s.hostKind, o.hostKind)
	case s.hostLen != o.hostLen:
		return cmp.Compare(s.hostLen, o.hostLen)
	case s.a != o.a:
		return cmp.Compare(s.a, o.a)
	case s.b != o.b:
		return cmp.Compare(s.b, o.b)
	case s.c != o.c:
		return cmp.Compare(s.c, o.c)
	}
	return cmp.Compare(s.d, o.d)
}

// findRoute returns the route the proxy picks: the best match over all
// routes, ties going to the earlier route (routes are in precedence order)
// and, within a route, to the earlier rule.
// When tr is not nil, every route is traced: whether it matched, and why
// it did not or why it lost to the route picked.
func findRoute(routes []*route, req *httpRequest, tr *Trace) *route {
	var (
		best    *route
		bestSum summary
		bestAt  int
		sums    []summary
	)
	for i, rt := range routes {
		var rs *RouteStep
		if tr != nil {
			tr.Routes = append(tr.Routes, RouteStep{Route: rt.ref, Created: rt.created, Rules: len(rt.rules)})
			rs = &tr.Routes[len(tr.Routes)-1]
		}
		s, ok := rt.match(req, rs)
		if tr != nil {
			rs.Matched = ok
			sums = append(sums, s)
		}
		if ok && (best == nil || s.compare(&bestSum) > 0) {
			best, bestSum, bestAt = rt, s, i
		}
	}
	if tr != nil && best != nil {
		tr.explainRouteChoice(bestAt, sums)
	}
	return best
}

// match returns the route's best summary for req. When rs is not nil (a
// trace), it records why the route did not match.
func (rt *route) match(req *httpRequest, rs *RouteStep) (summary, bool) {
	var base summary
	if len(rt.hosts) > 0 {
		found := false
		for _, h := range rt.hosts {
			kind, n, ok := h.match(req.host)
			if ok && (!found || kind > base.hostKind || (kind == base.hostKind && n > base.hostLen)) {
				base.hostKind, base.hostLen, found = kind, n, true
			}
		}
		if !found {
			if rs != nil {
				rs.Why = rt.hostMiss(req.host)
			}
			return summary{}, false
		}
	}
	var (
		best   summary
		found  bool
		misses *[]matchMiss
	)
	if rs != nil {
		misses = &[]matchMiss{}
	}
	for _, ru := range rt.rules {
		s, ok := ru.match(req, rt.grpc, base, misses)
		if ok && (!found || s.compare(&best) > 0) {
			best, found = s, true
		}
	}
	if rs != nil && !found {
		rs.Why = describeMisses(*misses, req)
	}
	return best, found
}

// match returns the best summary of the rule's matches. When misses is
// not nil (a trace), the reason each match failed is appended to it.
func (ru *rule) match(req *httpRequest, grpc bool, base summary, misses *[]matchMiss) (summary, bool) {
	if len(ru.matches) == 0 {
		if !grpc {
			base.a = 1 // the implicit match is PathPrefix "/"
		}
		return base, true
	}
	var (
		best  summary
		found bool
	)
	for _, m := range ru.matches {
		s := base
		var miss missKind
		if grpc {
			miss = m.matchGRPC(req, &s)
		} else {
			miss = m.matchHTTP(req, &s)
		}
		if miss == matched && (!found || s.compare(&best) > 0) {
			best, found = s, true
		}
		if miss != matched && misses != nil {
			*misses = append(*misses, matchMiss{m, miss})
		}
	}
	return best, found
}

// missKind is the first condition of a match that a request fails.
type missKind uint8

const (
	matched missKind = iota
	missMethod
	missPath
	missHeader
	missQuery
	missNotGRPC // not a POST of /service/method
	missService
	missRPC
)

// matchMiss is a match a request failed, and on what.
type matchMiss struct {
	m    *requestMatch
	kind missKind
}

func (m *requestMatch) matchHTTP(req *httpRequest, s *summary) missKind {
	if m.method != "" {
		if req.method != m.method {
			return missMethod
		}
		s.d = 1
	}
	n, ok := m.path.match(req.path)
	if !ok {
		return missPath
	}
	s.a = n
	if !matchHeaders(m.headers, req.headers) {
		return missHeader
	}
	s.b = len(m.headers)
	if len(m.query) > 0 {
		if req.rawQuery == "" {
			return missQuery
		}
		q := req.queryValues()
		for _, qm := range m.query {
			if !qm.matchAny(q[qm.name]) {
				return missQuery
			}
		}
	}
	s.c = len(m.query)
	return matched
}

// matchGRPC matches "/service/method" of a POST, as the proxy does: the
// path's first two segments, exactly.
func (m *requestMatch) matchGRPC(req *httpRequest, s *summary) missKind {
	service, method, ok := grpcPath(req)
	if !ok {
		return missNotGRPC
	}
	if m.service != "" {
		if m.service != service {
			return missService
		}
		s.a = len(m.service)
	}
	if m.rpc != "" {
		if m.rpc != method {
			return missRPC
		}
		s.b = len(m.rpc)
	}
	if !matchHeaders(m.headers, req.headers) {
		return missHeader
	}
	s.c = len(m.headers)
	return matched
}

// grpcPath splits the service and method of a gRPC request: a POST of
// "/service/method".
func grpcPath(req *httpRequest) (service, method string, ok bool) {
	if req.method != http.MethodPost {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(req.path, "/")
	if !ok {
		return "", "", false
	}
	service, rest, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", false
	}
	method, _, _ = strings.Cut(rest, "/")
	return service, method, true
}

// match returns the match length of path: a PathPrefix matches whole
// segments (trailing slashes ignored), a RegularExpression must match the
// whole path, and both it and Exact count the path's length.
func (p *pathMatch) match(path string) (int, bool) {
	switch p.kind {
	case pathExact:
		return len(p.value), path == p.value
	case pathPrefix:
		rest, ok := strings.CutPrefix(strings.TrimRight(path, "/"), p.value)
		if ok && (rest == "" || rest[0] == '/') {
			return len(p.value), true
		}
		return 0, false
	case pathRegex:
		loc := p.re.FindStringIndex(path)
		return len(path), loc != nil && loc[0] == 0 && loc[1] == len(path)
	}
	return 1, true // no path, or PathPrefix "/"
}

func matchHeaders(ms []valueMatch, h http.Header) bool {
	for i := range ms {
		if !ms[i].matchAny(h[ms[i].name]) {
			return false
		}
	}
	return true
}

// matchAny reports whether any of values matches: exactly, or with the
// regular expression matching the whole value.
func (m *valueMatch) matchAny(values []string) bool {
	for _, v := range values {
		if m.re == nil {
			if v == m.value {
				return true
			}
			continue
		}
		if loc := m.re.FindStringIndex(v); loc != nil && loc[0] == 0 && loc[1] == len(v) {
			return true
		}
	}
	return false
}

func newHostMatch(h string) hostMatch {
	rest, ok := strings.CutPrefix(h, "*.")
	if !ok {
		return hostMatch{exact: h}
	}
	labels := strings.Split(rest, ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return hostMatch{suffix: labels}
}

// match returns the kind (1 suffix, 2 exact) and length of a host match,
// comparing case-insensitively and ignoring a trailing dot.
func (h hostMatch) match(host string) (kind, n int, ok bool) {
	if h.suffix == nil {
		if !strings.HasSuffix(h.exact, ".") {
			host = strings.TrimSuffix(host, ".")
		}
		return 2, len(h.exact), strings.EqualFold(h.exact, host)
	}
	if h.suffix[0] != "" {
		host = strings.TrimSuffix(host, ".")
	}
	for _, label := range h.suffix {
		i := len(host) - len(label)
		if i < 1 || !strings.EqualFold(host[i:], label) || host[i-1] != '.' {
			return 0, 0, false
		}
		host = host[:i-1]
		n += len(label) + 1
	}
	return 1, n, true
}
