package recording

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// randomRecording is a recording of one window over a small universe of
// workloads, peers, paths and addresses, so that random recordings share
// edges, routes and workloads, and disagree on what they know of them.
func randomRecording(rng *rand.Rand, window int) *Recording {
	r := New()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(window) * time.Hour)
	end := start.Add(time.Hour)
	r.Windows = []Window{{Source: fmt.Sprintf("file:w%d", window), Start: &start, End: &end,
		Sampling: Sampling{Sampled: true}, Events: rng.Int64N(1000), Requests: rng.Int64N(1000)}}
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	for i := range 3 {
		if rng.IntN(2) == 0 {
			continue
		}
		w := Workload{ID: PeerID(fmt.Sprintf("ns/w%d", i)), Namespace: "ns", Kind: "Deployment", Name: fmt.Sprintf("w%d", i),
			ServiceAccount: pick("", "sa", "other"), Meshed: rng.IntN(2) == 0, DefaultInboundPolicy: pick("", "deny", "all-authenticated"),
			Ports: []ContainerPort{{Port: int32(8080 + rng.IntN(2)), Protocol: "TCP"}}, Services: []string{pick("a", "b")}}
		if rng.IntN(2) == 0 {
			w.Labels = map[string]string{"app": pick("x", "y")}
		}
		r.Workloads = append(r.Workloads, w)
	}
	r.Peers = []Peer{{ID: "node:n1", Kind: PeerNode, IPs: []string{pick("10.0.0.1", "10.0.0.2")}}}
	for range 1 + rng.IntN(4) {
		e := Edge{Client: PeerID(pick("ns/w0", "ns/w1", "node:n1")), Server: PeerID(pick("ns/w1", "ns/w2")), Port: uint32(8080 + rng.IntN(2)),
			Protocol: Protocol(pick(string(ProtocolHTTP), string(ProtocolGRPC), string(ProtocolTCP))), Denied: rng.Int64N(3),
			OutboundOnly: rng.IntN(2) == 0, Resets: rng.Int64N(2)}
		for range rng.IntN(4) {
			rt := Route{Method: pick("GET", "POST"), Path: pick("/a", "/b", "/c/1", "/c/2"), Requests: 1 + rng.Int64N(5), Probe: rng.IntN(4) == 0}
			e.Routes = append(e.Routes, rt)
			e.Requests += rt.Requests
		}
		e.RoutesOverflow = rng.Int64N(3)
		e.Requests += e.RoutesOverflow
		if e.Requests > 0 {
			e.TLS = map[string]int64{pick("true", "no_identity"): e.Requests}
			e.Status = map[string]int64{pick("200", "503"): e.Requests}
			e.Decisions = []Decision{{Server: pick("default/all-unauthenticated", "server/web"), Requests: e.Requests}}
			e.SourceIPs = []SourceIP{{IP: pick("10.1.0.1", "10.1.0.2", "10.1.0.3"), Requests: e.Requests}}
			e.Latency = FromDense(denseAt(BucketIndex(int64(100+rng.IntN(5000))), e.Requests), 0)
		}
		seen := start.Add(time.Duration(rng.IntN(60)) * time.Minute)
		e.FirstSeen, e.LastSeen = &seen, &seen
		r.Edges = append(r.Edges, e)
	}
	// Edges are unique by key within one recording.
	return Merge(Limits{}, r)
}

// TestMergeProperties checks, on random recordings, that merging is
// associative and commutative (the merged file is byte for byte the same
// in any order and grouping), that merging a recording with nothing
// changes nothing, and that with limits that cut, every edge still
// accounts for all its requests: routes plus overflow.
func TestMergeProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	none := Limits{}
	tight := Limits{MaxPathsPerEdge: 2, MaxSourceIPsPerEdge: 1}
	for i := range 300 {
		a, b, c := randomRecording(rng, 3*i), randomRecording(rng, 3*i+1), randomRecording(rng, 3*i+2)
		want := encode(t, Merge(none, Merge(none, a, b), c))
		for name, got := range map[string]*Recording{
			"a(bc)": Merge(none, a, Merge(none, b, c)),
			"cba":   Merge(none, c, b, a),
			"(ca)b": Merge(none, Merge(none, c, a), b),
			"bac":   Merge(none, b, a, c),
		} {
			if g := encode(t, got); g != want {
				t.Fatalf("case %d: %s differs from (ab)c:\n%s\nwant:\n%s", i, name, g, want)
			}
		}
		if g, w := encode(t, Merge(none, a)), encode(t, a); g != w {
			t.Fatalf("case %d: merging one recording changes it:\n%s\nwant:\n%s", i, g, w)
		}
		for _, m := range []*Recording{Merge(tight, Merge(tight, a, b), c), Merge(tight, c, Merge(tight, b, a))} {
			for _, e := range m.Edges {
				var routed int64
				for _, r := range e.Routes {
					routed += r.Requests
				}
				if routed+e.RoutesOverflow > e.Requests || len(e.SourceIPs) > 1 {
					t.Fatalf("case %d: %s -> %s: %d routed + %d overflow of %d requests, %d addresses", i, e.Client, e.Server, routed, e.RoutesOverflow, e.Requests, len(e.SourceIPs))
				}
			}
		}
	}
}
