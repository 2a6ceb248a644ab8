package cmd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/observe/recording"
)

const shopIntents = `apiVersion: cinch.cinchmesh.io/v1alpha1
kind: Intents
intents:
- client: {serviceAccount: backup/restore}
  server: shop/orders
  port: 7000
  routes:
  - {method: GET, path: "/export/{int}"}
  reason: quarterly disaster-recovery drill
- client: {serviceAccount: shop/web}
  server: shop/catalog
  port: 8080
  reason: declared before it was seen
`

// TestIntentsRoundTrip: the intents file kept next to the policy goes
// through synth (granted, marked), pr (read from the repository, listed in
// the body) and diff (which says the grant traffic has shown).
func TestIntentsRoundTrip(t *testing.T) {
	dir, rec := shopForGit(t)
	repo := filepath.Join(dir, "gitops")
	policyDir := filepath.Join(repo, "linkerd-policy")
	os.MkdirAll(policyDir, 0o755)
	gitIn(t, repo, "init", "-q", "-b", "main")
	write(t, policyDir, "cinch-intents.yaml", shopIntents)
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "declare the drill")
	intentsPath := filepath.Join(policyDir, "cinch-intents.yaml")

	out, stderr, err := run(t, "", "synth", rec, "--level", "route", "--intents", intentsPath)
	if err != nil {
		t.Fatalf("synth: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "cinch.cinchmesh.io/declared: 'sa backup/restore: quarterly disaster-recovery drill'") || !strings.Contains(out, "value: /export/[0-9]+") {
		t.Errorf("synth does not grant and mark the declared route:\n%s", out)
	}

	body := filepath.Join(dir, "body.md")
	if _, stderr, err = run(t, "", "pr", rec, "--repo", repo, "--level", "route", "--branch", "policy-1", "--body-file", body); err != nil {
		t.Fatalf("pr: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "declared intents: "+intentsPath) {
		t.Errorf("pr does not say it read the intents next to the policy:\n%s", stderr)
	}
	md, _ := os.ReadFile(body)
	for _, want := range []string{"### Declared access", "| sa backup/restore | shop/orders | 7000 | GET /export/{int} | quarterly disaster-recovery drill | 0 |", "| sa shop/web | shop/catalog | 8080 | all | declared before it was seen |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("PR body lacks %q:\n%s", want, md)
		}
	}
	orders, _ := os.ReadFile(filepath.Join(policyDir, "shop", "orders.yaml"))
	if !bytes.Contains(orders, []byte("cinch.cinchmesh.io/declared")) {
		t.Errorf("the committed policy does not mark the declared grant")
	}
	if _, err := os.Stat(intentsPath); err != nil {
		t.Errorf("pr removed the intents file: %v", err)
	}

	out, stderr, err = run(t, "", "diff", rec, "--policy", policyDir, "--intents", intentsPath, "-o", "markdown")
	if err != nil {
		t.Fatalf("diff: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "### Declared grants") || !strings.Contains(out, "| sa backup/restore -> shop/orders:7000 | 0 | quarterly disaster-recovery drill |") {
		t.Errorf("diff does not list the declared grants:\n%s", out)
	}
	if strings.Contains(out, "| sa shop/web -> shop/catalog:8080 | 0 |") {
		t.Errorf("diff says web's declared access to catalog was not seen, but the recording has it:\n%s", out)
	}
}

// shopForGit skips without git, sets a git author and committer, and
// writes the recorded shop scenario into a new directory: the directory
// and the recording's path.
func shopForGit(t *testing.T) (dir, rec string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	for k, v := range map[string]string{"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"} {
		t.Setenv(k, v)
	}
	dir = t.TempDir()
	rec = filepath.Join(dir, "shop.yaml")
	if err := recording.WriteFile(rec, recorded.Scenario(t, "shop"), nil); err != nil {
		t.Fatal(err)
	}
	return dir, rec
}
