package replay

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/scenario"
	"github.com/cinchmesh/cinch/fixtures/truth"
	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/recording"
)

// TestShopScenario generates our own scenario in every format and checks the
// recording against its truth: two namespaces, a StatefulSet, gRPC, node
// probes, an external client, an unmeshed client pod and a server that was
// not tapped (its edge is outbound-only). The formats must agree but for
// what the text output cannot carry: decisions and latencies over a second.
func TestShopScenario(t *testing.T) {
	sc, err := scenario.Load("../../fixtures/scenarios/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	events := sc.Events()
	write := func(name string, f func(io.Writer) error) string {
		p := filepath.Join(dir, name)
		out, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f(out); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	clusterFile := write("cluster.yaml", sc.WriteCluster)
	objs, err := cluster.ReadFile(clusterFile)
	if err != nil {
		t.Fatal(err)
	}
	flows := sc.Truth()
	outboundOnly := map[recording.Key]bool{{Client: "payments/payments", Server: "payments/ledger", Port: 8080}: true}

	var (
		want    []byte
		wantRec *recording.Recording
	)
	for _, f := range []struct {
		name  string
		write func(io.Writer, []event.Event) error
	}{{"tap.bin", scenario.WriteRaw}, {"tap.json", scenario.WriteJSON}, {"tap.txt", scenario.WriteText}} {
		t.Run(f.name, func(t *testing.T) {
			p := write(f.name, func(w io.Writer) error { return f.write(w, events) })
			rec, err := Files(context.Background(), []string{p}, Options{Inventory: cluster.NewInventory(objs, cluster.Options{})})
			if err != nil {
				t.Fatal(err)
			}
			truth.Check(t, rec, flows, outboundOnly)
			for _, e := range rec.Edges {
				if (e.Client == "node:node-1" || e.Client == "node:node-2") != allProbes(e) {
					t.Errorf("edge %v: probe marking wrong: %+v", e.Key(), e.Routes)
				}
			}
			for i := range rec.Windows {
				rec.Windows[i].Source, rec.Windows[i].Format = "", ""
			}
			for i := range rec.Edges {
				rec.Edges[i].Decisions = nil
			}
			if f.name == "tap.txt" && wantRec != nil {
				// linkerd's text output drops whole seconds from durations
				// (1.5s prints as 500000µs), so only the count survives.
				for i := range rec.Edges {
					if got, want := rec.Edges[i].Latency.Count, wantRec.Edges[i].Latency.Count; got != want {
						t.Errorf("edge %v latency count = %d, want %d", rec.Edges[i].Key(), got, want)
					}
					rec.Edges[i].Latency = wantRec.Edges[i].Latency
				}
			}
			got, err := recording.Encode(rec, recording.YAML)
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want, wantRec = got, rec
			} else if string(got) != string(want) {
				t.Errorf("%s recording differs from the raw stream's:\n%s", f.name, firstDifference(string(want), string(got)))
			}
		})
	}
}

func allProbes(e recording.Edge) bool {
	for _, r := range e.Routes {
		if !r.Probe {
			return false
		}
	}
	return len(e.Routes) > 0
}
