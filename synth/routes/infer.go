// Package routes infers route templates from observed request paths:
// typed segments (integers, UUIDs, hex ids, dates) and high-cardinality
// segments become parameters, low-cardinality literals stay literal, and
// gRPC paths are never templated. Each template is the tightest match that
// covers its samples: Exact for literal paths, otherwise an anchored
// regular expression whose literals are escaped and whose parameters are
// as narrow as the evidence (docs/route-inference.md).
//
// It imports only the standard library.
package routes

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cinchmesh/cinch/observe/pathseg"
)

// Match kinds, as HTTPRoute path matches name them.
const (
	MatchExact             = "Exact"
	MatchRegularExpression = "RegularExpression"
)

// Sample is one observed method and path with its request count.
type Sample struct {
	Method   string
	Path     string
	Requests int64
	// Probe marks kubelet probes: their paths are kept exact.
	Probe bool
	// ProbeRequests are the requests of Requests that were kubelet probes
	// (a sample may merge a probe path with other clients' calls of it).
	ProbeRequests int64
	// Template says Path is a template (Template.Redacted of an earlier
	// inference, as a redacted recording stores it), not a raw path.
	Template bool
	// Params are the evidence of a template's parameters, in order
	// (recording.Route.Params); nil when nothing is known of their values.
	Params []pathseg.Evidence
}

// Template is an inferred route.
type Template struct {
	Method string
	// Pattern is the readable form: "/books/{int}.json".
	Pattern string
	// Redacted is Pattern with the braces of literal segments doubled, so
	// that it reads back unambiguously as a template (Sample.Template).
	Redacted string
	// Match is MatchExact or MatchRegularExpression, and Value the exact
	// path or the regular expression, which must match the whole path.
	Match, Value string
	// ProfileRegex is the ServiceProfile pathRegex for the same paths.
	ProfileRegex string
	// Name is a readable DNS-1123 fragment: "get-books-int-json".
	Name string
	// GRPCService and GRPCMethod are set for gRPC methods.
	GRPCService, GRPCMethod string
	// Requests and Samples count what the template covers, ProbeRequests
	// the requests of Requests that were kubelet probes.
	Requests      int64
	ProbeRequests int64
	Samples       int
	Probe         bool
}

// Options are the inference thresholds.
type Options struct {
	// MinDistinct is how many different literal values one path position
	// must show before it becomes a parameter.
	MinDistinct int
	// HexMinLength is the shortest run of hex digits taken for an id.
	HexMinLength int
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{MinDistinct: 10, HexMinLength: pathseg.DefaultHexMinLength}
}

// Validate checks the options; errors name the flags that set them.
func (o Options) Validate() error {
	if o.MinDistinct < 2 {
		return fmt.Errorf("--route-min-distinct %d: want at least 2", o.MinDistinct)
	}
	if o.HexMinLength < 4 {
		return fmt.Errorf("--route-hex-min-length %d: want at least 4", o.HexMinLength)
	}
	return nil
}

var (
	// reExt is a file extension at the end of a segment: "report.pdf".
	reExt = regexp.MustCompile(`^(.+?)(\.[A-Za-z][A-Za-z0-9]{0,7})$`)
	// reGRPC is the shape of a gRPC path: /package.Service/Method. On a
	// server known to speak gRPC the package may be absent
	// (reGRPCMethod: /Service/Method); elsewhere that is any two-segment
	// path.
	reGRPC       = regexp.MustCompile(`^/([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)/([A-Za-z_][A-Za-z0-9_]*)$`)
	reGRPCMethod = regexp.MustCompile(`^/([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)/([A-Za-z_][A-Za-z0-9_]*)$`)
)

// segment is one position of a path: literal text and typed parts.
type segment = pathseg.Segment

// classify types one raw segment on sight (observe/pathseg).
func classify(raw string, opts Options) segment { return pathseg.Classify(raw, opts.HexMinLength) }

// node is a position in the tree of paths.
type node struct {
	children map[string]*child
	// ends counts, per method, the samples whose path ends here.
	ends map[string]*leaf
	// settled says the subtree is generalized and nothing was merged
	// into it since: generalizing it again would change nothing, so it
	// is not walked again (each level walks its children more than once,
	// which would otherwise cost 2^depth on a deep path).
	settled bool
}

type child struct {
	seg  segment
	node *node
	ev   evidence
}

// evidence is what was seen of the values of a child's parameters, one
// pathseg.Evidence per parameter of its segment, when known: values of
// raw paths, a recorded template's Params, literals a parameter absorbed.
type evidence struct {
	params []pathseg.Evidence
	known  bool
}

// add counts the values lit gives the parameters of seg.
func (e *evidence) add(seg segment, lit string) {
	i := 0
	seg.Values(lit, func(v string) {
		if e.known && i < len(e.params) {
			e.params[i].Add(v)
		}
		i++
	})
}

// merge adds o's values; evidence of different shapes, or none, makes
// the values unknown.
func (e *evidence) merge(o evidence) {
	if !e.known || !o.known || len(e.params) != len(o.params) {
		*e = evidence{}
		return
	}
	for i := range e.params {
		e.params[i].Merge(o.params[i])
	}
}

// newEvidence is the empty, known evidence of seg's parameters.
func newEvidence(seg segment) evidence {
	return evidence{params: make([]pathseg.Evidence, pathseg.Params([]segment{seg})), known: true}
}

// narrowed is seg with each {hex} of any length fixed to the one length
// all its values had, when they were at least minDistinct different
// values: as narrow as the ids, as a shape template of hex words is.
func (c *child) narrowed(minDistinct int) segment {
	if !c.ev.known {
		return c.seg
	}
	var out segment
	j := 0
	for i, p := range c.seg {
		if p.Class == pathseg.Literal {
			continue
		}
		e := c.ev.params[j]
		j++
		if p.Class == pathseg.Hex && p.Len == 0 && e.Distinct >= int64(minDistinct) && e.Shortest == e.Longest && e.Shortest > 0 {
			if out == nil {
				out = slices.Clone(c.seg)
			}
			out[i].Len = e.Shortest
		}
	}
	if out == nil {
		return c.seg
	}
	return out
}

type leaf struct {
	requests, probeRequests int64
	samples                 int
}

// child returns the child of n for seg, adding it when new.
func (n *node) child(seg segment) *child {
	k := seg.Template()
	c := n.children[k]
	if c == nil {
		c = &child{seg: seg, node: newNode(), ev: newEvidence(seg)}
		n.children[k] = c
	}
	return c
}

func newNode() *node { return &node{children: map[string]*child{}, ends: map[string]*leaf{}} }

// Expressible says whether a route can match path: manifests and the
// proxy's regular expressions are UTF-8, so a path that is not cannot be
// matched by any route.
func Expressible(path string) bool { return utf8.ValidString(path) }

// Infer turns samples into templates, sorted by pattern and method. grpc
// says the server speaks gRPC: its paths are methods, kept exact. Samples
// whose paths are not Expressible are left out.
func Infer(samples []Sample, opts Options, grpc bool) []Template {
	var out []Template
	exact := map[[2]string]*Template{}
	root := newNode()
	for _, s := range samples {
		if !Expressible(s.Path) {
			continue
		}
		path, _, _ := strings.Cut(s.Path, "?")
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		// A template's literal path is its unescaped form; one with
		// parameters has none and cannot be kept exact.
		var segs []segment
		exactPath := path
		if s.Template {
			segs = parseTemplate(path)
			exactPath = literalPath(segs)
		}
		m := reGRPC.FindStringSubmatch(exactPath)
		if m == nil && grpc {
			m = reGRPCMethod.FindStringSubmatch(exactPath)
		}
		if exactPath != "" && (grpc || s.Probe || m != nil) {
			path := exactPath
			k := [2]string{s.Method, path}
			t := exact[k]
			if t == nil {
				t = &Template{Method: s.Method, Pattern: path, Redacted: pathseg.EscapeBraces(path), Match: MatchExact, Value: path, ProfileRegex: regexp.QuoteMeta(path)}
				if m != nil {
					t.GRPCService, t.GRPCMethod = m[1], m[2]
				}
				exact[k] = t
			}
			t.Requests += s.Requests
			t.ProbeRequests += s.ProbeRequests
			t.Samples++
			t.Probe = t.Probe || s.Probe
			continue
		}
		n := root
		if s.Template {
			params := s.Params
			if len(params) != pathseg.Params(segs) {
				params = nil
			}
			for _, seg := range segs {
				c := n.child(seg)
				k := pathseg.Params([]segment{seg})
				if params == nil {
					c.ev.merge(evidence{})
				} else {
					c.ev.merge(evidence{params: params[:k:k], known: true})
					params = params[k:]
				}
				n = c.node
			}
		} else {
			for _, raw := range strings.Split(path[1:], "/") {
				c := n.child(classify(raw, opts))
				c.ev.add(c.seg, raw)
				n = c.node
			}
		}
		l := n.ends[s.Method]
		if l == nil {
			l = &leaf{}
			n.ends[s.Method] = l
		}
		l.requests += s.Requests
		l.probeRequests += s.ProbeRequests
		l.samples++
	}
	root.generalize(opts)
	root.emit(nil, opts, &out)
	// A literal path seen both as a probe and from other clients is one
	// route: fold the tree's copy into the exact one.
	out = slices.DeleteFunc(out, func(t Template) bool {
		e := exact[[2]string{t.Method, t.Value}]
		if t.Match != MatchExact || e == nil {
			return false
		}
		e.Requests += t.Requests
		e.ProbeRequests += t.ProbeRequests
		e.Samples += t.Samples
		return true
	})
	for _, t := range exact {
		out = append(out, *t)
	}
	for i := range out {
		out[i].Name = slug(out[i].Method + " " + out[i].Pattern)
	}
	slices.SortFunc(out, func(a, b Template) int {
		return cmp.Or(cmp.Compare(a.Pattern, b.Pattern), cmp.Compare(a.Method, b.Method), cmp.Compare(a.Match, b.Match))
	})
	return out
}

// generalize merges the children of every position, bottom up: values
// that share a shape become one sub-segment template, many other literals
// become a parameter, and a wider class absorbs the narrower ones at the
// same position.
func (n *node) generalize(opts Options) {
	if n.settled {
		return
	}
	defer func() { n.settled = true }()
	n.absorbCovered()
	for _, c := range n.children {
		c.node.generalize(opts)
	}
	var literals []*child
	for _, c := range n.children {
		if !c.seg.Typed() {
			literals = append(literals, c)
		}
	}
	groups, leftovers := shapes(literals, opts)
	if leftovers >= opts.MinDistinct {
		// Too many values fit no shape: every value at this position
		// becomes one parameter; an extension they all share (".pdf") is
		// kept.
		any := segment{{Class: pathseg.Any}}
		if ext := commonExtension(n); ext != "" {
			any = append(any, pathseg.Part{Lit: ext})
		}
		merged := newNode()
		for _, c := range n.children {
			merged.merge(c.node)
		}
		merged.generalize(opts)
		n.children = map[string]*child{any.Template(): {seg: any, node: merged}}
		return
	}
	for _, g := range groups {
		merged, ev := newNode(), newEvidence(g.seg)
		for _, c := range g.members {
			merged.merge(c.node)
			lit, _ := c.seg.Literal()
			ev.add(g.seg, lit)
			delete(n.children, c.seg.Template())
		}
		n.adopt(&child{seg: g.seg, node: merged, ev: ev})
	}
	n.joinWords()
	for _, c := range n.children {
		c.node.generalize(opts)
	}
	for _, c := range n.absorbCovered() {
		c.node.generalize(opts)
	}
	for _, c := range n.separate() {
		c.node.generalize(opts)
	}
}

// separate merges typed siblings whose values overlap, neither holding
// all of the other's (0000A {hex} A and 0000A {int} {hex} both match
// 0000A 0 A), into one {param} between the literal text both start and
// end with, so that no path matches two templates; what that covers joins
// it. It returns the children that grew.
func (n *node) separate() []*child {
	var grew []*child
	for {
		var typed []*child
		for _, c := range n.children {
			if c.seg.Typed() {
				typed = append(typed, c)
			}
		}
		slices.SortFunc(typed, func(a, b *child) int { return cmp.Compare(a.seg.Template(), b.seg.Template()) })
		var merged *child
	pairs:
		for i, a := range typed {
			for _, b := range typed[i+1:] {
				if a.seg.Overlaps(b.seg) {
					merged = &child{seg: spanning(a.seg, b.seg), node: newNode()}
					for _, c := range []*child{a, b} {
						merged.node.merge(c.node)
						delete(n.children, c.seg.Template())
					}
					break pairs
				}
			}
		}
		if merged == nil {
			return grew
		}
		n.adopt(merged)
		n.absorbCovered()
		grew = slices.DeleteFunc(grew, func(c *child) bool { return n.children[c.seg.Template()] != c })
		grew = append(grew, n.children[merged.seg.Template()])
	}
}

// spanning is {param} between the literal text two typed segments both
// start with and both end with: every value of either is one of it.
func spanning(a, b segment) segment {
	lead := func(s segment) string {
		if s[0].Class == pathseg.Literal {
			return s[0].Lit
		}
		return ""
	}
	trail := func(s segment) string {
		if last := s[len(s)-1]; last.Class == pathseg.Literal {
			return last.Lit
		}
		return ""
	}
	prefix := commonPrefix(lead(a), lead(b))
	la, lb := trail(a), trail(b)
	n := 0
	for n < len(la) && n < len(lb) && la[len(la)-1-n] == lb[len(lb)-1-n] {
		n++
	}
	var out segment
	if prefix != "" {
		out = append(out, pathseg.Part{Lit: prefix})
	}
	out = append(out, pathseg.Part{Class: pathseg.Any})
	if n > 0 {
		out = append(out, pathseg.Part{Lit: la[len(la)-n:]})
	}
	return out
}

// adopt adds c under n, merging into a child of the same segment.
func (n *node) adopt(c *child) {
	k := c.seg.Template()
	if have, ok := n.children[k]; ok {
		have.node.merge(c.node)
		have.ev.merge(c.ev)
		return
	}
	n.children[k] = c
}

// absorbCovered merges into each parameter child the siblings whose
// values it matches: short hex-looking literals next to {hex}, and, when a
// template read back puts {param} next to other segments, whatever it
// covers. It returns the children that grew.
func (n *node) absorbCovered() []*child {
	var grew []*child
	for _, p := range n.children {
		if !p.seg.Typed() {
			continue
		}
		merged := false
		for k, c := range n.children {
			if c != p && covered(p.seg, c.seg) {
				p.node.merge(c.node)
				switch lit, ok := c.seg.Literal(); {
				case ok:
					p.ev.add(p.seg, lit)
				case wordShape(c.seg) == wordShape(p.seg):
					// Part for part ({hex:8} in {hex}): the values are
					// the same parameters'.
					p.ev.merge(c.ev)
				default:
					p.ev.merge(evidence{})
				}
				delete(n.children, k)
				merged = true
			}
		}
		if merged {
			grew = append(grew, p)
		}
	}
	return grew
}

// joinWords merges siblings that differ only in the classes of their
// alphanumeric runs ({int}.json and {hex}.json, ORD-{int} and
// ORD-{alnum:5}) into one whose runs are the wider class, since their
// matches overlap: hex ids that happen to be all digits join {hex}.
func (n *node) joinWords() {
	byShape := map[string][]*child{}
	var order []string
	for _, c := range n.children {
		if !c.seg.Typed() {
			continue
		}
		k := wordShape(c.seg)
		if byShape[k] == nil {
			order = append(order, k)
		}
		byShape[k] = append(byShape[k], c)
	}
	slices.Sort(order)
	for _, k := range order {
		cs := byShape[k]
		if len(cs) < 2 {
			continue
		}
		slices.SortFunc(cs, func(a, b *child) int { return cmp.Compare(a.seg.Template(), b.seg.Template()) })
		joined := slices.Clone(cs[0].seg)
		for _, c := range cs[1:] {
			for i, p := range c.seg {
				if p.Class.Word() {
					if p.Class > joined[i].Class {
						joined[i].Class = p.Class
					}
					if p.Len != joined[i].Len {
						joined[i].Len = 0
					}
				}
			}
		}
		for i := range joined {
			if joined[i].Class == pathseg.Int {
				joined[i].Len = 0
			}
		}
		merged := &child{seg: joined, node: newNode(), ev: cs[0].ev}
		for i, c := range cs {
			merged.node.merge(c.node)
			if i > 0 {
				merged.ev.merge(c.ev)
			}
			delete(n.children, c.seg.Template())
		}
		n.adopt(merged)
	}
}

// wordShape is a segment's template with every alphanumeric run written
// alike, so segments whose runs could match the same text share it.
func wordShape(s segment) string {
	var b strings.Builder
	for _, p := range s {
		if p.Class.Word() {
			b.WriteString("{w}")
			continue
		}
		b.WriteString(segment{p}.Template())
	}
	return b.String()
}

// commonExtension is the file extension every child of n ends with, when
// there is one: ".pdf" for report-1.pdf, summary.pdf.
func commonExtension(n *node) string {
	ext := ""
	for _, c := range n.children {
		if len(c.seg) == 0 {
			return ""
		}
		last := c.seg[len(c.seg)-1]
		if last.Class != pathseg.Literal {
			return ""
		}
		text := last.Lit
		if len(c.seg) > 1 {
			text = "x" + text // the literal follows a value
		}
		m := reExt.FindStringSubmatch(text)
		if m == nil {
			return ""
		}
		e := m[2]
		if e == "" || (ext != "" && e != ext) {
			return ""
		}
		ext = e
	}
	return ext
}

// merge folds o's subtree into n.
func (n *node) merge(o *node) {
	n.settled = false
	for m, l := range o.ends {
		have := n.ends[m]
		if have == nil {
			have = &leaf{}
			n.ends[m] = have
		}
		have.requests += l.requests
		have.probeRequests += l.probeRequests
		have.samples += l.samples
	}
	for k, c := range o.children {
		if have, ok := n.children[k]; ok {
			have.node.merge(c.node)
			have.ev.merge(c.ev)
			continue
		}
		n.children[k] = c
	}
}

// emit writes the templates of n's subtree; prefix holds the segments
// above it.
func (n *node) emit(prefix []segment, opts Options, out *[]Template) {
	for method, l := range n.ends {
		*out = append(*out, template(method, prefix, l))
	}
	for _, c := range n.children {
		c.node.emit(append(slices.Clip(prefix), c.narrowed(opts.MinDistinct)), opts, out)
	}
}

func template(method string, segs []segment, l *leaf) Template {
	var pattern, redacted, re strings.Builder
	literal := true
	for _, s := range segs {
		pattern.WriteByte('/')
		redacted.WriteByte('/')
		re.WriteByte('/')
		pattern.WriteString(s.Pattern())
		redacted.WriteString(s.Template())
		re.WriteString(s.Regexp())
		literal = literal && !s.Typed()
	}
	t := Template{Method: method, Pattern: pattern.String(), Redacted: redacted.String(), Requests: l.requests, ProbeRequests: l.probeRequests, Samples: l.samples}
	if literal {
		t.Match, t.Value, t.ProfileRegex = MatchExact, t.Pattern, regexp.QuoteMeta(t.Pattern)
	} else {
		t.Match, t.Value, t.ProfileRegex = MatchRegularExpression, re.String(), re.String()
	}
	return t
}

// covered says whether every value of segment s matches parameter p: a
// literal it matches, or a segment whose parts it covers
// (pathseg.Segment.Covers: " 000A" and " {hex}", anything and {param}).
func covered(p, s segment) bool {
	if lit, ok := s.Literal(); ok {
		return p.Match(lit)
	}
	return p.Covers(s)
}

// parseTemplate reads the segments of a template written as
// Template.Redacted.
func parseTemplate(path string) []segment {
	var segs []segment
	for _, raw := range strings.Split(path[1:], "/") {
		segs = append(segs, pathseg.ParseTemplate(raw))
	}
	return segs
}

// literalPath is the path of segments that are all literal, else "".
func literalPath(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		lit, ok := s.Literal()
		if !ok {
			return ""
		}
		b.WriteByte('/')
		b.WriteString(lit)
	}
	return b.String()
}

// slug makes a readable DNS-1123 fragment of s.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	if b.Len() == 0 {
		return "root"
	}
	return b.String()
}
