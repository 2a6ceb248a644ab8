package tapstream

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cinchmesh/cinch/observe/event"
)

// Source is an opened tap stream: its decoded bytes, detected format and
// name for messages.
type Source struct {
	Name   string
	Format Format
	R      io.Reader
	closer io.Closer
}

// Close releases the underlying file.
func (s *Source) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

// Open opens name ("-" is stdin), decompresses gzip transparently and
// detects the format from the content. A non-empty format skips detection.
func Open(name string, format Format, stdin io.Reader) (*Source, error) {
	var (
		r      io.Reader
		closer io.Closer
	)
	if name == "-" {
		r = stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		r, closer = f, f
	}
	src, err := sniff(name, format, r)
	if err != nil {
		if closer != nil {
			closer.Close()
		}
		return nil, err
	}
	src.closer = closer
	return src, nil
}

func sniff(name string, format Format, r io.Reader) (*Source, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(2)
	if len(head) == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty input: no tap events", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			if e := gzipError(err); e != err {
				return nil, fmt.Errorf("%s: %w", name, e)
			}
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		br = bufio.NewReaderSize(gzipReader{zr}, 64<<10)
	}
	if format == "" {
		head, err = br.Peek(512)
		if len(head) == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: empty input: no tap events", name)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		format, err = Detect(head)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return &Source{Name: name, Format: format, R: br}, nil
}

// Detect tells the format from the first bytes of a stream.
func Detect(head []byte) (Format, error) {
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return "", errors.New("empty input: no tap events")
	case trimmed[0] == '{':
		return FormatJSON, nil
	case bytes.HasPrefix(trimmed, []byte("req ")), bytes.HasPrefix(trimmed, []byte("rsp ")), bytes.HasPrefix(trimmed, []byte("end ")):
		return FormatText, nil
	case looksRaw(head):
		return FormatRaw, nil
	}
	return "", errors.New("unrecognised content: not a raw tap stream, `linkerd viz tap -o json` output or `linkerd viz tap` text output")
}

// looksRaw checks for a plausible frame header followed by a TapEvent field
// tag (fields 1..7, varint or length-delimited).
func looksRaw(head []byte) bool {
	if len(head) < 5 {
		return false
	}
	n := binary.LittleEndian.Uint32(head)
	if n == 0 || n > MaxFrameSize {
		return false
	}
	tag := head[4]
	field, wire := tag>>3, tag&7
	return field >= 1 && field <= 7 && (wire == 0 || wire == 2)
}

// ErrTruncatedGzip is the error of gzip input that ends before its
// compressed stream does: a file copied or downloaded in part, or still
// being written.
var ErrTruncatedGzip = errors.New("gzip: the file is truncated (it ends inside the compressed stream: copied in part, or still being written)")

// gzipReader says what a gzip stream's errors mean: the decoders would
// report a truncated gzip as an unexpected end of their own format.
type gzipReader struct{ r io.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	return n, gzipError(err)
}

func gzipError(err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ErrTruncatedGzip
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader):
		return fmt.Errorf("gzip: the file is corrupt: %w", err)
	}
	return err
}

// IsTapOutput says whether the file name holds tap output (gzip or not):
// its format is detected and its first event decodes. Commands that read
// other files use it to tell a user who gave tap output where a recording
// belongs what to run first.
func IsTapOutput(name string) (Format, bool) {
	src, err := Open(name, "", nil)
	if err != nil {
		return "", false
	}
	defer src.Close()
	dec, err := NewDecoder(src.Format, src.R, event.NewInterner(64))
	if err != nil {
		return "", false
	}
	var ev event.Event
	return src.Format, dec.Next(&ev) == nil
}
