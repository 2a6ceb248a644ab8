package recording

import (
	"math"
	"sort"
)

// Histogram is a latency distribution over fixed log-linear buckets (four
// per doubling, about 19% wide), so that histograms from different windows
// merge exactly by adding bucket counts. Values are whole microseconds.
type Histogram struct {
	Count     int64    `json:"count"`
	SumMicros int64    `json:"sumMicros,omitempty"`
	Buckets   []Bucket `json:"buckets,omitempty"`
}

// Bucket counts the values v with previous bound < v <= LE.
type Bucket struct {
	LE    int64 `json:"le"`
	Count int64 `json:"count"`
}

// Bounds are the bucket upper bounds in microseconds: 1µs doubling in four
// steps up to beyond an hour. The last bucket also takes anything larger.
var Bounds = func() []int64 {
	var b []int64
	prev := int64(0)
	for i := 0; ; i++ {
		v := int64(math.Ceil(math.Pow(2, float64(i)/4)))
		if v <= prev {
			continue
		}
		b = append(b, v)
		prev = v
		if v > 4e9 {
			return b
		}
	}
}()

// BucketIndex returns the index into Bounds of the bucket holding micros.
func BucketIndex(micros int64) int {
	i := sort.Search(len(Bounds), func(i int) bool { return Bounds[i] >= micros })
	if i == len(Bounds) {
		i--
	}
	return i
}

// FromDense builds a histogram from per-bucket counts indexed like Bounds.
func FromDense(counts []int64, sum int64) Histogram {
	h := Histogram{SumMicros: sum}
	for i, c := range counts {
		if c != 0 {
			h.Buckets = append(h.Buckets, Bucket{LE: Bounds[i], Count: c})
			h.Count += c
		}
	}
	return h
}

// Add merges o into h.
func (h *Histogram) Add(o Histogram) {
	h.Count += o.Count
	h.SumMicros += o.SumMicros
	merged := make([]Bucket, 0, len(h.Buckets)+len(o.Buckets))
	i, j := 0, 0
	for i < len(h.Buckets) || j < len(o.Buckets) {
		switch {
		case j == len(o.Buckets) || (i < len(h.Buckets) && h.Buckets[i].LE < o.Buckets[j].LE):
			merged = append(merged, h.Buckets[i])
			i++
		case i == len(h.Buckets) || o.Buckets[j].LE < h.Buckets[i].LE:
			merged = append(merged, o.Buckets[j])
			j++
		default:
			merged = append(merged, Bucket{LE: h.Buckets[i].LE, Count: h.Buckets[i].Count + o.Buckets[j].Count})
			i++
			j++
		}
	}
	if len(merged) == 0 {
		merged = nil
	}
	h.Buckets = merged
}

// Quantile returns the upper bound (µs) of the bucket holding the q-th
// quantile, 0 for an empty histogram.
func (h Histogram) Quantile(q float64) int64 {
	if h.Count == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.Count)))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for _, b := range h.Buckets {
		seen += b.Count
		if seen >= rank {
			return b.LE
		}
	}
	return h.Buckets[len(h.Buckets)-1].LE
}
