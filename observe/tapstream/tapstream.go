// Package tapstream decodes the three encodings of a Linkerd tap stream that
// users have on disk or on the wire: the raw length-prefixed protobuf stream
// (what the viz tap API sends), `linkerd viz tap -o json` output (concatenated
// indented JSON objects) and the default one-line-per-event text output.
//
// It imports only the standard library, protowire and observe/event.
package tapstream

import (
	"errors"
	"fmt"
	"io"

	"github.com/cinchmesh/cinch/observe/event"
)

// Format names an encoding of the tap stream.
type Format string

const (
	FormatRaw  Format = "raw"  // 4-byte little-endian length + protobuf TapEvent, repeated
	FormatJSON Format = "json" // linkerd viz tap -o json
	FormatText Format = "text" // linkerd viz tap (default output)
)

// Decoder yields events one at a time.
type Decoder interface {
	// Next decodes the next event into ev (which it resets first). It
	// returns io.EOF after the last event and a *DecodeError for bad input.
	// Warnings for input it skipped are counted, not returned.
	Next(ev *event.Event) error
	// Warnings returns what was skipped so far, by reason.
	Warnings() Warnings
}

// Warnings counts input a decoder skipped on purpose, keyed by a short
// reason such as "unknown field" or "event without source address".
type Warnings map[string]int

// Add counts one occurrence of reason.
func (w Warnings) Add(reason string) { w[reason]++ }

// Total is the number of warnings of all reasons.
func (w Warnings) Total() int {
	n := 0
	for _, c := range w {
		n += c
	}
	return n
}

// DecodeError is bad input: the position of the offending event and why.
// Name is filled in by Open's caller-facing readers; the decoders leave it
// empty.
type DecodeError struct {
	Name   string // file name, "-" for stdin
	Format Format
	Event  int   // 1-based index of the event that failed
	Line   int   // 1-based line, for the text and JSON formats; 0 for raw
	Offset int64 // byte offset of the event's start in the decompressed stream
	Err    error
}

func (e *DecodeError) Error() string {
	where := fmt.Sprintf("event %d", e.Event)
	if e.Line > 0 {
		where = fmt.Sprintf("line %d (event %d)", e.Line, e.Event)
	} else if e.Format == FormatRaw {
		where = fmt.Sprintf("event %d at byte %d", e.Event, e.Offset)
	}
	name := e.Name
	if name == "" {
		name = "input"
	}
	return fmt.Sprintf("%s: %s: %s: %v", name, e.Format, where, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ErrTruncated reports input that ended in the middle of an event.
var ErrTruncated = errors.New("truncated: input ends inside an event")

// NewDecoder returns the decoder for format reading r. in interns labels; it
// may be shared by decoders that run one after another, not concurrently.
func NewDecoder(format Format, r io.Reader, in *event.Interner) (Decoder, error) {
	switch format {
	case FormatRaw:
		return NewRawDecoder(r, in), nil
	case FormatJSON:
		return NewJSONDecoder(r, in), nil
	case FormatText:
		return NewTextDecoder(r, in), nil
	}
	return nil, fmt.Errorf("unknown tap format %q (want raw, json or text)", format)
}
