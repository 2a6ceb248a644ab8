package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/observe/recording"
)

// TestReportReviewsAGivenPolicy: with --policy the page reviews that
// policy, and the edges it would deny are drawn as denied.
func TestReportReviewsAGivenPolicy(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "shop.yaml")
	if err := recording.WriteFile(rec, recorded.Scenario(t, "shop"), nil); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "synth.html")
	if _, stderr, err := run(t, "", "report", rec, "--level", "serviceaccount", "-o", page); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	html, _ := os.ReadFile(page)
	if !strings.Contains(string(html), "<svg") || strings.Contains(string(html), `class="edge denied"`) || !strings.Contains(string(html), "serviceaccount level") {
		t.Errorf("the synthesized policy's page has no graph, or denies traffic")
	}
	// Only web's port is claimed, by a Server that authorizes nobody.
	lockdown := write(t, dir, "lockdown.yaml", `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: lockdown, namespace: shop}
spec: {podSelector: {matchLabels: {app: web}}, port: 8080, accessPolicy: deny}
`)
	page = filepath.Join(dir, "review.html")
	// It breaks web's traffic: the exit code says so, as diff's would.
	if _, stderr, err := run(t, "", "report", rec, "--policy", lockdown, "-o", page); ExitCode(err) != ExitFindings || !strings.Contains(stderr, "would be denied:\n  ip:203.0.113.7 -> shop/web port 8080") {
		t.Fatalf("report --policy of a breaking policy: %v (exit %d)\n%s", err, ExitCode(err), stderr)
	}
	html, _ = os.ReadFile(page)
	if !strings.Contains(string(html), "under review") || strings.Count(string(html), `class="edge denied"`) != 1 || !strings.Contains(string(html), "ip:203.0.113.7 -&gt; shop/web:8080") {
		t.Errorf("the review does not draw the external client's calls to web as denied")
	}
	if _, _, err := run(t, "", "report", rec, "--policy", lockdown, "--from-cluster"); ExitCode(err) != ExitUsage {
		t.Errorf("--policy with --from-cluster: err = %v, want a usage error", err)
	}
}
