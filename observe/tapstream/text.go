package tapstream

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/cinchmesh/cinch/observe/event"
)

// Limits of the text decoder.
const (
	textBufferSize = 64 << 10
	// textMaxLine bounds one line: a longer one means the input is not tap
	// output. Its bytes are skipped, not kept.
	textMaxLine = MaxFrameSize
)

// TextDecoder decodes the default output of `linkerd viz tap`, one line per
// event:
//
//	req id=B:S proxy=in  src=IP:PORT dst=IP:PORT tls=true :method=GET :authority=A :path=/p
//	rsp id=B:S proxy=out src=... dst=... tls=... :status=200 latency=2976µs
//	end id=B:S proxy=in  src=... dst=... tls=... [grpc-status=OK |reset-error=N ]duration=79µs response-length=1060B
//
// and the `-o wide` variant, which appends src_res=, src_ns=, dst_res=,
// dst_ns= and rt_* columns (ignored here).
//
// The text carries no labels besides the tls column, and loses some of what
// the raw stream has; linkerd's renderer
//   - prints the tls label of the source for inbound events and of the
//     destination for outbound ones (Source.TLS or Destination.TLS here), and
//     none for events of unknown direction;
//   - prints latency and duration as the nanos field of the protobuf
//     Duration divided by 1000: whole seconds are dropped, so a latency of
//     1.5 s reads as 500000µs;
//   - prints "duration" from since_response_init only (SinceResponseInit;
//     SinceRequestInit of an end event stays zero);
//   - prints unregistered HTTP methods as GET.
//
// Lines that do not parse are reported once each; the next call continues
// with the next line. DecodeError.Event counts non-blank lines. Read errors
// are final.
//
// Event.Time is left zero: the output carries no timestamps.
type TextDecoder struct {
	br      *bufio.Reader
	in      *event.Interner
	maxLine int // textMaxLine; tests lower it

	long   []byte // a line longer than br's buffer, assembled
	line   int    // lines read so far: the 1-based number of the current one
	off    int64  // stream offset of the next line
	events int    // non-blank lines so far

	err     error // sticky error, io.EOF at the end
	warn    Warnings
	unknown unknownFields
	scratch []byte // upper-casing methods
}

var _ Decoder = (*TextDecoder)(nil)

// NewTextDecoder returns a decoder reading `linkerd viz tap` text output
// from r. Labels are interned through in; a nil in gets a private interner.
func NewTextDecoder(r io.Reader, in *event.Interner) *TextDecoder {
	if in == nil {
		in = event.NewInterner(event.DefaultInternLimit)
	}
	return &TextDecoder{
		br:      bufio.NewReaderSize(r, textBufferSize),
		in:      in,
		maxLine: textMaxLine,
		warn:    Warnings{},
	}
}

// Warnings returns the counts of input skipped so far, by reason. The map is
// the decoder's own and keeps counting on later calls to Next.
func (d *TextDecoder) Warnings() Warnings { return d.warn }

// Next decodes the next event into ev, skipping blank lines. "unknown" lines
// (events without an HTTP payload) are skipped and counted; events without
// a source or destination address are counted and returned with a zero
// address.
func (d *TextDecoder) Next(ev *event.Event) error {
	for {
		ev.Reset()
		if d.err != nil {
			return d.err
		}
		start := d.off
		line, n, clipped, err := d.readLine()
		if n == 0 {
			if err == io.EOF {
				d.err = io.EOF
			} else {
				d.err = &DecodeError{Format: FormatText, Event: d.events + 1, Line: d.line + 1, Offset: start, Err: err}
			}
			return d.err
		}
		d.line++
		d.off += int64(n)
		if err != nil && err != io.EOF {
			// A read error ends the input; the partial line is not trusted.
			d.err = &DecodeError{Format: FormatText, Event: d.events + 1, Line: d.line, Offset: start, Err: err}
			return d.err
		}
		complete := bytes.HasSuffix(line, []byte{'\n'})
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'})
		if clipped || len(line) > d.maxLine {
			d.events++
			return &DecodeError{Format: FormatText, Event: d.events, Line: d.line, Offset: start,
				Err: fmt.Errorf("line of %d bytes exceeds the limit of %d: not tap output", n, d.maxLine)}
		}
		line = bytes.Trim(line, " \t")
		if len(line) == 0 {
			continue
		}
		d.events++
		skip, perr := d.parse(line, ev)
		if perr != nil {
			ev.Reset()
			if !complete {
				// The last line has no newline: most likely cut short.
				perr = fmt.Errorf("%w: %v", ErrTruncated, perr)
			}
			return &DecodeError{Format: FormatText, Event: d.events, Line: d.line, Offset: start, Err: perr}
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

// readLine returns the next line with its newline (none at the end of the
// input) and its length n in the input. The line aliases a buffer valid
// until the next call. Of a line much longer than maxLine, only the start is
// kept (clipped is then true), so that garbage input without newlines does
// not exhaust memory.
func (d *TextDecoder) readLine() (line []byte, n int, clipped bool, err error) {
	d.long = d.long[:0]
	keep := d.maxLine + len("\r\n")
	for {
		frag, err := d.br.ReadSlice('\n')
		n += len(frag)
		if err != bufio.ErrBufferFull && len(d.long) == 0 {
			return frag, n, false, err // the usual case: no copy
		}
		// Longer than the buffer: assemble it, up to the limit.
		if room := keep - len(d.long); len(frag) > room {
			frag, clipped = frag[:room], true
		}
		d.long = append(d.long, frag...)
		if err != bufio.ErrBufferFull {
			return d.long, n, clipped, err
		}
	}
}

// Fields of a text line, as bits of a set.
const (
	fID = 1 << iota
	fProxy
	fSrc
	fDst
	fTLS
	fMethod
	fAuthority
	fPath
	fStatus
	fLatency
	fDuration
	fLength

	fFlow     = fID | fProxy | fSrc | fDst | fTLS
	fRequest  = fFlow | fMethod | fAuthority | fPath
	fResponse = fFlow | fStatus | fLatency
	fEnd      = fFlow | fDuration | fLength
)

var textFieldNames = [...]string{"id", "proxy", "src", "dst", "tls", ":method", ":authority", ":path", ":status", "latency", "duration", "response-length"}

// parse decodes one non-blank line, trimmed. A non-empty skip is the warning
// under which the line is dropped.
func (d *TextDecoder) parse(line []byte, ev *event.Event) (skip string, err error) {
	kind, rest, _ := bytes.Cut(line, []byte{' '})
	var want int
	switch string(kind) {
	case "req":
		ev.Kind, want = event.RequestInit, fRequest
	case "rsp":
		ev.Kind, want = event.ResponseInit, fResponse
	case "end":
		ev.Kind, want = event.ResponseEnd, fEnd
	case "unknown":
		return warnNoHTTP, nil
	default:
		return "", fmt.Errorf("unknown event kind %q: want req, rsp or end", clip(kind))
	}

	var (
		have  int
		tls   []byte
		freeV bool // the previous token was an rt_* column, whose value may hold spaces
	)
	for len(rest) > 0 {
		var tok []byte
		if i := bytes.IndexByte(rest, ' '); i >= 0 {
			tok, rest = rest[:i], rest[i+1:]
		} else {
			tok, rest = rest, nil
		}
		if len(tok) == 0 {
			continue // runs of spaces, as after "proxy=in"
		}
		key, val, ok := bytes.Cut(tok, []byte{'='})
		if !ok {
			if freeV {
				continue
			}
			return "", fmt.Errorf("bad token %q: want key=value", clip(tok))
		}
		freeV = false
		var bit int
		switch string(key) {
		case "id":
			bit = fID
			if !parseStreamID(val, &ev.ID) {
				return "", badToken(tok, "want id=BASE:STREAM")
			}
		case "proxy":
			bit = fProxy
			switch string(val) {
			case "in":
				ev.Direction = event.Inbound
			case "out":
				ev.Direction = event.Outbound
			case "???": // what linkerd prints for an unknown direction
				ev.Direction = event.DirectionUnknown
			default:
				return "", badToken(tok, "want proxy=in, out or ???")
			}
		case "src", "dst":
			p := &ev.Source
			if bit = fSrc; key[0] == 'd' {
				p, bit = &ev.Destination, fDst
			}
			if !parseAddrPort(val, &p.IP, &p.Port) {
				return "", badToken(tok, "want IP:PORT or [IPv6]:PORT")
			}
		case "tls":
			bit, tls = fTLS, val
		case ":method":
			bit = fMethod
			ev.Method = methodName(val, d.in, &d.scratch)
		case ":authority":
			bit = fAuthority
			ev.Authority = append(ev.Authority[:0], val...)
		case ":path":
			bit = fPath
			ev.Path = append(ev.Path[:0], val...)
		case ":status":
			bit = fStatus
			v, ok := parseUint(val, maxUint32)
			if !ok {
				return "", badToken(tok, "want an HTTP status code")
			}
			ev.HTTPStatus = uint32(v)
		case "latency":
			bit = fLatency
			if ev.SinceRequestInit, ok = parseMicros(val); !ok {
				return "", badToken(tok, "want a duration in µs")
			}
		case "duration":
			bit = fDuration
			if ev.SinceResponseInit, ok = parseMicros(val); !ok {
				return "", badToken(tok, "want a duration in µs")
			}
		case "response-length":
			bit = fLength
			v, ok := bytes.CutSuffix(val, []byte{'B'})
			if ok {
				ev.ResponseBytes, ok = parseUint(v, 1<<64-1)
			}
			if !ok {
				return "", badToken(tok, "want a length in bytes, as 1060B")
			}
		case "grpc-status":
			code, ok := grpcCode(val)
			if !ok {
				return "", badToken(tok, "want a gRPC status code name")
			}
			ev.End, ev.GRPCStatus, ev.ResetCode = event.EndGRPC, code, 0
		case "reset-error":
			code, ok := parseUint(val, maxUint32)
			if !ok {
				return "", badToken(tok, "want an HTTP/2 error code")
			}
			ev.End, ev.GRPCStatus, ev.ResetCode = event.EndReset, 0, uint32(code)
		default:
			if isWideColumn(key) {
				freeV = bytes.HasPrefix(key, []byte("rt_"))
				continue
			}
			d.warn.Add(d.unknown.reason("", key))
		}
		have |= bit
	}
	if missing := want &^ have; missing != 0 {
		for i, name := range textFieldNames {
			if missing&(1<<i) != 0 {
				return "", fmt.Errorf("missing %s=", name)
			}
		}
	}
	switch ev.Direction {
	case event.Inbound:
		ev.Source.TLS = d.in.Bytes(tls)
	case event.Outbound:
		ev.Destination.TLS = d.in.Bytes(tls)
	}
	return "", nil
}

// isWideColumn reports whether key is one of the columns `-o wide` adds:
// src_res, src_pod, src_ns, their dst_ twins, and rt_* route labels.
func isWideColumn(key []byte) bool {
	return bytes.HasPrefix(key, []byte("src_")) || bytes.HasPrefix(key, []byte("dst_")) ||
		bytes.HasPrefix(key, []byte("rt_")) ||
		bytes.HasSuffix(key, []byte("_res")) || bytes.HasSuffix(key, []byte("_ns"))
}

func badToken(tok []byte, why string) error {
	return fmt.Errorf("bad token %q: %s", clip(tok), why)
}

// clip shortens b for an error message.
func clip(b []byte) []byte {
	const n = 80
	if len(b) > n {
		return append(b[:n:n], "..."...)
	}
	return b
}

// parseUint parses a decimal number no larger than hi.
func parseUint(b []byte, hi uint64) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || '9' < c || v > hi/10 || v*10 > hi-uint64(c-'0') {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// parseMicros parses a duration printed as "2976µs" (or with a plain u).
func parseMicros(b []byte) (time.Duration, bool) {
	v, ok := bytes.CutSuffix(b, []byte("µs"))
	if !ok {
		if v, ok = bytes.CutSuffix(b, []byte("us")); !ok {
			return 0, false
		}
	}
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	n, ok := parseUint(v, uint64(1<<63-1)/uint64(time.Microsecond))
	if !ok {
		return 0, false
	}
	d := time.Duration(n) * time.Microsecond
	if neg {
		d = -d
	}
	return d, true
}

// parseStreamID parses BASE:STREAM.
func parseStreamID(b []byte, id *event.StreamID) bool {
	base, stream, ok := bytes.Cut(b, []byte{':'})
	if !ok {
		return false
	}
	bv, ok1 := parseUint(base, maxUint32)
	sv, ok2 := parseUint(stream, 1<<64-1)
	id.Base, id.Stream = uint32(bv), sv
	return ok1 && ok2
}

// parseAddrPort parses IP:PORT or [IPv6]:PORT as net.JoinHostPort prints
// them. Linkerd prints an absent address as an empty IP (":0"), which
// leaves ip zero.
func parseAddrPort(b []byte, ip *netip.Addr, port *uint32) bool {
	i := bytes.LastIndexByte(b, ':')
	if i < 0 {
		return false
	}
	host, ps := b[:i], b[i+1:]
	p, ok := parseUint(ps, 65535)
	if !ok {
		return false
	}
	*port = uint32(p)
	if len(host) == 0 {
		return true
	}
	if host[0] == '[' {
		if len(host) < 2 || host[len(host)-1] != ']' {
			return false
		}
		a, ok := parseIP(host[1 : len(host)-1])
		if !ok || !a.Is6() {
			return false
		}
		*ip = a
		return true
	}
	a, ok := parseIPv4(host)
	*ip = a
	return ok
}

// grpcCodeNames are the names google.golang.org/grpc/codes.Code.String
// prints, by code.
var grpcCodeNames = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
	"NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
	"FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
	"Internal", "Unavailable", "DataLoss", "Unauthenticated",
}

// grpcCode maps a printed gRPC code back to its number: a name, or
// "Code(N)" for codes without one.
func grpcCode(b []byte) (uint32, bool) {
	for i, name := range grpcCodeNames {
		if string(b) == name {
			return uint32(i), true
		}
	}
	if n, ok := bytes.CutPrefix(b, []byte("Code(")); ok {
		if n, ok = bytes.CutSuffix(n, []byte(")")); ok {
			v, ok := parseUint(n, maxUint32)
			return uint32(v), ok
		}
	}
	return 0, false
}
