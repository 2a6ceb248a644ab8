// Package pathseg types the segments of request paths and writes them as
// route template segments: "ORD-{int}", "{uuid}", "styles.{hex:8}.css",
// "{email}". It is the one home of segment typing: the recorder folds raw
// paths into templates with it as they stream by, and synth/routes builds
// route inference on it (docs/route-inference.md).
//
// Typing on sight needs no other evidence than the segment itself: a
// decimal number, a date, a UUID, a long hex run (with a digit) or an email
// address, as the whole segment or as an alphanumeric word of it with
// literal text around ("ORD-00917", "report-2026-11-24.pdf"). Everything
// else stays literal until route inference sees enough values at one
// position.
//
// In template text the braces of literal text are doubled ("{{" for "{"),
// so an observed path that looks like a template never reads back as one.
//
// It imports only the standard library.
package pathseg

import (
	"regexp"
	"strconv"
	"strings"
)

// DefaultHexMinLength is the shortest run of hex digits typed as an id
// unless route inference is told otherwise (--route-hex-min-length); the
// recorder folds paths with it.
const DefaultHexMinLength = 12

// Class is what a part of a segment holds.
type Class uint8

// Classes, from narrow to wide within a word: Int < Hex < Alnum.
const (
	Literal Class = iota
	Int
	Date
	UUID
	Hex
	Alnum
	Email
	Any
)

var classInfo = [...]struct{ name, re string }{
	Literal: {"", ""},
	Int:     {"int", `[0-9]+`},
	Date:    {"date", `[0-9]{4}-[0-9]{2}-[0-9]{2}`},
	UUID:    {"uuid", `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`},
	Hex:     {"hex", `[0-9a-fA-F]`},
	Alnum:   {"alnum", `[0-9A-Za-z]`},
	Email:   {"email", `[0-9A-Za-z._%+-]+@(?:[0-9A-Za-z-]+\.)+[A-Za-z]{2,}`},
	Any:     {"param", `[^/]+`},
}

// Name is the class's placeholder name: "int" for {int}.
func (c Class) Name() string { return classInfo[c].name }

// Word says whether the class is a run of word characters whose length
// can be fixed (Hex, Alnum) or not (Int).
func (c Class) Word() bool { return c == Int || c == Hex || c == Alnum }

// Part is literal text or one typed value.
type Part struct {
	Class Class
	// Lit is the text of a Literal part.
	Lit string
	// Len fixes the length of a Hex or Alnum part; 0 is any length.
	Len int
}

// Segment is one path segment as parts; adjacent literals are one part.
type Segment []Part

// Lit returns a literal segment.
func Lit(s string) Segment { return Segment{{Lit: s}} }

// Literal returns the text of a segment that is all literal.
func (s Segment) Literal() (string, bool) {
	switch {
	case len(s) == 0:
		return "", true
	case len(s) == 1 && s[0].Class == Literal:
		return s[0].Lit, true
	}
	return "", false
}

// Typed says whether any part is not literal.
func (s Segment) Typed() bool {
	_, lit := s.Literal()
	return !lit
}

// Template writes the segment as template text: literal braces doubled,
// parameters in braces.
func (s Segment) Template() string { return s.text(true) }

// Pattern writes the segment readably: literals as they are.
func (s Segment) Pattern() string { return s.text(false) }

func (s Segment) text(escape bool) string {
	var b strings.Builder
	for _, p := range s {
		if p.Class == Literal {
			if escape {
				b.WriteString(EscapeBraces(p.Lit))
			} else {
				b.WriteString(p.Lit)
			}
			continue
		}
		b.WriteByte('{')
		b.WriteString(p.Class.Name())
		if p.Len > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Len))
		}
		b.WriteByte('}')
	}
	return b.String()
}

// Regexp is the segment as a regular expression (unanchored; literals
// quoted, so no observed text widens it).
func (s Segment) Regexp() string {
	var b strings.Builder
	for _, p := range s {
		switch {
		case p.Class == Literal:
			b.WriteString(regexp.QuoteMeta(p.Lit))
		case p.Class == Hex || p.Class == Alnum:
			b.WriteString(classInfo[p.Class].re)
			if p.Len > 0 {
				b.WriteString("{" + strconv.Itoa(p.Len) + "}")
			} else {
				b.WriteByte('+')
			}
		default:
			b.WriteString(classInfo[p.Class].re)
		}
	}
	return b.String()
}

// Example is one value of the segment: "ORD-0" for ORD-{int}.
func (s Segment) Example() string {
	var b strings.Builder
	for _, p := range s {
		switch p.Class {
		case Literal:
			b.WriteString(p.Lit)
		case Int:
			b.WriteString("0")
		case Date:
			b.WriteString("2000-01-01")
		case UUID:
			b.WriteString("00000000-0000-0000-0000-000000000000")
		case Hex, Alnum:
			n := p.Len
			if n == 0 {
				n = 32
			}
			b.WriteString(strings.Repeat("0", n))
		case Email:
			b.WriteString("user@example.com")
		case Any:
			b.WriteString("param")
		}
	}
	return b.String()
}

// Match says whether raw is a value of the segment.
func (s Segment) Match(raw string) bool {
	var spans [8][2]int
	_, ok := spansOf(s, raw, 0, spans[:0])
	return ok
}

// whole says whether v, all of it, is a value of c (of any length).
func whole[S ~string | ~[]byte](c Class, v S) bool {
	switch c {
	case Int, Hex, Alnum:
		return runOf(c, v)
	case Date:
		return isDate(v)
	case UUID:
		return isUUID(v)
	case Email:
		return isEmail(v)
	case Any:
		for i := 0; i < len(v); i++ {
			if v[i] == '/' {
				return false
			}
		}
		return len(v) > 0
	}
	return false
}

func runOf[S ~string | ~[]byte](c Class, v S) bool {
	if len(v) == 0 {
		return false
	}
	for i := 0; i < len(v); i++ {
		b := v[i]
		switch {
		case isDigit(b):
		case c == Hex && isHexLetter(b):
		case c == Alnum && isLetter(b):
		default:
			return false
		}
	}
	return true
}

// ParseTemplate reads a segment written as template text. A brace that
// opens no known parameter is literal text, so nothing read back is wider
// than what was written.
func ParseTemplate(text string) Segment {
	var seg Segment
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			seg = append(seg, Part{Lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(text); {
		c := text[i]
		if (c == '{' || c == '}') && i+1 < len(text) && text[i+1] == c {
			lit.WriteByte(c)
			i += 2
			continue
		}
		if c == '{' {
			if end := strings.IndexByte(text[i:], '}'); end > 0 {
				if p, ok := parsePlaceholder(text[i+1 : i+end]); ok {
					flush()
					seg = append(seg, p)
					i += end + 1
					continue
				}
			}
		}
		lit.WriteByte(c)
		i++
	}
	flush()
	return seg
}

func parsePlaceholder(s string) (Part, bool) {
	name, length, hasLen := strings.Cut(s, ":")
	for c := Int; c <= Any; c++ {
		if classInfo[c].name != name {
			continue
		}
		if !hasLen {
			return Part{Class: c}, true
		}
		n, err := strconv.Atoi(length)
		if err != nil || n <= 0 || n > 1000 || !(c == Hex || c == Alnum) || strconv.Itoa(n) != length {
			return Part{}, false
		}
		return Part{Class: c, Len: n}, true
	}
	return Part{}, false
}

// IsLiteral says whether template text (a segment or a path) has no
// parameter: every brace in it is doubled.
func IsLiteral[S ~string | ~[]byte](text S) bool {
	for i := 0; i < len(text); i++ {
		if c := text[i]; c == '{' || c == '}' {
			if i+1 >= len(text) || text[i+1] != c {
				return false
			}
			i++
		}
	}
	return true
}

// Unescape undoes the doubled braces of literal template text.
func Unescape(text string) string {
	if !strings.ContainsAny(text, "{}") {
		return text
	}
	return braceUnescaper.Replace(text)
}

var braceUnescaper = strings.NewReplacer("{{", "{", "}}", "}")

// AppendLiteralPath appends a raw path as literal template text: its
// braces doubled, nothing typed.
func AppendLiteralPath[S ~string | ~[]byte](dst []byte, path S) []byte {
	if len(path) == 0 || path[0] != '/' {
		dst = append(dst, '/')
	}
	for i := 0; i < len(path); i++ {
		dst = appendEscaped(dst, path[i])
	}
	return dst
}

// EscapeBraces doubles the braces of literal text.
func EscapeBraces(s string) string {
	if !strings.ContainsAny(s, "{}") {
		return s
	}
	return braceEscaper.Replace(s)
}

var braceEscaper = strings.NewReplacer("{", "{{", "}", "}}")

// Classify types one raw segment on sight.
func Classify(raw string, hexMin int) Segment {
	return ParseTemplate(string(AppendSegment(nil, raw, hexMin)))
}

// AppendSegment appends the template text of one raw segment (no '/'),
// typed on sight, to dst. It allocates nothing beyond growing dst.
func AppendSegment[S ~string | ~[]byte](dst []byte, seg S, hexMin int) []byte {
	switch {
	case len(seg) == 0:
		return dst
	case runOf(Int, seg):
		return append(dst, "{int}"...)
	case isDate(seg):
		return append(dst, "{date}"...)
	case isUUID(seg):
		return append(dst, "{uuid}"...)
	case isLongHex(seg, hexMin):
		return append(dst, "{hex}"...)
	case isEmail(seg):
		return append(dst, "{email}"...)
	}
	for i := 0; i < len(seg); {
		c := seg[i]
		if !isWordByte(c) {
			if c == '%' && i+2 < len(seg) && isHex(seg[i+1]) && isHex(seg[i+2]) {
				// A percent-encoded byte is literal text, never the start
				// of a number.
				dst = append(dst, seg[i:i+3]...)
				i += 3
				continue
			}
			dst = appendEscaped(dst, c)
			i++
			continue
		}
		// A word: starts here, ends before the next non-word byte.
		j := i
		for j < len(seg) && isWordByte(seg[j]) {
			j++
		}
		switch {
		case i+36 <= len(seg) && isUUID(seg[i:i+36]) && (i+36 == len(seg) || !isWordByte(seg[i+36])):
			dst = append(dst, "{uuid}"...)
			i += 36
		case i+10 <= len(seg) && isDate(seg[i:i+10]) && (i+10 == len(seg) || !isWordByte(seg[i+10])):
			dst = append(dst, "{date}"...)
			i += 10
		case runOf(Int, seg[i:j]):
			dst = append(dst, "{int}"...)
			i = j
		case isLongHex(seg[i:j], hexMin):
			dst = append(dst, "{hex}"...)
			i = j
		default:
			for ; i < j; i++ {
				dst = append(dst, seg[i])
			}
		}
	}
	return dst
}

// AppendPath appends the template text of a raw path ("/a/b", no query)
// to dst, each segment typed on sight.
func AppendPath[S ~string | ~[]byte](dst []byte, path S, hexMin int) []byte {
	start := 0
	if len(path) > 0 && path[0] == '/' {
		start = 1
	}
	dst = append(dst, '/')
	for i := start; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			dst = AppendSegment(dst, path[start:i], hexMin)
			if i < len(path) {
				dst = append(dst, '/')
			}
			start = i + 1
		}
	}
	return dst
}

func appendEscaped(dst []byte, c byte) []byte {
	if c == '{' || c == '}' {
		return append(dst, c, c)
	}
	return append(dst, c)
}

func isDigit(b byte) bool     { return b >= '0' && b <= '9' }
func isLetter(b byte) bool    { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
func isHexLetter(b byte) bool { return b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' }
func isHex(b byte) bool       { return isDigit(b) || isHexLetter(b) }

// isWordByte says whether b belongs to an alphanumeric word.
func isWordByte(b byte) bool { return isDigit(b) || isLetter(b) }

// isLongHex is a hex id: at least hexMin hex digits, one of them decimal
// (so words such as "deadbeefcafe" stay words).
func isLongHex[S ~string | ~[]byte](s S, hexMin int) bool {
	if len(s) < hexMin || !runOf(Hex, s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			return true
		}
	}
	return false
}

// isDate is YYYY-MM-DD.
func isDate[S ~string | ~[]byte](s S) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// isUUID is 8-4-4-4-12 hex digits.
func isUUID[S ~string | ~[]byte](s S) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return false
			}
		} else if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// isEmail is an address: a local part of [0-9A-Za-z._%+-], "@", and a
// domain of at least two labels of [0-9A-Za-z-] whose last is two or more
// letters.
func isEmail[S ~string | ~[]byte](s S) bool {
	at := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '@' {
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at <= 0 {
		return false
	}
	for i := 0; i < at; i++ {
		c := s[i]
		if !(isWordByte(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-') {
			return false
		}
	}
	labels, label, lastAlpha := 0, 0, true
	for i := at + 1; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if label == 0 {
				return false
			}
			labels++
			if i == len(s) {
				return labels >= 2 && label >= 2 && lastAlpha
			}
			label, lastAlpha = 0, true
			continue
		}
		c := s[i]
		if !(isWordByte(c) || c == '-') {
			return false
		}
		label++
		lastAlpha = lastAlpha && isLetter(c)
	}
	return false
}

// Token is an alphanumeric word of a literal segment, or one separator
// between words (a byte, or a percent-encoded byte).
type Token struct {
	Text string
	Word bool
}

// Tokens splits literal text into words and separators. ok is false for
// text that has no shape: one with an '@' (email addresses own it) or
// without a word.
func Tokens(s string) (toks []Token, ok bool) {
	words := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '@':
			return nil, false
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, Token{s[i:j], true})
			words = true
			i = j
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			toks = append(toks, Token{Text: s[i : i+3]})
			i += 3
		default:
			toks = append(toks, Token{Text: s[i : i+1]})
			i++
		}
	}
	return toks, words
}

// AppendFolded appends the template text of a literal segment folded on
// its own, as route inference types a word among many values of its
// shape: hex words with a decimal digit become {hex:N}, other words with a
// digit {alnum:N}, and letters stay. A
// segment of one word with nothing to type (a name) is {param}; one of
// several such words is appended as it is.
func AppendFolded(dst []byte, seg string) []byte {
	toks, ok := Tokens(seg)
	if !ok {
		return append(dst, "{param}"...)
	}
	start, typed, words := len(dst), false, 0
	for _, t := range toks {
		if !t.Word {
			for i := 0; i < len(t.Text); i++ {
				dst = appendEscaped(dst, t.Text[i])
			}
			continue
		}
		words++
		w := t.Text
		letters := 0
		for letters < len(w) && isLetter(w[letters]) {
			letters++
		}
		switch {
		case isLongHex(w, 1):
			dst = append(dst, "{hex:"...)
			dst = strconv.AppendInt(dst, int64(len(w)), 10)
			dst = append(dst, '}')
		case letters == len(w):
			dst = append(dst, w...)
			continue
		default:
			dst = append(dst, "{alnum:"...)
			dst = strconv.AppendInt(dst, int64(len(w)), 10)
			dst = append(dst, '}')
		}
		typed = true
	}
	if !typed && words == 1 {
		return append(dst[:start], "{param}"...)
	}
	return dst
}

// ExamplePath is one path a path template covers ("/books/0.json" for
// "/books/{int}.json"), for evaluating a template against policy when no
// raw path of it was kept: routes inferred from the template match the
// example exactly when they match the template, since inferred templates
// never overlap.
func ExamplePath(template string) string {
	if !strings.HasPrefix(template, "/") {
		return template
	}
	var b strings.Builder
	for _, raw := range strings.Split(template[1:], "/") {
		b.WriteByte('/')
		b.WriteString(ParseTemplate(raw).Example())
	}
	return b.String()
}
