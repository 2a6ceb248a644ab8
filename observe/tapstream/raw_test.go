package tapstream

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	fixtures "github.com/cinchmesh/cinch/fixtures/upstream"
	"github.com/cinchmesh/cinch/observe/event"
)

// decodeAll decodes every event of a raw stream, copying each.
func decodeAllRaw(t *testing.T, d Decoder) ([]event.Event, error) {
	t.Helper()
	var evs []event.Event
	for {
		var ev event.Event
		err := d.Next(&ev)
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestRawFixtureCounts(t *testing.T) {
	for _, tc := range []struct {
		file    string
		perKind int
	}{
		{"booksapp.tap.bin.gz", 5900},
		{"emojivoto.tap.bin.gz", 3240},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data := upstream(t, tc.file)
			d := NewRawDecoder(bytes.NewReader(data), event.NewInterner(event.DefaultInternLimit))
			evs, err := decodeAllRaw(t, d)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(evs), 3*tc.perKind; got != want {
				t.Errorf("decoded %d events, want %d", got, want)
			}
			kinds := map[event.Kind]int{}
			for i, ev := range evs {
				kinds[ev.Kind]++
				if !ev.Source.IP.IsValid() || !ev.Destination.IP.IsValid() || ev.Direction == event.DirectionUnknown {
					t.Errorf("event %d: missing address or direction: %+v", i+1, ev)
				}
			}
			for _, k := range []event.Kind{event.RequestInit, event.ResponseInit, event.ResponseEnd} {
				if kinds[k] != tc.perKind {
					t.Errorf("%d %s events, want %d", kinds[k], k, tc.perKind)
				}
			}
			if w := d.Warnings(); w.Total() != 0 {
				t.Errorf("warnings on a clean capture: %v", w)
			}
			// Once at the end, the decoder stays there.
			if err := d.Next(&event.Event{}); err != io.EOF {
				t.Errorf("Next after the end = %v, want io.EOF", err)
			}
		})
	}
}

func TestRawFirstEmojivotoEvent(t *testing.T) {
	data := upstream(t, "emojivoto.tap.bin.gz")
	var got event.Event
	if err := NewRawDecoder(bytes.NewReader(data), nil).Next(&got); err != nil {
		t.Fatal(err)
	}
	// The first object of emojivoto.tap.json.gz.
	want := event.Event{
		Direction: event.Outbound,
		Kind:      event.RequestInit,
		ID:        event.StreamID{Base: 222606368, Stream: 701},
		Source: event.Peer{
			IP:             netip.MustParseAddr("10.42.0.21"),
			Port:           52311,
			Namespace:      "emojivoto",
			Pod:            "web-fplkp8csvx-p5685",
			OwnerKind:      "deployment",
			Owner:          "web",
			ServiceAccount: "web",
			TLS:            "loopback",
		},
		Destination: event.Peer{
			IP:             netip.MustParseAddr("10.42.0.22"),
			Port:           8080,
			Namespace:      "emojivoto",
			Pod:            "emoji-lh4tv68ktb-fkb7l",
			OwnerKind:      "deployment",
			Owner:          "emoji",
			ServiceAccount: "emoji",
			Service:        "emoji-svc",
			TLS:            "true",
			Identity:       "emoji.emojivoto.serviceaccount.identity.linkerd.cluster.local",
		},
		Method:    "POST",
		Scheme:    "HTTP",
		Authority: []byte("emoji-svc.emojivoto:8080"),
		Path:      []byte("/emojivoto.v1.EmojiService/ListAll"),
	}
	if d := diffRawEvents(want, got); d != "" {
		t.Errorf("first event (-want +got):\n%s", d)
	}
}

// TestRawMatchesJSON decodes each raw capture next to its `-o json` twin
// (the same stream, as printed by linkerd viz tap) and compares every event.
func TestRawMatchesJSON(t *testing.T) {
	for _, name := range []string{"booksapp", "emojivoto"} {
		t.Run(name, func(t *testing.T) {
			raw := NewRawDecoder(bytes.NewReader(upstream(t, name+".tap.bin.gz")), nil)
			js := json.NewDecoder(bytes.NewReader(upstream(t, name+".tap.json.gz")))
			var ev event.Event
			for i := 1; ; i++ {
				var want vizJSONEvent
				jerr := js.Decode(&want)
				rerr := raw.Next(&ev)
				if jerr == io.EOF || rerr == io.EOF {
					if jerr != rerr {
						t.Fatalf("event %d: json %v, raw %v: streams differ in length", i, jerr, rerr)
					}
					return
				}
				if jerr != nil || rerr != nil {
					t.Fatalf("event %d: json %v, raw %v", i, jerr, rerr)
				}
				if d := want.diff(&ev); d != "" {
					t.Fatalf("event %d differs from JSON (-json +raw):\n%s", i, d)
				}
			}
		})
	}
}

// jsonEvent is the shape of one `linkerd viz tap -o json` object.
type vizJSONEvent struct {
	Source, Destination vizJSONPeer
	ProxyDirection      string
	RequestInitEvent    *struct {
		ID                              vizJSONID
		Method, Scheme, Authority, Path string
	}
	ResponseInitEvent *struct {
		ID               vizJSONID
		SinceRequestInit vizJSONDuration
		HTTPStatus       uint32
	}
	ResponseEndEvent *struct {
		ID                                  vizJSONID
		SinceRequestInit, SinceResponseInit vizJSONDuration
		ResponseBytes                       uint64
		GRPCStatusCode                      uint32
	}
}

type vizJSONPeer struct {
	IP       string
	Port     uint32
	Metadata map[string]string
}

type vizJSONID struct {
	Base   uint32
	Stream uint64
}

type vizJSONDuration struct {
	Seconds int64
	Nanos   int64
}

func (d vizJSONDuration) d() time.Duration {
	return time.Duration(d.Seconds)*time.Second + time.Duration(d.Nanos)
}

// diff compares ev with j, field by field, deriving the expected event
// independently of the decoder's label mapping code.
func (j *vizJSONEvent) diff(ev *event.Event) string {
	want := event.Event{
		Direction:   map[string]event.Direction{"INBOUND": event.Inbound, "OUTBOUND": event.Outbound}[j.ProxyDirection],
		Source:      j.Source.peer(false),
		Destination: j.Destination.peer(true),
		Policy: event.Policy{
			ServerGroup: j.Destination.Metadata["srv_group"],
			ServerKind:  j.Destination.Metadata["srv_kind"],
			ServerName:  j.Destination.Metadata["srv_name"],
			RouteGroup:  j.Destination.Metadata["route_group"],
			RouteKind:   j.Destination.Metadata["route_kind"],
			RouteName:   j.Destination.Metadata["route_name"],
			AuthzGroup:  j.Destination.Metadata["authz_group"],
			AuthzKind:   j.Destination.Metadata["authz_kind"],
			AuthzName:   j.Destination.Metadata["authz_name"],
		},
	}
	switch {
	case j.RequestInitEvent != nil:
		r := j.RequestInitEvent
		want.Kind, want.ID = event.RequestInit, event.StreamID(r.ID)
		want.Method, want.Scheme = r.Method, r.Scheme
		want.Authority, want.Path = []byte(r.Authority), []byte(r.Path)
	case j.ResponseInitEvent != nil:
		r := j.ResponseInitEvent
		want.Kind, want.ID = event.ResponseInit, event.StreamID(r.ID)
		want.SinceRequestInit, want.HTTPStatus = r.SinceRequestInit.d(), r.HTTPStatus
	case j.ResponseEndEvent != nil:
		r := j.ResponseEndEvent
		want.Kind, want.ID = event.ResponseEnd, event.StreamID(r.ID)
		want.SinceRequestInit, want.SinceResponseInit = r.SinceRequestInit.d(), r.SinceResponseInit.d()
		want.ResponseBytes = r.ResponseBytes
		// The JSON prints grpcStatusCode 0 whether or not the stream
		// carried an Eos, so End comes from the raw event; a non-zero
		// status without EndGRPC still shows as a difference.
		want.End, want.GRPCStatus = ev.End, r.GRPCStatusCode
	}
	return diffRawEvents(want, *ev)
}

func (p vizJSONPeer) peer(isDst bool) event.Peer {
	md := p.Metadata
	out := event.Peer{
		IP:             netip.MustParseAddr(p.IP),
		Port:           p.Port,
		Namespace:      md["namespace"],
		Pod:            md["pod"],
		ServiceAccount: md["serviceaccount"],
		Node:           md["node"],
		TLS:            md["tls"],
		Identity:       md["client_id"],
	}
	if isDst {
		out.Service, out.Identity = md["service"], md["server_id"]
	}
	for _, kind := range []string{"cronjob", "k8s_job", "job", "deployment", "statefulset", "daemonset", "replicationcontroller", "replicaset"} {
		if v := md[kind]; v != "" {
			out.OwnerKind, out.Owner = kind, v
			break
		}
	}
	return out
}

// diffEvents lists the fields of two events that differ, one "-want +got"
// pair per line; "" when they are equal.
func diffRawEvents(want, got event.Event) string {
	var b strings.Builder
	diffRawValues(&b, "", reflect.ValueOf(want), reflect.ValueOf(got))
	return b.String()
}

func diffRawValues(b *strings.Builder, path string, want, got reflect.Value) {
	switch {
	case want.Kind() == reflect.Struct && want.Type().PkgPath() == "github.com/cinchmesh/cinch/observe/event":
		for i := range want.NumField() {
			name := want.Type().Field(i).Name
			if path != "" {
				name = path + "." + name
			}
			diffRawValues(b, name, want.Field(i), got.Field(i))
		}
	case want.Kind() == reflect.Slice: // []byte: nil and empty are equal
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			fmt.Fprintf(b, "%s:\n\t-%q\n\t+%q\n", path, want.Bytes(), got.Bytes())
		}
	case !want.Equal(got):
		fmt.Fprintf(b, "%s:\n\t-%#v\n\t+%#v\n", path, want.Interface(), got.Interface())
	}
}

// Hand-built frames: protobuf encoders for the few shapes the tests need.

func pbTag(num protowire.Number, typ protowire.Type) []byte {
	return protowire.AppendTag(nil, num, typ)
}

// pbMsg concatenates encoded fields into a message body.
func pbMsg(fields ...[]byte) []byte { return bytes.Join(fields, nil) }

// pbBytes is a length-delimited field holding the concatenated fields.
func pbBytes(num protowire.Number, fields ...[]byte) []byte {
	return protowire.AppendBytes(pbTag(num, protowire.BytesType), pbMsg(fields...))
}

func pbString(num protowire.Number, s string) []byte {
	return protowire.AppendString(pbTag(num, protowire.BytesType), s)
}

func pbVarint(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(pbTag(num, protowire.VarintType), v)
}

func pbFixed32(num protowire.Number, v uint32) []byte {
	return protowire.AppendFixed32(pbTag(num, protowire.Fixed32Type), v)
}

func pbFixed64(num protowire.Number, v uint64) []byte {
	return protowire.AppendFixed64(pbTag(num, protowire.Fixed64Type), v)
}

// pbFrame prefixes a TapEvent with its little-endian length.
func pbFrame(body ...[]byte) []byte {
	b := pbMsg(body...)
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// pbTCP is a TcpAddress field: source (1) or destination (2).
func pbTCP(num protowire.Number, ip []byte, port uint64) []byte {
	return pbBytes(num, pbBytes(1, ip), pbVarint(2, port))
}

// pbIPv4 and pbIPv6 are the IPAddress oneof.
func pbIPv4(a string) []byte {
	b := netip.MustParseAddr(a).As4()
	return pbFixed32(1, binary.BigEndian.Uint32(b[:]))
}

func pbIPv6(a string) []byte {
	b := netip.MustParseAddr(a).As16()
	return pbBytes(2, pbFixed64(1, binary.BigEndian.Uint64(b[:8])), pbFixed64(2, binary.BigEndian.Uint64(b[8:])))
}

// pbMeta is an EndpointMeta field, destination (4) or source (5), with the
// labels key1, value1, key2, value2...
func pbMeta(num protowire.Number, kv ...string) []byte {
	var labels [][]byte
	for i := 0; i < len(kv); i += 2 {
		labels = append(labels, pbBytes(1, pbString(1, kv[i]), pbString(2, kv[i+1])))
	}
	return pbBytes(num, labels...)
}

func pbDirection(d uint64) []byte { return pbVarint(6, d) }

// pbHTTP is the http field holding request_init (1), response_init (2) or
// response_end (3).
func pbHTTP(kind protowire.Number, fields ...[]byte) []byte {
	return pbBytes(3, pbBytes(kind, fields...))
}

func pbID(base, stream uint64) []byte {
	return pbBytes(1, pbVarint(1, base), pbVarint(2, stream))
}

// pbRegistered and pbUnregistered are an HttpMethod or Scheme field.
func pbRegistered(num protowire.Number, v uint64) []byte {
	return pbBytes(num, pbVarint(1, v))
}

func pbUnregistered(num protowire.Number, s string) []byte {
	return pbBytes(num, pbString(2, s))
}

func pbDuration(num protowire.Number, secs, nanos uint64) []byte {
	return pbBytes(num, pbVarint(1, secs), pbVarint(2, nanos))
}

// Shorthands for a minimal valid event.
var (
	rawSrc      = pbTCP(1, pbIPv4("10.0.0.1"), 40000)
	rawDst      = pbTCP(2, pbIPv4("10.0.0.2"), 8080)
	rawGetIndex = pbHTTP(1, pbID(7, 1), pbRegistered(2, 0), pbRegistered(3, 0), pbString(4, "web:8080"), pbString(5, "/"))
)

func rawBaseEvent() event.Event {
	return event.Event{
		Direction:   event.Inbound,
		Kind:        event.RequestInit,
		ID:          event.StreamID{Base: 7, Stream: 1},
		Source:      event.Peer{IP: netip.MustParseAddr("10.0.0.1"), Port: 40000},
		Destination: event.Peer{IP: netip.MustParseAddr("10.0.0.2"), Port: 8080},
		Method:      "GET",
		Scheme:      "HTTP",
		Authority:   []byte("web:8080"),
		Path:        []byte("/"),
	}
}

func rawWith(f func(*event.Event)) event.Event {
	ev := rawBaseEvent()
	f(&ev)
	return ev
}

func TestRawDecode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       []byte
		want     []event.Event
		warnings Warnings
	}{
		{
			name: "empty input",
			in:   nil,
		},
		{
			name: "minimal request",
			in:   pbFrame(rawSrc, rawDst, pbDirection(1), rawGetIndex),
			want: []event.Event{rawBaseEvent()},
		},
		{
			name: "labels",
			in: pbFrame(rawSrc, rawDst, pbDirection(1), rawGetIndex,
				pbMeta(5, "namespace", "shop", "pod", "web-1", "serviceaccount", "web-sa",
					"replicaset", "web-6d4f", "deployment", "web", "pod_template_hash", "6d4f",
					"control_plane_ns", "linkerd", "tls", "true",
					"client_id", "web-sa.shop.serviceaccount.identity.linkerd.cluster.local",
					"server_id", "ignored on a source", "service", "ignored on a source", "srv_name", "ignored"),
				pbMeta(4, "namespace", "jobs", "pod", "report-1", "k8s_job", "report-2900", "cronjob", "report",
					"service", "report-svc", "server_id", "report.jobs.serviceaccount.identity.linkerd.cluster.local",
					"client_id", "ignored on a destination", "tls", "true",
					"srv_group", "policy.linkerd.io", "srv_kind", "server", "srv_name", "report-http",
					"route_group", "", "route_kind", "default", "route_name", "default",
					"authz_group", "policy.linkerd.io", "authz_kind", "authorizationpolicy", "authz_name", "report-authz"),
			),
			want: []event.Event{rawWith(func(ev *event.Event) {
				ev.Source.Namespace, ev.Source.Pod, ev.Source.ServiceAccount = "shop", "web-1", "web-sa"
				ev.Source.OwnerKind, ev.Source.Owner = "deployment", "web"
				ev.Source.TLS = "true"
				ev.Source.Identity = "web-sa.shop.serviceaccount.identity.linkerd.cluster.local"
				ev.Destination.Namespace, ev.Destination.Pod = "jobs", "report-1"
				ev.Destination.OwnerKind, ev.Destination.Owner = "cronjob", "report"
				ev.Destination.Service = "report-svc"
				ev.Destination.Identity = "report.jobs.serviceaccount.identity.linkerd.cluster.local"
				ev.Destination.TLS = "true"
				ev.Policy = event.Policy{
					ServerGroup: "policy.linkerd.io", ServerKind: "server", ServerName: "report-http",
					RouteKind: "default", RouteName: "default",
					AuthzGroup: "policy.linkerd.io", AuthzKind: "authorizationpolicy", AuthzName: "report-authz",
				}
			})},
		},
		{
			// Not the form fastLabel takes: long values, value before key,
			// missing value, extra fields in the entry.
			name: "labels in unusual encodings",
			in: pbFrame(rawSrc, rawDst, pbDirection(1), rawGetIndex,
				pbBytes(5, pbBytes(1, pbString(1, "client_id"), pbString(2, strings.Repeat("x", 200)))),
				pbBytes(5, pbBytes(1, pbString(2, "web"), pbString(1, "deployment"))),
				pbBytes(5, pbBytes(1, pbString(1, "tls"))),
				pbBytes(5, pbBytes(1, pbString(1, "namespace"), pbVarint(3, 1), pbString(2, "shop"))),
				pbBytes(5, pbVarint(2, 9))),
			want: []event.Event{rawWith(func(ev *event.Event) {
				ev.Source.Identity = strings.Repeat("x", 200)
				ev.Source.OwnerKind, ev.Source.Owner = "deployment", "web"
				ev.Source.Namespace = "shop"
			})},
		},
		{
			name: "node source, owner precedence",
			in: pbFrame(rawSrc, rawDst, pbDirection(2), rawGetIndex,
				pbMeta(5, "node", "worker-3", "tls", "no_tls_from_remote"),
				pbMeta(4, "replicaset", "db-1", "statefulset", "db", "daemonset", "agent", "replicationcontroller", "old")),
			want: []event.Event{rawWith(func(ev *event.Event) {
				ev.Direction = event.Outbound
				ev.Source.Node, ev.Source.TLS = "worker-3", "no_tls_from_remote"
				ev.Destination.OwnerKind, ev.Destination.Owner = "statefulset", "db"
			})},
		},
		{
			name: "ipv6",
			in:   pbFrame(pbTCP(1, pbIPv6("fd00:10:42::15"), 5000), pbTCP(2, pbIPv6("2001:db8::1:0:0:2"), 443), pbDirection(1), rawGetIndex),
			want: []event.Event{rawWith(func(ev *event.Event) {
				ev.Source.IP, ev.Source.Port = netip.MustParseAddr("fd00:10:42::15"), 5000
				ev.Destination.IP, ev.Destination.Port = netip.MustParseAddr("2001:db8::1:0:0:2"), 443
			})},
		},
		{
			name: "registered methods and https",
			in: pbMsg(
				pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(1, pbID(7, 1), pbRegistered(2, 8), pbRegistered(3, 1), pbString(5, "/a"))),
				pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(1, pbID(7, 2), pbRegistered(2, 4), pbRegistered(3, 0), pbString(5, "/b"))),
			),
			want: []event.Event{
				{Direction: event.Inbound, Kind: event.RequestInit, ID: event.StreamID{Base: 7, Stream: 1},
					Source: rawBaseEvent().Source, Destination: rawBaseEvent().Destination,
					Method: "TRACE", Scheme: "HTTPS", Path: []byte("/a")},
				{Direction: event.Inbound, Kind: event.RequestInit, ID: event.StreamID{Base: 7, Stream: 2},
					Source: rawBaseEvent().Source, Destination: rawBaseEvent().Destination,
					Method: "PATCH", Scheme: "HTTP", Path: []byte("/b")},
			},
		},
		{
			name: "unregistered method and scheme",
			in:   pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(1, pbID(7, 1), pbUnregistered(2, "purge"), pbUnregistered(3, "ftp"), pbString(4, "web:8080"), pbString(5, "/"))),
			want: []event.Event{rawWith(func(ev *event.Event) { ev.Method, ev.Scheme = "PURGE", "ftp" })},
		},
		{
			name: "content-type header",
			in: pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(1, pbID(7, 1), pbRegistered(2, 1), pbRegistered(3, 0), pbString(4, "web:8080"), pbString(5, "/"),
				pbBytes(6,
					pbBytes(1, pbString(1, ":authority"), pbString(2, "web:8080")),
					pbBytes(1, pbString(1, "Content-Type"), pbString(2, "application/grpc+proto")),
					pbBytes(1, pbString(1, "te"), pbString(3, "trailers"))))),
			want: []event.Event{rawWith(func(ev *event.Event) { ev.Method, ev.ContentType = "POST", "application/grpc+proto" })},
		},
		{
			name: "binary content-type header",
			in: pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(1, pbID(7, 1), pbRegistered(2, 0), pbRegistered(3, 0), pbString(4, "web:8080"), pbString(5, "/"),
				pbBytes(6, pbBytes(1, pbString(1, "content-type"), pbString(3, "text/plain"))))),
			want: []event.Event{rawWith(func(ev *event.Event) { ev.ContentType = "text/plain" })},
		},
		{
			name: "response init",
			in: pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(2, pbID(7, 1), pbDuration(2, 1, 500_000_000), pbVarint(3, 503),
				pbBytes(4, pbBytes(1, pbString(1, "content-type"), pbString(2, "text/html"))))),
			want: []event.Event{{Direction: event.Inbound, Kind: event.ResponseInit, ID: event.StreamID{Base: 7, Stream: 1},
				Source: rawBaseEvent().Source, Destination: rawBaseEvent().Destination,
				HTTPStatus: 503, SinceRequestInit: 1500 * time.Millisecond}},
		},
		{
			name: "grpc eos",
			in: pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(3, pbID(7, 1), pbDuration(2, 0, 3_000_000), pbDuration(3, 0, 79_000),
				pbVarint(4, 1060), pbBytes(5, pbVarint(1, 7)), pbBytes(6, pbBytes(1, pbString(1, "grpc-status"), pbString(2, "7"))))),
			want: []event.Event{{Direction: event.Inbound, Kind: event.ResponseEnd, ID: event.StreamID{Base: 7, Stream: 1},
				Source: rawBaseEvent().Source, Destination: rawBaseEvent().Destination,
				SinceRequestInit: 3 * time.Millisecond, SinceResponseInit: 79 * time.Microsecond, ResponseBytes: 1060,
				End: event.EndGRPC, GRPCStatus: 7}},
		},
		{
			name: "grpc eos OK",
			in:   pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(3, pbID(7, 1), pbBytes(5, pbVarint(1, 0)))),
			want: []event.Event{{Direction: event.Inbound, Kind: event.ResponseEnd, ID: event.StreamID{Base: 7, Stream: 1},
				Source: rawBaseEvent().Source, Destination: rawBaseEvent().Destination, End: event.EndGRPC}},
		},
		{
			name: "reset eos",
			in:   pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(3, pbID(7, 1), pbBytes(5, pbVarint(2, 8)))),
			want: []event.Event{{Direction: event.Inbound, Kind: event.ResponseEnd, ID: event.StreamID{Base: 7, Stream: 1},
				Source: rawBaseEvent().Source, Destination: rawBaseEvent().Destination, End: event.EndReset, ResetCode: 8}},
		},
		{
			name: "unknown fields",
			in: pbFrame(rawSrc, pbVarint(15, 1), rawDst, pbDirection(1), rawGetIndex,
				pbString(99, "future"),
				pbTCP(1, pbMsg(pbIPv4("10.0.0.1"), pbFixed64(9, 1)), 40000),           // unknown inside IPAddress: silent
				pbBytes(7, pbBytes(1, pbString(1, "route"), pbString(2, "ignored")))), // route_meta: known, ignored
			want:     []event.Event{rawBaseEvent()},
			warnings: Warnings{rawWarnUnknownField: 2},
		},
		{
			name:     "empty frame",
			in:       pbMsg(pbFrame(), pbFrame(rawSrc, rawDst, pbDirection(1), rawGetIndex), pbFrame()),
			want:     []event.Event{rawBaseEvent()},
			warnings: Warnings{rawWarnEmptyFrame: 2},
		},
		{
			name: "events without http payload or id",
			in: pbMsg(
				pbFrame(rawSrc, rawDst, pbDirection(1)),
				pbFrame(rawSrc, rawDst, pbDirection(1), pbBytes(3)),
				pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(1, pbRegistered(2, 0), pbString(5, "/no-id"))),
				pbFrame(rawSrc, rawDst, pbDirection(1), rawGetIndex),
			),
			want:     []event.Event{rawBaseEvent()},
			warnings: Warnings{rawWarnNoHTTP: 2, rawWarnNoID: 1},
		},
		{
			name: "fields in any order, repeated fields merge",
			in: pbFrame(rawGetIndex, pbMeta(4, "namespace", "a"), pbDirection(1), rawDst, pbMeta(4, "pod", "p"), rawSrc,
				pbMeta(4, "namespace", "b")),
			want: []event.Event{rawWith(func(ev *event.Event) { ev.Destination.Namespace, ev.Destination.Pod = "b", "p" })},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rd := range []struct {
				name string
				r    func([]byte) io.Reader
			}{
				{"", func(b []byte) io.Reader { return bytes.NewReader(b) }},
				{"one byte reads", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
				{"data with EOF", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
			} {
				d := NewRawDecoder(rd.r(tc.in), nil)
				got, err := decodeAllRaw(t, d)
				if err != nil {
					t.Fatalf("%s: %v", rd.name, err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("%s: decoded %d events, want %d: %+v", rd.name, len(got), len(tc.want), got)
				}
				for i := range got {
					if d := diffRawEvents(tc.want[i], got[i]); d != "" {
						t.Errorf("%s: event %d (-want +got):\n%s", rd.name, i+1, d)
					}
				}
				if w := d.Warnings(); !reflect.DeepEqual(w, tc.warnings) && (len(w) != 0 || len(tc.warnings) != 0) {
					t.Errorf("%s: warnings = %v, want %v", rd.name, w, tc.warnings)
				}
			}
		})
	}
}

// TestFastTCPAddress: the fast path takes the usual encoding and gives what
// the generic decoder gives; every other encoding is left to the latter.
func TestFastTCPAddress(t *testing.T) {
	body := func(field []byte) []byte { // the TcpAddress inside pbTCP's field
		_, _, n := protowire.ConsumeTag(field)
		v, _ := protowire.ConsumeBytes(field[n:])
		return v
	}
	for _, tc := range []struct {
		name string
		in   []byte
		fast bool
	}{
		{"ipv4 and a one-byte port", body(pbTCP(1, pbIPv4("10.42.0.21"), 80)), true},
		{"ipv4 and a three-byte port", body(pbTCP(1, pbIPv4("255.1.2.3"), 65535)), true},
		{"port beyond 32 bits", body(pbTCP(1, pbIPv4("10.0.0.1"), 1<<40|7)), true},
		{"no port", pbBytes(1, pbIPv4("10.0.0.1")), false},
		{"port first", pbMsg(pbVarint(2, 8080), pbBytes(1, pbIPv4("10.0.0.1"))), false},
		{"ipv6", body(pbTCP(1, pbIPv6("fd00::1"), 443)), false},
		{"a field after the port", pbMsg(body(pbTCP(1, pbIPv4("10.0.0.1"), 1)), pbVarint(3, 1)), false},
		{"truncated port", body(pbTCP(1, pbIPv4("10.0.0.1"), 300))[:9], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fast, generic event.Peer
			ok := fastTCPAddress(tc.in, &fast)
			if ok != tc.fast {
				t.Fatalf("fast path took it: %v, want %v", ok, tc.fast)
			}
			err := decodeTCPAddressFields(tc.in, &generic)
			if !ok {
				if fast != (event.Peer{}) {
					t.Errorf("fast path refused but set %+v", fast)
				}
				return
			}
			if err != nil || fast != generic {
				t.Errorf("fast %+v, generic %+v (%v)", fast, generic, err)
			}
		})
	}
}

func TestRawDecodeErrors(t *testing.T) {
	good := pbFrame(rawSrc, rawDst, pbDirection(1), rawGetIndex)
	errRead := errors.New("connection reset")
	for _, tc := range []struct {
		name    string
		in      io.Reader
		events  int    // decoded before the error
		wantErr string // substring of the error
		is      error  // errors.Is target, if any
		event   int
		offset  int64
		final   bool // Next keeps returning the error
	}{
		{
			name:    "truncated header",
			in:      bytes.NewReader(pbMsg(good, []byte{0x10, 0x02})),
			events:  1,
			wantErr: "frame header: 2 of 4 bytes present",
			is:      ErrTruncated,
			event:   2, offset: int64(len(good)), final: true,
		},
		{
			name:    "truncated body",
			in:      bytes.NewReader(pbMsg(good, binary.LittleEndian.AppendUint32(nil, 812), make([]byte, 100))),
			events:  1,
			wantErr: "frame of 812 bytes, 100 present",
			is:      ErrTruncated,
			event:   2, offset: int64(len(good)), final: true,
		},
		{
			name:    "absurd length",
			in:      bytes.NewReader(pbMsg(good, good, []byte{0xff, 0xff, 0xff, 0x7f}, good)),
			events:  2,
			wantErr: "frame length 2147483647 exceeds limit 16777216 bytes",
			event:   3, offset: int64(2 * len(good)), final: true,
		},
		{
			name:    "garbage",
			in:      strings.NewReader("GET / HTTP/1.1\r\nHost: example\r\n\r\n"),
			wantErr: "frame length 542393671 exceeds limit",
			event:   1, final: true,
		},
		{
			name:    "garbage inside a frame",
			in:      bytes.NewReader(pbFrame([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})),
			wantErr: "malformed protobuf at TapEvent: field tag:",
			event:   1,
		},
		{
			name: "malformed field",
			// path claims 100 bytes, 2 follow
			in:      bytes.NewReader(pbFrame(rawSrc, rawDst, pbBytes(3, pbBytes(1, pbID(7, 1), pbTag(5, protowire.BytesType), []byte{100, '/', 'x'})))),
			wantErr: "malformed protobuf at TapEvent.http.request_init.path: unexpected EOF",
			is:      io.ErrUnexpectedEOF,
			event:   1,
		},
		{
			name:    "malformed nested field",
			in:      bytes.NewReader(pbMsg(good, pbFrame(pbTCP(1, []byte{0x0d, 1, 2}, 1), rawGetIndex))),
			events:  1,
			wantErr: "malformed protobuf at TapEvent.source.ip.ipv4: unexpected EOF",
			event:   2, offset: int64(len(good)),
		},
		{
			name:    "wrong wire type",
			in:      bytes.NewReader(pbFrame(pbVarint(1, 3), rawGetIndex)),
			wantErr: "malformed protobuf at TapEvent.source: wire type varint, want length-delimited",
			event:   1,
		},
		{
			name:    "malformed label",
			in:      bytes.NewReader(pbFrame(rawSrc, rawDst, rawGetIndex, pbBytes(4, pbBytes(1, pbVarint(1, 5))))),
			wantErr: "malformed protobuf at TapEvent.destination_meta.labels.key: wire type varint, want length-delimited",
			event:   1,
		},
		{
			name:    "malformed unknown field",
			in:      bytes.NewReader(pbFrame(rawSrc, rawDst, rawGetIndex, pbTag(20, protowire.BytesType), []byte{50})),
			wantErr: "malformed protobuf at TapEvent: unknown field 20: unexpected EOF",
			event:   1,
		},
		{
			name:    "unknown method enum",
			in:      bytes.NewReader(pbFrame(rawSrc, rawDst, pbHTTP(1, pbID(1, 1), pbRegistered(2, 42)))),
			wantErr: "TapEvent.http.request_init.method.registered: unknown HTTP method enum value 42",
			event:   1,
		},
		{
			name:    "read error",
			in:      io.MultiReader(bytes.NewReader(good), bytes.NewReader(good[:10]), iotest.ErrReader(errRead)),
			events:  1,
			wantErr: "connection reset",
			is:      errRead,
			event:   2, offset: int64(len(good)), final: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewRawDecoder(tc.in, nil)
			var ev event.Event
			n := 0
			var err error
			for err = d.Next(&ev); err == nil; err = d.Next(&ev) {
				n++
			}
			if n != tc.events {
				t.Errorf("decoded %d events before the error, want %d", n, tc.events)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T), want a *DecodeError", err, err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if de.Format != FormatRaw || de.Event != tc.event || de.Offset != tc.offset || de.Line != 0 {
				t.Errorf("error position: -{raw event %d offset %d} +{%s event %d offset %d line %d}",
					tc.event, tc.offset, de.Format, de.Event, de.Offset, de.Line)
			}
			again := d.Next(&ev)
			switch {
			case tc.final && again != err:
				t.Errorf("Next after a framing error = %v, want the same error again", again)
			case !tc.final && again != io.EOF:
				t.Errorf("Next after a bad event = %v, want io.EOF (the stream goes on)", again)
			}
		})
	}
}

// A malformed event does not end the stream: the frames after it decode.
func TestRawDecodeContinuesAfterBadEvent(t *testing.T) {
	in := pbMsg(
		pbFrame(rawSrc, rawDst, pbDirection(1), rawGetIndex),
		pbFrame(pbVarint(1, 3)),
		pbFrame(rawSrc, rawDst, pbDirection(1), rawGetIndex),
	)
	d := NewRawDecoder(bytes.NewReader(in), nil)
	var ev event.Event
	var got []string
	for {
		err := d.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			got = append(got, "error")
			continue
		}
		got = append(got, ev.Kind.String())
	}
	if want := []string{"req", "error", "req"}; !reflect.DeepEqual(got, want) {
		t.Errorf("-%v +%v", want, got)
	}
}

// Path and Authority reuse the event's buffers.
func TestRawDecodeReusesBuffers(t *testing.T) {
	in := pbMsg(
		pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(1, pbID(1, 1), pbString(4, "a-long-authority:8080"), pbString(5, "/a/long/path/first"))),
		pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(1, pbID(1, 2), pbString(4, "b:80"), pbString(5, "/b"))),
		pbFrame(rawSrc, rawDst, pbDirection(1), pbHTTP(2, pbID(1, 2), pbVarint(3, 200))),
	)
	d := NewRawDecoder(bytes.NewReader(in), nil)
	var ev event.Event
	if err := d.Next(&ev); err != nil {
		t.Fatal(err)
	}
	path := &ev.Path[0]
	if err := d.Next(&ev); err != nil {
		t.Fatal(err)
	}
	if string(ev.Path) != "/b" || string(ev.Authority) != "b:80" {
		t.Errorf("second event path %q authority %q", ev.Path, ev.Authority)
	}
	if &ev.Path[0] != path {
		t.Error("Path was reallocated although it fit")
	}
	if err := d.Next(&ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Path) != 0 || len(ev.Authority) != 0 || ev.Method != "" {
		t.Errorf("response event kept request fields: %+v", ev)
	}
}

// Decoding a capture whose labels are already interned allocates nothing per
// event.
func TestRawDecodeAllocs(t *testing.T) {
	data := upstream(t, "booksapp.tap.bin.gz")
	in := event.NewInterner(event.DefaultInternLimit)
	var ev event.Event
	decode := func() {
		d := NewRawDecoder(bytes.NewReader(data), in)
		for {
			if err := d.Next(&ev); err != nil {
				if err != io.EOF {
					t.Fatal(err)
				}
				return
			}
		}
	}
	decode() // warm the interner and ev's buffers
	allocs := testing.AllocsPerRun(3, decode)
	// A decoder costs a few allocations of its own (struct, buffer,
	// warnings map); 17700 events must not add to that.
	if allocs > 10 {
		t.Errorf("%v allocations to decode 17700 events, want a handful for the decoder itself", allocs)
	}
}

func BenchmarkRawDecode(b *testing.B) {
	data := upstream(b, "booksapp.tap.bin.gz")
	in := event.NewInterner(event.DefaultInternLimit)
	var ev event.Event
	events := 0
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d := NewRawDecoder(bytes.NewReader(data), in)
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
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}

// FuzzRawDecoder feeds arbitrary bytes to the raw decoder: it must never
// panic, must end, and must report every problem as a *DecodeError.
func FuzzRawDecoder(f *testing.F) {
	if data, err := os.ReadFile(fixtures.Path(f, "emojivoto.tap.bin.gz")); err == nil {
		if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
			head := make([]byte, 4096)
			n, _ := io.ReadFull(zr, head)
			f.Add(head[:n])
		}
	}
	f.Add([]byte{3, 0, 0, 0, 0x30, 0x01, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewRawDecoder(bytes.NewReader(in), nil)
		var ev event.Event
		for i := 0; ; i++ {
			err := d.Next(&ev)
			if err == io.EOF {
				return
			}
			var de *DecodeError
			if err != nil {
				if !errors.As(err, &de) {
					t.Fatalf("error %v is not a *DecodeError", err)
				}
				return
			}
			if i > len(in) {
				t.Fatalf("more events than input bytes")
			}
		}
	})
}
