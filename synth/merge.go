package synth

import (
	"cmp"
	"fmt"
	"math/bits"
	"regexp"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

// RouteMerge is one route match written in place of several route
// templates of a server port, because the port had more than
// Options.MaxRoutesPerServer (docs/synth.md, "Capping routes").
type RouteMerge struct {
	Server recording.PeerID
	Port   uint32
	// Routes are the merged templates: "GET /books/{int}".
	Routes []string
	// Match is the match written instead: "GET RegularExpression ...",
	// "any method PathPrefix /api".
	Match string
	// Clients are who the match admits: every client of the merged
	// routes.
	Clients []string
	// NewGrants counts the (client, method, observed path) triples the
	// match admits that no route admitted the client before, counting
	// every method a route can name on every path the port saw.
	NewGrants int
	// Unbounded says the match also admits paths never observed (a
	// PathPrefix).
	Unbounded bool
}

// String is the merge as the summary and the pull request say it.
func (m RouteMerge) String() string {
	open := ""
	if m.Unbounded {
		open = ", and paths never observed"
	}
	return fmt.Sprintf("%s port %d: %s merged into %s for %s (%d new client/request grants%s)",
		m.Server, m.Port, strings.Join(m.Routes, ", "), m.Match, strings.Join(m.Clients, ", "), m.NewGrants, open)
}

// routeMethods are the methods an HTTPRoute match can name (the CRD's
// enum): a match without a method admits each of them.
var routeMethods = []string{"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}

// mergeSpace is what merging measures precision on: every method a route
// can name on every path the port saw, as bit positions.
type mergeSpace struct {
	methods, paths []string
}

type bitset []uint64

func (s *mergeSpace) newSet() bitset {
	return make(bitset, (len(s.methods)*len(s.paths)+63)/64)
}

func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}
func (b bitset) andNotCount(o bitset) int {
	n := 0
	for i := range b {
		n += bits.OnesCount64(b[i] &^ o[i])
	}
	return n
}

// admitted is the set of requests of the space m matches.
func (s *mergeSpace) admitted(m *matcher) bitset {
	b := s.newSet()
	for mi, method := range s.methods {
		for pi, path := range s.paths {
			if m.matches(method, path) {
				b.set(mi*len(s.paths) + pi)
			}
		}
	}
	return b
}

// mergeCost orders candidate merges by what they newly admit: fewest
// clients given paths never observed (a prefix admits without bound),
// then fewest new grants, then fewest of them to clients seen without
// mTLS (addresses), then the longest prefix.
type mergeCost struct {
	unbounded, grants, unauthenticated, shortness int
}

func (c mergeCost) compare(o mergeCost) int {
	return cmp.Or(cmp.Compare(c.unbounded, o.unbounded), cmp.Compare(c.grants, o.grants),
		cmp.Compare(c.unauthenticated, o.unauthenticated), cmp.Compare(c.shortness, o.shortness))
}

// mergeRoutes merges the port's route matchers (those with callers, in
// groups) until at most limit remain: greedily, each time the pair whose
// merge admits the fewest new requests. Two routes become one regular
// expression alternating both (the method dropped when they differ), or,
// when that would be longer than a match may be, a PathPrefix of their
// common leading segments. The merged match admits every client of
// either. It returns the matchers left; groups gains the merged ones.
func (g *portGrant) mergeRoutes(matchers []*matcher, groups map[*matcher]map[*caller]bool, limit int) []*matcher {
	var live []*matcher
	for _, m := range matchers {
		if len(groups[m]) > 0 {
			live = append(live, m)
		}
	}
	sp := g.serverPort
	if limit <= 0 || len(live) <= limit {
		return matchers
	}
	space := g.mergeSpace()
	sets := map[*matcher]bitset{}
	for _, m := range live {
		sets[m] = space.admitted(m)
	}
	before := clientSets(live, groups, sets, space)
	for len(live) > limit {
		best, bi, bj := (*matcher)(nil), -1, -1
		var bestCost mergeCost
		var bestSet bitset
		held := space.counts(live, sets)
		admitted := clientSets(live, groups, sets, space)
		for i := range live {
			for j := i + 1; j < len(live); j++ {
				m := mergeMatchers(live[i], live[j], live)
				if m == nil || m.reroutes(live[i], live[j], live, space) {
					continue
				}
				set := space.admitted(m)
				// Requests another route also matches stay that route's
				// (reroutes holds to it): they are nothing new.
				for k := range len(space.methods) * len(space.paths) {
					if set.has(k) && held[k] > btoi(sets[live[i]].has(k))+btoi(sets[live[j]].has(k)) {
						set[k/64] &^= 1 << (k % 64)
					}
				}
				c := mergeCost{}
				for cl := range union(groups[live[i]], groups[live[j]]) {
					n := set.andNotCount(admitted[cl])
					c.grants += n
					if len(cl.Networks) > 0 {
						c.unauthenticated += n
					}
					if m.path.Type == policy.MatchPathPrefix {
						c.unbounded++
					}
				}
				if m.path.Type == policy.MatchPathPrefix {
					c.shortness = policy.MaxPathLength - len(m.path.Value)
				}
				if best == nil || c.compare(bestCost) < 0 {
					best, bi, bj, bestCost, bestSet = m, i, j, c, set
				}
			}
		}
		if best == nil {
			g.warn("%s port %d: %d routes, more than --max-routes-per-server %d, and no two can be merged within a route match's limits (gRPC methods merge only within a service)", sp.Server, sp.Port, len(live), limit)
			break
		}
		groups[best], sets[best] = union(groups[live[bi]], groups[live[bj]]), bestSet
		live[bi] = best
		live = slices.Delete(live, bj, bj+1)
	}
	for _, m := range live {
		if len(m.leaves) == 0 {
			continue
		}
		rm := RouteMerge{Server: sp.Server, Port: sp.Port, Match: m.describe(), Unbounded: m.path.Type == policy.MatchPathPrefix}
		for _, l := range m.leaves {
			rm.Routes = append(rm.Routes, strings.TrimSpace(l.Method+" "+l.Pattern))
		}
		for cl := range groups[m] {
			rm.Clients = append(rm.Clients, string(cl.Peer))
			rm.NewGrants += sets[m].andNotCount(before[cl])
		}
		slices.Sort(rm.Clients)
		g.merges = append(g.merges, rm)
	}
	return live
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mergeSpace collects the port's observed paths, its probe paths among
// them.
func (g *portGrant) mergeSpace() *mergeSpace {
	s := &mergeSpace{methods: slices.Clone(routeMethods)}
	for _, c := range g.Callers {
		for _, r := range c.Routes {
			s.paths = append(s.paths, r.RequestPath())
			s.methods = append(s.methods, r.Method)
		}
	}
	for _, p := range probeRequests(g.serverPort) {
		s.paths = append(s.paths, p.path)
	}
	for i, p := range s.paths {
		s.paths[i], _, _ = strings.Cut(p, "?")
	}
	slices.Sort(s.paths)
	s.paths = slices.Compact(s.paths)
	slices.Sort(s.methods)
	s.methods = slices.Compact(s.methods)
	return s
}

// counts says, per request of the space, how many matchers match it.
func (s *mergeSpace) counts(live []*matcher, sets map[*matcher]bitset) []int {
	n := make([]int, len(s.methods)*len(s.paths))
	for _, m := range live {
		for k := range n {
			n[k] += btoi(sets[m].has(k))
		}
	}
	return n
}

// clientSets is, per client, what the matchers admit it to.
func clientSets(live []*matcher, groups map[*matcher]map[*caller]bool, sets map[*matcher]bitset, s *mergeSpace) map[*caller]bitset {
	out := map[*caller]bitset{}
	for _, m := range live {
		for c := range groups[m] {
			if out[c] == nil {
				out[c] = s.newSet()
			}
			out[c].or(sets[m])
		}
	}
	return out
}

func union(a, b map[*caller]bool) map[*caller]bool {
	out := make(map[*caller]bool, len(a)+len(b))
	for c := range a {
		out[c] = true
	}
	for c := range b {
		out[c] = true
	}
	return out
}

// mergeMatchers is one match for the routes of a and b: a regular
// expression alternating them, else a PathPrefix of their common leading
// segments; nil when neither fits a route match, or when the prefix would
// tie with another route's match of the same path. gRPC methods merge
// only within one service, into a match of the whole service (a
// GRPCRoute method match has no expressions).
func mergeMatchers(a, b *matcher, live []*matcher) *matcher {
	leaves := append(slices.Clone(a.leafList()), b.leafList()...)
	method := a.Method
	if b.Method != a.Method {
		method = ""
	}
	m := &matcher{leaves: leaves}
	m.Method, m.Name = method, "merged"
	var patterns []string
	for _, l := range leaves {
		patterns = append(patterns, strings.TrimSpace(l.Method+" "+l.Pattern))
	}
	m.Pattern = strings.Join(patterns, " | ")
	if a.GRPCService != "" || b.GRPCService != "" {
		if a.GRPCService != b.GRPCService {
			return nil
		}
		m.GRPCService = a.GRPCService
		m.Match, m.Value = policy.MatchPathPrefix, "/"+a.GRPCService
		m.path = policy.HTTPPathMatch{Type: policy.MatchPathPrefix, Value: m.Value}
		return m
	}
	if a.path.Type != policy.MatchPathPrefix && b.path.Type != policy.MatchPathPrefix {
		alts := make([]string, len(leaves))
		for i, l := range leaves {
			alts[i] = l.expression()
		}
		value := "^(?:" + strings.Join(alts, "|") + ")$"
		if len(value) <= policy.MaxPathLength {
			m.Match, m.Value = policy.MatchRegularExpression, value
			m.path = policy.HTTPPathMatch{Type: policy.MatchRegularExpression, Value: value}
			m.re = regexp.MustCompile(value)
			return m
		}
	}
	prefix := commonPrefix(leaves)
	m.Match, m.Value = policy.MatchPathPrefix, prefix
	m.path = policy.HTTPPathMatch{Type: policy.MatchPathPrefix, Value: prefix}
	if len(policy.CheckPathMatch(m.path, true)) > 0 {
		return nil
	}
	for _, o := range live {
		if o == a || o == b {
			continue
		}
		if o.path.Type == policy.MatchPathPrefix && o.path.Value == prefix {
			return nil
		}
		for _, meth := range routeMethods {
			if o.matches(meth, prefix) {
				return nil
			}
		}
	}
	return m
}

// leafList is the templates a matcher stands for: itself, or the ones
// merged into it.
func (m *matcher) leafList() []*matcher {
	if len(m.leaves) > 0 {
		return m.leaves
	}
	return []*matcher{m}
}

// expression is a template's regular expression: its own, or its exact
// path quoted.
func (m *matcher) expression() string {
	if m.re != nil {
		return m.Value
	}
	return regexp.QuoteMeta(m.Value)
}

// literalPrefix is the part of a template every path it matches starts
// with: the exact path, or the redacted pattern up to its first
// parameter (a doubled brace is a literal one).
func (m *matcher) literalPrefix() (lit string, exact bool) {
	if m.re == nil {
		return m.Value, true
	}
	var b strings.Builder
	r := m.Redacted
	for i := 0; i < len(r); i++ {
		if (r[i] == '{' || r[i] == '}') && i+1 < len(r) && r[i+1] == r[i] {
			b.WriteByte(r[i])
			i++
			continue
		}
		if r[i] == '{' {
			break
		}
		b.WriteByte(r[i])
	}
	return b.String(), false
}

// commonPrefix is the longest PathPrefix value (whole segments) that
// matches every path of every leaf: "/" when they share no segment.
func commonPrefix(leaves []*matcher) string {
	covers := func(p string, l *matcher) bool {
		lit, exact := l.literalPrefix()
		return exact && lit == p || strings.HasPrefix(lit, p+"/")
	}
	first, _ := leaves[0].literalPrefix()
	for end := len(first); end > 0; end-- {
		if end < len(first) && first[end] != '/' {
			continue
		}
		p := first[:end]
		if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
			continue
		}
		ok := true
		for _, l := range leaves {
			ok = ok && covers(p, l)
		}
		if ok {
			return p
		}
	}
	return "/"
}

// describe names a merged match: "GET RegularExpression ^(?:...)$",
// "any method PathPrefix /api", "every method of gRPC service x.v1.S".
func (m *matcher) describe() string {
	if m.GRPCService != "" {
		return "every method of gRPC service " + m.GRPCService
	}
	method := m.Method
	if method == "" {
		method = "any method"
	}
	return fmt.Sprintf("%s %s %s", method, m.path.Type, m.path.Value)
}

// prefixMatches is Linkerd's PathPrefix: whole segments, a trailing slash
// of the path ignored.
func prefixMatches(prefix, path string) bool {
	if prefix == "/" {
		return true
	}
	rest, ok := strings.CutPrefix(strings.TrimRight(path, "/"), prefix)
	return ok && (rest == "" || rest[0] == '/')
}

// rank is how Linkerd orders matches of one request: the length of the
// path match (a PathPrefix its value, "/" one; an exact path or an
// expression the whole path), then a method match.
func (m *matcher) rank(path string) [2]int {
	n := len(path)
	if m.path.Type == policy.MatchPathPrefix {
		n = max(1, len(m.path.Value)*btoi(m.path.Value != "/"))
	}
	return [2]int{n, btoi(m.Method != "")}
}

// reroutes says whether merged, standing for a and b, would move a
// request of the space to another route than before: a request a or b
// won must go to merged, a request another route won must stay there, and
// a tie must stay a tie. Linkerd picks the route before it looks at
// authorizations, so a request that changed route could lose its client.
func (m *matcher) reroutes(a, b *matcher, live []*matcher, s *mergeSpace) bool {
	none := [2]int{-1, -1}
	for _, method := range s.methods {
		for _, path := range s.paths {
			mine, merged, other := none, none, none
			for _, part := range []*matcher{a, b} {
				if part.matches(method, path) && cmpRank(part.rank(path), mine) > 0 {
					mine = part.rank(path)
				}
			}
			if m.matches(method, path) {
				merged = m.rank(path)
			}
			if mine == none && merged == none {
				continue
			}
			for _, o := range live {
				if o != a && o != b && o.matches(method, path) && cmpRank(o.rank(path), other) > 0 {
					other = o.rank(path)
				}
			}
			if other == none {
				continue
			}
			if cmp.Compare(cmpRank(mine, other), 0) != cmp.Compare(cmpRank(merged, other), 0) {
				return true
			}
		}
	}
	return false
}

func cmpRank(a, b [2]int) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) }
