package tapstream

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/cinchmesh/cinch/observe/event"
)

// Limits of the JSON decoder.
const (
	jsonMinBuffer = 64 << 10
	// jsonMaxToken bounds one string or number: a longer one means the
	// input is not tap output. Tap events are a few KiB.
	jsonMaxToken = MaxFrameSize
	// jsonMaxDepth bounds the nesting of objects and arrays; tap output
	// nests four deep.
	jsonMaxDepth = 64
)

// JSONDecoder decodes `linkerd viz tap -o json` output: a stream of
// indented JSON objects, one per event, written one after another (not one
// per line, and not in an array).
//
// It is a purpose-built scanner for that schema rather than encoding/json:
// it reads into one reusable buffer, compares keys in place, interns labels
// without building maps, and allocates nothing per event in the steady
// state. Strings are unescaped as encoding/json does (including \uXXXX
// escapes and surrogate pairs; a lone surrogate becomes U+FFFD); bytes that
// are not valid UTF-8 are passed through as they are.
//
// Unknown keys are skipped and counted as warnings. `-o json` always prints
// "grpcStatusCode" (0 for plain HTTP), so every end event decodes with
// End = EndGRPC unless it carries "resetErrorCode", which wins.
//
// Malformed JSON, a token too large, a read error and input that ends
// inside an object are final: Next keeps returning the same error. A
// well-formed event with a value of the wrong type (or out of range) is
// reported once, and the next call continues with the next event: the
// decoder records the first such error, skips the value and checks the rest
// of the event's syntax before it reports it. DecodeError.Line is the line
// of the offending token, or where the event began for truncated input;
// DecodeError.Event counts objects, skipped ones included.
//
// Event.Time is left zero: the output carries no timestamps.
type JSONDecoder struct {
	r  io.Reader
	in *event.Interner

	// buf[pos:end] is input read but not yet consumed; off is the stream
	// offset of buf[0].
	buf      []byte
	pos, end int
	off      int64
	eof      bool  // r has returned io.EOF
	rerr     error // r failed, or a token outgrew jsonMaxToken

	line   int // 1-based line of buf[pos]
	depth  int // objects and arrays open at pos
	events int // objects started so far: the 1-based index of the current one
	evLine int // line where the current event began
	evOff  int64

	err     error // sticky error, io.EOF at the end
	warn    Warnings
	unknown unknownFields
	sawID   bool  // the current event carried a non-null id
	evErr   error // the first bad value of the current event

	str     []byte // unescaped string values
	keyBuf  []byte // keys that were unescaped or had to outlive a refill
	label   []byte // the key of the label being read
	hdrName []byte // the header being read
	hdrVal  []byte
	scratch []byte // upper-casing unregistered methods
}

var _ Decoder = (*JSONDecoder)(nil)

// NewJSONDecoder returns a decoder reading `linkerd viz tap -o json` output
// from r. Labels are interned through in; a nil in gets a private interner.
func NewJSONDecoder(r io.Reader, in *event.Interner) *JSONDecoder {
	if in == nil {
		in = event.NewInterner(event.DefaultInternLimit)
	}
	return &JSONDecoder{r: r, in: in, line: 1, warn: Warnings{}}
}

// Warnings returns the counts of input skipped so far, by reason. The map is
// the decoder's own and keeps counting on later calls to Next.
func (d *JSONDecoder) Warnings() Warnings { return d.warn }

// Next decodes the next event into ev. Events without an HTTP payload or
// without a request id are skipped and counted; events without a source or
// destination address are counted and returned with a zero address.
func (d *JSONDecoder) Next(ev *event.Event) error {
	for {
		ev.Reset()
		if d.err != nil {
			return d.err
		}
		if !d.space() {
			if d.rerr != nil {
				d.err = &DecodeError{Format: FormatJSON, Event: d.events + 1, Line: d.line, Offset: d.off + int64(d.pos), Err: d.rerr}
				return d.err
			}
			d.err = io.EOF
			return io.EOF
		}
		d.events++
		d.evLine, d.evOff = d.line, d.off+int64(d.pos)
		skip, err := d.decodeEvent(ev)
		if err != nil {
			ev.Reset()
			return d.fail(err)
		}
		if skip != "" {
			d.warn.Add(skip)
			continue
		}
		if !ev.Source.IP.IsValid() || !ev.Destination.IP.IsValid() {
			d.warn.Add(warnNoAddress)
		}
		return nil
	}
}

// jsonError is an error found inside one event, at line. A fatal one leaves
// the input at a place the decoder cannot resume from.
type jsonError struct {
	line  int
	fatal bool
	err   error
}

func (e *jsonError) Error() string { return e.err.Error() }

// fail turns an error from decodeEvent into the DecodeError Next returns.
// A final error found after a bad value is kept for the next call: the bad
// value comes first in the input.
func (d *JSONDecoder) fail(err error) error {
	de, fatal := d.decodeError(err)
	if !fatal {
		return de
	}
	d.err = de
	if d.evErr != nil {
		de, _ = d.decodeError(d.evErr)
	}
	return de
}

func (d *JSONDecoder) decodeError(err error) (de *DecodeError, fatal bool) {
	je, ok := err.(*jsonError)
	if !ok { // cannot happen: the methods below build every error
		je = &jsonError{line: d.line, fatal: true, err: err}
	}
	return &DecodeError{Format: FormatJSON, Event: d.events, Line: je.line, Offset: d.evOff, Err: je.err}, je.fatal
}

func (d *JSONDecoder) syntaxErr(format string, args ...any) error {
	return &jsonError{line: d.line, fatal: true, err: fmt.Errorf("malformed JSON: "+format, args...)}
}

// inputErr is the error for input that ended (or failed) before a token
// was complete.
func (d *JSONDecoder) inputErr() error {
	if d.rerr != nil {
		return &jsonError{line: d.line, fatal: true, err: d.rerr}
	}
	return &jsonError{line: d.evLine, fatal: true, err: ErrTruncated}
}

// mistyped handles a value of the wrong type at parent.field (both
// optional), where want was expected: it records the error for the event
// and skips the value, which is at pos. It returns only syntax errors.
func (d *JSONDecoder) mistyped(parent, field, want string) error {
	var found string
	switch c := d.buf[d.pos]; {
	case c == '"':
		found = "a string"
	case c == '{':
		found = "an object"
	case c == '[':
		found = "an array"
	case c == 't' || c == 'f':
		found = "a boolean"
	case c == 'n':
		found = "null"
	case c == '-' || '0' <= c && c <= '9':
		found = "a number"
	default:
		return d.syntaxErr("invalid character %s looking for the value of %s", quoteChar(c), joinPath(parent, field))
	}
	d.bad(parent, field, "want %s, found %s", want, found)
	return d.skipValue()
}

// bad records a bad value at parent.field, unless the event already has
// one: the event is then reported rather than returned, once its syntax
// has been checked to the end.
func (d *JSONDecoder) bad(parent, field, format string, args ...any) {
	if d.evErr == nil {
		d.evErr = &jsonError{line: d.line, err: fmt.Errorf("%s: %s", joinPath(parent, field), fmt.Sprintf(format, args...))}
	}
}

func joinPath(parent, field string) string {
	switch {
	case parent == "":
		return field
	case field == "":
		return parent
	}
	return parent + "." + field
}

func quoteChar(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	return fmt.Sprintf("'%c'", c)
}

// Input.

// more reads more input after buf[end], keeping buf[keep:end] (keep <=
// pos). It may move the kept bytes to the front of the buffer and returns
// by how much they moved; pos is adjusted, other indexes are the caller's
// to adjust. ok is false when no byte could be read: at the end of the
// input, on a read error, or when the kept bytes reach jsonMaxToken (then
// rerr says so).
func (d *JSONDecoder) more(keep int) (shift int, ok bool) {
	if d.eof || d.rerr != nil {
		return 0, false
	}
	if keep > 0 {
		d.end = copy(d.buf, d.buf[keep:d.end])
		d.pos -= keep
		d.off += int64(keep)
		shift = keep
	}
	if d.end == len(d.buf) {
		if d.end >= jsonMaxToken {
			d.rerr = fmt.Errorf("malformed JSON: token longer than %d bytes", jsonMaxToken)
			return shift, false
		}
		nb := make([]byte, max(jsonMinBuffer, 2*len(d.buf)))
		copy(nb, d.buf[:d.end])
		d.buf = nb
	}
	for empty := 0; ; {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		switch {
		case err == io.EOF:
			d.eof = true
		case err != nil:
			d.rerr = err
		case n == 0:
			// Guard against readers that never make progress, as bufio does.
			if empty++; empty >= 100 {
				d.rerr = io.ErrNoProgress
			}
		}
		if n > 0 {
			return shift, true
		}
		if d.eof || d.rerr != nil {
			return shift, false
		}
	}
}

// avail tries to make n bytes available at pos and returns how many are.
func (d *JSONDecoder) avail(n int) int {
	for d.end-d.pos < n {
		if _, ok := d.more(d.pos); !ok {
			break
		}
	}
	return min(n, d.end-d.pos)
}

// space skips white space, counting lines. It returns false at the end of
// the input (or on a read error).
func (d *JSONDecoder) space() bool {
	for {
		for d.pos < d.end {
			switch d.buf[d.pos] {
			case ' ', '\t', '\r':
				d.pos++
			case '\n':
				d.pos++
				d.line++
			default:
				return true
			}
		}
		if _, ok := d.more(d.pos); !ok {
			return false
		}
	}
}

// next skips white space and returns the byte that follows, unconsumed.
func (d *JSONDecoder) next() (byte, error) {
	if !d.space() {
		return 0, d.inputErr()
	}
	return d.buf[d.pos], nil
}

// Tokens.

// open consumes the '{' or '[' at pos.
func (d *JSONDecoder) open() error {
	d.pos++
	if d.depth++; d.depth > jsonMaxDepth {
		return d.syntaxErr("objects and arrays nested more than %d deep", jsonMaxDepth)
	}
	return nil
}

// member moves to the next member of the object being read and returns its
// key, with pos at the value. At the closing '}' it consumes it and returns
// ok false. first says whether this is the object's first call. The key is
// valid until the next read.
func (d *JSONDecoder) member(first bool) (key []byte, ok bool, err error) {
	c, err := d.next()
	if err != nil {
		return nil, false, err
	}
	if c == '}' {
		d.pos++
		d.depth--
		return nil, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, d.syntaxErr("want ',' or '}' after an object member, found %s", quoteChar(c))
		}
		d.pos++
		if c, err = d.next(); err != nil {
			return nil, false, err
		}
	}
	if c != '"' {
		return nil, false, d.syntaxErr("want a string key, found %s", quoteChar(c))
	}
	key, escaped, err := d.readString(&d.keyBuf)
	if err != nil {
		return nil, false, err
	}
	// The usual layout, `"key": `, needs no refill before the value; any
	// other may need one, which would move the key.
	if d.pos < d.end && d.buf[d.pos] == ':' {
		d.pos++
		return key, true, nil
	}
	if !escaped {
		d.keyBuf = append(d.keyBuf[:0], key...)
		key = d.keyBuf
	}
	if c, err = d.next(); err != nil {
		return nil, false, err
	}
	if c != ':' {
		return nil, false, d.syntaxErr("want ':' after object key, found %s", quoteChar(c))
	}
	d.pos++
	return key, true, nil
}

// element moves to the next element of the array being read, with pos at
// the value. At the closing ']' it consumes it and returns ok false.
func (d *JSONDecoder) element(first bool) (ok bool, err error) {
	c, err := d.next()
	if err != nil {
		return false, err
	}
	if c == ']' {
		d.pos++
		d.depth--
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, d.syntaxErr("want ',' or ']' after an array element, found %s", quoteChar(c))
		}
		d.pos++
	}
	return true, nil
}

// readString reads the string at pos (its opening quote). It returns its
// content, aliasing the input buffer (valid until the next read) or, when it
// has escapes, *scratch (escaped is then true).
func (d *JSONDecoder) readString(scratch *[]byte) (s []byte, escaped bool, err error) {
	start := d.pos + 1
	i := start
	for {
		for ; i < d.end; i++ {
			c := d.buf[i]
			if c == '"' {
				d.pos = i + 1
				return d.buf[start:i], false, nil
			}
			if c == '\\' || c < 0x20 {
				s, err := d.readEscaped(start, i, scratch)
				return s, true, err
			}
		}
		shift, ok := d.more(start - 1)
		if !ok {
			return nil, false, d.inputErr()
		}
		start -= shift
		i -= shift
	}
}

// readEscaped finishes a string whose content starts at buf[start] and
// whose first escape (or control character) is at buf[i].
func (d *JSONDecoder) readEscaped(start, i int, scratch *[]byte) ([]byte, error) {
	out := append((*scratch)[:0], d.buf[start:i]...)
	defer func() { *scratch = out }()
	d.pos = i
	for {
		if len(out) > jsonMaxToken {
			return nil, d.syntaxErr("string longer than %d bytes", jsonMaxToken)
		}
		if d.pos == d.end {
			if _, ok := d.more(d.pos); !ok {
				return nil, d.inputErr()
			}
		}
		c := d.buf[d.pos]
		switch {
		case c == '"':
			d.pos++
			return out, nil
		case c < 0x20:
			return nil, d.syntaxErr("control character 0x%02x in string", c)
		case c != '\\':
			j := d.pos + 1
			for j < d.end && d.buf[j] != '"' && d.buf[j] != '\\' && d.buf[j] >= 0x20 {
				j++
			}
			out = append(out, d.buf[d.pos:j]...)
			d.pos = j
			continue
		}
		if d.avail(2) < 2 {
			return nil, d.inputErr()
		}
		switch e := d.buf[d.pos+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if d.avail(6) < 6 {
				return nil, d.inputErr()
			}
			r, ok := hex4(d.buf[d.pos+2 : d.pos+6])
			if !ok {
				return nil, d.syntaxErr("invalid \\u escape in string")
			}
			d.pos += 6
			if utf16.IsSurrogate(r) {
				// A surrogate decodes only as the first of a pair; anything
				// else decodes as U+FFFD, as with encoding/json, and an
				// escape that follows is decoded on its own.
				if d.avail(6) == 6 && d.buf[d.pos] == '\\' && d.buf[d.pos+1] == 'u' {
					if r2, ok := hex4(d.buf[d.pos+2 : d.pos+6]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							d.pos += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, d.syntaxErr("invalid escape %s in string", quoteChar(e))
		}
		d.pos += 2
	}
}

// hex4 decodes the four hex digits of a \uXXXX escape.
func hex4(b []byte) (r rune, ok bool) {
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads the number at pos and checks its syntax.
func (d *JSONDecoder) number() ([]byte, error) {
	start, i := d.pos, d.pos
	for {
		for i < d.end && isNumberByte(d.buf[i]) {
			i++
		}
		if i < d.end {
			break
		}
		shift, ok := d.more(start)
		if !ok {
			if d.rerr != nil {
				return nil, d.inputErr()
			}
			break // a number may end the input; the caller sees what follows
		}
		start -= shift
		i -= shift
	}
	d.pos = i
	tok := d.buf[start:i]
	if !validNumber(tok) {
		return nil, d.syntaxErr("invalid number %q", tok)
	}
	return tok, nil
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// validNumber reports whether b is a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	digits := func() int {
		n := 0
		for n < len(b) && '0' <= b[n] && b[n] <= '9' {
			n++
		}
		b = b[n:]
		return n
	}
	if len(b) > 0 && b[0] == '0' {
		b = b[1:]
	} else if digits() == 0 {
		return false
	}
	if len(b) > 0 && b[0] == '.' {
		b = b[1:]
		if digits() == 0 {
			return false
		}
	}
	if len(b) > 0 && (b[0] == 'e' || b[0] == 'E') {
		b = b[1:]
		if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
			b = b[1:]
		}
		if digits() == 0 {
			return false
		}
	}
	return len(b) == 0
}

// literal consumes the literal (true, false or null) that starts at pos.
func (d *JSONDecoder) literal() error {
	var want string
	switch d.buf[d.pos] {
	case 't':
		want = "true"
	case 'f':
		want = "false"
	default:
		want = "null"
	}
	n := d.avail(len(want))
	if string(d.buf[d.pos:d.pos+n]) != want[:n] {
		return d.syntaxErr("invalid literal, want %s", want)
	}
	if n < len(want) {
		return d.inputErr()
	}
	d.pos += n
	return nil
}

// skipValue skips the value at pos, checking its syntax.
func (d *JSONDecoder) skipValue() error {
	c, err := d.next()
	if err != nil {
		return err
	}
	switch {
	case c == '"':
		_, _, err = d.readString(&d.str)
		return err
	case c == '{':
		if err := d.open(); err != nil {
			return err
		}
		for first := true; ; first = false {
			_, ok, err := d.member(first)
			if err != nil || !ok {
				return err
			}
			if err := d.skipValue(); err != nil {
				return err
			}
		}
	case c == '[':
		if err := d.open(); err != nil {
			return err
		}
		for first := true; ; first = false {
			ok, err := d.element(first)
			if err != nil || !ok {
				return err
			}
			if err := d.skipValue(); err != nil {
				return err
			}
		}
	case c == 't' || c == 'f' || c == 'n':
		return d.literal()
	case c == '-' || '0' <= c && c <= '9':
		_, err = d.number()
		return err
	}
	return d.syntaxErr("invalid character %s looking for the beginning of a value", quoteChar(c))
}

// Typed values. Each reads the value at parent.field (for messages); null
// reads as absent, as with encoding/json, and so does a value of the wrong
// type or out of range, after recording the error with bad.

// object reads the start of an object; ok is false for null.
func (d *JSONDecoder) object(parent, field string) (ok bool, err error) {
	c, err := d.next()
	switch {
	case err != nil:
		return false, err
	case c == '{':
		return true, d.open()
	case c == 'n':
		return false, d.literal()
	}
	return false, d.mistyped(parent, field, "an object")
}

// string reads a string, valid until the next read; null reads as empty.
func (d *JSONDecoder) string(parent, field string) ([]byte, error) {
	c, err := d.next()
	switch {
	case err != nil:
		return nil, err
	case c == '"':
		s, _, err := d.readString(&d.str)
		return s, err
	case c == 'n':
		return nil, d.literal()
	}
	return nil, d.mistyped(parent, field, "a string")
}

// int reads an integer in [lo, hi].
func (d *JSONDecoder) int(parent, field string, lo, hi int64) (int64, error) {
	c, err := d.next()
	switch {
	case err != nil:
		return 0, err
	case c == 'n':
		return 0, d.literal()
	case c != '-' && (c < '0' || '9' < c):
		return 0, d.mistyped(parent, field, "an integer")
	}
	tok, err := d.number()
	if err != nil {
		return 0, err
	}
	neg := tok[0] == '-'
	digits := tok
	if neg {
		digits = tok[1:]
	}
	// The callers' ranges are far inside int64: stop accumulating early.
	const limit = 1 << 62
	var n int64
	for _, c := range digits {
		if c < '0' || '9' < c {
			d.bad(parent, field, "want an integer, found %s", tok)
			return 0, nil
		}
		if n = n*10 + int64(c-'0'); n > limit {
			break
		}
	}
	if neg {
		n = -n
	}
	if n < lo || n > hi {
		d.bad(parent, field, "%s out of range [%d, %d]", tok, lo, hi)
		return 0, nil
	}
	return n, nil
}

// uint reads an unsigned integer no larger than hi.
func (d *JSONDecoder) uint(parent, field string, hi uint64) (uint64, error) {
	c, err := d.next()
	switch {
	case err != nil:
		return 0, err
	case c == 'n':
		return 0, d.literal()
	case c != '-' && (c < '0' || '9' < c):
		return 0, d.mistyped(parent, field, "an unsigned integer")
	}
	tok, err := d.number()
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range tok {
		if c < '0' || '9' < c {
			if c == '-' {
				d.bad(parent, field, "%s out of range [0, %d]", tok, hi)
			} else {
				d.bad(parent, field, "want an integer, found %s", tok)
			}
			return 0, nil
		}
		if v > hi/10 || v*10 > hi-uint64(c-'0') {
			d.bad(parent, field, "%s out of range [0, %d]", tok, hi)
			return 0, nil
		}
		v = v*10 + uint64(c-'0')
	}
	return v, nil
}

const maxUint32 = 1<<32 - 1

// The schema.

// decodeEvent decodes the object at pos into ev. A non-empty skip is the
// warning under which the event is dropped.
func (d *JSONDecoder) decodeEvent(ev *event.Event) (skip string, err error) {
	if c := d.buf[d.pos]; c != '{' {
		return "", d.syntaxErr("want '{' starting an event, found %s", quoteChar(c))
	}
	if err := d.open(); err != nil {
		return "", err
	}
	d.sawID, d.evErr = false, nil
	for first := true; ; first = false {
		key, ok, err := d.member(first)
		if err != nil {
			return "", err
		}
		if !ok {
			break
		}
		switch string(key) {
		case "source":
			err = d.peer(&ev.Source, nil, false, "source")
		case "destination":
			err = d.peer(&ev.Destination, &ev.Policy, true, "destination")
		case "proxyDirection":
			err = d.direction(ev)
		case "requestInitEvent":
			err = d.requestInit(ev)
		case "responseInitEvent":
			err = d.responseInit(ev)
		case "responseEndEvent":
			err = d.responseEnd(ev)
		case "routeMeta":
			// ServiceProfile route labels: not used.
			err = d.skipValue()
		default:
			d.warn.Add(d.unknown.reason("", key))
			err = d.skipValue()
		}
		if err != nil {
			return "", err
		}
	}
	switch {
	case d.evErr != nil:
		return "", d.evErr
	case ev.Kind == event.KindUnknown:
		return warnNoHTTP, nil
	case !d.sawID:
		return warnNoID, nil
	}
	return "", nil
}

func (d *JSONDecoder) direction(ev *event.Event) error {
	s, err := d.string("", "proxyDirection")
	if err != nil || s == nil {
		return err
	}
	switch string(s) {
	case "INBOUND":
		ev.Direction = event.Inbound
	case "OUTBOUND":
		ev.Direction = event.Outbound
	case "UNKNOWN":
		ev.Direction = event.DirectionUnknown
	default:
		// A newer enum value: tap it as unknown rather than fail.
		ev.Direction = event.DirectionUnknown
		d.warn.Add(warnBadDirection)
	}
	return nil
}

// peer decodes {"ip", "port", "metadata"} into p. pol and dest are as for
// applyLabel.
func (d *JSONDecoder) peer(p *event.Peer, pol *event.Policy, dest bool, name string) error {
	if ok, err := d.object("", name); !ok {
		return err
	}
	for first := true; ; first = false {
		key, ok, err := d.member(first)
		if err != nil || !ok {
			return err
		}
		switch string(key) {
		case "ip":
			s, err := d.string(name, "ip")
			if err != nil {
				return err
			}
			if len(s) == 0 {
				continue // no address: Next counts it
			}
			if ip, ok := parseIP(s); ok {
				p.IP = ip
			} else {
				d.bad(name, "ip", "invalid IP address %q", s)
			}
		case "port":
			v, err := d.uint(name, "port", maxUint32)
			if err != nil {
				return err
			}
			p.Port = uint32(v)
		case "metadata":
			err = d.labels(p, pol, dest, name)
		default:
			d.warn.Add(d.unknown.reason(name+".", key))
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
}

// labels decodes a metadata object: string labels, or null.
func (d *JSONDecoder) labels(p *event.Peer, pol *event.Policy, dest bool, name string) error {
	if ok, err := d.object(name, "metadata"); !ok {
		return err
	}
	for first := true; ; first = false {
		key, ok, err := d.member(first)
		if err != nil || !ok {
			return err
		}
		// Reading the value may refill the buffer the key aliases.
		d.label = append(d.label[:0], key...)
		c, err := d.next()
		switch {
		case err != nil:
			return err
		case c == '"':
			v, _, err := d.readString(&d.str)
			if err != nil {
				return err
			}
			applyLabel(p, pol, dest, d.label, v, d.in)
		case c == 'n':
			if err := d.literal(); err != nil {
				return err
			}
		default:
			if err := d.mistyped(name+".metadata", string(d.label), "a string"); err != nil {
				return err
			}
		}
	}
}

// kind sets the event kind. A second one is an error, and the payload
// object, whose '{' has been read, is skipped.
func (d *JSONDecoder) kind(ev *event.Event, k event.Kind, name string) (ok bool, err error) {
	if ev.Kind == event.KindUnknown {
		ev.Kind = k
		return true, nil
	}
	d.bad("", name, "the event already has a %s", kindKey(ev.Kind))
	for first := true; ; first = false {
		_, ok, err := d.member(first)
		if err != nil || !ok {
			return false, err
		}
		if err := d.skipValue(); err != nil {
			return false, err
		}
	}
}

func kindKey(k event.Kind) string {
	switch k {
	case event.RequestInit:
		return "requestInitEvent"
	case event.ResponseInit:
		return "responseInitEvent"
	}
	return "responseEndEvent"
}

func (d *JSONDecoder) requestInit(ev *event.Event) error {
	const name = "requestInitEvent"
	if ok, err := d.object("", name); !ok {
		return err
	}
	if ok, err := d.kind(ev, event.RequestInit, name); !ok {
		return err
	}
	for first := true; ; first = false {
		key, ok, err := d.member(first)
		if err != nil || !ok {
			return err
		}
		var s []byte
		switch string(key) {
		case "id":
			err = d.streamID(ev, name+".id")
		case "method":
			if s, err = d.string(name, "method"); err == nil && len(s) > 0 {
				ev.Method = methodName(s, d.in, &d.scratch)
			}
		case "scheme":
			if s, err = d.string(name, "scheme"); err == nil && len(s) > 0 {
				ev.Scheme = schemeName(s, d.in)
			}
		case "authority":
			if s, err = d.string(name, "authority"); err == nil {
				ev.Authority = append(ev.Authority[:0], s...)
			}
		case "path":
			if s, err = d.string(name, "path"); err == nil {
				ev.Path = append(ev.Path[:0], s...)
			}
		case "headers":
			err = d.headers(ev, name+".headers")
		default:
			d.warn.Add(d.unknown.reason(name+".", key))
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
}

func (d *JSONDecoder) responseInit(ev *event.Event) error {
	const name = "responseInitEvent"
	if ok, err := d.object("", name); !ok {
		return err
	}
	if ok, err := d.kind(ev, event.ResponseInit, name); !ok {
		return err
	}
	for first := true; ; first = false {
		key, ok, err := d.member(first)
		if err != nil || !ok {
			return err
		}
		switch string(key) {
		case "id":
			err = d.streamID(ev, name+".id")
		case "sinceRequestInit":
			ev.SinceRequestInit, err = d.duration(name + ".sinceRequestInit")
		case "httpStatus":
			var v uint64
			v, err = d.uint(name, "httpStatus", maxUint32)
			ev.HTTPStatus = uint32(v)
		case "headers":
			// Response headers: not used.
			err = d.skipValue()
		default:
			d.warn.Add(d.unknown.reason(name+".", key))
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
}

func (d *JSONDecoder) responseEnd(ev *event.Event) error {
	const name = "responseEndEvent"
	if ok, err := d.object("", name); !ok {
		return err
	}
	if ok, err := d.kind(ev, event.ResponseEnd, name); !ok {
		return err
	}
	for first := true; ; first = false {
		key, ok, err := d.member(first)
		if err != nil || !ok {
			return err
		}
		var v uint64
		switch string(key) {
		case "id":
			err = d.streamID(ev, name+".id")
		case "sinceRequestInit":
			ev.SinceRequestInit, err = d.duration(name + ".sinceRequestInit")
		case "sinceResponseInit":
			ev.SinceResponseInit, err = d.duration(name + ".sinceResponseInit")
		case "responseBytes":
			ev.ResponseBytes, err = d.uint(name, "responseBytes", 1<<64-1)
		case "grpcStatusCode":
			// Printed for every end event, 0 without an Eos: whether the
			// status matters is for the recorder to decide. A reset wins.
			if v, err = d.uint(name, "grpcStatusCode", maxUint32); err == nil && ev.End != event.EndReset {
				ev.End, ev.GRPCStatus = event.EndGRPC, uint32(v)
			}
		case "resetErrorCode":
			if v, err = d.uint(name, "resetErrorCode", maxUint32); err == nil {
				ev.End, ev.GRPCStatus, ev.ResetCode = event.EndReset, 0, uint32(v)
			}
		case "trailers":
			// Not used.
			err = d.skipValue()
		default:
			d.warn.Add(d.unknown.reason(name+".", key))
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
}

// streamID decodes {"base", "stream"} at path.
func (d *JSONDecoder) streamID(ev *event.Event, path string) error {
	if ok, err := d.object(path, ""); !ok {
		return err
	}
	d.sawID = true
	for first := true; ; first = false {
		key, ok, err := d.member(first)
		if err != nil || !ok {
			return err
		}
		var v uint64
		switch string(key) {
		case "base":
			v, err = d.uint(path, "base", maxUint32)
			ev.ID.Base = uint32(v)
		case "stream":
			ev.ID.Stream, err = d.uint(path, "stream", 1<<64-1)
		default:
			d.warn.Add(d.unknown.reason(path+".", key))
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
}

// duration decodes a protobuf Duration at path as encoding/json prints it:
// {"seconds", "nanos"}, each omitted when zero.
func (d *JSONDecoder) duration(path string) (time.Duration, error) {
	if ok, err := d.object(path, ""); !ok {
		return 0, err
	}
	// The range of time.Duration, about 292 years.
	const maxSecs = int64(1<<63-1)/int64(time.Second) - 1
	var secs, nanos int64
	for first := true; ; first = false {
		key, ok, err := d.member(first)
		if err != nil {
			return 0, err
		}
		if !ok {
			return time.Duration(secs)*time.Second + time.Duration(nanos), nil
		}
		switch string(key) {
		case "seconds":
			secs, err = d.int(path, "seconds", -maxSecs, maxSecs)
		case "nanos":
			nanos, err = d.int(path, "nanos", -999_999_999, 999_999_999)
		default:
			d.warn.Add(d.unknown.reason(path+".", key))
			err = d.skipValue()
		}
		if err != nil {
			return 0, err
		}
	}
}

var contentTypeHeader = []byte("content-type")

// headers decodes the request headers at path, keeping only content-type:
// it tells gRPC from plain HTTP. Tap only extracts headers when asked to.
func (d *JSONDecoder) headers(ev *event.Event, path string) error {
	c, err := d.next()
	switch {
	case err != nil:
		return err
	case c == 'n':
		return d.literal()
	case c != '[':
		return d.mistyped(path, "", "an array")
	}
	if err := d.open(); err != nil {
		return err
	}
	for first := true; ; first = false {
		ok, err := d.element(first)
		if err != nil || !ok {
			return err
		}
		if err := d.header(ev, path); err != nil {
			return err
		}
	}
}

// header decodes {"name", "valueStr" | "valueBin"}; valueBin is base64.
func (d *JSONDecoder) header(ev *event.Event, parent string) error {
	if ok, err := d.object(parent, ""); !ok {
		return err
	}
	d.hdrName, d.hdrVal = d.hdrName[:0], d.hdrVal[:0]
	for first := true; ; first = false {
		key, ok, err := d.member(first)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		var s []byte
		switch string(key) {
		case "name":
			if s, err = d.string(parent, "name"); err == nil {
				d.hdrName = append(d.hdrName[:0], s...)
			}
		case "valueStr":
			if s, err = d.string(parent, "valueStr"); err == nil {
				d.hdrVal = append(d.hdrVal[:0], s...)
			}
		case "valueBin":
			if s, err = d.string(parent, "valueBin"); err == nil {
				d.hdrVal = append(d.hdrVal[:0], make([]byte, base64.StdEncoding.DecodedLen(len(s)))...)
				n, berr := base64.StdEncoding.Decode(d.hdrVal, s)
				if berr != nil {
					d.bad(parent, "valueBin", "invalid base64: %v", berr)
				}
				d.hdrVal = d.hdrVal[:n]
			}
		default:
			d.warn.Add(d.unknown.reason(parent+".", key))
			err = d.skipValue()
		}
		if err != nil {
			return err
		}
	}
	if bytes.EqualFold(d.hdrName, contentTypeHeader) {
		ev.ContentType = d.in.Bytes(d.hdrVal)
	}
	return nil
}
