package recorder

import (
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/recording"
)

// BenchmarkDistinctIDs folds requests of one edge whose paths carry 10^6
// distinct ids (/v2/orders/ORD-<id>/items, cycling) into the recorder, three
// events per request, and reports the heap in use at the end: with
// templating it stays the same however many events and ids go by
// (docs/performance.md). events/cpu-s divides the events by the CPU time
// the process used, as BenchmarkIngest does.
func BenchmarkDistinctIDs(b *testing.B) {
	const ids = 1_000_000
	web, api := pod(webIP, "shop", "web", "web"), pod(apiIP, "shop", "api", "api")
	evs := exchange(event.Inbound, 1, web, api, "GET", "", 200)
	r := New(Options{})
	r.BeginWindow(recording.Window{Source: "bench"})
	path := make([]byte, 0, 64)
	runtime.GC()
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev := &evs[i%3]
		if ev.Kind == event.RequestInit {
			path = append(path[:0], "/v2/orders/ORD-"...)
			path = strconv.AppendInt(path, int64(i/3%ids), 10)
			path = append(path, "/items"...)
			ev.Path = path
		}
		ev.ID.Stream = uint64(i / 3)
		r.Add(ev)
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapInuse)/(1<<20), "MiB-heap")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if s := r.Stats(); s.Routes != 1 {
		b.Errorf("%d routes, want the one template", s.Routes)
	}
}
