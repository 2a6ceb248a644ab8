package tapstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	fixtures "github.com/cinchmesh/cinch/fixtures/upstream"
	"github.com/cinchmesh/cinch/observe/event"
)

// upstream returns the decompressed content of an upstream fixture.
func upstream(tb testing.TB, name string) []byte { return fixtures.Read(tb, name) }

// decodeEvents decodes events until the end or the first error.
func decodeEvents(d Decoder) ([]event.Event, error) {
	var evs []event.Event
	for {
		var ev event.Event // fresh, so that Path and Authority are not shared
		if err := d.Next(&ev); err != nil {
			if err == io.EOF {
				err = nil
			}
			return evs, err
		}
		evs = append(evs, ev)
	}
}

// show prints an event for messages and comparisons, with its byte slices
// as strings (nil and empty alike).
func show(ev event.Event) string {
	path, authority := string(ev.Path), string(ev.Authority)
	ev.Path, ev.Authority = nil, nil
	return fmt.Sprintf("%+v path=%q authority=%q", ev, path, authority)
}

func countKinds(evs []event.Event) map[event.Kind]int {
	n := map[event.Kind]int{}
	for _, ev := range evs {
		n[ev.Kind]++
	}
	return n
}

func TestJSONFixtures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		perKind int
	}{
		{"booksapp", 5900},
		{"emojivoto", 3240},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewJSONDecoder(bytes.NewReader(upstream(t, tc.name+".tap.json.gz")), nil)
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

// TestJSONMatchesRaw decodes each `-o json` capture next to its raw twin
// (the same stream) and compares every field of every event, labels and
// policy included.
func TestJSONMatchesRaw(t *testing.T) {
	for _, name := range []string{"booksapp", "emojivoto"} {
		t.Run(name, func(t *testing.T) {
			jevs, err := decodeEvents(NewJSONDecoder(bytes.NewReader(upstream(t, name+".tap.json.gz")), nil))
			if err != nil {
				t.Fatal(err)
			}
			revs, err := decodeEvents(NewRawDecoder(bytes.NewReader(upstream(t, name+".tap.bin.gz")), nil))
			if err != nil {
				t.Fatal(err)
			}
			if len(jevs) != len(revs) {
				t.Fatalf("json has %d events, raw %d", len(jevs), len(revs))
			}
			for i := range jevs {
				j, r := jevs[i], revs[i]
				// -o json prints grpcStatusCode 0 when there was no Eos.
				if j.End == event.EndGRPC && j.GRPCStatus == 0 && r.End == event.EndNone {
					j.End = event.EndNone
				}
				if js, rs := show(j), show(r); js != rs {
					t.Fatalf("event %d differs:\njson %s\nraw  %s", i+1, js, rs)
				}
			}
		})
	}
}

// Parts of hand-written events, compact: the decoder does not care about
// the layout.
const (
	jsonSrc = `{"ip":"10.42.0.21","port":52311,"metadata":{"client_id":"web.emojivoto.serviceaccount.identity.linkerd.cluster.local",` +
		`"control_plane_ns":"linkerd","deployment":"web","namespace":"emojivoto","pod":"web-1","pod_template_hash":"abc",` +
		`"replicaset":"web-abc","serviceaccount":"web","tls":"true","srv_name":"ignored-on-source","server_id":"ignored"}}`
	jsonDst = `{"ip":"10.42.0.22","port":8080,"metadata":{"authz_group":"","authz_kind":"default","authz_name":"all-unauthenticated",` +
		`"client_id":"ignored","namespace":"emojivoto","pod":"emoji-1","route_group":"","route_kind":"default","route_name":"default",` +
		`"server_id":"emoji.emojivoto.serviceaccount.identity.linkerd.cluster.local","service":"emoji-svc","serviceaccount":"emoji",` +
		`"srv_group":"","srv_kind":"default","srv_name":"all-unauthenticated","statefulset":"emoji","tls":"loopback"}}`
	jsonReqPayload = `{"id":{"base":3461996334,"stream":101},"method":"POST","scheme":"HTTP","authority":"emoji-svc.emojivoto:8080",` +
		`"path":"/emojivoto.v1.EmojiService/ListAll","headers":[{"name":"Content-Type","valueStr":"application/grpc"},{"name":"te","valueStr":"trailers"}]}`
	jsonRspPayload = `{"id":{"base":3461996334,"stream":101},"sinceRequestInit":{"seconds":1,"nanos":2976000},"httpStatus":200,"headers":null}`
	jsonEndPayload = `{"id":{"base":3461996334,"stream":101},"sinceRequestInit":{"nanos":3055000},"sinceResponseInit":{"nanos":79000},` +
		`"responseBytes":1060,"trailers":[{"name":"grpc-status","valueStr":"0"}],"grpcStatusCode":2}`
)

// tapJSON builds an inbound event with the given payload key and value.
func tapJSON(key, payload string) string {
	return `{"source":` + jsonSrc + `,"destination":` + jsonDst + `,"routeMeta":null,"proxyDirection":"INBOUND","` + key + `":` + payload + "}\n"
}

var (
	jsonReq = tapJSON("requestInitEvent", jsonReqPayload)
	jsonRsp = tapJSON("responseInitEvent", jsonRspPayload)
	jsonEnd = tapJSON("responseEndEvent", jsonEndPayload)
)

// jsonWant is the event jsonReq decodes to; the other kinds share its
// addresses and labels.
func jsonWant(kind event.Kind) event.Event {
	ev := event.Event{
		Direction: event.Inbound,
		Kind:      kind,
		ID:        event.StreamID{Base: 3461996334, Stream: 101},
		Source: event.Peer{
			IP: netip.MustParseAddr("10.42.0.21"), Port: 52311,
			Namespace: "emojivoto", Pod: "web-1", OwnerKind: "deployment", Owner: "web", ServiceAccount: "web",
			TLS: "true", Identity: "web.emojivoto.serviceaccount.identity.linkerd.cluster.local",
		},
		Destination: event.Peer{
			IP: netip.MustParseAddr("10.42.0.22"), Port: 8080,
			Namespace: "emojivoto", Pod: "emoji-1", OwnerKind: "statefulset", Owner: "emoji", ServiceAccount: "emoji",
			Service: "emoji-svc", TLS: "loopback", Identity: "emoji.emojivoto.serviceaccount.identity.linkerd.cluster.local",
		},
		Policy: event.Policy{
			ServerKind: "default", ServerName: "all-unauthenticated",
			RouteKind: "default", RouteName: "default",
			AuthzKind: "default", AuthzName: "all-unauthenticated",
		},
	}
	switch kind {
	case event.RequestInit:
		ev.Method, ev.Scheme, ev.ContentType = "POST", "HTTP", "application/grpc"
		ev.Authority, ev.Path = []byte("emoji-svc.emojivoto:8080"), []byte("/emojivoto.v1.EmojiService/ListAll")
	case event.ResponseInit:
		ev.SinceRequestInit, ev.HTTPStatus = time.Second+2976*time.Microsecond, 200
	case event.ResponseEnd:
		ev.SinceRequestInit, ev.SinceResponseInit = 3055*time.Microsecond, 79*time.Microsecond
		ev.ResponseBytes, ev.End, ev.GRPCStatus = 1060, event.EndGRPC, 2
	}
	return ev
}

func jsonWith(kind event.Kind, f func(*event.Event)) event.Event {
	ev := jsonWant(kind)
	f(&ev)
	return ev
}

// replace is strings.Replace of exactly one occurrence, failing loudly when
// a test's edit does not apply.
func replace(s, old, new string) string {
	if strings.Count(s, old) != 1 {
		panic(fmt.Sprintf("%q occurs %d times", old, strings.Count(s, old)))
	}
	return strings.Replace(s, old, new, 1)
}

func TestJSONDecode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		want  []event.Event
		warns Warnings
	}{
		{name: "empty input", in: ""},
		{name: "white space only", in: " \n\t\r\n  "},
		{
			name: "the three kinds",
			in:   jsonReq + jsonRsp + jsonEnd,
			want: []event.Event{jsonWant(event.RequestInit), jsonWant(event.ResponseInit), jsonWant(event.ResponseEnd)},
		},
		{
			name: "indented like linkerd prints it",
			in:   indent(jsonReq) + "\n" + indent(jsonEnd) + "\n",
			want: []event.Event{jsonWant(event.RequestInit), jsonWant(event.ResponseEnd)},
		},
		{
			name: "no separator between objects",
			in:   strings.TrimSpace(jsonRsp) + strings.TrimSpace(jsonRsp),
			want: []event.Event{jsonWant(event.ResponseInit), jsonWant(event.ResponseInit)},
		},
		{
			name: "reset error wins over the grpc status printed for every end event",
			in:   replace(jsonEnd, `"grpcStatusCode":2`, `"grpcStatusCode":0,"resetErrorCode":7`),
			want: []event.Event{jsonWith(event.ResponseEnd, func(ev *event.Event) {
				ev.End, ev.GRPCStatus, ev.ResetCode = event.EndReset, 0, 7
			})},
		},
		{
			name: "reset error before the grpc status",
			in:   replace(jsonEnd, `"grpcStatusCode":2`, `"resetErrorCode":7,"grpcStatusCode":0`),
			want: []event.Event{jsonWith(event.ResponseEnd, func(ev *event.Event) {
				ev.End, ev.GRPCStatus, ev.ResetCode = event.EndReset, 0, 7
			})},
		},
		{
			name: "no eos at all",
			in:   replace(jsonEnd, `,"grpcStatusCode":2`, ``),
			want: []event.Event{jsonWith(event.ResponseEnd, func(ev *event.Event) { ev.End, ev.GRPCStatus = event.EndNone, 0 })},
		},
		{
			name: "outbound, node source, owners by significance",
			in: replace(replace(replace(jsonRsp, `"INBOUND"`, `"OUTBOUND"`),
				jsonSrc, `{"ip":"10.0.0.11","port":35185,"metadata":{"node":"node-1","tls":"no_tls_from_remote"}}`),
				`"statefulset":"emoji"`, `"k8s_job":"backup-1","cronjob":"backup","replicaset":"x","daemonset":"y"`),
			want: []event.Event{jsonWith(event.ResponseInit, func(ev *event.Event) {
				ev.Direction = event.Outbound
				ev.Source = event.Peer{IP: netip.MustParseAddr("10.0.0.11"), Port: 35185, Node: "node-1", TLS: "no_tls_from_remote"}
				ev.Destination.OwnerKind, ev.Destination.Owner = "cronjob", "backup"
			})},
		},
		{
			name: "job outranks deployment, statefulset daemonset, replicationcontroller replicaset",
			in: replace(replace(jsonRsp, `"deployment":"web"`, `"deployment":"web","job":"j"`),
				`"statefulset":"emoji"`, `"replicaset":"rs","replicationcontroller":"rc"`),
			want: []event.Event{jsonWith(event.ResponseInit, func(ev *event.Event) {
				ev.Source.OwnerKind, ev.Source.Owner = "job", "j"
				ev.Destination.OwnerKind, ev.Destination.Owner = "replicationcontroller", "rc"
			})},
		},
		{
			name: "null and absent optional parts",
			in: `{"source":{"ip":"10.42.0.21","port":1,"metadata":null},"destination":{"ip":"ff01::1","port":0},"routeMeta":{"route":"x"},` +
				`"proxyDirection":"UNKNOWN","requestInitEvent":{"id":{"base":1},"method":null,"scheme":"HTTPS","authority":"","path":"/","headers":null},` +
				`"responseInitEvent":null}`,
			want: []event.Event{{
				Kind: event.RequestInit, ID: event.StreamID{Base: 1},
				Source:      event.Peer{IP: netip.MustParseAddr("10.42.0.21"), Port: 1},
				Destination: event.Peer{IP: netip.MustParseAddr("ff01::1")},
				Scheme:      "HTTPS", Path: []byte("/"),
			}},
		},
		{
			name: "methods: registered are constants, others upper-cased",
			in: replace(jsonReq, `"method":"POST"`, `"method":"purge"`) +
				replace(jsonReq, `"method":"POST"`, `"method":"PROPFIND"`),
			want: []event.Event{
				jsonWith(event.RequestInit, func(ev *event.Event) { ev.Method = "PURGE" }),
				jsonWith(event.RequestInit, func(ev *event.Event) { ev.Method = "PROPFIND" }),
			},
		},
		{
			name: "binary content-type header",
			in: replace(jsonReq, `{"name":"Content-Type","valueStr":"application/grpc"}`,
				`{"name":"content-type","valueBin":"YXBwbGljYXRpb24vanNvbg=="}`),
			want: []event.Event{jsonWith(event.RequestInit, func(ev *event.Event) { ev.ContentType = "application/json" })},
		},
		{
			name: "escapes in keys, labels and paths",
			in: replace(replace(replace(jsonReq, `"path":"/emojivoto.v1.EmojiService/ListAll"`,
				`"p\u0061th":"/a\"b\\c\/d\u00e9\ud83d\ude00 \t\n"`),
				`"pod":"emoji-1"`, `"\u0070od":"emoji\u002d1"`),
				`"authority":"emoji-svc.emojivoto:8080"`, `"authority" :  "emoji-svc.emojivoto:8080"`),
			want: []event.Event{jsonWith(event.RequestInit, func(ev *event.Event) {
				ev.Path = []byte("/a\"b\\c/d\u00e9\U0001F600 \t\n")
			})},
		},
		{
			name: "unknown fields are counted and skipped",
			in: replace(replace(replace(jsonReq, `"routeMeta":null`, `"routeMeta":null,"extra":{"a":[1,2.5e3,true,false,null,"s",{}]}`),
				`"scheme":"HTTP"`, `"scheme":"HTTP","body":"x"`),
				`"base":3461996334`, `"base":3461996334,"epoch":1`) + jsonEnd,
			want: []event.Event{jsonWant(event.RequestInit), jsonWant(event.ResponseEnd)},
			warns: Warnings{
				"unknown field extra":                     1,
				"unknown field requestInitEvent.body":     1,
				"unknown field requestInitEvent.id.epoch": 1,
			},
		},
		{
			name:  "event without http payload is skipped",
			in:    `{"source":` + jsonSrc + `,"destination":` + jsonDst + `,"proxyDirection":"INBOUND"}` + jsonRsp,
			want:  []event.Event{jsonWant(event.ResponseInit)},
			warns: Warnings{warnNoHTTP: 1},
		},
		{
			name:  "event without request id is skipped",
			in:    replace(jsonRsp, `"id":{"base":3461996334,"stream":101},`, ``) + replace(jsonRsp, `{"base":3461996334,"stream":101}`, `null`) + jsonRsp,
			want:  []event.Event{jsonWant(event.ResponseInit)},
			warns: Warnings{warnNoID: 2},
		},
		{
			name: "event without addresses is kept",
			in:   replace(replace(jsonRsp, `"ip":"10.42.0.21",`, ``), `"ip":"10.42.0.22"`, `"ip":""`),
			want: []event.Event{jsonWith(event.ResponseInit, func(ev *event.Event) {
				ev.Source.IP, ev.Destination.IP = netip.Addr{}, netip.Addr{}
			})},
			warns: Warnings{warnNoAddress: 1},
		},
		{
			name:  "unknown proxy direction",
			in:    replace(jsonRsp, `"INBOUND"`, `"SIDEWAYS"`),
			want:  []event.Event{jsonWith(event.ResponseInit, func(ev *event.Event) { ev.Direction = event.DirectionUnknown })},
			warns: Warnings{warnBadDirection: 1},
		},
		{
			name: "long path across buffer refills",
			in:   replace(jsonReq, `"path":"/emojivoto.v1.EmojiService/ListAll"`, `"path":"/`+strings.Repeat("x", 200<<10)+`"`),
			want: []event.Event{jsonWith(event.RequestInit, func(ev *event.Event) {
				ev.Path = []byte("/" + strings.Repeat("x", 200<<10))
			})},
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
				d := NewJSONDecoder(rd.r(tc.in), nil)
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
				var ev event.Event
				if err := d.Next(&ev); err != io.EOF {
					t.Errorf("%s: Next after the end = %v, want io.EOF", rd.name, err)
				}
			}
		})
	}
}

// indent lays out one compact JSON object the way `linkerd viz tap -o json`
// does.
func indent(s string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(strings.TrimSpace(s)), "", "  "); err != nil {
		panic(err)
	}
	return b.String()
}

// TestJSONStringEscapes checks that strings unescape as with encoding/json.
func TestJSONStringEscapes(t *testing.T) {
	for _, lit := range []string{
		`"plain"`, `""`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`,
		`"\u0041\u00e9\u20ac"`, `"\uD83D\uDE00"`, `"\ud83d\ude00x"`,
		`"\ud800"`, `"\ud800x"`, `"\udc00\ud800"`, `"\ud800\u0041"`, `"\ud800\ud800\udc00"`,
		`"\ud800\n"`, `"é€😀"`, `"a\u0000b"`, `"mixed \"quotes\" and \\u0041 text"`,
		`"` + strings.Repeat(`\u00e9`, 30000) + `"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(lit), &want); err != nil {
			t.Fatalf("%s: %v", lit, err)
		}
		in := replace(jsonReq, `"/emojivoto.v1.EmojiService/ListAll"`, lit)
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
			var ev event.Event
			if err := NewJSONDecoder(r, nil).Next(&ev); err != nil {
				t.Fatalf("%.40s: %v", lit, err)
			}
			if string(ev.Path) != want {
				t.Errorf("%.40s: path %q, want %q", lit, ev.Path, want)
			}
		}
	}
}

func TestJSONUnknownFieldReasonsAreCapped(t *testing.T) {
	var extra strings.Builder
	for i := range 20 {
		fmt.Fprintf(&extra, `,"x%02d":%d`, i, i)
	}
	extra.WriteString(`,"` + strings.Repeat("k", 100) + `":1`)
	in := replace(jsonRsp, `"routeMeta":null`, `"routeMeta":null`+extra.String())
	d := NewJSONDecoder(strings.NewReader(in+in), nil)
	if _, err := decodeEvents(d); err != nil {
		t.Fatal(err)
	}
	w := d.Warnings()
	if len(w) != maxUnknownReasons+1 {
		t.Errorf("%d reasons, want %d: %v", len(w), maxUnknownReasons+1, w)
	}
	if w["unknown field x00"] != 2 || w["unknown field x15"] != 2 || w[unknownOther] != 2*5 {
		t.Errorf("warnings %v", w)
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		good  int    // events decoded before the error
		err   string // in the message
		line  int
		event int
		trunc bool // errors.Is ErrTruncated
		// resumes: the decoder goes on after the error and decodes after
		// more good events; otherwise the error is final.
		resumes bool
		after   int
		// then is in the error of the next call when it is not the same
		// error again.
		then string
	}{
		{name: "truncated object", in: jsonReq + indent(jsonRsp)[:300], good: 1, line: 2, event: 2, trunc: true, err: "truncated"},
		{name: "truncated in a string", in: `{"source":{"ip":"10.4`, line: 1, event: 1, trunc: true, err: "truncated"},
		{name: "truncated in an escape", in: `{"source":{"ip":"\u00`, line: 1, event: 1, trunc: true, err: "truncated"},
		{name: "truncated in a literal", in: `{"routeMeta":nu`, line: 1, event: 1, trunc: true, err: "truncated"},
		{name: "truncated after a number", in: "{\n\"source\":{\"port\":12", line: 1, event: 1, trunc: true, err: "truncated"},
		{name: "missing colon", in: jsonReq + "\n\n{\"source\" {}}", good: 1, line: 4, event: 2, err: "want ':' after object key, found '{'"},
		{name: "missing comma", in: `{"source":{} "destination":{}}`, line: 1, event: 1, err: "want ',' or '}' after an object member, found '\"'"},
		{name: "trailing comma", in: `{"source":{},}`, line: 1, event: 1, err: "want a string key, found '}'"},
		{name: "unquoted key", in: `{source:{}}`, line: 1, event: 1, err: "want a string key, found 's'"},
		{name: "trailing comma in array", in: `{"x":[1,]}`, line: 1, event: 1, err: "invalid character ']' looking for the beginning of a value"},
		{name: "missing comma in array", in: `{"x":[1 2]}`, line: 1, event: 1, err: "want ',' or ']' after an array element, found '2'"},
		{name: "text between events", in: jsonRsp + "req id=1:2\n" + jsonRsp, good: 1, line: 2, event: 2, err: "want '{' starting an event, found 'r'"},
		{name: "array at top level", in: "[" + jsonRsp + "]", line: 1, event: 1, err: "want '{' starting an event, found '['"},
		{name: "invalid escape", in: `{"x":"a\qb"}`, line: 1, event: 1, err: `invalid escape 'q'`},
		{name: "invalid unicode escape", in: `{"x":"\u12g4"}`, line: 1, event: 1, err: `invalid \u escape`},
		{name: "control character in string", in: "{\"x\":\"a\nb\"}", line: 1, event: 1, err: "control character 0x0a in string"},
		{name: "invalid literal", in: `{"routeMeta":nil}`, line: 1, event: 1, err: "invalid literal, want null"},
		{name: "invalid number", in: `{"x":01}`, line: 1, event: 1, err: `invalid number "01"`},
		{name: "invalid number 2", in: `{"x":1.}`, line: 1, event: 1, err: `invalid number "1."`},
		{name: "invalid number 3", in: `{"x":-}`, line: 1, event: 1, err: `invalid number "-"`},
		{name: "invalid byte", in: "{\"x\":\x00}", line: 1, event: 1, err: "invalid character byte 0x00"},
		{name: "nested too deep", in: `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, line: 1, event: 1, err: "nested more than 64 deep"},

		// Wrong types: the event is reported, the next one decodes.
		{name: "port as a string", in: jsonReq + indent(replace(jsonRsp, `"port":52311`, `"port":"52311"`)) + "\n" + jsonEnd,
			good: 1, line: 5, event: 2, err: `source.port: want an unsigned integer, found a string`, resumes: true, after: 1},
		{name: "negative port", in: replace(jsonRsp, `"port":52311`, `"port":-1`) + jsonEnd,
			line: 1, event: 1, err: `source.port: -1 out of range [0, 4294967295]`, resumes: true, after: 1},
		{name: "fractional port", in: replace(jsonRsp, `"port":52311`, `"port":1.5`) + jsonEnd,
			line: 1, event: 1, err: `source.port: want an integer, found 1.5`, resumes: true, after: 1},
		{name: "base out of range", in: replace(jsonRsp, `"base":3461996334`, `"base":4294967296`) + jsonEnd,
			line: 1, event: 1, err: `responseInitEvent.id.base: 4294967296 out of range [0, 4294967295]`, resumes: true, after: 1},
		{name: "stream out of range", in: replace(jsonRsp, `"stream":101`, `"stream":18446744073709551616`) + jsonEnd,
			line: 1, event: 1, err: `responseInitEvent.id.stream: 18446744073709551616 out of range`, resumes: true, after: 1},
		{name: "nanos out of range", in: replace(jsonRsp, `"nanos":2976000`, `"nanos":1000000000`) + jsonEnd,
			line: 1, event: 1, err: `responseInitEvent.sinceRequestInit.nanos: 1000000000 out of range`, resumes: true, after: 1},
		{name: "status as a boolean", in: replace(jsonRsp, `"httpStatus":200`, `"httpStatus":true`) + jsonEnd,
			line: 1, event: 1, err: `responseInitEvent.httpStatus: want an unsigned integer, found a boolean`, resumes: true, after: 1},
		{name: "metadata as an array", in: replace(jsonRsp, `"metadata":{"authz_group"`, `"metadata":[],"x":{"authz_group"`) + jsonEnd,
			line: 1, event: 1, err: `destination.metadata: want an object, found an array`, resumes: true, after: 1},
		{name: "label as a number", in: replace(jsonRsp, `"pod":"emoji-1"`, `"pod":1`) + jsonEnd,
			line: 1, event: 1, err: `destination.metadata.pod: want a string, found a number`, resumes: true, after: 1},
		{name: "path as a number", in: replace(jsonReq, `"path":"/emojivoto.v1.EmojiService/ListAll"`, `"path":5`) + jsonEnd,
			line: 1, event: 1, err: `requestInitEvent.path: want a string, found a number`, resumes: true, after: 1},
		{name: "headers as an object", in: replace(jsonReq, `"headers":[{"name":"Content-Type","valueStr":"application/grpc"},{"name":"te","valueStr":"trailers"}]`, `"headers":{"a":[]}`) + jsonEnd,
			line: 1, event: 1, err: `requestInitEvent.headers: want an array, found an object`, resumes: true, after: 1},
		{name: "source as a string", in: replace(jsonRsp, `"source":`+jsonSrc, `"source":"10.42.0.21"`) + jsonEnd,
			line: 1, event: 1, err: `source: want an object, found a string`, resumes: true, after: 1},
		{name: "invalid IP", in: replace(jsonRsp, `"ip":"10.42.0.21"`, `"ip":"10.42.0.256"`) + jsonEnd,
			line: 1, event: 1, err: `source.ip: invalid IP address "10.42.0.256"`, resumes: true, after: 1},
		{name: "invalid base64", in: replace(jsonReq, `"valueStr":"application/grpc"`, `"valueBin":"!!"`) + jsonEnd,
			line: 1, event: 1, err: `requestInitEvent.headers.valueBin: invalid base64`, resumes: true, after: 1},
		{name: "two payloads", in: replace(jsonRsp, `"routeMeta":null`, `"routeMeta":null,"requestInitEvent":`+jsonReqPayload) + jsonEnd,
			line: 1, event: 1, err: `responseInitEvent: the event already has a requestInitEvent`, resumes: true, after: 1},
		{name: "wrong type then truncated", in: replace(jsonRsp, `"port":52311`, `"port":"x"`)[:200],
			line: 1, event: 1, err: `source.port: want an unsigned integer`, then: "truncated"},
		{name: "read error", in: jsonReq, good: 1, line: 2, event: 2, err: "disk on fire"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(tc.in)
			if tc.name == "read error" {
				r = io.MultiReader(r, iotest.ErrReader(errors.New("disk on fire")))
			}
			d := NewJSONDecoder(r, nil)
			var ev event.Event
			for i := range tc.good {
				if err := d.Next(&ev); err != nil {
					t.Fatalf("event %d: %v", i+1, err)
				}
			}
			err := d.Next(&ev)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got %v, want a *DecodeError", err)
			}
			if !strings.Contains(err.Error(), tc.err) || de.Line != tc.line || de.Event != tc.event || de.Format != FormatJSON {
				t.Errorf("got %q (line %d, event %d), want %q at line %d, event %d", err, de.Line, de.Event, tc.err, tc.line, tc.event)
			}
			if errors.Is(err, ErrTruncated) != tc.trunc {
				t.Errorf("errors.Is(%v, ErrTruncated) = %v, want %v", err, !tc.trunc, tc.trunc)
			}
			if show(ev) != show(event.Event{}) {
				t.Errorf("event not reset after an error: %s", show(ev))
			}
			if !tc.resumes {
				again := d.Next(&ev)
				if tc.then != "" {
					if again == nil || !strings.Contains(again.Error(), tc.then) {
						t.Errorf("next error %v, want one with %q", again, tc.then)
					}
					err = again
					again = d.Next(&ev)
				}
				if again != err {
					t.Errorf("after a final error, Next = %v, want the same error", again)
				}
				return
			}
			for i := range tc.after {
				if err := d.Next(&ev); err != nil {
					t.Fatalf("event %d after the error: %v", i+1, err)
				}
			}
			if err := d.Next(&ev); err != io.EOF {
				t.Errorf("at the end: %v, want io.EOF", err)
			}
		})
	}
}

// TestJSONReadsLazily checks that Next returns an event without waiting for
// more input than the event itself: a live `tap -o json` pipe stalls
// between events.
func TestJSONReadsLazily(t *testing.T) {
	pr, pw := io.Pipe()
	d := NewJSONDecoder(pr, nil)
	go pw.Write([]byte(indent(jsonRsp)))
	var ev event.Event
	if err := d.Next(&ev); err != nil || ev.Kind != event.ResponseInit {
		t.Fatalf("Next = %v, %s", err, show(ev))
	}
	pw.Close()
	if err := d.Next(&ev); err != io.EOF {
		t.Fatalf("Next at the end = %v", err)
	}
}

// FuzzJSONDecoder checks that the decoder neither panics nor loops, and
// that it tells well-formed input from malformed as encoding/json does: it
// fails with a syntax error (or truncation) exactly when encoding/json cannot
// read the input as a stream of objects.
func FuzzJSONDecoder(f *testing.F) {
	f.Add(jsonReq + jsonRsp + jsonEnd)
	f.Add(indent(jsonEnd))
	f.Add(`{"x":"\ud800\u0041","y":[1,-2.5e+3,{"z":null}],"routeMeta":{"a":true}}`)
	f.Add(replace(jsonRsp, `"port":52311`, `"port":"x"`) + jsonEnd)
	f.Add(replace(jsonReq, `"valueStr":"application/grpc"`, `"valueBin":"YQ=="`))
	f.Fuzz(func(t *testing.T, in string) {
		if strings.Count(in, "[")+strings.Count(in, "{") >= jsonMaxDepth {
			t.Skip("deeper than the decoder's limit, which encoding/json does not have")
		}
		d := NewJSONDecoder(strings.NewReader(in), nil)
		var (
			ev        event.Event
			prev      error
			malformed error
		)
		for i := 0; ; i++ {
			err := d.Next(&ev)
			if err == io.EOF || err != nil && err == prev {
				break // the end, or a final error
			}
			var de *DecodeError
			if err != nil && !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if err != nil && (errors.Is(err, ErrTruncated) || strings.Contains(err.Error(), "malformed JSON")) {
				malformed = err
				break
			}
			if i > len(in) {
				t.Fatalf("more results than input bytes")
			}
			prev = err
		}

		std := json.NewDecoder(strings.NewReader(in))
		var stdErr error
		for {
			var v json.RawMessage
			if err := std.Decode(&v); err != nil {
				if err != io.EOF {
					stdErr = err
				}
				break
			}
			if v[0] != '{' {
				stdErr = fmt.Errorf("%.10s is not an object", v)
				break
			}
		}
		if (malformed == nil) != (stdErr == nil) {
			t.Fatalf("decoder: %v\nencoding/json: %v", malformed, stdErr)
		}
	})
}

func BenchmarkJSONDecode(b *testing.B) {
	data := upstream(b, "booksapp.tap.json.gz")
	in := event.NewInterner(event.DefaultInternLimit)
	var ev event.Event
	events := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d := NewJSONDecoder(bytes.NewReader(data), in)
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
