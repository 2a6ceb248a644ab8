package cmd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
)

// TestSynthWithoutClusterObjectsFails: the quickstart without cluster
// objects and without a kube context exits non-zero with one message that
// says what is missing and both ways to supply it, instead of an empty
// policy and exit 0; with --cluster-file at synth time it writes policy.
func TestSynthWithoutClusterObjectsFails(t *testing.T) {
	dir := t.TempDir()
	r := runBin(t, dir, "", "observe", "--from-file", demoFile("shop.tap.json.gz"), "-o", "rec.yaml")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: no cluster objects") || !strings.Contains(r.stderr, "--cluster-file") {
		t.Fatalf("observe without cluster objects: exit %d, stderr:\n%s\nwant exit 0 and a warning naming --cluster-file", r.code, r.stderr)
	}
	r = runBin(t, dir, "", "synth", "rec.yaml")
	if r.code != ExitFailure || r.stdout != "" {
		t.Fatalf("synth: exit %d, stdout %q, want exit 3 and no policy", r.code, r.stdout)
	}
	for _, want := range []string{"no Server can select any observed server", "5 servers with traffic have no pod labels", "--cluster-file FILE", "kube context", "cinch-test-no-kubeconfig"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("synth stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	r = runBin(t, dir, "", "synth", "rec.yaml", "--cluster-file", demoFile("shop.cluster.yaml"))
	const server = "apiVersion: policy.linkerd.io/v1beta3\nkind: Server\n"
	if r.code != 0 || strings.Count(r.stdout, server) != 5 {
		t.Errorf("synth --cluster-file: exit %d, %d Servers, want 5\n%s", r.code, strings.Count(r.stdout, server), r.stderr)
	}

	// Text output carries addresses only: cluster objects at synth time
	// cannot name them, so the message says to record again.
	write(t, dir, "tap.txt", goodText)
	if r = runBin(t, dir, "", "observe", "--from-file", "tap.txt", "-o", "text.yaml"); r.code != 0 {
		t.Fatalf("observe text: exit %d\n%s", r.code, r.stderr)
	}
	r = runBin(t, dir, "", "synth", "text.yaml")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "known only by address (ip:10.42.0.2)") || !strings.Contains(r.stderr, "cinch observe --from-file again with --cluster-file") {
		t.Errorf("synth of a text recording: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// TestReadmeFirstExample runs the first example of the README's "Using
// it", as written, on the bundled demo data: it must produce policy.
func TestReadmeFirstExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, using, ok := strings.Cut(string(readme), "## Using it")
	if !ok {
		t.Fatal("README has no \"## Using it\" section")
	}
	_, block, ok := strings.Cut(using, "```sh\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatal("README's \"Using it\" has no sh block")
	}
	dir := t.TempDir()
	repo, _ := filepath.Abs("..")
	if err := os.Symlink(filepath.Join(repo, "fixtures"), filepath.Join(dir, "fixtures")); err != nil {
		t.Fatal(err)
	}
	var ran int
	var policy string
	sc := bufio.NewScanner(strings.NewReader(block))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words := strings.Fields(line)
		if words[0] != "cinch" || strings.ContainsAny(line, "|<>;&$") {
			t.Fatalf("the README's first example has %q: it must be plain cinch commands, runnable as written", line)
		}
		r := runBin(t, dir, "", words[1:]...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", line, r.code, r.stderr)
		}
		ran++
		if words[1] == "synth" {
			policy += r.stdout
		}
	}
	if ran < 2 || !strings.Contains(policy, "kind: AuthorizationPolicy") {
		t.Errorf("the README's first example ran %d commands and wrote no policy:\n%s", ran, policy)
	}
}

// TestInterruptedReplay: Ctrl-C while observe replays saved output (here
// stdin fed by a pipe that stays open, as from a running linkerd viz tap)
// writes what was read with the window marked interrupted, and exits 130.
func TestInterruptedReplay(t *testing.T) {
	dir := t.TempDir()
	out := write(t, dir, "rec.yaml", "previous content\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cinchBinary(t), "observe", "--from-file", "-", "-o", out)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// More than a pipe buffer: once the write returns, cinch has read
	// most of it.
	var events bytes.Buffer
	for i := 0; events.Len() < 512<<10; i++ {
		fmt.Fprintf(&events, "req id=1:%d proxy=in  src=10.0.0.11:4000 dst=10.42.0.2:8080 tls=no_tls_from_remote :method=GET :authority=10.42.0.2:8080 :path=/ping\n", i)
	}
	if _, err := stdin.Write(events.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
		t.Fatalf("exit %d (%v), want 130\n%s", code, err, stderr.String())
	}
	stdin.Close()
	if !strings.Contains(stderr.String(), "interrupted while reading -, after ") || !strings.Contains(stderr.String(), "window marked interrupted") {
		t.Errorf("stderr does not say where it was interrupted:\n%s", stderr.String())
	}
	rec, err := recording.ReadFile(out, nil)
	if err != nil {
		t.Fatalf("the recording written on Ctrl-C: %v", err)
	}
	if len(rec.Windows) != 1 || !strings.HasPrefix(rec.Windows[0].Interrupted, "after ") || rec.Windows[0].Events == 0 {
		t.Fatalf("windows %+v, want one marked interrupted with the events read", rec.Windows)
	}
	if len(rec.Edges) != 1 || rec.Edges[0].Requests != rec.Windows[0].Requests {
		t.Errorf("edges %+v, want the requests read", rec.Edges)
	}
}

// TestDiffAuditOnlyExitsOne: the binary exits 1 for traffic only audit
// mode admits, and says it apart from traffic denied today.
func TestDiffAuditOnlyExitsOne(t *testing.T) {
	dir, rec := tinyFiles(t, map[string]string{"audit.yaml": serverOnly + "\n  accessPolicy: audit", "server.yaml": serverOnly})
	r := runBin(t, dir, "", "diff", rec, "--policy", "audit.yaml")
	if r.code != ExitFindings || !strings.Contains(r.stderr, "admitted only by audit mode and would be denied when enforced: 1 tuples") || strings.Contains(r.stderr, "would deny observed traffic") {
		t.Errorf("diff of an audit-mode policy: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if r = runBin(t, dir, "", "diff", rec, "--policy", "audit.yaml", "--allow-audit"); r.code != 0 {
		t.Errorf("--allow-audit: exit %d\n%s", r.code, r.stderr)
	}
	r = runBin(t, dir, "", "diff", rec, "--policy", "server.yaml")
	if r.code != ExitFindings || !strings.Contains(r.stderr, "the policy would deny observed traffic: 1 tuples") || strings.Contains(r.stderr, "audit mode") {
		t.Errorf("diff of a deny policy: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// TestActionableErrors: the first-hour mistakes get messages that say
// what to do.
func TestActionableErrors(t *testing.T) {
	dir, rec := tinyFiles(t, nil)
	gz, err := os.ReadFile(demoFile("shop.tap.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "truncated.json.gz", string(gz[:len(gz)/3]))
	write(t, dir, "unknown.yaml", "apiVersion: cinch.cinchmesh.io/v1alpha1\nkind: Recording\nwindows: []\nedges: []\n\nsurprise: 1\n")
	write(t, dir, "unknown.json", "{\n  \"apiVersion\": \"cinch.cinchmesh.io/v1alpha1\",\n  \"kind\": \"Recording\",\n  \"windows\": [],\n  \"edges\": [],\n  \"surprise\": 1\n}\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"tap output given to synth", []string{"synth", demoFile("shop.tap.json.gz")}, ExitUsage, []string{"is tap output (json format), not a recording: run cinch observe first"}},
		{"text tap output given to graph show", []string{"graph", "show", "tap.txt"}, ExitUsage, []string{"tap.txt is tap output (text format)"}},
		{"unknown field in a YAML recording", []string{"synth", "unknown.yaml"}, ExitFailure, []string{"unknown.yaml: line 6: unknown field \"surprise\""}},
		{"unknown field in a JSON recording", []string{"graph", "show", "unknown.json"}, ExitFailure, []string{"unknown.json: line 6: unknown field \"surprise\""}},
		{"truncated gzip", []string{"observe", "--from-file", "truncated.json.gz", "--cluster-file", demoFile("shop.cluster.yaml")}, ExitFailure, []string{"truncated.json.gz", "gzip: the file is truncated"}},
		{"missing kubeconfig", []string{"diff", rec, "--from-cluster", "--kubeconfig", "nowhere.kubeconfig", "--context", "prod"}, ExitFailure, []string{"kubeconfig nowhere.kubeconfig (context \"prod\") does not exist"}},
		{"no kubeconfig at all", []string{"diff", rec, "--from-cluster"}, ExitFailure, []string{"no kubeconfig: tried ", "cinch-test-no-kubeconfig (from $KUBECONFIG)"}},
		{"-o in a directory that does not exist", []string{"graph", "merge", "unknown.yaml", "-o", "no/such/dir/x.yaml"}, ExitFailure, []string{"-o: no/such/dir/x.yaml: directory no/such/dir does not exist"}},
		{"-o naming a directory", []string{"graph", "merge", "unknown.yaml", "-o", "."}, ExitFailure, []string{"-o: . is a directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(t, dir, "tap.txt", goodText)
			r := runBin(t, dir, "", tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// TestUnwritableOutputFailsBeforeReading: observe checks -o before it
// reads its input, which here never ends.
func TestUnwritableOutputFailsBeforeReading(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cinchBinary(t), "observe", "--from-file", "-", "-o", filepath.Join(t.TempDir(), "missing", "rec.yaml"))
	stdin, err := cmd.StdinPipe() // never written or closed
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, _ := cmd.CombinedOutput()
	if ctx.Err() != nil || cmd.ProcessState.ExitCode() != ExitFailure || !strings.Contains(string(out), "does not exist (checked before recording)") {
		t.Errorf("exit %d (timed out: %v), output:\n%s", cmd.ProcessState.ExitCode(), ctx.Err() != nil, out)
	}
}

// TestReviewOfFreshPolicy: diff of cinch's own fresh audit-mode policy
// lists no audit "grant" as unused nor scores it (the service-account
// level's one grant admits every route: 1 of 2); report --policy of a
// policy that breaks traffic lists the breakage in text and exits 1.
func TestReviewOfFreshPolicy(t *testing.T) {
	dir, rec := tinyFiles(t, map[string]string{"server.yaml": serverOnly})
	if r := runBin(t, dir, "", "synth", rec, "--level", "serviceaccount", "-o", "policy"); r.code != 0 {
		t.Fatalf("synth: exit %d\n%s", r.code, r.stderr)
	}
	r := runBin(t, dir, "", "diff", rec, "--policy", "policy")
	if r.code != 0 || strings.Contains(r.stdout, "default/audit") || !strings.Contains(r.stdout, "50.0% (1 of 2 granted") {
		t.Errorf("diff of the fresh policy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runBin(t, dir, "", "report", rec, "--policy", "server.yaml", "-o", "report.html")
	if r.code != ExitFindings || !strings.Contains(r.stderr, "would be denied:\n  demo/client -> demo/server port 8080: 10 requests") {
		t.Errorf("report --policy of a breaking policy: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Errorf("the report was not written: %v", err)
	}
}
