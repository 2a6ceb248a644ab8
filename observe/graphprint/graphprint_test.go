package graphprint

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
)

func meshOf(namespaces, perNamespace int) *recording.Recording {
	r := recording.New()
	for n := range namespaces {
		for i := range perNamespace {
			id := recording.PeerID(fmt.Sprintf("ns%d/w%d", n, i))
			r.Workloads = append(r.Workloads, recording.Workload{ID: id, Namespace: fmt.Sprintf("ns%d", n), Name: fmt.Sprintf("w%d", i)})
			if i > 0 {
				r.Edges = append(r.Edges, recording.Edge{Client: recording.PeerID(fmt.Sprintf("ns%d/w%d", n, i-1)), Server: id, Port: 80, Protocol: recording.ProtocolHTTP, Requests: 1})
			}
		}
	}
	// A cycle and an outside client.
	r.Edges = append(r.Edges,
		recording.Edge{Client: "ns0/w1", Server: "ns0/w0", Port: 81, Protocol: recording.ProtocolHTTP, Requests: 2},
		recording.Edge{Client: "ip:192.0.2.1", Server: "ns0/w0", Port: 80, Protocol: recording.ProtocolHTTP, Requests: 3})
	r.Peers = append(r.Peers, recording.Peer{ID: "ip:192.0.2.1", Kind: recording.PeerExternal})
	r.Normalize()
	return r
}

func TestMermaidMarksAndGroups(t *testing.T) {
	small := meshOf(1, 3)
	marks := map[recording.Key]string{
		{Client: "ns0/w0", Server: "ns0/w1", Port: 80}:       MarkAdmitted,
		{Client: "ip:192.0.2.1", Server: "ns0/w0", Port: 80}: MarkDenied,
	}
	var b bytes.Buffer
	if err := MermaidMarked(&b, small, marks); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Count(out, "linkStyle") != 2 || !strings.Contains(out, "stroke:#c62828,stroke-dasharray") || strings.Contains(out, "subgraph") {
		t.Errorf("small marked graph:\n%s", out)
	}
	b.Reset()
	if err := MermaidMarked(&b, meshOf(3, 5), nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(b.String(), "subgraph"); got != 3 || strings.Contains(b.String(), "linkStyle") {
		t.Errorf("a 16-peer graph has %d namespace groups, want 3 and no styles:\n%s", got, b.String())
	}
}

func TestSVGLayersAndIsDeterministic(t *testing.T) {
	r := meshOf(2, 3)
	marks := map[recording.Key]string{{Client: "ns1/w0", Server: "ns1/w1", Port: 80}: MarkRestricted}
	var a, b bytes.Buffer
	if err := SVG(&a, r, marks); err != nil {
		t.Fatal(err)
	}
	SVG(&b, r, marks)
	if a.String() != b.String() {
		t.Errorf("two renderings differ")
	}
	s := a.String()
	if !strings.HasPrefix(s, "<svg ") || !strings.Contains(s, `class="edge restricted"`) || strings.Count(s, "<path class=") != len(r.Edges) || strings.Count(s, "<rect") != len(r.PeerIDs()) {
		t.Errorf("svg lacks edges, nodes or marks:\n%s", s)
	}
	// ns1/w2 is called by ns1/w1, which is called by ns1/w0: three layers.
	if !strings.Contains(s, `<rect x="620"`) {
		t.Errorf("want a third layer at x=620:\n%s", s)
	}
}

// TestResetsAreShown: streams reset before a response end are in the
// table's notes and the JSON view.
func TestResetsAreShown(t *testing.T) {
	r := meshOf(1, 2)
	r.Edges[0].Resets = 4
	var table, js bytes.Buffer
	if err := Table(&table, r); err != nil {
		t.Fatal(err)
	}
	if err := JSON(&js, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "4 streams reset before a response end") {
		t.Errorf("table does not show the resets:\n%s", table.String())
	}
	if !strings.Contains(js.String(), `"resets": 4`) {
		t.Errorf("JSON view does not show the resets:\n%s", js.String())
	}
}
