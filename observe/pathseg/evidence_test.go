package pathseg

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestEvidenceCountsDistinctValues(t *testing.T) {
	var e Evidence
	for _, v := range []string{"7", "1042", "7", "88", "1042"} {
		e.Add(v)
	}
	if e.Distinct != 3 || e.Shortest != 1 || e.Longest != 4 || len(e.Sketch) != 3 {
		t.Errorf("evidence %+v, want 3 distinct values of 1 to 4 bytes", e)
	}
	// Beyond the sketch, the count is an estimate: within a third for
	// 10^5 distinct values.
	var big Evidence
	for i := range 100000 {
		big.Add(fmt.Sprint(i))
	}
	if big.Distinct < 66000 || big.Distinct > 150000 || len(big.Sketch) != SketchSize {
		t.Errorf("10^5 distinct values estimated as %d (sketch of %d)", big.Distinct, len(big.Sketch))
	}
}

// TestEvidenceMerge: merging is the evidence of all the values, whatever
// the order and grouping, counting a value both sides saw once.
func TestEvidenceMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var parts [3][]string
		var all Evidence
		for i := range parts {
			for range rng.IntN(30) {
				v := fmt.Sprint(rng.IntN(60)) // overlapping values
				parts[i] = append(parts[i], v)
				all.Add(v)
			}
		}
		ev := func(i int) Evidence {
			var e Evidence
			for _, v := range parts[i] {
				e.Add(v)
			}
			return e
		}
		ab, bc := ev(0), ev(1)
		ab.Merge(ev(1))
		ab.Merge(ev(2))
		bc.Merge(ev(2))
		a := ev(0)
		a.Merge(bc)
		ca := ev(2)
		ca.Merge(ev(0))
		ca.Merge(ev(1))
		for _, got := range []Evidence{ab, a, ca} {
			if !reflect.DeepEqual(got, all) && !(len(got.Sketch) == 0 && len(all.Sketch) == 0) {
				t.Fatalf("merged %+v, want %+v", got, all)
			}
		}
	}
}

func TestAddPathValues(t *testing.T) {
	segs := ParsePath("/users/u-{int}/keys/{hex}/{{x}}")
	ev := make([]Evidence, Params(segs))
	if !AddPathValues(segs, "/users/u-42/keys/ab12ab12ab12/{x}", ev) || ev[0].Longest != 2 || ev[1].Longest != 12 {
		t.Errorf("evidence %+v", ev)
	}
	for _, path := range []string{"/users/u-42/keys/ab12ab12ab12", "/users/u-42/keys/ab12ab12ab12/{x}/more", "/users/v-42/keys/ab12ab12ab12/{x}", "/users/u-x/keys/ab/{x}"} {
		if AddPathValues(segs, path, make([]Evidence, 2)) {
			t.Errorf("%q is taken for a path of the template", path)
		}
	}
}
