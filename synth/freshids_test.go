package synth

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/fixtures/scenario"
	"github.com/cinchmesh/cinch/observe/recording"
)

// freshPerFlow is how many fresh requests each flow with typed ids gets.
const freshPerFlow = 25

// TestRouteLevelFreshIDs judges route-level policy in enforce mode the way
// its users meet it: on requests it never saw. For every scenario with
// typed ids, fresh requests are drawn from each flow's route template with
// ids the recording does not hold, and each must be admitted (recall
// 100%). Near-misses of each are drawn too, and each must be denied
// (precision at least 99%): the same path from a client that does not use
// the route, with a method the route was not seen with, with one id
// broken so that it is not of its type, and with an extra segment.
// fixtures/judge decides, request by request, over the YAML stream users
// apply: it shares no code with synth and its evaluator, and the evaluator
// must agree with it on every request.
func TestRouteLevelFreshIDs(t *testing.T) {
	tested := 0
	for _, name := range recorded.Scenarios(t) {
		sc := recorded.Load(t, name)
		if !slices.ContainsFunc(sc.Flows, typedFlow) {
			continue
		}
		tested++
		t.Run(name, func(t *testing.T) {
			rec := recorded.Scenario(t, name)
			opts := options(LevelRoute)
			opts.Mode = ModeEnforce
			c := synthesizeChecked(t, name, rec, opts)
			var cluster bytes.Buffer
			if err := sc.WriteCluster(&cluster); err != nil {
				t.Fatal(err)
			}
			rf := newReferee(t, c.res, clusterPods(t, cluster.Bytes()))
			fresh, nearMisses := freshRequests(t, sc, rec)
			for _, r := range fresh {
				if !c.judge(t, rf, r.request, "fresh") {
					t.Errorf("recall: fresh %s %s from %s to %s:%d (route %s) is denied", r.method, r.path, r.client, r.server, r.port, r.route)
				}
			}
			denied := 0
			for _, r := range nearMisses {
				if c.judge(t, rf, r.request, "near-miss ("+r.why+")") {
					t.Logf("precision: near-miss (%s) %s %s from %s to %s:%d is admitted", r.why, r.method, r.path, r.client, r.server, r.port)
					continue
				}
				denied++
			}
			precision := float64(denied) / float64(len(nearMisses))
			t.Logf("%s: %d fresh requests, all admitted; %d of %d near-misses denied (precision %.4f); the judge and the evaluator agree on %d of %d",
				name, len(fresh), denied, len(nearMisses), precision, len(fresh)+len(nearMisses)-rf.disagreements, len(fresh)+len(nearMisses))
			if precision < 0.99 {
				t.Errorf("precision %.4f, want at least 0.99", precision)
			}
			if len(fresh) == 0 || len(nearMisses) < 3*len(fresh) {
				t.Errorf("%d fresh requests, %d near-misses: want a real sample", len(fresh), len(nearMisses))
			}
		})
	}
	if tested < 2 {
		t.Errorf("%d scenarios with typed ids, want the shop and rest scenarios at least", tested)
	}
}

func typedFlow(f scenario.Flow) bool {
	return strings.Contains(f.Route, "{") && !strings.HasPrefix(f.From, "node:")
}

// judged is a request with where it came from.
type judged struct {
	request
	route, why string
}

// freshRequests draws the fresh requests and near-misses of every typed
// flow of sc.
func freshRequests(t *testing.T, sc *scenario.Scenario, rec *recording.Recording) (fresh, nearMisses []judged) {
	t.Helper()
	rng := rand.New(rand.NewPCG(sc.Seed, 16))
	seen := map[string]bool{}
	for _, e := range rec.Edges {
		for _, r := range e.Routes {
			seen[fmt.Sprintf("%s:%d %s", e.Server, e.Port, r.Path)] = true
		}
	}
	identities := map[recording.PeerID]string{}
	for _, w := range rec.Workloads {
		identities[w.ID] = w.Identity
	}
	sources := map[recording.Key][]netip.Addr{}
	for _, e := range rec.Edges {
		for _, s := range e.SourceIPs {
			sources[e.Key()] = append(sources[e.Key()], netip.MustParseAddr(s.IP))
		}
	}
	method := func(f scenario.Flow) string {
		if f.Method == "" {
			return "GET"
		}
		return f.Method
	}
	// uses says whether client calls server:port with method on route.
	uses := func(client string, to string, port int32, m, route string) bool {
		return slices.ContainsFunc(sc.Flows, func(o scenario.Flow) bool {
			return o.From == client && o.To == to && o.Port == port && method(o) == m && o.Route == route
		})
	}
	for _, f := range sc.Flows {
		if !typedFlow(f) {
			continue
		}
		server, port := recording.PeerID(f.To), uint32(f.Port)
		base := request{client: recording.PeerID(f.From), server: server, port: port, method: method(f)}
		if ip, ok := strings.CutPrefix(f.From, "ip:"); ok {
			base.ip = netip.MustParseAddr(ip)
		} else if id := identities[base.client]; id != "" {
			base.identity = id
		} else if ips := sources[recording.Key{Client: base.client, Server: server, Port: port}]; len(ips) > 0 {
			base.ip = ips[0]
		} else {
			t.Fatalf("flow %s -> %s %s: the recording knows no identity or address of the client", f.From, f.To, f.Route)
		}
		for range freshPerFlow {
			var path string
			for tries := 0; ; tries++ {
				p, err := scenario.ExpandRoute(f.Route, rng)
				if err != nil {
					t.Fatal(err)
				}
				if !seen[fmt.Sprintf("%s:%d %s", server, port, p)] {
					path = p
					break
				}
				if tries > 1000 {
					t.Fatalf("route %s: no fresh path in 1000 draws", f.Route)
				}
			}
			r := base
			r.path = path
			fresh = append(fresh, judged{r, f.Route, "fresh"})

			for id, identity := range identities {
				if identity != "" && id != base.client && !uses(string(id), f.To, f.Port, method(f), f.Route) {
					o := r
					o.client, o.identity, o.ip = id, identity, netip.Addr{}
					nearMisses = append(nearMisses, judged{o, f.Route, "another client"})
				}
			}
			for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
				if !uses(f.From, f.To, f.Port, m, f.Route) {
					o := r
					o.method = m
					nearMisses = append(nearMisses, judged{o, f.Route, "another method"})
					break
				}
			}
			broken, ok, err := scenario.BreakRoute(f.Route, rng)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				o := r
				o.path = broken
				nearMisses = append(nearMisses, judged{o, f.Route, "an id of the wrong type"})
			}
			o := r
			o.path += "/extra"
			nearMisses = append(nearMisses, judged{o, f.Route, "an extra segment"})
		}
	}
	return fresh, nearMisses
}
