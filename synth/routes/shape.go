package routes

import (
	"cmp"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/pathseg"
)

// A shape is how a literal segment is built: its alphanumeric words and
// the separators between them ("styles.9c1e77b2.css" is word, ".", word,
// ".", word). Literals of one shape at one position are evidence for a
// sub-segment template: the words all values share stay literal, the
// words that vary become a typed run (docs/route-inference.md).

// shapeGroup is a sub-segment template and the literal children it covers.
type shapeGroup struct {
	seg     segment
	members []*child
}

// shapeKey names a shape: separators as they are, each word as "\x00".
func shapeKey(toks []pathseg.Token) string {
	var b strings.Builder
	for _, t := range toks {
		if t.Word {
			b.WriteByte(0)
			continue
		}
		b.WriteString(t.Text)
	}
	return b.String()
}

// wordKind is what one word position of a shape holds across its values.
type wordKind struct {
	class  pathseg.Class // Literal: the same word, or a split word
	split  bool          // a few alphabetic words: one template each
	prefix string        // letters every value starts with, before an Int
	length int           // fixed length of a Hex or Alnum run
}

// shapes finds the sub-segment templates among the literal children of
// one position. A shape with at least MinDistinct different values
// becomes a template when each of its varying words has a type: hex
// digits (with a decimal digit among them), digits after a shared letter
// prefix (v{int}), or alphanumeric runs of one length next to a shared
// literal word. Alphabetic words with fewer than MinDistinct values stay
// literal, one template each (ORD-{int}, INV-{int}). leftovers counts the
// literals no template covers.
func shapes(literals []*child, opts Options) (groups []shapeGroup, leftovers int) {
	type member struct {
		c    *child
		toks []pathseg.Token
	}
	byShape := map[string][]member{}
	for _, c := range literals {
		lit, _ := c.seg.Literal()
		toks, ok := pathseg.Tokens(lit)
		if !ok {
			leftovers++
			continue
		}
		k := shapeKey(toks)
		byShape[k] = append(byShape[k], member{c, toks})
	}
	keys := make([]string, 0, len(byShape))
	for k := range byShape {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ms := byShape[k]
		if len(ms) < opts.MinDistinct {
			leftovers += len(ms)
			continue
		}
		var kinds []wordKind
		typed, anchored := false, false
		ok := true
		for i, t := range ms[0].toks {
			if !t.Word {
				continue
			}
			words := make([]string, len(ms))
			for j, m := range ms {
				words[j] = m.toks[i].Text
			}
			kind, fits := kindOf(words, opts)
			if !fits {
				ok = false
				break
			}
			typed = typed || kind.class == pathseg.Int || kind.class == pathseg.Hex
			anchored = anchored || kind.class == pathseg.Literal
			kinds = append(kinds, kind)
		}
		// An alphanumeric run alone is no evidence of an id: a name such
		// as "alice" is one too.
		if !ok || !(typed || anchored) {
			leftovers += len(ms)
			continue
		}
		bySeg := map[string]*shapeGroup{}
		for _, m := range ms {
			seg := shapeSegment(m.toks, kinds)
			sk := seg.Template()
			g := bySeg[sk]
			if g == nil {
				g = &shapeGroup{seg: seg}
				bySeg[sk] = g
			}
			g.members = append(g.members, m.c)
		}
		for _, g := range bySeg {
			groups = append(groups, *g)
		}
	}
	slices.SortFunc(groups, func(a, b shapeGroup) int { return cmp.Compare(a.seg.Template(), b.seg.Template()) })
	return groups, leftovers
}

// kindOf types one word position from its values; fits is false when the
// values are free-form (alphanumeric runs of different lengths).
func kindOf(words []string, opts Options) (kind wordKind, fits bool) {
	distinct := map[string]bool{}
	letters, hex, digit := true, true, false
	prefix := words[0]
	length := len(words[0])
	for _, w := range words {
		distinct[w] = true
		for i := 0; i < len(w); i++ {
			c := w[i]
			isDigit := c >= '0' && c <= '9'
			digit = digit || isDigit
			letters = letters && !isDigit
			hex = hex && (isDigit || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
		}
		prefix = commonPrefix(prefix, w)
		if len(w) != length {
			length = 0
		}
	}
	switch {
	case len(distinct) == 1:
		return wordKind{}, true
	case letters && len(distinct) < opts.MinDistinct:
		return wordKind{split: true}, true
	}
	if hex && digit {
		return wordKind{class: pathseg.Hex, length: length}, true
	}
	prefix = strings.TrimRightFunc(prefix, func(r rune) bool { return r >= '0' && r <= '9' })
	if prefix != "" && strings.Trim(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
		digits := true
		for _, w := range words {
			rest := w[len(prefix):]
			digits = digits && rest != "" && strings.Trim(rest, "0123456789") == ""
		}
		if digits {
			return wordKind{class: pathseg.Int, prefix: prefix}, true
		}
	}
	if length > 0 {
		return wordKind{class: pathseg.Alnum, length: length}, true
	}
	return wordKind{}, false
}

func commonPrefix(a, b string) string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return a[:n]
}

// shapeSegment writes one value's tokens as the shape's template: literal
// and split words as they are, varying words as their run.
func shapeSegment(toks []pathseg.Token, kinds []wordKind) segment {
	var seg segment
	lit := func(s string) {
		if n := len(seg); n > 0 && seg[n-1].Class == pathseg.Literal {
			seg[n-1].Lit += s
			return
		}
		seg = append(seg, pathseg.Part{Lit: s})
	}
	w := 0
	for _, t := range toks {
		if !t.Word {
			lit(t.Text)
			continue
		}
		k := kinds[w]
		w++
		switch {
		case k.class == pathseg.Literal:
			lit(t.Text)
		case k.class == pathseg.Int:
			lit(k.prefix)
			seg = append(seg, pathseg.Part{Class: pathseg.Int})
		default:
			seg = append(seg, pathseg.Part{Class: k.class, Len: k.length})
		}
	}
	return seg
}
