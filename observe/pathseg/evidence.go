package pathseg

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// SketchSize is how many hashes an Evidence keeps: distinct values are
// counted exactly up to SketchSize and estimated beyond.
const SketchSize = 16

// Evidence is what was seen of one parameter of a route template: how many
// distinct values, and the shortest and longest of them (in bytes). Its
// values themselves are not kept: Sketch holds the SketchSize smallest
// 32-bit hashes of them (a k-minimum-values sketch), which is what two
// Evidences need to merge into the Evidence of all their values, in any
// order and grouping, counting a value seen by both once.
type Evidence struct {
	// Distinct is the number of distinct values: exact below SketchSize,
	// estimated from the sketch above (within about a quarter).
	Distinct int64 `json:"distinct"`
	Shortest int   `json:"shortest"`
	Longest  int   `json:"longest"`
	// Sketch is sorted ascending, without repeats.
	Sketch Sketch `json:"sketch"`
}

// Sketch is the smallest hashes of the values seen. In a file it is one
// string of eight hex digits per hash, so a recording spends one line on
// it.
type Sketch []uint32

// MarshalJSON writes the hashes as one hex string.
func (k Sketch) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 2+8*len(k))
	out = append(out, '"')
	for _, h := range k {
		out = fmt.Appendf(out, "%08x", h)
	}
	return append(out, '"'), nil
}

// UnmarshalJSON reads the hashes written by MarshalJSON.
func (k *Sketch) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("sketch: want a string of hex digits: %w", err)
	}
	if len(s)%8 != 0 {
		return fmt.Errorf("sketch %q: want eight hex digits per hash", s)
	}
	out := make(Sketch, 0, len(s)/8)
	for i := 0; i < len(s); i += 8 {
		h, err := strconv.ParseUint(s[i:i+8], 16, 32)
		if err != nil {
			return fmt.Errorf("sketch %q: want eight hex digits per hash: %w", s, err)
		}
		out = append(out, uint32(h))
	}
	*k = out
	return nil
}

// Add counts one value.
func (e *Evidence) Add(v string) { e.add(hash(v), len(v)) }

// AddBytes counts one value without converting it.
func (e *Evidence) AddBytes(v []byte) { e.add(hash(v), len(v)) }

func (e *Evidence) add(h uint32, n int) {
	if len(e.Sketch) == 0 || n < e.Shortest {
		e.Shortest = n
	}
	if n > e.Longest {
		e.Longest = n
	}
	if len(e.Sketch) == SketchSize && h >= e.Sketch[SketchSize-1] {
		return
	}
	i, found := slices.BinarySearch(e.Sketch, h)
	if found {
		return
	}
	if len(e.Sketch) == SketchSize {
		e.Sketch = e.Sketch[:SketchSize-1]
	}
	e.Sketch = slices.Insert(e.Sketch, i, h)
	e.Distinct = e.estimate()
}

// Merge adds o's values to e.
func (e *Evidence) Merge(o Evidence) {
	if len(o.Sketch) == 0 {
		return
	}
	if len(e.Sketch) == 0 || o.Shortest < e.Shortest {
		e.Shortest = o.Shortest
	}
	e.Longest = max(e.Longest, o.Longest)
	e.Sketch = append(e.Sketch, o.Sketch...)
	e.Normalize()
}

// Normalize sorts the sketch, drops repeats and hashes beyond SketchSize,
// and sets Distinct from it, so an Evidence read from a file holds
// whatever it says consistently.
func (e *Evidence) Normalize() {
	slices.Sort(e.Sketch)
	e.Sketch = slices.Compact(e.Sketch)
	e.Sketch = slices.Clip(e.Sketch[:min(len(e.Sketch), SketchSize)])
	if len(e.Sketch) == 0 {
		*e = Evidence{}
		return
	}
	e.Shortest = max(e.Shortest, 0)
	e.Longest = max(e.Longest, e.Shortest)
	e.Distinct = e.estimate()
}

// estimate is the number of distinct values the sketch stands for: its
// size while it is not full, else (k-1)/h_k with the hashes read as
// fractions of 2^32.
func (e *Evidence) estimate() int64 {
	if len(e.Sketch) < SketchSize {
		return int64(len(e.Sketch))
	}
	kth := (float64(e.Sketch[SketchSize-1]) + 1) / (1 << 32)
	return max(int64(math.Round(float64(SketchSize-1)/kth)), SketchSize)
}

// Clone returns a copy that shares nothing with e.
func (e Evidence) Clone() Evidence {
	e.Sketch = slices.Clone(e.Sketch)
	return e
}

// hash is FNV-1a over the value, finished with a 64-bit mixer so that
// short decimal values spread over all 32 bits kept.
func hash[S ~string | ~[]byte](v S) uint32 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(v); i++ {
		h ^= uint64(v[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return uint32(h >> 32)
}

// Values calls fn with the value of each parameter of s in raw, in order,
// as Match matches them; it says whether raw is a value of s.
func (s Segment) Values(raw string, fn func(v string)) bool {
	var spans [8][2]int
	got, ok := spansOf(s, raw, 0, spans[:0])
	if ok {
		for _, sp := range got {
			fn(raw[sp[0]:sp[1]])
		}
	}
	return ok
}

// ValueSpans appends to dst the byte ranges of raw that hold the values
// of s's parameters, in order; ok is false when raw is not a value of s.
func ValueSpans[S ~string | ~[]byte](s Segment, raw S, dst [][2]int) ([][2]int, bool) {
	return spansOf(s, raw, 0, dst)
}

// spansOf matches raw against s, appending the spans of its parameters
// (offset by off) to dst. Runs of any length are tried longest first.
func spansOf[S ~string | ~[]byte](s Segment, raw S, off int, dst [][2]int) ([][2]int, bool) {
	if len(s) == 0 {
		return dst, len(raw) == 0
	}
	p, rest := s[0], s[1:]
	switch p.Class {
	case Literal:
		if !hasPrefix(raw, p.Lit) {
			return dst, false
		}
		return spansOf(rest, raw[len(p.Lit):], off+len(p.Lit), dst)
	case Date, UUID:
		n := 10
		if p.Class == UUID {
			n = 36
		}
		if len(raw) < n || !whole(p.Class, raw[:n]) {
			return dst, false
		}
		return spansOf(rest, raw[n:], off+n, append(dst, [2]int{off, off + n}))
	case Hex, Alnum:
		if p.Len > 0 {
			if len(raw) < p.Len || !runOf(p.Class, raw[:p.Len]) {
				return dst, false
			}
			return spansOf(rest, raw[p.Len:], off+p.Len, append(dst, [2]int{off, off + p.Len}))
		}
	}
	longest := len(raw)
	if p.Class.Word() {
		// A run can only end within its longest prefix of its characters.
		longest = 0
		for longest < len(raw) && runOf(p.Class, raw[longest:longest+1]) {
			longest++
		}
	}
	for k := longest; k > 0; k-- {
		if !p.Class.Word() && !whole(p.Class, raw[:k]) {
			continue
		}
		if got, ok := spansOf(rest, raw[k:], off+k, append(dst, [2]int{off, off + k})); ok {
			return got, true
		}
	}
	return dst, false
}

func hasPrefix[S ~string | ~[]byte](s S, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if s[i] != prefix[i] {
			return false
		}
	}
	return true
}

// ParsePath reads a path template written as AppendPath writes it into its
// segments.
func ParsePath(template string) []Segment {
	var segs []Segment
	rest := strings.TrimPrefix(template, "/")
	for {
		seg, tail, more := strings.Cut(rest, "/")
		segs = append(segs, ParseTemplate(seg))
		if !more {
			return segs
		}
		rest = tail
	}
}

// Params counts the parameters of a path's segments.
func Params(segs []Segment) int {
	n := 0
	for _, s := range segs {
		for _, p := range s {
			if p.Class != Literal {
				n++
			}
		}
	}
	return n
}

// AddPathValues adds the values that raw path gives the parameters of
// segs to ev (one Evidence per parameter, in order); it says whether raw
// is a path of segs. It allocates nothing once the sketches are full.
func AddPathValues[S ~string | ~[]byte](segs []Segment, path S, ev []Evidence) bool {
	if len(path) > 0 && path[0] == '/' {
		path = path[1:]
	}
	var buf [8][2]int
	i, start := 0, 0
	for _, seg := range segs {
		if start > len(path) {
			return false
		}
		end := start
		for end < len(path) && path[end] != '/' {
			end++
		}
		spans, ok := ValueSpans(seg, path[start:end], buf[:0])
		if !ok || i+len(spans) > len(ev) {
			return false
		}
		for _, sp := range spans {
			v := path[start+sp[0] : start+sp[1]]
			ev[i].add(hash(v), len(v))
			i++
		}
		start = end + 1
	}
	return start == len(path)+1 && i == len(ev)
}

// MergeParams adds the evidence of b's parameters to a's, for two copies
// of one template, and returns a; when their numbers differ (one of them
// has none), nothing is known of the merged values: nil.
func MergeParams(a, b []Evidence) []Evidence {
	if len(a) != len(b) {
		return nil
	}
	for i := range a {
		a[i].Merge(b[i])
	}
	return a
}

// CloneParams returns a copy of ps that shares nothing with it.
func CloneParams(ps []Evidence) []Evidence {
	if ps == nil {
		return nil
	}
	out := make([]Evidence, len(ps))
	for i, p := range ps {
		out[i] = p.Clone()
	}
	return out
}
