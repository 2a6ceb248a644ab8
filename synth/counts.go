package synth

import (
	"cmp"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/synth/policy"
)

// ObjectCount is how many objects of one kind a synthesis writes in one
// namespace: what Linkerd's policy controller indexes (it holds every
// Server, route and authorization in memory).
type ObjectCount struct {
	Namespace string
	Kind      string
	Count     int
}

// Counts lists the objects of res per namespace and kind, sorted, the
// default-deny Namespace documents included.
func (res *Result) Counts() []ObjectCount {
	n := map[[2]string]int{}
	for i := range res.Units {
		for _, o := range res.Units[i].Set.Objects() {
			n[[2]string{res.Units[i].Namespace, policy.KeyOf(o).Kind}]++
		}
	}
	for _, ns := range res.DefaultDeny {
		n[[2]string{ns, "Namespace"}]++
	}
	out := make([]ObjectCount, 0, len(n))
	for k, c := range n {
		out = append(out, ObjectCount{Namespace: k[0], Kind: k[1], Count: c})
	}
	slices.SortFunc(out, func(a, b ObjectCount) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Kind, b.Kind))
	})
	return out
}

// TotalsByKind sums counts over namespaces, by kind, and returns the total.
func TotalsByKind(counts []ObjectCount) (byKind []ObjectCount, total int) {
	n := map[string]int{}
	for _, c := range counts {
		n[c.Kind] += c.Count
		total += c.Count
	}
	for k, c := range n {
		byKind = append(byKind, ObjectCount{Kind: k, Count: c})
	}
	slices.SortFunc(byKind, func(a, b ObjectCount) int { return strings.Compare(a.Kind, b.Kind) })
	return byKind, total
}
