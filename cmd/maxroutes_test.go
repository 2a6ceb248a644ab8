package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMaxRoutesPerServer: synth and pr cap the route matches per Server
// and say which routes were merged, on stderr and in the pull request.
func TestMaxRoutesPerServer(t *testing.T) {
	dir, rec := shopForGit(t)
	out, stderr, err := run(t, "", "synth", rec, "--level", "route", "--max-routes-per-server", "2")
	if err != nil {
		t.Fatalf("synth: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "\nmerged: shop/") || !strings.Contains(stderr, " merged into ") {
		t.Errorf("synth does not say which routes it merged:\n%s", stderr)
	}
	if n := strings.Count(out, "\n  - matches:\n"); n == 0 || n > 2*strings.Count(out, "\nkind: Server\n") {
		t.Errorf("%d route matches for %d Servers, want at most two each:\n%s", n, strings.Count(out, "\nkind: Server\n"), out)
	}
	if _, _, err := run(t, "", "synth", rec, "--level", "route", "--max-routes-per-server", "-1"); err == nil || !strings.Contains(err.Error(), "--max-routes-per-server -1") {
		t.Errorf("a negative cap: %v", err)
	}

	repo := filepath.Join(dir, "gitops")
	os.MkdirAll(repo, 0o755)
	gitIn(t, repo, "init", "-q", "-b", "main")
	gitIn(t, repo, "commit", "-q", "--allow-empty", "-m", "start")
	body := filepath.Join(dir, "body.md")
	if _, stderr, err = run(t, "", "pr", rec, "--repo", repo, "--level", "route", "--max-routes-per-server", "2", "--branch", "capped", "--body-file", body); err != nil {
		t.Fatalf("pr: %v\n%s", err, stderr)
	}
	md, _ := os.ReadFile(body)
	if !strings.Contains(string(md), "### Merged routes") || !strings.Contains(string(md), "| shop/") {
		t.Errorf("the PR body does not list the merged routes:\n%s", md)
	}
}
