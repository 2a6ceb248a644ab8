package pathseg

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		s, c string
		want bool
	}{
		{"0000A {int} {hex}", "0000A {int} 000A", true},
		{"{hex}", "{int}", true},
		{"{alnum}", "a{int}b", true},
		{"{hex:8}", "{hex:8}", true},
		{"{hex:8}", "ab{hex:6}", true},
		{"{hex:8}", "{int}", false}, // ints have any length
		{"{hex}", "{alnum:4}", false},
		{"{param}", "x-{uuid}.json", true},
		{"{param}.pdf", "report-{date}.pdf", true},
		{"{param}.pdf", "report-{date}.csv", false},
		{"{int}", "{int}-{int}", false},
		{"ORD-{int}", "INV-{int}", false},
		{"{date}", "{date}", true},
		{"{email}", "{param}", false},
	} {
		s, c := ParseTemplate(tc.s), ParseTemplate(tc.c)
		if got := s.Covers(c); got != tc.want {
			t.Errorf("%q covers %q: %v, want %v", tc.s, tc.c, got, tc.want)
		}
		// Sound: what it covers, its values match.
		if tc.want && !s.Match(c.Example()) {
			t.Errorf("%q covers %q but not its value %q", tc.s, tc.c, c.Example())
		}
	}
}

func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		s, o string
		want bool
	}{
		{"0000A {hex} A", "0000A {int} {hex}", true}, // 0000A 0 A
		{"{int}.json", "{hex}", false},
		{"{int}", "{hex:4}", true},
		{"{int}", "{alnum:3}x", false},
		{"ORD-{int}", "INV-{int}", false},
		{"{email}", "{param}.com", true},
		{"{email}", "{int}", false},
		{"{date}", "{int}-{int}-{int}", true},
		{"{uuid}", "{hex}", false},
		{"a{param}", "{param}b", true},
	} {
		s, o := ParseTemplate(tc.s), ParseTemplate(tc.o)
		if got := s.Overlaps(o); got != tc.want {
			t.Errorf("%q overlaps %q: %v, want %v", tc.s, tc.o, got, tc.want)
		}
		if got := o.Overlaps(s); got != tc.want {
			t.Errorf("%q overlaps %q: %v, want %v", tc.o, tc.s, got, tc.want)
		}
	}
}

// FuzzCovers: for two raw segments typed on sight, Covers is sound (what
// one covers, the other's raw value matches) and Overlaps misses no
// shared value (a raw value both match is one both overlap on).
func FuzzCovers(f *testing.F) {
	f.Add("0000A 0 000A", "0000A 0 A00000000000")
	f.Add("ORD-1", "INV-2")
	f.Add("x@y.io", "a.b")
	f.Fuzz(func(t *testing.T, x, y string) {
		if strings.Contains(x+y, "/") || x == "" || y == "" || !utf8.ValidString(x+y) {
			return
		}
		s, c := Classify(x, 12), Classify(y, 12)
		if s.Covers(c) && !s.Match(y) {
			t.Errorf("%q covers %q but not its value %q", s.Template(), c.Template(), y)
		}
		if s.Match(y) && !s.Overlaps(c) {
			t.Errorf("%q and %q share %q but do not overlap", s.Template(), c.Template(), y)
		}
		if s.Overlaps(c) != c.Overlaps(s) {
			t.Errorf("%q overlaps %q one way only", s.Template(), c.Template())
		}
	})
}
