package event

// Interner returns one shared string for equal byte sequences, so that the
// labels of millions of events cost one allocation each. It stops adding
// entries at its limit (then it allocates per call), which bounds its memory
// when a hostile stream sends endless distinct labels.
//
// An Interner is not safe for concurrent use; give each decoder its own.
type Interner struct {
	m     map[string]string
	limit int
}

// DefaultInternLimit is enough for the labels of a very large mesh.
const DefaultInternLimit = 1 << 18

// NewInterner returns an interner holding at most limit strings.
func NewInterner(limit int) *Interner {
	return &Interner{m: make(map[string]string), limit: limit}
}

// Bytes returns the string for b.
func (in *Interner) Bytes(b []byte) string {
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.m) < in.limit {
		in.m[s] = s
	}
	return s
}

// String returns the shared copy of s.
func (in *Interner) String(s string) string {
	if v, ok := in.m[s]; ok {
		return v
	}
	if len(in.m) < in.limit {
		in.m[s] = s
	}
	return s
}
