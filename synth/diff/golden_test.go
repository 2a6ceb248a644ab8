package diff

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// goldenRecording is a shop recorded under the default policy: web
// reading and writing api (and 5 requests whose paths were not kept),
// batch deleting an item, an unmeshed client and the kubelet calling web,
// api's connections to db, and web calling an unmeshed legacy service.
func goldenRecording() *recording.Recording {
	live := func(e recording.Edge, route, authz string) recording.Edge {
		e.Decisions = []recording.Decision{{Server: "default/all-unauthenticated", Route: route, Authz: authz, Requests: e.Requests}}
		return e
	}
	webAPI := mtls("shop/web", "shop/api", 8080, get("/v1/items/1", 3), get("/v1/items/2", 2),
		recording.Route{Method: "POST", Path: "/v1/orders", Requests: 4})
	webAPI.Requests, webAPI.RoutesOverflow, webAPI.TLS["true"] = 14, 5, 14
	client := plain("ip:192.0.2.7", "shop/web", 8080, "192.0.2.7", get("/search?q=a|b", 6), get("/", 1))
	kubelet := plain("node:node-1", "shop/web", 8080, "10.0.0.1", get("/ready", 4))
	kubelet.Routes[0].Probe = true
	rec := newRecording(workloads,
		live(webAPI, "default/default", "default/all-unauthenticated"),
		live(mtls("jobs/batch", "shop/api", 8080, recording.Route{Method: "DELETE", Path: "/v1/items/3", Requests: 2}),
			"default/default", "default/all-unauthenticated"),
		live(client, "default/default", "default/all-unauthenticated"),
		live(kubelet, "default/probe", "default/probe"),
		recording.Edge{Client: "shop/api", Server: "shop/db", Port: 5432, Protocol: recording.ProtocolTCP, Requests: 30,
			TLS: map[string]int64{"true": 30}},
		mtls("shop/web", "shop/legacy", 8080, get("/", 2)),
	)
	rec.Peers = []recording.Peer{{ID: "node:node-1", Kind: recording.PeerNode, IPs: []string{"10.0.0.1"}}}
	return rec
}

func TestGolden(t *testing.T) {
	set, err := policy.ReadPaths([]string{filepath.Join("testdata", "golden.policy.yaml")}, policy.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := evaluate(t, goldenRecording(), set, Options{LiveCheck: true})
	for format, ext := range map[string]string{"table": "txt", "json": "json", "markdown": "md"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			if err := Formats[format](&out, rep); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden."+ext)
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s output differs from %s (run go test -update to accept it):\n%s", format, golden, out.Bytes())
			}
		})
	}
}

// The same inputs give the same bytes, whatever the order of map
// iteration inside.
func TestDeterministic(t *testing.T) {
	set, err := policy.ReadPaths([]string{filepath.Join("testdata", "golden.policy.yaml")}, policy.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var first []byte
	for i := range 20 {
		var out bytes.Buffer
		if err := JSON(&out, evaluate(t, goldenRecording(), set, Options{LiveCheck: true})); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = out.Bytes()
		} else if !bytes.Equal(out.Bytes(), first) {
			t.Fatalf("run %d differs from the first:\n%s\nfirst:\n%s", i, out.Bytes(), first)
		}
	}
}
