package replay

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/truth"
	fixtures "github.com/cinchmesh/cinch/fixtures/upstream"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
)

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
				truth.Check(t, record(t, app, ext), truth.ReadFile(t, fixtures.Path(t, app+".truth.yaml")), nil)
			})
		}
	}
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
