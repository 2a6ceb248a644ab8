package gitops

import (
	"testing"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/routes"
)

func tinyRecording(first time.Time) *recording.Recording {
	last := first.Add(time.Hour)
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "tap:ns/shop", Start: &first, End: &last}}
	rec.Workloads = []recording.Workload{
		{ID: "shop/web", Namespace: "shop", Kind: "Deployment", Name: "web", ServiceAccount: "web", Meshed: true, Identity: "web.shop.serviceaccount.identity.linkerd.cluster.local", Labels: map[string]string{"app": "web"}},
		{ID: "shop/api", Namespace: "shop", Kind: "Deployment", Name: "api", ServiceAccount: "api", Meshed: true, Identity: "api.shop.serviceaccount.identity.linkerd.cluster.local", Labels: map[string]string{"app": "api"}},
	}
	rec.Edges = []recording.Edge{{Client: "shop/web", Server: "shop/api", Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 3,
		TLS: map[string]int64{"true": 3}, FirstSeen: &first, LastSeen: &last, Routes: []recording.Route{{Method: "GET", Path: "/items", Requests: 3}}}}
	return rec
}

// TestNewWindowSameEvidenceChangesNothing: a window recorded later with
// the same clients and routes gives other "observed" times, but the
// objects' content is the same, so nothing is rewritten.
func TestNewWindowSameEvidenceChangesNothing(t *testing.T) {
	dir := t.TempDir()
	opts := synth.Options{Level: synth.LevelServiceAccount, Mode: synth.ModeAudit, RouteAPI: synth.RouteAPIGateway, Routes: routes.DefaultOptions()}
	res, err := synth.Synthesize(tinyRecording(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)), opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Apply(dir, tinyRecording(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)), res, false)
	if err != nil {
		t.Fatal(err)
	}
	if added, _, _ := c.Count(); added == 0 || len(c.Written) == 0 {
		t.Fatalf("first apply: %+v, want objects added and files written", c)
	}
	res, err = synth.Synthesize(tinyRecording(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)), opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err = Apply(dir, tinyRecording(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)), res, false)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Empty() {
		t.Errorf("a later window with the same evidence changed %+v", c)
	}
}
