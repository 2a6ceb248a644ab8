package cmd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/observe/recording"
)

func gitIn(t *testing.T, repo string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestPRLoop drives the users' loop on a real git repository: a first pull
// request from nothing, a second after a new window adds a client and
// drops a route, and a third run on the same window that changes nothing.
// newGitops makes a GitOps checkout with one commit on main, in a new
// directory that also holds the test's other files.
func newGitops(t *testing.T) (dir, repo string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	for k, v := range map[string]string{"GIT_AUTHOR_NAME": "cinch test", "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "cinch test", "GIT_COMMITTER_EMAIL": "test@example.com"} {
		t.Setenv(k, v)
	}
	dir = t.TempDir()
	repo = filepath.Join(dir, "gitops")
	os.MkdirAll(repo, 0o755)
	gitIn(t, repo, "init", "-q", "-b", "main")
	write(t, repo, "README.md", "gitops\n")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "init")
	return dir, repo
}

func TestPRLoop(t *testing.T) {
	dir, repo := newGitops(t)
	// A hand-written policy file in the path must be left alone.
	os.MkdirAll(filepath.Join(repo, "linkerd-policy", "shop"), 0o755)
	write(t, filepath.Join(repo, "linkerd-policy", "shop"), "extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine, namespace: shop}\n")
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "init")

	rec := recorded.Scenario(t, "shop")
	first := filepath.Join(dir, "first.yaml")
	if err := recording.WriteFile(first, rec, nil); err != nil {
		t.Fatal(err)
	}
	body := filepath.Join(dir, "body.md")
	_, stderr, err := run(t, "", "pr", first, "--repo", repo, "--level", "route", "--branch", "policy-1", "--body-file", body)
	if err != nil {
		t.Fatalf("first pr: %v\n%s", err, stderr)
	}
	if gitIn(t, repo, "rev-parse", "--abbrev-ref", "HEAD") != "policy-1" {
		t.Errorf("not on the new branch")
	}
	files := strings.Split(gitIn(t, repo, "show", "--name-only", "--format=", "HEAD"), "\n")
	if !slices.Contains(files, "linkerd-policy/shop/web.yaml") || !slices.Contains(files, "linkerd-policy/kustomization.yaml") || slices.Contains(files, "linkerd-policy/shop/extra.yaml") {
		t.Errorf("first commit touched %v", files)
	}
	subject := gitIn(t, repo, "log", "-1", "--format=%s")
	if !strings.HasPrefix(subject, "linkerd policy: route level, audit mode (") || strings.Contains(subject, " 0 added") {
		t.Errorf("commit subject %q", subject)
	}
	md, _ := os.ReadFile(body)
	for _, want := range []string{"## Linkerd authorization policy: route level, audit mode", "### Who may call what", "### Coverage", "| shop/web | 8080 |", "```mermaid", "### Rollout", "kubectl apply -k linkerd-policy"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("PR body lacks %q", want)
		}
	}
	if !strings.Contains(stderr, "git -C "+repo+" push -u origin policy-1") || !strings.Contains(stderr, "gh pr create") {
		t.Errorf("stderr does not say how to push and open the PR:\n%s", stderr)
	}

	// A new window: reporter now also calls web, and nobody calls
	// catalog's /search any more.
	rec2 := recorded.Scenario(t, "shop")
	var edges []recording.Edge
	for _, e := range rec2.Edges {
		if e.Server == "shop/catalog" {
			e.Routes = slices.DeleteFunc(e.Routes, func(r recording.Route) bool { return r.Path == "/search" })
		}
		edges = append(edges, e)
	}
	edges = append(edges, recording.Edge{Client: "payments/payments", Server: "shop/web", Port: 8080, Protocol: recording.ProtocolHTTP,
		Requests: 5, TLS: map[string]int64{"true": 5}, Routes: []recording.Route{{Method: "GET", Path: "/products/7", Requests: 5}}})
	rec2.Edges = edges
	rec2.Normalize()
	second := filepath.Join(dir, "second.yaml")
	if err := recording.WriteFile(second, rec2, nil); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = run(t, "", "pr", second, "--repo", repo, "--level", "route", "--branch", "policy-2", "--body-file", body)
	if err != nil {
		t.Fatalf("second pr: %v\n%s", err, stderr)
	}
	log := gitIn(t, repo, "log", "-1", "--format=%B")
	if !strings.Contains(log, "changed HTTPRoute shop/catalog-") || !strings.Contains(log, "added AuthorizationPolicy shop/web-") {
		t.Errorf("second commit message does not name catalog's changed routes and web's new grant:\n%s", log)
	}
	if catalog, _ := os.ReadFile(filepath.Join(repo, "linkerd-policy", "shop", "catalog.yaml")); bytes.Contains(catalog, []byte("/search")) || !bytes.Contains(catalog, []byte("/products/")) {
		t.Errorf("catalog's policy still has the dropped /search route, or lost the others")
	}
	md2, _ := os.ReadFile(body)
	if !strings.Contains(string(md2), "### Access changes") || !strings.Contains(string(md2), "- granted: shop web-http route ") || !strings.Contains(string(md2), "payments.payments.serviceaccount.identity.linkerd.cluster.local") {
		t.Errorf("the second PR body does not show payments' new grant on web:\n%s", md2)
	}
	if strings.Contains(string(md2), "0.0.0.0/0") || strings.Contains(string(md2), "::/0") {
		t.Errorf("the PR body writes 'any address' as 0.0.0.0/0 or ::/0, which reads as an internet-wide grant:\n%s", md2)
	}
	changed := strings.Split(gitIn(t, repo, "show", "--name-only", "--format=", "HEAD"), "\n")
	if slices.Contains(changed, "linkerd-policy/shop/orders.yaml") || slices.Contains(changed, "linkerd-policy/payments/ledger.yaml") {
		t.Errorf("the second commit rewrote files the new window does not concern: %v", changed)
	}

	// Same window again: nothing to do, no branch.
	_, stderr, err = run(t, "", "pr", second, "--repo", repo, "--level", "route", "--branch", "policy-3")
	if err != nil || !strings.Contains(stderr, "nothing to commit") {
		t.Errorf("third run: err %v, stderr %q; want nothing to commit", err, stderr)
	}
	if branches := gitIn(t, repo, "branch", "--list", "policy-3"); branches != "" {
		t.Errorf("the no-op run created branch policy-3")
	}
	if st := gitIn(t, repo, "status", "--porcelain"); st != "" {
		t.Errorf("the no-op run left changes:\n%s", st)
	}

	// A hand-written Server that claims web's port first (by name: neither
	// has a creation time) and authorizes nobody would break web's traffic.
	write(t, filepath.Join(repo, "linkerd-policy", "shop"), "lockdown.yaml", `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: aaa-lockdown, namespace: shop}
spec: {podSelector: {matchLabels: {app: web}}, port: 8080, accessPolicy: deny}
`)
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "lock web down by hand")
	_, _, err = run(t, "", "pr", first, "--repo", repo, "--level", "route", "--branch", "policy-4")
	if ExitCode(err) != ExitFailure || err == nil || !strings.Contains(err.Error(), "shop/web port 8080") || !strings.Contains(err.Error(), "--allow-breaking") {
		t.Errorf("a breaking change: err = %v, want a refusal naming web's denied traffic", err)
	}
	if st := gitIn(t, repo, "status", "--porcelain"); st != "" {
		t.Errorf("the refused run changed files:\n%s", st)
	}
	if _, stderr, err := run(t, "", "pr", first, "--repo", repo, "--level", "route", "--branch", "policy-4", "--allow-breaking", "--body-file", body); err != nil {
		t.Fatalf("--allow-breaking: %v\n%s", err, stderr)
	}
	if md, _ := os.ReadFile(body); !strings.Contains(string(md), "Observed traffic this policy denies") || !strings.Contains(string(md), "| ip:203.0.113.7 | shop/web | 8080 |") {
		t.Errorf("the PR body does not list the traffic it breaks:\n%s", md)
	}

	// Refusals.
	if _, _, err := run(t, "", "pr", second, "--repo", dir); err == nil || !strings.Contains(err.Error(), "not a git checkout") {
		t.Errorf("non-repo: err = %v", err)
	}
}

// TestPRRerun: the same arguments again (the built binary, as a user
// re-runs it) commit nothing and exit 0; other input on the existing
// branch is refused naming --update, which commits it there.
func TestPRRerun(t *testing.T) {
	dir, repo := newGitops(t)
	rec := recorded.Scenario(t, "shop")
	week := filepath.Join(dir, "week.yaml")
	if err := recording.WriteFile(week, rec, nil); err != nil {
		t.Fatal(err)
	}
	args := []string{"pr", week, "--repo", repo, "--level", "serviceaccount", "--body-file", filepath.Join(dir, "body.md")}
	if r := runBin(t, dir, "", args...); r.code != 0 || !strings.Contains(r.stderr, "on new branch cinch/serviceaccount-") {
		t.Fatalf("first run: exit %d\n%s", r.code, r.stderr)
	}
	head := gitIn(t, repo, "rev-parse", "HEAD")
	gitIn(t, repo, "checkout", "-q", "main")
	r := runBin(t, dir, "", args...)
	if r.code != 0 || !strings.Contains(r.stderr, "already holds this policy") || !strings.Contains(r.stderr, "nothing to commit") {
		t.Errorf("re-run: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	branch := "cinch/serviceaccount-" + strings.SplitN(strings.SplitN(r.stderr, "cinch/serviceaccount-", 2)[1], " ", 2)[0]
	if got := gitIn(t, repo, "rev-parse", branch); got != head || gitIn(t, repo, "rev-parse", "--abbrev-ref", "HEAD") != "main" || gitIn(t, repo, "status", "--porcelain") != "" {
		t.Errorf("the re-run moved %s to %s (was %s) or left the checkout changed or elsewhere", branch, got, head)
	}

	// Other input on the existing branch: refused, nothing changed.
	rec.Edges = rec.Edges[1:]
	if err := recording.WriteFile(week, rec, nil); err != nil {
		t.Fatal(err)
	}
	r = runBin(t, dir, "", args...)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "exists and holds other policy") || !strings.Contains(r.stderr, "--update") {
		t.Errorf("other input: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if gitIn(t, repo, "rev-parse", branch) != head || gitIn(t, repo, "rev-parse", "--abbrev-ref", "HEAD") != "main" || gitIn(t, repo, "status", "--porcelain") != "" {
		t.Errorf("the refused run changed the checkout")
	}
	r = runBin(t, dir, "", append(args, "--update")...)
	if r.code != 0 || !strings.Contains(r.stderr, "on existing branch "+branch) {
		t.Fatalf("--update: exit %d\n%s", r.code, r.stderr)
	}
	if parent := gitIn(t, repo, "rev-parse", branch+"~1"); parent != head {
		t.Errorf("--update did not add a commit on %s: its parent is %s, want %s", branch, parent, head)
	}
}
