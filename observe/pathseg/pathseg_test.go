package pathseg

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClassify(t *testing.T) {
	for raw, want := range map[string]string{
		"1042":                                 "{int}",
		"2026-11-24":                           "{date}",
		"0b5e8a4e-8f7c-4c1e-9a57-1d2f3e4a5b6c": "{uuid}",
		"5f2a9c0e1b3d4a5f6e7d8c9b":             "{hex}",
		"deadbeefcafe":                         "deadbeefcafe",
		"jane.doe@corp.example.com":            "{email}",
		"a@b":                                  "a@b",
		"ORD-00917":                            "ORD-{int}",
		"INV-2024-000123":                      "INV-{int}-{int}",
		"report-2026-11-24.pdf":                "report-{date}.pdf",
		"1.json":                               "{int}.json",
		"order-0b5e8a4e-8f7c-4c1e-9a57-1d2f3e4a5b6c.pdf": "order-{uuid}.pdf",
		"v1":                  "v1",
		"styles.9c1e77b2.css": "styles.9c1e77b2.css",
		"a%201":               "a%20{int}",
		"{int}":               "{{int}}",
		"x{1}":                "x{{{int}}}",
		"caf%C3%A9-12":        "caf%C3%A9-{int}",
	} {
		got := Classify(raw, 12)
		if got.Template() != want {
			t.Errorf("Classify(%q) = %q, want %q", raw, got.Template(), want)
		}
		if !got.Match(raw) {
			t.Errorf("%q does not match its segment %q", raw, got.Template())
		}
	}
}

func TestAppendPathAllocatesNothing(t *testing.T) {
	path := []byte("/v2/orders/ORD-00917/items/0b5e8a4e-8f7c-4c1e-9a57-1d2f3e4a5b6c")
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = AppendPath(buf[:0], path, 12) }); n != 0 {
		t.Errorf("AppendPath allocates %.1f times per path, want 0", n)
	}
	if got := string(buf); got != "/v2/orders/ORD-{int}/items/{uuid}" {
		t.Errorf("AppendPath = %q", got)
	}
}

func TestParseTemplateKeepsUnknownBracesLiteral(t *testing.T) {
	for text, want := range map[string]Segment{
		"{foo}":      {{Lit: "{foo}"}},
		"{hex:0}":    {{Lit: "{hex:0}"}},
		"{int:3}":    {{Lit: "{int:3}"}},
		"{hex:08}":   {{Lit: "{hex:08}"}},
		"{{int}}":    {{Lit: "{int}"}},
		"a{alnum:9}": {{Lit: "a"}, {Class: Alnum, Len: 9}},
	} {
		if got := ParseTemplate(text); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseTemplate(%q) = %+v, want %+v", text, got, want)
		}
	}
}

// FuzzClassify: whatever a segment holds, its template matches it, reads
// back as itself, and its literal text is the segment's own, quoted: no
// observed text can widen the expression.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"ORD-1", "a.*", "(x|y)", "{int}", "}}{{", "%2e%2e", "x@y.io", "2026-01-01T1", "ü-12"} {
		f.Add(s, 12)
	}
	f.Fuzz(func(t *testing.T, raw string, hexMin int) {
		// Paths that are not UTF-8 are never written (routes.Expressible).
		if strings.Contains(raw, "/") || raw == "" || !utf8.ValidString(raw) || hexMin < 4 || hexMin > 64 {
			return
		}
		seg := Classify(raw, hexMin)
		if !seg.Match(raw) {
			t.Errorf("%q does not match its segment %q", raw, seg.Template())
		}
		if again := ParseTemplate(seg.Template()); !reflect.DeepEqual(again, seg) {
			t.Errorf("%q: template %q reads back as %q", raw, seg.Template(), again.Template())
		}
		re, err := regexp.Compile("^(?:" + seg.Regexp() + ")$")
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if !re.MatchString(raw) {
			t.Errorf("%q: its expression %q does not match it", raw, seg.Regexp())
		}
		rest := raw
		for _, p := range seg {
			if p.Class != Literal {
				continue
			}
			i := strings.Index(rest, p.Lit)
			if i < 0 {
				t.Fatalf("%q: literal %q of %q is not its own text", raw, p.Lit, seg.Template())
			}
			rest = rest[i+len(p.Lit):]
		}
		// Its values, put back between its literals, are raw again, and
		// each is a value of its parameter.
		var b strings.Builder
		i := 0
		ok := seg.Values(raw, func(v string) {
			for i < len(seg) && seg[i].Class == Literal {
				b.WriteString(seg[i].Lit)
				i++
			}
			if i < len(seg) && !(Segment{seg[i]}).Match(v) {
				t.Errorf("%q: value %q is not a %s", raw, v, seg[i].Class.Name())
			}
			b.WriteString(v)
			i++
		})
		for ; i < len(seg); i++ {
			b.WriteString(seg[i].Lit)
		}
		if !ok || b.String() != raw {
			t.Errorf("%q: values of %q put back give %q (matched %v)", raw, seg.Template(), b.String(), ok)
		}
	})
}
