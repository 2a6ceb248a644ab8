package recording

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cinchmesh/cinch/observe/pathseg"
)

func edge(client, server string, port uint32, routes ...Route) Edge {
	e := Edge{Client: PeerID(client), Server: PeerID(server), Port: port, Protocol: ProtocolHTTP, Routes: routes}
	for _, r := range routes {
		e.Requests += r.Requests
	}
	e.Status = map[string]int64{"200": e.Requests}
	e.Latency = FromDense(denseAt(BucketIndex(1500), e.Requests), 1500*e.Requests)
	return e
}

func denseAt(i int, n int64) []int64 {
	d := make([]int64, len(Bounds))
	d[i] = n
	return d
}

func sample(window string, edges ...Edge) *Recording {
	r := New()
	r.Windows = []Window{{Source: window, Sampling: Sampling{Sampled: true}}}
	r.Edges = edges
	return r
}

func encode(t *testing.T, r *Recording) string {
	t.Helper()
	data, err := Encode(r, YAML)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestMergeAssociativeAndCommutative(t *testing.T) {
	a := sample("file:a", edge("ns/a", "ns/s", 80, Route{Method: "GET", Path: "/x", Requests: 3}))
	b := sample("file:b", edge("ns/a", "ns/s", 80, Route{Method: "GET", Path: "/x", Requests: 2}, Route{Method: "POST", Path: "/y", Requests: 1}))
	c := sample("file:c", edge("ns/b", "ns/s", 80, Route{Method: "GET", Path: "/z", Requests: 7}))
	l := DefaultLimits
	want := encode(t, Merge(l, Merge(l, a, b), c))
	for name, got := range map[string]*Recording{
		"a(bc)": Merge(l, a, Merge(l, b, c)),
		"cba":   Merge(l, c, b, a),
		"b(ca)": Merge(l, b, Merge(l, c, a)),
	} {
		if g := encode(t, got); g != want {
			t.Errorf("%s differs from (ab)c:\n%s\nwant:\n%s", name, g, want)
		}
	}
	m := Merge(l, a, b, c)
	if len(m.Windows) != 3 {
		t.Errorf("merged windows = %d, want 3", len(m.Windows))
	}
	if got := m.Edges[0].Requests; got != 6 {
		t.Errorf("ns/a -> ns/s requests = %d, want 6", got)
	}
	if got := m.Edges[0].Latency.Count; got != 6 {
		t.Errorf("merged latency count = %d, want 6", got)
	}
}

// TestMergeFoldsRawPathsOfOlderRecordings: raw paths with ids, as
// v1alpha1 recordings hold them, fold into the recorder's templates when
// they exceed the limit, next to templates from newer recordings.
func TestMergeFoldsRawPathsOfOlderRecordings(t *testing.T) {
	old := sample("file:old", edge("ns/a", "ns/s", 80,
		Route{Method: "GET", Path: "/books/1.json", Requests: 2},
		Route{Method: "GET", Path: "/books/2.json", Requests: 1},
		Route{Method: "GET", Path: "/books/3.json", Requests: 1},
		Route{Method: "GET", Path: "/books", Requests: 3}))
	var seven, all pathseg.Evidence
	seven.Add("7")
	for _, id := range []string{"1", "2", "3", "7", "7"} {
		all.Add(id)
	}
	newer := sample("file:new", edge("ns/a", "ns/s", 80,
		Route{Method: "GET", Path: "/books/{int}.json", Requests: 4, Template: true, Examples: []string{"/books/7.json"}, Params: []pathseg.Evidence{seven}}))
	e := Merge(Limits{MaxPathsPerEdge: 2, MaxSourceIPsPerEdge: 1}, old, newer).Edges[0]
	want := []Route{
		{Method: "GET", Path: "/books", Requests: 3},
		{Method: "GET", Path: "/books/{int}.json", Requests: 8, Template: true, Examples: []string{"/books/1.json", "/books/2.json", "/books/3.json"},
			Params: []pathseg.Evidence{all}},
	}
	if !reflect.DeepEqual(e.Routes, want) || e.RoutesOverflow != 0 {
		t.Errorf("routes %+v, overflow %d; want %+v", e.Routes, e.RoutesOverflow, want)
	}
}

func TestMergeLimitKeepsBusiestAndCountsTheRest(t *testing.T) {
	a := sample("file:a", edge("ns/a", "ns/s", 80,
		Route{Method: "GET", Path: "/a", Requests: 5},
		Route{Method: "GET", Path: "/b", Requests: 1},
		Route{Method: "POST", Path: "/b", Requests: 1},
		Route{Method: "GET", Path: "/c", Requests: 4}))
	m := Merge(Limits{MaxPathsPerEdge: 2, MaxSourceIPsPerEdge: 1}, a)
	e := m.Edges[0]
	var paths []string
	var sum int64
	for _, r := range e.Routes {
		paths = append(paths, r.Method+" "+r.Path)
		sum += r.Requests
	}
	if got, want := strings.Join(paths, ","), "GET /a,GET /c"; got != want {
		t.Errorf("kept routes = %s, want %s", got, want)
	}
	if e.RoutesOverflow != 2 || sum+e.RoutesOverflow != e.Requests {
		t.Errorf("overflow = %d, routes sum %d, requests %d: want overflow 2 and sum+overflow == requests", e.RoutesOverflow, sum, e.Requests)
	}
}

func TestEncodeDeterministicAndRoundTrips(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	r := sample("file:a",
		edge("ns/b", "ns/s", 80, Route{Method: "GET", Path: "/b", Requests: 1}, Route{Method: "GET", Path: "/a", Requests: 2}),
		edge("ns/a", "ns/s", 80, Route{Method: "GET", Path: "/x", Requests: 3}))
	r.Windows[0].Start = &start
	r.Workloads = []Workload{{ID: "ns/s", Namespace: "ns", Kind: "Deployment", Name: "s", Labels: map[string]string{"b": "2", "a": "1"}}}
	first := encode(t, r)
	for _, enc := range []Encoding{YAML, JSON} {
		data, err := Encode(r, enc)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if got := encode(t, back); got != first {
			t.Errorf("%s round trip changed the recording:\n%s\nwant:\n%s", enc, got, first)
		}
	}
	if !strings.Contains(first, "client: ns/a") || strings.Index(first, "client: ns/a") > strings.Index(first, "client: ns/b") {
		t.Errorf("edges not sorted by client within a server port:\n%s", first)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "empty file"},
		{"other kind", "apiVersion: v1\nkind: Pod\n", "not a recording"},
		{"other version", "apiVersion: cinch.cinchmesh.io/v9\nkind: Recording\n", "not a recording"},
		{"unknown field", "apiVersion: " + APIVersion + "\nkind: Recording\nedges: []\nwindows: []\nsurprise: 1\n", `unknown field "surprise"`},
		{"bad yaml", "apiVersion: [\n", "yaml"},
		{"bad json", "{\n  \"apiVersion\": \"" + APIVersion + "\",\n  \"edges\": [,]\n}\n", "line 3: invalid character ','"},
		{"unknown field in json", "{\"apiVersion\": \"" + APIVersion + "\", \"kind\": \"Recording\",\n \"surprise\": 1}\n", `line 2: unknown field "surprise"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	if BucketIndex(0) != 0 || Bounds[BucketIndex(1)] != 1 {
		t.Errorf("smallest bucket: BucketIndex(0)=%d, bound of 1µs = %d", BucketIndex(0), Bounds[BucketIndex(1)])
	}
	for _, us := range []int64{1, 2, 3, 100, 999, 1000, 1001, 123456, 3_600_000_000} {
		b := Bounds[BucketIndex(us)]
		if b < us || (BucketIndex(us) > 0 && Bounds[BucketIndex(us)-1] >= us) {
			t.Errorf("%dµs lands in bucket with bound %d", us, b)
		}
		if float64(b) > float64(us)*1.25+1 {
			t.Errorf("%dµs bucket bound %d is more than 25%% above it", us, b)
		}
	}
	var h Histogram
	h.Add(FromDense(denseAt(BucketIndex(100), 90), 9000))
	h.Add(FromDense(denseAt(BucketIndex(10000), 10), 100000))
	if q := h.Quantile(0.5); q != Bounds[BucketIndex(100)] {
		t.Errorf("p50 = %d, want %d", q, Bounds[BucketIndex(100)])
	}
	if q := h.Quantile(0.99); q != Bounds[BucketIndex(10000)] {
		t.Errorf("p99 = %d, want %d", q, Bounds[BucketIndex(10000)])
	}
}

// TestMergeMetricsWithTap: metrics give connection-level TCP edges and
// denied counts, tap gives the protocol and routes; merged, the edge keeps
// tap's protocol whatever the order, and denied requests add up.
func TestMergeMetricsWithTap(t *testing.T) {
	tap := sample("tap:ns/s", edge("ns/a", "ns/s", 80, Route{Method: "GET", Path: "/x", Requests: 3}))
	tap.Edges[0].Protocol = ProtocolGRPC
	metrics := sample("prometheus:http://prom", edge("ns/a", "ns/s", 80))
	metrics.Edges[0].Protocol, metrics.Edges[0].Requests, metrics.Edges[0].Denied = ProtocolTCP, 40, 2
	denied := sample("prometheus:http://prom", edge("ns/a", "ns/s", 80))
	denied.Edges[0].Protocol, denied.Edges[0].Requests, denied.Edges[0].Denied = ProtocolTCP, 0, 5
	for name, m := range map[string]*Recording{
		"tap first":     Merge(DefaultLimits, tap, metrics, denied),
		"metrics first": Merge(DefaultLimits, metrics, denied, tap),
	} {
		e := m.Edges[0]
		if e.Protocol != ProtocolGRPC || e.Denied != 7 || e.Requests != 43 || len(e.Routes) != 1 {
			t.Errorf("%s: edge = %+v, want gRPC with 7 denied, 43 requests and tap's route", name, e)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to the recording reader: it must never
// panic, and whatever it accepts must encode and decode back to the same
// bytes (the file is deterministic).
func FuzzDecode(f *testing.F) {
	seed := sample("file:a", edge("ns/a", "ns/s", 80, Route{Method: "GET", Path: "/x", Requests: 3}))
	for _, enc := range []Encoding{YAML, JSON} {
		b, err := Encode(seed, enc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("apiVersion: cinch.cinchmesh.io/v1alpha1\nkind: Recording\nedges: [{client: a, server: b, port: 1}]\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := Decode(in)
		if err != nil {
			return
		}
		once, err := Encode(r, YAML)
		if err != nil {
			t.Fatalf("encode an accepted recording: %v", err)
		}
		again, err := Decode(once)
		if err != nil {
			t.Fatalf("decode what was encoded: %v\n%s", err, once)
		}
		twice, err := Encode(again, YAML)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not stable (%v):\n%s\n---\n%s", err, once, twice)
		}
	})
}
