package gitops

import (
	"strings"
	"testing"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/routes"
)

// TestBodyListsDefaultDeny: the pull request says which namespaces default
// deny closes and who may still scrape and probe the proxies there.
func TestBodyListsDefaultDeny(t *testing.T) {
	rec := tinyRecording(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	for _, disabled := range []bool{false, true} {
		opts := synth.Options{Level: synth.LevelServiceAccount, Mode: synth.ModeEnforce, RouteAPI: synth.RouteAPIGateway, Routes: routes.DefaultOptions(), DefaultDeny: true}
		opts.Scrapes.Disabled = disabled
		body := synthBody(t, rec, opts)
		for _, want := range map[bool][]string{
			false: {"### Default deny", "closed to everything no authorization admits", ": shop.", "| shop | proxy-admin | sa linkerd-viz/prometheus |"},
			true:  {"### Default deny", "gets no policy (`--allow-scrapes=false`)"},
		}[disabled] {
			if !strings.Contains(body, want) {
				t.Errorf("scrapes disabled %v: the body lacks %q:\n%s", disabled, want, body)
			}
		}
	}
}

// TestBodyCountsObjects: the pull request counts the objects per namespace
// and kind, and in total.
func TestBodyCountsObjects(t *testing.T) {
	rec := tinyRecording(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	opts := synth.Options{Level: synth.LevelServiceAccount, Mode: synth.ModeAudit, RouteAPI: synth.RouteAPIGateway, Routes: routes.DefaultOptions()}
	body := synthBody(t, rec, opts)
	want := "### Objects\n\n3 objects for Linkerd's policy controller to index.\n\n| namespace | AuthorizationPolicy | MeshTLSAuthentication | Server |\n|---|---:|---:|---:|\n| shop | 1 | 1 | 1 |\n| **total** | 1 | 1 | 1 |\n"
	if !strings.Contains(body, want) {
		t.Errorf("the body lacks the object counts %q:\n%s", want, body)
	}
}

// synthBody synthesizes rec with opts, applies it to an empty directory and
// returns the pull request description.
func synthBody(t *testing.T, rec *recording.Recording, opts synth.Options) string {
	t.Helper()
	res, err := synth.Synthesize(rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Apply(t.TempDir(), rec, res, false)
	if err != nil {
		t.Fatal(err)
	}
	body, err := Body(Describe{Level: opts.Level, Mode: opts.Mode, Path: "policy"}, rec, res, c)
	if err != nil {
		t.Fatal(err)
	}
	return body
}
