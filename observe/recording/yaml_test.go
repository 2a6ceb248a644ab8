package recording

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestYAMLMatchesOneDocument: writing the top-level lists element by
// element gives the bytes yaml.JSONToYAML gives for the whole document, on
// random recordings and on values the emitter folds, quotes or breaks.
func TestYAMLMatchesOneDocument(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []*Recording
	for i := range 50 {
		recs = append(recs, randomRecording(rng, i))
	}
	odd := sample("file:odd", edge("ns/b", "ns/s", 80,
		Route{Method: "GET", Path: "/" + strings.Repeat("long-segment/", 12), Requests: 1},
		Route{Method: "GET", Path: "/q: x #y", Requests: 2},
		Route{Method: "GET", Path: "/multi\nline\ttab", Requests: 1},
		Route{Method: "GET", Path: "/" + strings.Repeat("word ", 40), Requests: 1}))
	odd.Workloads = []Workload{{ID: "ns/s", Namespace: "ns", Kind: "Deployment", Name: "s",
		Labels: map[string]string{"long": strings.Repeat("word ", 30), "yes": "no", "num": "012", "empty": "", "cinch-yaml-splice-edges": "edges"}}}
	recs = append(recs, odd, New())
	var docs [][]byte
	for _, r := range recs {
		r.Normalize()
		js, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, js)
	}
	// Keys the emitter quotes ("y" is a YAML 1.1 boolean) are not found
	// by their placeholder; the one document is rendered instead.
	docs = append(docs, []byte(`{"y": [{"a": 1}], "edges": [{"b": 2}, {"c": "y"}], "n": []}`))
	for i, js := range docs {
		want, err := yaml.JSONToYAML(js)
		if err != nil {
			t.Fatal(err)
		}
		got, err := toYAML(js)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
			for n := range min(len(g), len(w)) {
				if g[n] != w[n] {
					t.Fatalf("recording %d, line %d: %q, want %q", i, n+1, g[n], w[n])
				}
			}
			t.Fatalf("recording %d: %d lines, want %d", i, len(g), len(w))
		}
	}
}
