package live

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	fixtures "github.com/cinchmesh/cinch/fixtures/upstream"
	"github.com/cinchmesh/cinch/observe/recorder"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/tapapi"
)

// frameStart returns the offset of the frame holding byte off.
func frameStart(stream []byte, off int) int {
	for at := 0; ; {
		next := at + 4 + int(binary.LittleEndian.Uint32(stream[at:]))
		if next > off {
			return at
		}
		at = next
	}
}

// frames counts the frames of a raw tap stream.
func frames(stream []byte) int64 {
	var n int64
	for at := 0; at < len(stream); at += 4 + int(binary.LittleEndian.Uint32(stream[at:])) {
		n++
	}
	return n
}

// untilEvents gives a window that ends once n events are in (or after a
// minute), so that on a loaded machine the window's end does not race the
// stream.
func untilEvents(t *testing.T, n int64, opts Options) (context.Context, Options) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts.Duration, opts.ProgressEvery = time.Minute, 5*time.Millisecond
	opts.Progress = func(p Progress) {
		if p.Events >= n {
			cancel()
		}
	}
	return ctx, opts
}

// TestStreamBreakIsRetriedAndNoted replays booksapp through a tap server
// that dies mid-frame once; the reopened stream resumes at that frame (as a
// new tap session would carry on with new traffic), so the recording must
// still count every request, and the window must note the gap.
func TestStreamBreakIsRetriedAndNoted(t *testing.T) {
	stream := fixtures.Read(t, "booksapp.tap.bin.gz")
	cut := 300_001
	resume := frameStart(stream, cut)
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch conns.Add(1) {
		case 1:
			w.Write(stream[:cut])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case 2:
			w.Write(stream[resume:])
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done() // a live stream stays open until the window ends
	}))
	defer srv.Close()

	rec := recorder.New(recorder.Options{})
	rec.BeginWindow(recording.Window{Source: "tap:ns/booksapp"})
	ctx, opts := untilEvents(t, frames(stream), Options{Backoff: 10 * time.Millisecond})
	err := Record(ctx, &tapapi.Client{HTTP: srv.Client(), Host: srv.URL},
		[]tapapi.Params{{Target: tapapi.Target{Kind: "namespace", Name: "booksapp"}, MaxRPS: 100}}, rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := rec.Recording()
	var requests int64
	for _, e := range r.Edges {
		requests += e.Requests
		if e.FirstSeen == nil || e.LastSeen == nil {
			t.Errorf("edge %v has no first/last seen", e.Key())
		}
	}
	if requests != 3000 {
		t.Errorf("requests = %d, want all 3000 of booksapp", requests)
	}
	gaps := r.Windows[0].Gaps
	if len(gaps) != 1 || gaps[0].Target != "namespace/booksapp" || gaps[0].End.Before(gaps[0].Start) || gaps[0].Error == "" {
		t.Errorf("gaps = %+v, want one noted gap for namespace/booksapp", gaps)
	}
}

func TestRefusalEndsTheWindow(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"kind":"Status","message":"forbidden: cannot watch tap.linkerd.io","reason":"Forbidden","code":403}`))
	}))
	defer srv.Close()
	rec := recorder.New(recorder.Options{})
	rec.BeginWindow(recording.Window{Source: "tap"})
	err := Record(context.Background(), &tapapi.Client{HTTP: srv.Client(), Host: srv.URL},
		[]tapapi.Params{{Target: tapapi.Target{Kind: "deployment", Name: "web"}, Namespace: "shop"}},
		rec, Options{Duration: time.Minute})
	var ae *tapapi.APIError
	if !errors.As(err, &ae) || ae.Code != 403 || !strings.Contains(err.Error(), "tap.linkerd.io") {
		t.Errorf("err = %v, want the 403 refusal", err)
	}
}

func TestProgressReportsStreamsAndTotals(t *testing.T) {
	stream := fixtures.Read(t, "emojivoto.tap.bin.gz")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(stream)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()

	var reports []Progress
	rec := recorder.New(recorder.Options{})
	rec.BeginWindow(recording.Window{Source: "tap:ns/emojivoto"})
	err := Record(context.Background(), &tapapi.Client{HTTP: srv.Client(), Host: srv.URL},
		[]tapapi.Params{{Target: tapapi.Target{Kind: "namespace", Name: "emojivoto"}, MaxRPS: 100}},
		rec, Options{Duration: 300 * time.Millisecond, ProgressEvery: 10 * time.Millisecond,
			Progress: func(p Progress) { reports = append(reports, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) < 2 {
		t.Fatalf("%d progress reports in 300ms at 10ms intervals, want several", len(reports))
	}
	sawUp := false
	for _, p := range reports {
		sawUp = sawUp || p.StreamsUp == 1
		if p.Streams != 1 || p.Elapsed+p.Remaining < 290*time.Millisecond {
			t.Errorf("report %+v: want 1 stream and elapsed+remaining close to the 300ms window", p)
		}
	}
	last := reports[len(reports)-1]
	r := rec.Recording()
	if !last.Done || reports[0].Done {
		t.Errorf("Done is %v on the last report and %v on the first, want only the last", last.Done, reports[0].Done)
	}
	if !sawUp || last.Events != r.Windows[0].Events || last.Edges != len(r.Edges) || last.Routes == 0 {
		t.Errorf("last report %+v, saw a stream up: %v; want the window's %d events and %d edges", last, sawUp, r.Windows[0].Events, len(r.Edges))
	}
}

// TestUnavailableAfterStreamingIsAGap: once a target has streamed, the API
// server answering 503 is the tap pod restarting, so the window goes on; a
// 503 before anything streamed means tap is not there, which ends it.
func TestUnavailableAfterStreamingIsAGap(t *testing.T) {
	stream := fixtures.Read(t, "booksapp.tap.bin.gz")
	cut := frameStart(stream, len(stream)/2)
	unavailable := func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"kind":"Status","message":"service unavailable","reason":"ServiceUnavailable","code":503}`))
	}
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch conns.Add(1) {
		case 1:
			w.Write(stream[:cut])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case 2, 3:
			unavailable(w)
			return
		default:
			w.Write(stream[cut:])
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}))
	defer srv.Close()
	target := []tapapi.Params{{Target: tapapi.Target{Kind: "namespace", Name: "booksapp"}, MaxRPS: 100}}

	rec := recorder.New(recorder.Options{})
	rec.BeginWindow(recording.Window{Source: "tap:ns/booksapp"})
	ctx, opts := untilEvents(t, frames(stream), Options{Backoff: 10 * time.Millisecond})
	err := Record(ctx, &tapapi.Client{HTTP: srv.Client(), Host: srv.URL}, target, rec, opts)
	if err != nil {
		t.Fatalf("503s after the stream was up ended the window: %v", err)
	}
	r := rec.Recording()
	var requests int64
	for _, e := range r.Edges {
		requests += e.Requests
	}
	if requests != 3000 || len(r.Windows[0].Gaps) != 1 {
		t.Errorf("requests = %d, gaps = %+v; want all 3000 and one gap", requests, r.Windows[0].Gaps)
	}

	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { unavailable(w) }))
	defer first.Close()
	rec = recorder.New(recorder.Options{})
	rec.BeginWindow(recording.Window{Source: "tap"})
	err = Record(context.Background(), &tapapi.Client{HTTP: first.Client(), Host: first.URL}, target, rec, Options{Duration: time.Minute})
	var ae *tapapi.APIError
	if !errors.As(err, &ae) || ae.Code != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "linkerd-viz") {
		t.Errorf("a 503 before anything streamed: err = %v, want the tap-not-available refusal", err)
	}
}
