// Package live records a window of live traffic from the viz tap API. Run
// is a whole session: it reads the cluster objects, plans one stream per
// target (with -A one per namespace that has a pod to tap), finding the
// targets' pods and whether they can be tapped as linkerd-viz's tap
// service does, refuses what cannot be tapped before the window starts,
// and records. Record is the window itself: events stamped on arrival,
// streams that break retried with backoff and the gap noted in the window,
// until the window's duration passes or its context is cancelled.
//
// It imports client-go, observe/cluster, observe/tapapi, observe/recorder,
// observe/recording, observe/tapstream and observe/event.
package live

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/recorder"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/tapapi"
	"github.com/cinchmesh/cinch/observe/tapstream"
)

// Watcher opens tap streams; *tapapi.Client implements it.
type Watcher interface {
	Watch(ctx context.Context, p tapapi.Params, in *event.Interner) (*tapapi.Stream, error)
}

var _ Watcher = (*tapapi.Client)(nil)

// Options configure a live window.
type Options struct {
	Duration time.Duration
	// Backoff is the first wait before reopening a broken stream; it
	// doubles up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Now stamps events; time.Now when nil.
	Now func() time.Time
	// Progress, when set, is called every ProgressEvery (default 1s) and
	// once more at the end, from its own goroutine.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is how a window is going.
type Progress struct {
	Elapsed, Remaining time.Duration // Remaining is 0 without a duration
	recorder.Stats
	StreamsUp, Streams int
	// Done is set on the last report, after the window ended.
	Done bool
}

// Record folds the events of all targets into rec for one window. It
// returns when the window is over (duration or ctx); refusals by the API
// (RBAC, tap not installed) end it at once with the error, while broken
// streams are reopened and noted as gaps. rec must be in a window.
func Record(ctx context.Context, w Watcher, targets []tapapi.Params, rec *recorder.Recorder, opts Options) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.Backoff {
		opts.MaxBackoff = 30 * time.Second
	}
	start := opts.Now()
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	var (
		mu       sync.Mutex // guards rec and warnings
		warnings = map[string]int{}
		wg       sync.WaitGroup
		up       atomic.Int32
	)
	for _, p := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := follow(ctx, w, p, rec, &mu, warnings, &up, opts); err != nil {
				stop(err)
			}
		}()
	}
	var final func()
	if opts.Progress != nil {
		report := func(done bool) {
			elapsed := opts.Now().Sub(start)
			p := Progress{Elapsed: elapsed, StreamsUp: int(up.Load()), Streams: len(targets), Done: done}
			if opts.Duration > 0 {
				p.Remaining = max(opts.Duration-elapsed, 0)
			}
			mu.Lock()
			p.Stats = rec.Stats()
			mu.Unlock()
			opts.Progress(p)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(cmp.Or(opts.ProgressEvery, time.Second))
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					report(false)
				}
			}
		}()
		final = func() { <-done; report(true) }
	}
	wg.Wait()
	if final != nil {
		final()
	}
	mu.Lock()
	rec.EndWindow(warnings, nil)
	mu.Unlock()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// follow keeps one target's stream open until ctx ends.
func follow(ctx context.Context, w Watcher, p tapapi.Params, rec *recorder.Recorder, mu *sync.Mutex, warnings map[string]int, up *atomic.Int32, opts Options) error {
	target := p.Target.Kind + "/" + p.Target.Name
	in := event.NewInterner(event.DefaultInternLimit)
	backoff := opts.Backoff
	var (
		down   *recording.Gap
		wasUp  bool
		apiErr *tapapi.APIError
	)
	for ctx.Err() == nil {
		s, err := w.Watch(ctx, p, in)
		// A refusal ends the window, except that once this target has
		// streamed, an unavailable tap service is a tap pod restarting (the
		// API server answers 502-504 until it is back): a gap, not an end.
		if errors.As(err, &apiErr) && !(wasUp && apiErr.Temporary()) {
			return err
		}
		if err == nil {
			wasUp = true
			if down != nil {
				down.End = opts.Now().UTC()
				mu.Lock()
				rec.AddGap(*down)
				mu.Unlock()
				down = nil
			}
			backoff = opts.Backoff
			up.Add(1)
			err = drain(ctx, s, rec, mu, warnings, opts.Now)
			up.Add(-1)
			s.Close()
		}
		if ctx.Err() != nil {
			break
		}
		if down == nil {
			// The decoder names the byte it stopped at; what broke the
			// stream (a reset, a closed connection) is what the gap is about.
			var de *tapstream.DecodeError
			if errors.As(err, &de) {
				err = de.Err
			}
			down = &recording.Gap{Target: target, Start: opts.Now().UTC(), Error: fmt.Sprint(err)}
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, opts.MaxBackoff)
	}
	if down != nil {
		down.End = opts.Now().UTC()
		mu.Lock()
		rec.AddGap(*down)
		mu.Unlock()
	}
	return nil
}

// drain folds a stream's events into rec until it ends; a clean end is
// reported as io.ErrUnexpectedEOF, since a live stream should not end.
func drain(ctx context.Context, s *tapapi.Stream, rec *recorder.Recorder, mu *sync.Mutex, warnings map[string]int, now func() time.Time) error {
	defer func() {
		mu.Lock()
		for k, v := range s.Warnings() {
			warnings[k] += v
		}
		mu.Unlock()
	}()
	stopOnCancel := context.AfterFunc(ctx, func() { s.Close() })
	defer stopOnCancel()
	var ev event.Event
	for {
		err := s.Next(&ev)
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		ev.Time = now()
		mu.Lock()
		rec.Add(&ev)
		mu.Unlock()
	}
}
