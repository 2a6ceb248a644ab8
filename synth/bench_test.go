package synth

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/mesh"
)

// BenchmarkSynthRouteLevel synthesizes the route level of a generated mesh
// of 2,000 workloads, 20,000 edges and 200,000 distinct raw paths, the
// size the synthesis target is set for (under 2 s and 1 GiB on one core:
// run with -cpu 1). It reports paths/s and the process's peak resident
// memory.
func BenchmarkSynthRouteLevel(b *testing.B) {
	rec := mesh.Recording(mesh.Size{Workloads: 2000, Edges: 20000, PathsPerEdge: 10, Namespaces: 20, Seed: 1})
	paths := 0
	for _, e := range rec.Edges {
		paths += len(e.Routes)
	}
	opts := options(LevelRoute)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Synthesize(rec, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(paths)*float64(b.N)/b.Elapsed().Seconds(), "paths/s")
	if mib, ok := peakRSSMiB(); ok {
		b.ReportMetric(mib, "peak-RSS-MiB")
	}
}

// peakRSSMiB reads the process's peak resident set size (Linux).
func peakRSSMiB() (float64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}
