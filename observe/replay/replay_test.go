package replay

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	fixtures "github.com/cinchmesh/cinch/fixtures/upstream"

	"sigs.k8s.io/yaml"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
)

type truthFlow struct {
	From     recording.PeerID `json:"from"`
	To       recording.PeerID `json:"to"`
	Port     uint32           `json:"port"`
	Method   string           `json:"method"`
	Route    string           `json:"route"`
	Requests int64            `json:"requests"`
}

func readTruth(t *testing.T, path string) []truthFlow {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var truth struct {
		Flows []truthFlow `json:"flows"`
	}
	if err := yaml.UnmarshalStrict(data, &truth); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return truth.Flows
}

// templateRegexp turns a truth route template ("/books/{int}.json") into an
// anchored regular expression.
func templateRegexp(tmpl string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for rest := tmpl; rest != ""; {
		i := strings.Index(rest, "{")
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		j := strings.Index(rest[i:], "}")
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		b.WriteString("[^/]+?")
		rest = rest[i+j+1:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func record(t *testing.T, app, ext string) *recording.Recording {
	t.Helper()
	objs, err := cluster.ReadFile(fixtures.Path(t, app+".cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Files(context.Background(), []string{fixtures.Path(t, app+".tap."+ext+".gz")}, Options{
		Inventory: cluster.NewInventory(objs, cluster.Options{}),
		Limits:    recording.DefaultLimits,
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestUpstreamMatchesTruth records each upstream stream in each format and
// checks every edge and every (edge, method, route template) count against
// the ground truth of the traffic that was generated.
func TestUpstreamMatchesTruth(t *testing.T) {
	for _, app := range []string{"emojivoto", "booksapp"} {
		for _, ext := range []string{"bin", "json", "txt"} {
			t.Run(app+"/"+ext, func(t *testing.T) {
				checkTruth(t, record(t, app, ext), readTruth(t, fixtures.Path(t, app+".truth.yaml")), nil)
			})
		}
	}
}

// checkTruth compares rec's edges and routes with the truth flows.
// outboundOnly names the edges expected to be seen only by clients.
func checkTruth(t *testing.T, rec *recording.Recording, flows []truthFlow, outboundOnly map[recording.Key]bool) {
	t.Helper()
	wantEdges := map[recording.Key]int64{}
	for _, f := range flows {
		wantEdges[recording.Key{Client: f.From, Server: f.To, Port: f.Port}] += f.Requests
	}
	gotEdges := map[recording.Key]int64{}
	for _, e := range rec.Edges {
		gotEdges[e.Key()] = e.Requests
		if e.OutboundOnly != outboundOnly[e.Key()] {
			t.Errorf("edge %v outboundOnly = %v, want %v", e.Key(), e.OutboundOnly, outboundOnly[e.Key()])
		}
		if e.RoutesOverflow != 0 {
			t.Errorf("edge %v overflowed its route limit by %d", e.Key(), e.RoutesOverflow)
		}
	}
	if diff := diffCounts(wantEdges, gotEdges); diff != "" {
		t.Errorf("edge request counts (-want +got):\n%s", diff)
	}

	type routeKey struct {
		edge          recording.Key
		method, route string
	}
	wantRoutes := map[routeKey]int64{}
	gotRoutes := map[routeKey]int64{}
	for _, f := range flows {
		wantRoutes[routeKey{recording.Key{Client: f.From, Server: f.To, Port: f.Port}, f.Method, f.Route}] += f.Requests
	}
	for _, e := range rec.Edges {
		for _, r := range e.Routes {
			matched := ""
			for _, f := range flows {
				if f.From == e.Client && f.To == e.Server && f.Port == e.Port && f.Method == r.Method && templateRegexp(f.Route).MatchString(r.Path) {
					matched = f.Route
					break
				}
			}
			if matched == "" {
				t.Errorf("edge %v: observed %s %s matches no truth route", e.Key(), r.Method, r.Path)
				continue
			}
			gotRoutes[routeKey{e.Key(), r.Method, matched}] += r.Requests
		}
	}
	if diff := diffCounts(wantRoutes, gotRoutes); diff != "" {
		t.Errorf("route request counts (-want +got):\n%s", diff)
	}
}

func diffCounts[K comparable](want, got map[K]int64) string {
	var b strings.Builder
	for k, w := range want {
		if g := got[k]; g != w {
			fmt.Fprintf(&b, "-%v: %d\n+%v: %d\n", k, w, k, g)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "+%v: %d (not in truth)\n", k, g)
		}
	}
	return b.String()
}

// TestFormatsAgree checks that the raw stream, the JSON output and the text
// output of the same tap session give byte-identical recordings, but for
// the window's own description of its source and, for text, the live
// policy decisions, which the text output does not print.
func TestFormatsAgree(t *testing.T) {
	for _, app := range []string{"emojivoto", "booksapp"} {
		t.Run(app, func(t *testing.T) {
			var want []byte
			for _, ext := range []string{"bin", "json", "txt"} {
				rec := record(t, app, ext)
				for i := range rec.Windows {
					rec.Windows[i].Source, rec.Windows[i].Format = "", ""
				}
				if ext == "txt" {
					if len(want) == 0 {
						t.Fatal("text must come after a format with decisions")
					}
					wantRec, err := recording.Decode(want)
					if err != nil {
						t.Fatal(err)
					}
					for i := range rec.Edges {
						rec.Edges[i].Decisions = wantRec.Edges[i].Decisions
					}
				}
				got, err := recording.Encode(rec, recording.YAML)
				if err != nil {
					t.Fatal(err)
				}
				if want == nil {
					want = got
					continue
				}
				if string(got) != string(want) {
					t.Errorf("%s recording differs from the raw stream's:\n%s", ext, firstDifference(string(want), string(got)))
				}
			}
		})
	}
}

func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n-%s\n+%s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d vs %d lines", len(al), len(bl))
}
