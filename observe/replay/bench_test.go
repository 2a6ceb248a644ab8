package replay

import (
	"bytes"
	"io"
	"runtime"
	"testing"

	fixtures "github.com/cinchmesh/cinch/fixtures/upstream"
	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/recorder"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/tapstream"
)

// BenchmarkIngest measures decoding and folding the booksapp stream, per
// input format, from memory: the whole per-event path of `cinch observe`.
// One recorder takes every iteration, as in a long recording of the same
// traffic, so allocs/event shows the steady state once routes are known.
func BenchmarkIngest(b *testing.B) {
	for _, f := range []struct {
		ext    string
		format tapstream.Format
	}{{"bin", tapstream.FormatRaw}, {"json", tapstream.FormatJSON}, {"txt", tapstream.FormatText}} {
		b.Run(string(f.format), func(b *testing.B) {
			data := fixtures.Read(b, "booksapp.tap."+f.ext+".gz")
			in := event.NewInterner(event.DefaultInternLimit)
			var ev event.Event
			events := 0
			rec := recorder.New(recorder.Options{Limits: recording.DefaultLimits})
			rec.BeginWindow(recording.Window{Source: "bench"})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				dec, err := tapstream.NewDecoder(f.format, bytes.NewReader(data), in)
				if err != nil {
					b.Fatal(err)
				}
				for {
					err := dec.Next(&ev)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					rec.Add(&ev)
					events++
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(events), "allocs/event")
		})
	}
}
