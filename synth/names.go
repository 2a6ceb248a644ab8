package synth

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// maxName is the longest generated name: a DNS-1123 label.
const maxName = 63

// dnsLabel joins parts into a readable DNS-1123 label: lower case,
// anything else than [a-z0-9] becomes '-', runs of '-' collapse, and a
// name too long is cut and given a hash of the whole so that two long
// names that share a beginning stay apart.
func dnsLabel(parts ...string) string {
	var b strings.Builder
	dash := false
	for _, part := range parts {
		for _, r := range strings.ToLower(part) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				if dash && b.Len() > 0 {
					b.WriteByte('-')
				}
				dash = false
				b.WriteRune(r)
			default:
				dash = true
			}
		}
		dash = true
	}
	s := b.String()
	if s == "" {
		s = "x"
	}
	if len(s) <= maxName {
		return s
	}
	h := fnv.New32a()
	h.Write([]byte(strings.Join(parts, "\x00")))
	suffix := fmt.Sprintf("-%08x", h.Sum32())
	return strings.TrimRight(s[:maxName-len(suffix)], "-") + suffix
}

// namer hands out names unique per namespace and kind. Callers ask in a
// deterministic order, so collisions resolve the same way every run: the
// first keeps the name, later ones get -2, -3, ...
type namer struct {
	used map[string]bool // kind/namespace/name
}

func newNamer() *namer { return &namer{used: map[string]bool{}} }

func (n *namer) name(kind, namespace string, parts ...string) string {
	base := dnsLabel(parts...)
	name := base
	for i := 2; n.used[kind+"/"+namespace+"/"+name]; i++ {
		suffix := fmt.Sprintf("-%d", i)
		name = strings.TrimRight(base[:min(len(base), maxName-len(suffix))], "-") + suffix
	}
	n.used[kind+"/"+namespace+"/"+name] = true
	return name
}

// ObjectName joins parts into a readable DNS-1123 label the way synth
// names the objects it writes, for objects written outside a synthesis
// (explain's suggested grants).
func ObjectName(parts ...string) string { return dnsLabel(parts...) }
