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

// Files records the tap output in files. Without KeepGoing the first error
// returns no recording. With it, the recording is returned together with an
// error wrapping ErrPartial when any file failed. A cancelled ctx ends the
// replay early with what was read so far (no error).
func Files(ctx context.Context, files []string, opts Options) (*recording.Recording, error) {
	rec := recorder.New(recorder.Options{Limits: opts.Limits, Inventory: opts.Inventory, KeepQuery: opts.KeepQuery})
	in := event.NewInterner(event.DefaultInternLimit)
	var failures []error
	for _, name := range files {
		if ctx.Err() != nil {
			break
		}
		err := replayFile(ctx, rec, in, name, opts)
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

func replayFile(ctx context.Context, rec *recorder.Recorder, in *event.Interner, name string, opts Options) error {
	src, err := tapstream.Open(name, opts.Format, opts.Stdin)
	if err != nil {
		return err
	}
	defer src.Close()
	dec, err := tapstream.NewDecoder(src.Format, src.R, in)
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
		if n&4095 == 0 && ctx.Err() != nil {
			rec.EndWindow(dec.Warnings(), nil)
			return nil
		}
		err := dec.Next(&ev)
		if err == io.EOF {
			rec.EndWindow(dec.Warnings(), nil)
			return nil
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
