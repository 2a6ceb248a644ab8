package replay

import (
	"bytes"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

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
// events/cpu-s divides the events by the CPU time the process used (user
// and system, the collector's too): with -cpu 1 that is the rate on one
// core even when a shared machine gives the run only part of one.
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
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
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
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			runtime.ReadMemStats(&after)
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(events)/cpu.Seconds(), "events/cpu-s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(events), "allocs/event")
		})
	}
}
