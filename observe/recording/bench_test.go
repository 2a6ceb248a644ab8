package recording_test

import (
	"testing"

	"github.com/cinchmesh/cinch/fixtures/mesh"
	"github.com/cinchmesh/cinch/observe/recording"
)

// BenchmarkFile writes and reads the recording of a 5,000-workload mesh
// (50,000 edges) in each syntax: what observe, graph merge and every
// command that reads a recording pay on a large mesh. MB/s is of the file.
func BenchmarkFile(b *testing.B) {
	rec := mesh.Recording(mesh.Size{Workloads: 5000, Edges: 50000, PathsPerEdge: 4, Namespaces: 50, Seed: 1})
	for _, enc := range []recording.Encoding{recording.YAML, recording.JSON} {
		data, err := recording.Encode(rec, enc)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("write/"+string(enc), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for range b.N {
				if _, err := recording.Encode(rec, enc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("read/"+string(enc), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for range b.N {
				if _, err := recording.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
