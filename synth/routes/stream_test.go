package routes

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/fixtures/scenario"
	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/recorder"
	"github.com/cinchmesh/cinch/observe/recording"
)

// The recorder folds paths into templates as they stream by. These tests
// check that route inference from what it keeps gives exactly the
// templates that inference from every raw path gives.

// inferred is what a template says about the paths it admits.
func inferred(ts []Template) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Method+" "+t.Pattern+" "+t.Match+" "+t.Value)
	}
	return out
}

// rawSamples are the raw (method, path) pairs of every request event, by
// "server port", as route inference would see them without the recorder.
func rawSamples(evs []event.Event) map[string][]Sample {
	counts := map[string]map[[2]string]int64{}
	for _, ev := range evs {
		if ev.Kind != event.RequestInit {
			continue
		}
		d := ev.Destination
		k := fmt.Sprintf("%s/%s %d", d.Namespace, cmp.Or(d.Owner, d.Pod), d.Port)
		if counts[k] == nil {
			counts[k] = map[[2]string]int64{}
		}
		path, _, _ := strings.Cut(string(ev.Path), "?")
		counts[k][[2]string{ev.Method, path}]++
	}
	out := map[string][]Sample{}
	for k, m := range counts {
		for mp, n := range m {
			out[k] = append(out[k], Sample{Method: mp[0], Path: mp[1], Requests: n})
		}
		slices.SortFunc(out[k], func(a, b Sample) int { return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method)) })
	}
	return out
}

// streamedSamples are the recording's routes by "server port", and which
// ports are gRPC.
func streamedSamples(rec *recording.Recording) (map[string][]Sample, map[string]bool) {
	out, grpc := map[string][]Sample{}, map[string]bool{}
	for _, e := range rec.Edges {
		k := fmt.Sprintf("%s %d", e.Server, e.Port)
		grpc[k] = grpc[k] || e.Protocol == recording.ProtocolGRPC
		for _, r := range e.Routes {
			out[k] = append(out[k], Sample{Method: r.Method, Path: r.Path, Requests: r.Requests, Template: r.Template, Params: r.Params})
		}
		if e.RoutesOverflow > 0 {
			out[k] = nil // marks the port: a request without a route
		}
	}
	return out, grpc
}

// sameInference checks the streamed state against the raw paths of evs,
// both inferred with opts.
func sameInference(t *testing.T, name string, evs []event.Event, rec *recording.Recording, opts Options) {
	t.Helper()
	raw := rawSamples(evs)
	streamed, grpc := streamedSamples(rec)
	for k, samples := range raw {
		st, ok := streamed[k]
		if !ok {
			t.Errorf("%s: %s has raw paths but nothing recorded", name, k)
			continue
		}
		if st == nil {
			t.Errorf("%s: %s: requests without a route", name, k)
			continue
		}
		a, b := inferred(Infer(st, opts, grpc[k])), inferred(Infer(samples, opts, grpc[k]))
		if !slices.Equal(a, b) {
			t.Errorf("%s: %s: from the recorder's templates\n  %q\nfrom every raw path\n  %q", name, k, a, b)
		}
	}
}

func record(t *testing.T, evs []event.Event, limits recording.Limits) *recording.Recording {
	t.Helper()
	r := recorder.New(recorder.Options{Limits: limits})
	r.BeginWindow(recording.Window{Source: "test"})
	for i := range evs {
		r.Add(&evs[i])
	}
	r.EndWindow(nil, nil)
	return r.Recording()
}

// TestStreamedTemplatesEqualRawOnEveryScenario records every scenario and
// compares inference from the recording with inference from its raw
// paths.
func TestStreamedTemplatesEqualRawOnEveryScenario(t *testing.T) {
	for _, name := range recorded.Scenarios(t) {
		evs := recorded.Load(t, name).Events()
		rec := record(t, evs, recording.DefaultLimits)
		for _, hexMin := range []int{8, 12, 16} {
			opts := DefaultOptions()
			opts.HexMinLength = hexMin
			sameInference(t, fmt.Sprintf("%s (--route-hex-min-length %d)", name, hexMin), evs, rec, opts)
		}
	}
}

// idRoutes are route templates of id-bearing REST traffic, for the
// property test: typed ids of every kind, with literal text around them.
var idRoutes = []string{
	"/users/{int}", "/users/{int}/orders/{uuid}", "/orders/ORD-{int}", "/orders/ORD-{int}/items",
	"/invoices/INV-{int}-{int}.pdf", "/reports/report-{date}.pdf", "/exports/{int}.json",
	"/people/{email}", "/people/{email}/keys", "/blobs/{hex}", "/entries/{uuid}.json",
	"/assets/chunk-{hex:8}.js", "/assets/styles.{hex:8}.css", "/customers/cus_{alnum:10}",
	"/v2/items/{int}/tags/{int}", "/days/{date}", "/files/f{int}.txt", "/", "/health", "/api/list",
}

// TestStreamedTemplatesEqualRawProperty: random id-bearing traffic (a
// random subset of idRoutes, random methods, hundreds of distinct ids,
// sometimes a route limit so small that the recorder must fold) infers
// the same templates from the recorder's state as from every raw path.
func TestStreamedTemplatesEqualRawProperty(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 42))
		var flows strings.Builder
		for _, route := range idRoutes {
			if rng.IntN(3) == 0 {
				continue
			}
			method := []string{"GET", "POST", "DELETE"}[rng.IntN(3)]
			fmt.Fprintf(&flows, "- {from: demo/client, to: demo/server, port: 8080, method: %s, route: %q, requests: %d}\n", method, route, 1+rng.IntN(300))
		}
		if flows.Len() == 0 {
			continue
		}
		sc, err := scenario.Parse(fmt.Sprintf("seed %d", seed), []byte(fmt.Sprintf(`name: prop
seed: %d
workloads:
- {namespace: demo, kind: Deployment, name: client, meshed: true, pods: [10.42.0.10]}
- {namespace: demo, kind: Deployment, name: server, meshed: true, pods: [10.42.0.20], ports: [{port: 8080}]}
flows:
%s`, seed, flows.String())))
		if err != nil {
			t.Fatal(err)
		}
		evs := sc.Events()
		limits := recording.DefaultLimits
		if seed%3 == 0 {
			limits.MaxPathsPerEdge = 200
		}
		opts := DefaultOptions()
		opts.HexMinLength = []int{4, 8, 12, 16, 24}[seed%5]
		sameInference(t, fmt.Sprintf("seed %d (limit %d, --route-hex-min-length %d)", seed, limits.MaxPathsPerEdge, opts.HexMinLength), evs, record(t, evs, limits), opts)
	}
}
