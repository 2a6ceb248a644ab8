package synth

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/fixtures/scenario"
	"github.com/cinchmesh/cinch/observe/cluster"
)

// batchCandidates are the meshed workloads of the batch scenario's
// cluster objects.
func batchCandidates(t *testing.T) []cluster.Candidate {
	t.Helper()
	sc, err := scenario.Load(filepath.Join("..", "fixtures", "scenarios", "batch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sc.WriteCluster(&buf); err != nil {
		t.Fatal(err)
	}
	objs, err := cluster.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return cluster.Candidates(objs, cluster.Options{})
}

// TestRareClientsOfACronJobScenario: with default deny, the CronJob, the
// Job and the Deployment scaled to zero are listed per namespace, flagged
// as clients the window could not have seen; the observed worker and the
// API (seen as a server) are not.
func TestRareClientsOfACronJobScenario(t *testing.T) {
	rec := recorded.Scenario(t, "batch")
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(24 * time.Hour)
	rec.Windows[0].Start, rec.Windows[0].End = &start, &end
	opts := options(LevelServiceAccount)
	opts.DefaultDeny, opts.Candidates = true, batchCandidates(t)
	res, err := Synthesize(rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.RareClients {
		got = append(got, string(r.ID)+": "+r.Unseeable)
	}
	want := []string{
		"batch/reindexer: scaled to zero",
		"batch/restore: a Job: it runs once or on demand",
		`batch/weekly-report: runs every 7d (schedule "0 3 * * 0"), longer than the longest window (1d)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rare clients:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	warned := strings.Join(res.Warnings, "\n")
	if !strings.Contains(warned, "namespace batch: 3 meshed workloads that could be clients were never observed (3 of them the window could not have seen): Deployment batch/reindexer") {
		t.Errorf("no per-namespace warning naming them:\n%s", warned)
	}

	// A daily CronJob fits in the window: listed, not flagged.
	for i := range opts.Candidates {
		if opts.Candidates[i].Kind == "CronJob" {
			opts.Candidates[i].Interval = time.Hour
		}
	}
	res, err = Synthesize(rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.RareClients {
		if r.Kind == "CronJob" && r.Unseeable != "" {
			t.Errorf("an hourly CronJob in a one-day window is flagged: %s", r.Unseeable)
		}
	}

	// Without default deny nothing is denied, so nothing is listed.
	opts.DefaultDeny = false
	if res, err = Synthesize(rec, opts); err != nil || len(res.RareClients) > 0 {
		t.Errorf("without default deny: %v, %v", res.RareClients, err)
	}
}
