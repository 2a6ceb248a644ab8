package synth

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/intents"
)

const batchIntents = `apiVersion: cinch.cinchmesh.io/v1alpha1
kind: Intents
intents:
- client: {workload: batch/weekly-report}
  server: batch/api
  port: 8080
  routes:
  - method: GET
    path: /reports/{date}
  reason: weekly report, Sundays 03:00
- client: {serviceAccount: batch/restore}
  server: batch/api
  port: 8080
  reason: restore drill
- client: {network: 10.20.0.0/24}
  server: batch/api
  port: 8080
  routes:
  - {method: POST, path: /jobs}
  reason: nightly import
`

// TestDeclaredIntentsAreGrantedAndMarked: every level grants what the
// intents declare (the route level only the declared routes), as the
// evaluator decides over the written policy, and marks the objects.
func TestDeclaredIntentsAreGrantedAndMarked(t *testing.T) {
	f, err := intents.Parse([]byte(batchIntents))
	if err != nil {
		t.Fatal(err)
	}
	rec := recorded.Scenario(t, "batch")
	const td = ".serviceaccount.identity.linkerd.cluster.local"
	reporter, restore, worker := "reporter.batch"+td, "restore.batch"+td, "worker.batch"+td
	importer := netip.MustParseAddr("10.20.0.9")
	for _, level := range Levels {
		t.Run(string(level), func(t *testing.T) {
			opts := options(level)
			opts.Mode, opts.Intents, opts.Candidates = ModeEnforce, f.Intents, batchCandidates(t)
			res, err := Synthesize(rec, opts)
			if err != nil {
				t.Fatal(err)
			}
			ev := readBack(t, rec, res)
			route := level == LevelRoute
			for _, tc := range []struct {
				id     string
				ip     netip.Addr
				method string
				path   string
				want   bool
			}{
				{reporter, netip.Addr{}, "GET", "/reports/2026-11-29", true},
				{reporter, netip.Addr{}, "GET", "/jobs/1", !route},
				{restore, netip.Addr{}, "GET", "/jobs/1", true},
				{restore, netip.Addr{}, "POST", "/jobs", true},
				{"", importer, "POST", "/jobs", true},
				{"", importer, "GET", "/jobs/1", !route},
				{"", netip.MustParseAddr("10.21.0.9"), "POST", "/jobs", false},
				{worker, netip.Addr{}, "GET", "/jobs/7", true},
				{"other.batch" + td, netip.Addr{}, "GET", "/jobs/7", level == LevelNamespace},
				{"other.elsewhere" + td, netip.Addr{}, "GET", "/jobs/7", false},
			} {
				d := ev.Decide(eval.Request{Destination: "batch/api", Port: 8080, ClientIdentity: tc.id, SourceIP: tc.ip, Method: tc.method, Path: tc.path})
				if d.Allowed != tc.want {
					t.Errorf("%s%v %s %s: allowed %v (%s), want %v", tc.id, tc.ip, tc.method, tc.path, d.Allowed, d.Reason, tc.want)
				}
			}
			marked := map[string]bool{}
			for _, u := range res.Units {
				for _, ap := range u.Set.AuthorizationPolicies {
					if v := ap.Annotations[AnnotationDeclared]; v != "" {
						marked[v] = true
					}
				}
			}
			for _, want := range []string{"workload batch/weekly-report: weekly report", "sa batch/restore: restore drill", "network 10.20.0.0/24: nightly import"} {
				if !strings.Contains(strings.Join(slices.Collect(maps.Keys(marked)), "\n"), want) {
					t.Errorf("no AuthorizationPolicy marked %q: %v", want, marked)
				}
			}
		})
	}
}

// TestIntentErrors: an intent synth cannot honour names its line.
func TestIntentErrors(t *testing.T) {
	rec := recorded.Scenario(t, "batch")
	for _, tc := range []struct{ intent, want string }{
		{"{client: {serviceAccount: a/b}, server: batch/nope, port: 80, reason: r}", "line 4: sa a/b -> batch/nope:80: the recording does not know the server's pod labels"},
		{"{client: {workload: batch/ghost}, server: batch/api, port: 8080, reason: r}", "workload batch/ghost is neither in the recording nor a meshed workload of the cluster objects"},
	} {
		f, err := intents.Parse([]byte("apiVersion: cinch.cinchmesh.io/v1alpha1\nkind: Intents\nintents:\n- " + tc.intent + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		opts := options(LevelServiceAccount)
		opts.Intents = f.Intents
		if _, err := Synthesize(rec, opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}
