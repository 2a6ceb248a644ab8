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
func DefaultOptions() Options { return Options{MinDistinct: 10, HexMinLength: 12} }

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

// Parameter classes, from narrow to wide. A wider class at a position
// absorbs the narrower ones it covers, so templates never overlap.
type class int

const (
	classLiteral class = iota
	classInt
	classDate
	classUUID
	classHex
	classAny
)

var classes = map[class]struct{ name, re string }{
	classInt:  {"int", `[0-9]+`},
	classDate: {"date", `[0-9]{4}-[0-9]{2}-[0-9]{2}`},
	classUUID: {"uuid", `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`},
	classHex:  {"hex", `[0-9a-fA-F]+`},
	classAny:  {"param", `[^/]+`},
}

var (
	reInt  = regexp.MustCompile(`^[0-9]+$`)
	reDate = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	reUUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	reHex  = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	// reExt is a file extension after a typed id: "123.json".
	reExt = regexp.MustCompile(`^(.+?)(\.[A-Za-z][A-Za-z0-9]{0,7})$`)
	// reGRPC is the shape of a gRPC path: /package.Service/Method. On a
	// server known to speak gRPC the package may be absent
	// (reGRPCMethod: /Service/Method); elsewhere that is any two-segment
	// path.
	reGRPC       = regexp.MustCompile(`^/([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)/([A-Za-z_][A-Za-z0-9_]*)$`)
	reGRPCMethod = regexp.MustCompile(`^/([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)/([A-Za-z_][A-Za-z0-9_]*)$`)
)

// segment is one position of a path: a literal, or a parameter class with
// a literal suffix ("{int}.json").
type segment struct {
	class  class
	lit    string // the literal, for classLiteral
	suffix string
}

func (s segment) key() string { return fmt.Sprintf("%d\x00%s\x00%s", s.class, s.lit, s.suffix) }

// classify types one raw segment.
func classify(raw string, opts Options) segment {
	if c := typeOf(raw, opts); c != classLiteral {
		return segment{class: c}
	}
	if m := reExt.FindStringSubmatch(raw); m != nil {
		if c := typeOf(m[1], opts); c != classLiteral {
			return segment{class: c, suffix: m[2]}
		}
	}
	return segment{lit: raw}
}

func typeOf(s string, opts Options) class {
	switch {
	case reInt.MatchString(s):
		return classInt
	case reDate.MatchString(s):
		return classDate
	case reUUID.MatchString(s):
		return classUUID
	case len(s) >= opts.HexMinLength && reHex.MatchString(s) && strings.ContainsAny(s, "0123456789"):
		return classHex
	}
	return classLiteral
}

// node is a position in the tree of paths.
type node struct {
	children map[string]*child
	// ends counts, per method, the samples whose path ends here.
	ends map[string]*leaf
}

type child struct {
	seg  segment
	node *node
}

type leaf struct {
	requests, probeRequests int64
	samples                 int
}

// child returns the node under n for seg, adding it when new.
func (n *node) child(seg segment) *node {
	k := seg.key()
	c := n.children[k]
	if c == nil {
		c = &child{seg: seg, node: newNode()}
		n.children[k] = c
	}
	return c.node
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
				t = &Template{Method: s.Method, Pattern: path, Redacted: escapeBraces(path), Match: MatchExact, Value: path, ProfileRegex: regexp.QuoteMeta(path)}
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
			for _, seg := range segs {
				n = n.child(seg)
			}
		} else {
			for _, raw := range strings.Split(path[1:], "/") {
				n = n.child(classify(raw, opts))
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
	root.emit(nil, &out)
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

// generalize merges the children of every position, bottom up: many
// literals become a parameter, and a wider class absorbs the narrower
// ones at the same position.
func (n *node) generalize(opts Options) {
	n.absorbCovered()
	for _, c := range n.children {
		c.node.generalize(opts)
	}
	var literals []*child
	for _, c := range n.children {
		if c.seg.class == classLiteral {
			literals = append(literals, c)
		}
	}
	if len(literals) >= opts.MinDistinct {
		// Every value at this position becomes one parameter; a suffix
		// they all share (".pdf") is kept.
		any := segment{class: classAny, suffix: commonExtension(n)}
		merged := newNode()
		for _, c := range n.children {
			merged.merge(c.node)
		}
		merged.generalize(opts)
		n.children = map[string]*child{any.key(): {seg: any, node: merged}}
		return
	}
	// Hex ids can be all digits: ints at a position with hex ids are hex.
	n.absorb(classInt, classHex, opts)
	for _, c := range n.absorbCovered() {
		c.node.generalize(opts)
	}
}

// absorbCovered merges into each parameter child the siblings whose
// values it matches: short hex-looking literals next to {hex}, and, when a
// template read back puts {param} next to other segments, whatever it
// covers. It returns the children that grew.
func (n *node) absorbCovered() []*child {
	var grew []*child
	for _, p := range n.children {
		if p.seg.class == classLiteral {
			continue
		}
		merged := false
		for k, c := range n.children {
			if c != p && covered(p.seg, c.seg) {
				p.node.merge(c.node)
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

// absorb merges children of class narrow into those of class wide with the
// same suffix, and generalizes the merged subtree again.
func (n *node) absorb(narrow, wide class, opts Options) {
	for k, c := range n.children {
		if c.seg.class != narrow {
			continue
		}
		target := segment{class: wide, suffix: c.seg.suffix}
		if w, ok := n.children[target.key()]; ok {
			w.node.merge(c.node)
			w.node.generalize(opts)
			delete(n.children, k)
		}
	}
}

// commonExtension is the suffix every child of n shares, when there is
// one: ".pdf" for report-1.pdf, summary.pdf.
func commonExtension(n *node) string {
	ext := ""
	for _, c := range n.children {
		var e string
		if c.seg.class == classLiteral {
			m := reExt.FindStringSubmatch(c.seg.lit)
			if m == nil {
				return ""
			}
			e = m[2]
		} else {
			e = c.seg.suffix
		}
		if e == "" || (ext != "" && e != ext) {
			return ""
		}
		ext = e
	}
	return ext
}

// merge folds o's subtree into n.
func (n *node) merge(o *node) {
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
			continue
		}
		n.children[k] = c
	}
}

// emit writes the templates of n's subtree; prefix holds the segments
// above it.
func (n *node) emit(prefix []segment, out *[]Template) {
	for method, l := range n.ends {
		*out = append(*out, template(method, prefix, l))
	}
	for _, c := range n.children {
		c.node.emit(append(slices.Clip(prefix), c.seg), out)
	}
}

func template(method string, segs []segment, l *leaf) Template {
	var pattern, redacted, re strings.Builder
	literal := true
	for _, s := range segs {
		pattern.WriteByte('/')
		redacted.WriteByte('/')
		re.WriteByte('/')
		if s.class == classLiteral {
			pattern.WriteString(s.lit)
			redacted.WriteString(escapeBraces(s.lit))
			re.WriteString(regexp.QuoteMeta(s.lit))
			continue
		}
		literal = false
		c := classes[s.class]
		pattern.WriteString("{" + c.name + "}" + s.suffix)
		redacted.WriteString("{" + c.name + "}" + s.suffix)
		re.WriteString(c.re + regexp.QuoteMeta(s.suffix))
	}
	t := Template{Method: method, Pattern: pattern.String(), Redacted: redacted.String(), Requests: l.requests, ProbeRequests: l.probeRequests, Samples: l.samples}
	if literal {
		t.Match, t.Value, t.ProfileRegex = MatchExact, t.Pattern, regexp.QuoteMeta(t.Pattern)
	} else {
		t.Match, t.Value, t.ProfileRegex = MatchRegularExpression, re.String(), re.String()
	}
	return t
}

// reTemplateSegment is a parameter segment of a template: "{int}.json".
var reTemplateSegment = regexp.MustCompile(`^\{(int|date|uuid|hex|param)\}(\.[A-Za-z][A-Za-z0-9]{0,7})?$`)

// covered says whether every value of segment s matches parameter p. A
// literal never fits {int}, {date} or {uuid} (classify would have typed
// it), but a short hex-looking one fits {hex}.
func covered(p, s segment) bool {
	if s.class != classLiteral {
		return p.class == classAny && (p.suffix == "" || s.suffix == p.suffix)
	}
	v, ok := strings.CutSuffix(s.lit, p.suffix)
	switch {
	case !ok || v == "":
		return false
	case p.class == classAny:
		return true
	case p.class == classHex:
		return strings.Trim(v, "0123456789abcdefABCDEF") == ""
	}
	return false
}

// parseTemplate reads the segments of a template written as
// Template.Redacted.
func parseTemplate(path string) []segment {
	var segs []segment
	for _, raw := range strings.Split(path[1:], "/") {
		if m := reTemplateSegment.FindStringSubmatch(raw); m != nil {
			for c, def := range classes {
				if def.name == m[1] {
					segs = append(segs, segment{class: c, suffix: m[2]})
				}
			}
			continue
		}
		segs = append(segs, segment{lit: unescapeBraces(raw)})
	}
	return segs
}

// literalPath is the path of segments that are all literal, else "".
func literalPath(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		if s.class != classLiteral {
			return ""
		}
		b.WriteByte('/')
		b.WriteString(s.lit)
	}
	return b.String()
}

var (
	braceEscaper   = strings.NewReplacer("{", "{{", "}", "}}")
	braceUnescaper = strings.NewReplacer("{{", "{", "}}", "}")
)

func escapeBraces(s string) string { return braceEscaper.Replace(s) }

func unescapeBraces(s string) string { return braceUnescaper.Replace(s) }

// examples are a path segment of each parameter class.
var examples = map[string]string{
	"int": "0", "date": "2000-01-01", "uuid": "00000000-0000-0000-0000-000000000000",
	"hex": "0123456789abcdef0123456789abcdef", "param": "param",
}

// Example is one path a template written as Template.Redacted covers, for
// evaluating a redacted recording against policy: the routes inferred
// from that recording match the example exactly when they match the
// template, since templates never overlap.
func Example(template string) string {
	if !strings.HasPrefix(template, "/") {
		return template
	}
	var b strings.Builder
	for _, raw := range strings.Split(template[1:], "/") {
		b.WriteByte('/')
		if m := reTemplateSegment.FindStringSubmatch(raw); m != nil {
			b.WriteString(examples[m[1]] + m[2])
			continue
		}
		b.WriteString(unescapeBraces(raw))
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
