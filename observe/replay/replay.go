// Package replay records saved tap output: it opens each file, detects its
// format, decodes it and folds its events into one recording, one window per
// file. It is the offline twin of the live tap source.
//
// It imports observe/tapstream, observe/recorder, observe/recording,
// observe/cluster and observe/event.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/recorder"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/tapstream"
)

// Options configure a replay.
type Options struct {
	// Format forces a format; empty detects it per file.
	Format    tapstream.Format
	Inventory *cluster.Inventory
	Limits    recording.Limits
	// KeepQuery keeps query strings in recorded paths.
	KeepQuery bool
	// KeepGoing records what a bad file held up to its error and goes on
	// with the next file; the error is noted in that file's window.
	KeepGoing bool
	// Start, End and MaxRPS describe the windows when the user knows them:
	// saved output carries no timestamps or sampling rate.
	Start, End *time.Time
	MaxRPS     float64
	Stdin      io.Reader
}

// ErrPartial wraps the errors of files that were recorded only in part
// because KeepGoing was set.
var ErrPartial = errors.New("some input was recorded only in part")

// InterruptedError says a cancelled context (Ctrl-C) ended the replay
// before the end of its input. The recording returned with it holds what
// was read, and the window of File is marked interrupted.
type InterruptedError struct {
	// File is the file being read; Unread are the files not started.
	File   string
	Unread []string
	// At says how far File was read.
	At string
}

func (e *InterruptedError) Error() string {
	msg := fmt.Sprintf("interrupted while reading %s, %s", e.File, e.At)
	if len(e.Unread) > 0 {
		msg += fmt.Sprintf("; not read: %s", strings.Join(e.Unread, ", "))
	}
	return msg
}

// Files records the tap output in files. Without KeepGoing the first error
// returns no recording. With it, the recording is returned together with an
// error wrapping ErrPartial when any file failed. A cancelled ctx ends the
// replay early: the recording holds what was read so far, the window being
// read is marked interrupted, and the error is an *InterruptedError.
func Files(ctx context.Context, files []string, opts Options) (*recording.Recording, error) {
	rec := recorder.New(recorder.Options{Limits: opts.Limits, Inventory: opts.Inventory, KeepQuery: opts.KeepQuery})
	in := event.NewInterner(event.DefaultInternLimit)
	if opts.Stdin != nil {
		opts.Stdin = &ctxReader{ctx: ctx, r: opts.Stdin}
	}
	var failures []error
	for i, name := range files {
		err := replayFile(ctx, rec, in, name, opts)
		var stop *InterruptedError
		if errors.As(err, &stop) {
			stop.Unread = files[i+1:]
			return rec.Recording(), stop
		}
		if err == nil {
			continue
		}
		if !opts.KeepGoing {
			return nil, err
		}
		failures = append(failures, err)
	}
	out := rec.Recording()
	if len(failures) > 0 {
		return out, fmt.Errorf("%w: %w", ErrPartial, errors.Join(failures...))
	}
	return out, nil
}

// ctxReader ends a read blocked on a pipe (stdin fed by a live linkerd viz
// tap) when ctx is cancelled. The abandoned read finishes on its own; the
// command exits soon after.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

type readResult struct {
	n   int
	err error
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	buf := make([]byte, len(p))
	done := make(chan readResult, 1)
	go func() {
		n, err := c.r.Read(buf)
		done <- readResult{n, err}
	}()
	select {
	case res := <-done:
		copy(p, buf[:res.n])
		return res.n, res.err
	case <-c.ctx.Done():
		select {
		case res := <-done: // read before the cancel: keep it
			copy(p, buf[:res.n])
			return res.n, res.err
		default:
			return 0, c.ctx.Err()
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// interrupted marks the current window as interrupted and returns the
// error saying so.
func interrupted(rec *recorder.Recorder, dec tapstream.Decoder, name string, events int, read *countingReader) error {
	at := fmt.Sprintf("after %d events, %s read", events, humanBytes(read.n))
	rec.Interrupt(at)
	rec.EndWindow(dec.Warnings(), nil)
	return &InterruptedError{File: name, At: at}
}

// humanBytes writes a byte count in the largest unit that keeps it at
// least 1.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func replayFile(ctx context.Context, rec *recorder.Recorder, in *event.Interner, name string, opts Options) error {
	src, err := tapstream.Open(name, opts.Format, opts.Stdin)
	if err != nil && ctx.Err() != nil {
		return &InterruptedError{File: name, At: "before its first event"}
	}
	if err != nil {
		return err
	}
	defer src.Close()
	read := &countingReader{r: src.R}
	dec, err := tapstream.NewDecoder(src.Format, read, in)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	rec.BeginWindow(recording.Window{
		Source:   "file:" + name,
		Format:   string(src.Format),
		Start:    opts.Start,
		End:      opts.End,
		Sampling: recording.Sampling{Sampled: true, MaxRPS: opts.MaxRPS},
	})
	var ev event.Event
	for n := 0; ; n++ {
		if n&4095 == 4095 && ctx.Err() != nil {
			return interrupted(rec, dec, name, n, read)
		}
		err := dec.Next(&ev)
		if err == io.EOF {
			rec.EndWindow(dec.Warnings(), nil)
			return nil
		}
		if err != nil && ctx.Err() != nil {
			return interrupted(rec, dec, name, n, read)
		}
		if err != nil {
			var de *tapstream.DecodeError
			if errors.As(err, &de) {
				de.Name = name
			} else {
				err = fmt.Errorf("%s: %w", name, err)
			}
			rec.EndWindow(dec.Warnings(), err)
			return err
		}
		rec.Add(&ev)
	}
}
