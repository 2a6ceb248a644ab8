package tapstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/cinchmesh/cinch/observe/event"
)

func TestTextFixtures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		perKind int
	}{
		{"booksapp", 5900},
		{"emojivoto", 3240},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewTextDecoder(bytes.NewReader(upstream(t, tc.name+".tap.txt.gz")), nil)
			evs, err := decodeEvents(d)
			if err != nil {
				t.Fatal(err)
			}
			want := map[event.Kind]int{event.RequestInit: tc.perKind, event.ResponseInit: tc.perKind, event.ResponseEnd: tc.perKind}
			if got := countKinds(evs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("events by kind = %v, want %v", got, want)
			}
			if w := d.Warnings(); w.Total() != 0 {
				t.Errorf("warnings: %v", w)
			}
		})
	}
}

// TestTextMatchesJSON decodes the text and JSON captures of the same stream
// and checks that they agree, event by event, on everything the text
// carries.
func TestTextMatchesJSON(t *testing.T) {
	for _, name := range []string{"booksapp", "emojivoto"} {
		t.Run(name, func(t *testing.T) {
			tevs, err := decodeEvents(NewTextDecoder(bytes.NewReader(upstream(t, name+".tap.txt.gz")), nil))
			if err != nil {
				t.Fatal(err)
			}
			jevs, err := decodeEvents(NewJSONDecoder(bytes.NewReader(upstream(t, name+".tap.json.gz")), nil))
			if err != nil {
				t.Fatal(err)
			}
			if len(tevs) != len(jevs) {
				t.Fatalf("text has %d events, json %d", len(tevs), len(jevs))
			}
			grpc := 0
			for i, te := range tevs {
				want := textView(t, jevs[i], te)
				if te.End == event.EndGRPC {
					grpc++
				}
				if g, w := show(te), show(want); g != w {
					t.Fatalf("event %d:\ntext %s\njson %s", i+1, g, w)
				}
			}
			t.Logf("%d events agree, %d with a grpc-status", len(tevs), grpc)
		})
	}
}

// textView is what the text output shows of a JSON-decoded event, the way
// linkerd's renderer prints it. te is the text event, for the one thing the
// JSON cannot tell: whether an end event had an Eos at all.
func textView(t *testing.T, j, te event.Event) event.Event {
	t.Helper()
	// The renderer prints Duration.nanos / 1000: whole seconds are lost.
	micros := func(d time.Duration) time.Duration { return d % time.Second / time.Microsecond * time.Microsecond }
	v := event.Event{
		Direction:   j.Direction,
		Kind:        j.Kind,
		ID:          j.ID,
		Source:      event.Peer{IP: j.Source.IP, Port: j.Source.Port},
		Destination: event.Peer{IP: j.Destination.IP, Port: j.Destination.Port},
		Method:      j.Method,
		Authority:   j.Authority,
		Path:        j.Path,
		HTTPStatus:  j.HTTPStatus,
	}
	// The tls column is the source's label on inbound events, the
	// destination's on outbound ones.
	switch j.Direction {
	case event.Inbound:
		v.Source.TLS = j.Source.TLS
	case event.Outbound:
		v.Destination.TLS = j.Destination.TLS
	}
	switch j.Kind {
	case event.ResponseInit:
		v.SinceRequestInit = micros(j.SinceRequestInit)
	case event.ResponseEnd:
		v.SinceResponseInit = micros(j.SinceResponseInit)
		v.ResponseBytes = j.ResponseBytes
		v.End, v.GRPCStatus, v.ResetCode = j.End, j.GRPCStatus, j.ResetCode
		// -o json prints grpcStatusCode 0 whether or not there was an
		// Eos; the text prints grpc-status only when there was one.
		if te.End == event.EndNone && j.End == event.EndGRPC && j.GRPCStatus == 0 {
			v.End = event.EndNone
		}
	}
	return v
}

const (
	textReq = "req id=3461996334:101 proxy=in  src=10.42.0.21:52311 dst=10.42.0.22:8080 tls=true :method=POST :authority=emoji-svc.emojivoto:8080 :path=/emojivoto.v1.EmojiService/ListAll\n"
	textRsp = "rsp id=3461996334:101 proxy=in  src=10.42.0.21:52311 dst=10.42.0.22:8080 tls=true :status=200 latency=2976µs\n"
	textEnd = "end id=3461996334:101 proxy=in  src=10.42.0.21:52311 dst=10.42.0.22:8080 tls=true grpc-status=OK duration=79µs response-length=1060B\n"
)

// textWant is the event the text line of kind decodes to.
func textWant(kind event.Kind) event.Event {
	ev := event.Event{
		Direction:   event.Inbound,
		Kind:        kind,
		ID:          event.StreamID{Base: 3461996334, Stream: 101},
		Source:      event.Peer{IP: netip.MustParseAddr("10.42.0.21"), Port: 52311, TLS: "true"},
		Destination: event.Peer{IP: netip.MustParseAddr("10.42.0.22"), Port: 8080},
	}
	switch kind {
	case event.RequestInit:
		ev.Method = "POST"
		ev.Authority, ev.Path = []byte("emoji-svc.emojivoto:8080"), []byte("/emojivoto.v1.EmojiService/ListAll")
	case event.ResponseInit:
		ev.HTTPStatus, ev.SinceRequestInit = 200, 2976*time.Microsecond
	case event.ResponseEnd:
		ev.SinceResponseInit, ev.ResponseBytes, ev.End = 79*time.Microsecond, 1060, event.EndGRPC
	}
	return ev
}

func textWith(kind event.Kind, f func(*event.Event)) event.Event {
	ev := textWant(kind)
	f(&ev)
	return ev
}

func TestTextDecode(t *testing.T) {
	longPath := "/" + strings.Repeat("p", 100<<10)
	for _, tc := range []struct {
		name  string
		in    string
		want  []event.Event
		warns Warnings
	}{
		{name: "empty input", in: ""},
		{name: "blank lines only", in: "\n  \n\r\n\t\n"},
		{
			name: "the three kinds",
			in:   textReq + textRsp + textEnd,
			want: []event.Event{textWant(event.RequestInit), textWant(event.ResponseInit), textWant(event.ResponseEnd)},
		},
		{
			name: "blank lines, CRLF, leading and trailing space, no final newline",
			in:   "\n" + strings.ReplaceAll(textReq, "\n", "\r\n") + "\n   " + strings.TrimSuffix(textRsp, "\n") + "   \n\n" + strings.TrimSuffix(textEnd, "\n"),
			want: []event.Event{textWant(event.RequestInit), textWant(event.ResponseInit), textWant(event.ResponseEnd)},
		},
		{
			name: "gRPC status names, Code(N), reset, plain end",
			in: strings.Replace(textEnd, "grpc-status=OK", "grpc-status=Unauthenticated", 1) +
				strings.Replace(textEnd, "grpc-status=OK", "grpc-status=PermissionDenied", 1) +
				strings.Replace(textEnd, "grpc-status=OK", "grpc-status=Code(666)", 1) +
				strings.Replace(textEnd, "grpc-status=OK", "reset-error=7", 1) +
				strings.Replace(textEnd, "grpc-status=OK ", "", 1),
			want: []event.Event{
				textWith(event.ResponseEnd, func(ev *event.Event) { ev.GRPCStatus = 16 }),
				textWith(event.ResponseEnd, func(ev *event.Event) { ev.GRPCStatus = 7 }),
				textWith(event.ResponseEnd, func(ev *event.Event) { ev.GRPCStatus = 666 }),
				textWith(event.ResponseEnd, func(ev *event.Event) { ev.End, ev.ResetCode = event.EndReset, 7 }),
				textWith(event.ResponseEnd, func(ev *event.Event) { ev.End = event.EndNone }),
			},
		},
		{
			name: "outbound: tls is the destination's; unknown direction: none",
			in: strings.Replace(textRsp, "proxy=in ", "proxy=out", 1) +
				strings.Replace(strings.Replace(textRsp, "proxy=in ", "proxy=???", 1), "tls=true", "tls=", 1),
			want: []event.Event{
				textWith(event.ResponseInit, func(ev *event.Event) {
					ev.Direction, ev.Source.TLS, ev.Destination.TLS = event.Outbound, "", "true"
				}),
				textWith(event.ResponseInit, func(ev *event.Event) {
					ev.Direction, ev.Source.TLS = event.DirectionUnknown, ""
				}),
			},
		},
		{
			name: "ipv6 and tls reasons",
			in:   strings.Replace(strings.Replace(textRsp, "src=10.42.0.21:52311 dst=10.42.0.22:8080", "src=[fd00::1:2]:52311 dst=[::ffff:10.0.0.1]:80", 1), "tls=true", "tls=no_tls_from_remote", 1),
			want: []event.Event{textWith(event.ResponseInit, func(ev *event.Event) {
				ev.Source.IP, ev.Source.TLS = netip.MustParseAddr("fd00::1:2"), "no_tls_from_remote"
				ev.Destination.IP, ev.Destination.Port = netip.MustParseAddr("::ffff:10.0.0.1"), 80
			})},
		},
		{
			name: "linkerd's wide golden output",
			in: "req id=1:0 proxy=out src=0.0.0.1:0 dst=[ff01::1]:0 tls=true :method=GET :authority=localhost :path=/some/path  dst_pod=my-pod dst_tls=true \n" +
				"end id=1:0 proxy=out src=0.0.0.1:0 dst=[ff01::1]:0 tls= grpc-status=Code(666) duration=0µs response-length=1337B   \n",
			want: []event.Event{
				{
					Direction: event.Outbound, Kind: event.RequestInit, ID: event.StreamID{Base: 1},
					Source:      event.Peer{IP: netip.MustParseAddr("0.0.0.1")},
					Destination: event.Peer{IP: netip.MustParseAddr("ff01::1"), TLS: "true"},
					Method:      "GET", Authority: []byte("localhost"), Path: []byte("/some/path"),
				},
				{
					Direction: event.Outbound, Kind: event.ResponseEnd, ID: event.StreamID{Base: 1},
					Source:        event.Peer{IP: netip.MustParseAddr("0.0.0.1")},
					Destination:   event.Peer{IP: netip.MustParseAddr("ff01::1")},
					ResponseBytes: 1337, End: event.EndGRPC, GRPCStatus: 666,
				},
			},
		},
		{
			name: "wide columns, route labels with spaces",
			in:   strings.TrimSuffix(textReq, "\n") + " src_res=deploy/web src_ns=emojivoto dst_res=sts/emoji dst_ns=emojivoto rt_route=GET /books/{id}.json rt_other=x\n" + textRsp,
			want: []event.Event{textWant(event.RequestInit), textWant(event.ResponseInit)},
		},
		{
			name:  "unknown keys are counted",
			in:    strings.Replace(textRsp, "latency", "x-trace=1 latency", 1) + strings.TrimSuffix(textRsp, "\n") + " x-trace=2 shiny=yes\n",
			want:  []event.Event{textWant(event.ResponseInit), textWant(event.ResponseInit)},
			warns: Warnings{"unknown field x-trace": 2, "unknown field shiny": 1},
		},
		{
			name:  "unknown events are skipped",
			in:    "unknown proxy=??? src=10.42.0.21:52311 dst=10.42.0.22:8080 tls=\n" + textRsp,
			want:  []event.Event{textWant(event.ResponseInit)},
			warns: Warnings{warnNoHTTP: 1},
		},
		{
			name:  "absent address",
			in:    strings.Replace(textRsp, "src=10.42.0.21:52311", "src=:0", 1),
			want:  []event.Event{textWith(event.ResponseInit, func(ev *event.Event) { ev.Source.IP, ev.Source.Port = netip.Addr{}, 0 })},
			warns: Warnings{warnNoAddress: 1},
		},
		{
			name: "methods",
			in:   strings.Replace(textReq, "POST", "purge", 1) + strings.Replace(textReq, "POST", "HEAD", 1),
			want: []event.Event{
				textWith(event.RequestInit, func(ev *event.Event) { ev.Method = "PURGE" }),
				textWith(event.RequestInit, func(ev *event.Event) { ev.Method = "HEAD" }),
			},
		},
		{
			name: "very long line",
			in:   strings.Replace(textReq, "/emojivoto.v1.EmojiService/ListAll", longPath, 1) + textRsp,
			want: []event.Event{
				textWith(event.RequestInit, func(ev *event.Event) { ev.Path = []byte(longPath) }),
				textWant(event.ResponseInit),
			},
		},
		{
			name: "paths and authorities keep their bytes",
			in:   strings.Replace(strings.Replace(textReq, ":authority=emoji-svc.emojivoto:8080", ":authority=", 1), "/emojivoto.v1.EmojiService/ListAll", "/a=b/é/%20?", 1),
			want: []event.Event{textWith(event.RequestInit, func(ev *event.Event) { ev.Authority, ev.Path = nil, []byte("/a=b/é/%20?") })},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rd := range []struct {
				name string
				r    func(string) io.Reader
			}{
				{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
				{"one byte at a time", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
			} {
				d := NewTextDecoder(rd.r(tc.in), nil)
				got, err := decodeEvents(d)
				if err != nil {
					t.Fatalf("%s: %v", rd.name, err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("%s: got %d events, want %d", rd.name, len(got), len(tc.want))
				}
				for i := range got {
					if g, w := show(got[i]), show(tc.want[i]); g != w {
						t.Errorf("%s: event %d:\ngot  %s\nwant %s", rd.name, i+1, g, w)
					}
				}
				if fmt.Sprint(d.Warnings()) != fmt.Sprint(tc.warns) {
					t.Errorf("%s: warnings %v, want %v", rd.name, d.Warnings(), tc.warns)
				}
			}
		})
	}
}

func TestTextGRPCCodeNames(t *testing.T) {
	// As google.golang.org/grpc/codes prints them.
	names := "OK Canceled Unknown InvalidArgument DeadlineExceeded NotFound AlreadyExists PermissionDenied " +
		"ResourceExhausted FailedPrecondition Aborted OutOfRange Unimplemented Internal Unavailable DataLoss Unauthenticated"
	for i, name := range strings.Fields(names) {
		if code, ok := grpcCode([]byte(name)); !ok || code != uint32(i) {
			t.Errorf("grpcCode(%s) = %d, %v; want %d", name, code, ok, i)
		}
	}
	for in, want := range map[string]uint32{"Code(17)": 17, "Code(4294967295)": 1<<32 - 1} {
		if code, ok := grpcCode([]byte(in)); !ok || code != want {
			t.Errorf("grpcCode(%s) = %d, %v; want %d", in, code, ok, want)
		}
	}
	for _, in := range []string{"", "ok", "Code()", "Code(-1)", "Code(4294967296)", "Code(1", "17"} {
		if code, ok := grpcCode([]byte(in)); ok {
			t.Errorf("grpcCode(%q) = %d, want an error", in, code)
		}
	}
}

func TestTextDecodeErrors(t *testing.T) {
	bad := func(old, new string) string { return textRsp + strings.Replace(textRsp, old, new, 1) + textEnd }
	for _, tc := range []struct {
		name  string
		in    string
		err   string
		line  int
		event int
		trunc bool
		final bool // no event follows
	}{
		{name: "bad id: no stream", in: bad("id=3461996334:101", "id=3461996334"), err: `bad token "id=3461996334": want id=BASE:STREAM`, line: 2, event: 2},
		{name: "bad id: not a number", in: bad("id=3461996334:101", "id=abc:1"), err: `bad token "id=abc:1"`, line: 2, event: 2},
		{name: "bad id: base out of range", in: bad("id=3461996334:101", "id=4294967296:1"), err: `bad token "id=4294967296:1"`, line: 2, event: 2},
		{name: "bad address: no port", in: bad("src=10.42.0.21:52311", "src=10.42.0.21"), err: `bad token "src=10.42.0.21": want IP:PORT or [IPv6]:PORT`, line: 2, event: 2},
		{name: "bad address: octet", in: bad("dst=10.42.0.22:8080", "dst=10.42.0.256:8080"), err: `bad token "dst=10.42.0.256:8080"`, line: 2, event: 2},
		{name: "bad address: port", in: bad("dst=10.42.0.22:8080", "dst=10.42.0.22:65536"), err: `bad token "dst=10.42.0.22:65536"`, line: 2, event: 2},
		{name: "bad address: ipv6 without brackets", in: bad("dst=10.42.0.22:8080", "dst=ff01::1:80"), err: `bad token "dst=ff01::1:80"`, line: 2, event: 2},
		{name: "bad address: ipv4 in brackets", in: bad("dst=10.42.0.22:8080", "dst=[10.42.0.22]:80"), err: `bad token "dst=[10.42.0.22]:80"`, line: 2, event: 2},
		{name: "bad address: unclosed bracket", in: bad("dst=10.42.0.22:8080", "dst=[ff01::1:80"), err: `bad token "dst=[ff01::1:80"`, line: 2, event: 2},
		{name: "bad status", in: bad(":status=200", ":status=OK"), err: `bad token ":status=OK": want an HTTP status code`, line: 2, event: 2},
		{name: "empty status", in: bad(":status=200", ":status="), err: `bad token ":status="`, line: 2, event: 2},
		{name: "bad latency unit", in: bad("latency=2976µs", "latency=3ms"), err: `bad token "latency=3ms": want a duration in µs`, line: 2, event: 2},
		{name: "bad direction", in: bad("proxy=in ", "proxy=up "), err: `bad token "proxy=up": want proxy=in, out or ???`, line: 2, event: 2},
		{name: "bad length", in: textRsp + strings.Replace(textEnd, "1060B", "1060", 1) + textRsp, err: `bad token "response-length=1060": want a length in bytes`, line: 2, event: 2},
		{name: "bad grpc status", in: textRsp + strings.Replace(textEnd, "=OK", "=Fine", 1) + textRsp, err: `bad token "grpc-status=Fine"`, line: 2, event: 2},
		{name: "bad reset code", in: textRsp + strings.Replace(textEnd, "grpc-status=OK", "reset-error=CANCEL", 1) + textRsp, err: `bad token "reset-error=CANCEL"`, line: 2, event: 2},
		{name: "unknown kind", in: "\n\n" + strings.Replace(textRsp, "rsp", "resp", 1) + textRsp, err: `unknown event kind "resp"`, line: 3, event: 1},
		{name: "not key=value", in: bad("latency", "now latency"), err: `bad token "now": want key=value`, line: 2, event: 2},
		{name: "missing field", in: bad(" latency=2976µs", ""), err: `missing latency=`, line: 2, event: 2},
		{name: "missing path", in: textRsp + strings.Replace(textReq, " :path=/emojivoto.v1.EmojiService/ListAll", "", 1) + textRsp, err: `missing :path=`, line: 2, event: 2},
		{name: "JSON given to the text decoder", in: "{\n" + textRsp, err: `unknown event kind "{"`, line: 1, event: 1},
		{name: "truncated last line", in: textRsp + textReq[:60], err: "truncated", line: 2, event: 2, trunc: true, final: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewTextDecoder(strings.NewReader(tc.in), nil)
			var ev event.Event
			var err error
			for range tc.event {
				if err = d.Next(&ev); err != nil {
					break
				}
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a *DecodeError", err)
			}
			if !strings.Contains(err.Error(), tc.err) || de.Line != tc.line || de.Event != tc.event || de.Format != FormatText {
				t.Errorf("got %q (line %d, event %d), want %q at line %d, event %d", err, de.Line, de.Event, tc.err, tc.line, tc.event)
			}
			if errors.Is(err, ErrTruncated) != tc.trunc {
				t.Errorf("errors.Is(%v, ErrTruncated) = %v, want %v", err, !tc.trunc, tc.trunc)
			}
			if show(ev) != show(event.Event{}) {
				t.Errorf("event not reset after an error: %s", show(ev))
			}
			// Lines are independent: the decoder goes on.
			if err := d.Next(&ev); !tc.final && (err != nil || ev.Kind == event.KindUnknown) || tc.final && err != io.EOF {
				t.Errorf("after the error: %v, %s", err, show(ev))
			}
		})
	}
}

func TestTextLineLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxLine int
		path    int
	}{
		{"inside the read buffer", 1 << 10, 5 << 10},
		{"beyond the read buffer", 100 << 10, 300 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			long := strings.Replace(textReq, "/emojivoto.v1.EmojiService/ListAll", "/"+strings.Repeat("x", tc.path), 1)
			d := NewTextDecoder(strings.NewReader(textRsp+long+textRsp), nil)
			d.maxLine = tc.maxLine
			var ev event.Event
			if err := d.Next(&ev); err != nil {
				t.Fatal(err)
			}
			err := d.Next(&ev)
			var de *DecodeError
			if !errors.As(err, &de) || de.Line != 2 || de.Event != 2 || de.Offset != int64(len(textRsp)) ||
				!strings.Contains(err.Error(), fmt.Sprintf("line of %d bytes exceeds the limit of %d", len(long), tc.maxLine)) {
				t.Fatalf("got %v", err)
			}
			if err := d.Next(&ev); err != nil || ev.Kind != event.ResponseInit {
				t.Fatalf("after the long line: %v, %s", err, show(ev))
			}
			if err := d.Next(&ev); err != io.EOF {
				t.Fatalf("at the end: %v", err)
			}
		})
	}
}

func TestTextReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	d := NewTextDecoder(io.MultiReader(strings.NewReader(textRsp+"rsp id=1"), iotest.ErrReader(boom)), nil)
	var ev event.Event
	if err := d.Next(&ev); err != nil {
		t.Fatal(err)
	}
	err := d.Next(&ev)
	var de *DecodeError
	if !errors.Is(err, boom) || !errors.As(err, &de) || de.Line != 2 || de.Event != 2 {
		t.Fatalf("got %v, want a DecodeError for line 2 wrapping the read error", err)
	}
	if again := d.Next(&ev); again != err {
		t.Fatalf("read errors are final: got %v then %v", err, again)
	}
}

func FuzzTextDecoder(f *testing.F) {
	f.Add(textReq + textRsp + textEnd)
	f.Add("end id=1:0 proxy=out src=0.0.0.1:0 dst=[ff01::1]:0 tls= grpc-status=Code(666) duration=0µs response-length=1337B   \n")
	f.Add(strings.TrimSuffix(textReq, "\n") + " rt_route=GET /x src_res=deploy/a\n")
	f.Fuzz(func(t *testing.T, in string) {
		d := NewTextDecoder(strings.NewReader(in), nil)
		var ev event.Event
		for i := 0; ; i++ {
			err := d.Next(&ev)
			if err == io.EOF {
				return
			}
			var de *DecodeError
			if err != nil && !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if i > len(in) {
				t.Fatalf("more results than input bytes")
			}
		}
	})
}

func BenchmarkTextDecode(b *testing.B) {
	data := upstream(b, "booksapp.tap.txt.gz")
	in := event.NewInterner(event.DefaultInternLimit)
	var ev event.Event
	events := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d := NewTextDecoder(bytes.NewReader(data), in)
		for {
			err := d.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			events++
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
