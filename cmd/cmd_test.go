package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
)

// TestMain keeps the tests off any cluster the machine's kubeconfig
// names: a test that wants an API server passes --kubeconfig.
func TestMain(m *testing.M) {
	os.Setenv("KUBECONFIG", filepath.Join(os.TempDir(), "cinch-test-no-kubeconfig"))
	os.Exit(m.Run())
}

func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := NewRoot("cinch", Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

const goodText = `req id=1:1 proxy=in  src=10.0.0.11:4000 dst=10.42.0.2:8080 tls=no_tls_from_remote :method=GET :authority=10.42.0.2:8080 :path=/ping
rsp id=1:1 proxy=in  src=10.0.0.11:4000 dst=10.42.0.2:8080 tls=no_tls_from_remote :status=200 latency=900µs
end id=1:1 proxy=in  src=10.0.0.11:4000 dst=10.42.0.2:8080 tls=no_tls_from_remote duration=10µs response-length=2B
`

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestObserveShowMergeRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := write(t, dir, "tap.txt", goodText)
	out := filepath.Join(dir, "rec.yaml")
	if _, _, err := run(t, "", "observe", "--from-file", in, "-o", out); err != nil {
		t.Fatal(err)
	}
	merged := filepath.Join(dir, "merged.json")
	if _, _, err := run(t, "", "graph", "merge", out, out, "-o", merged); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := run(t, "", "graph", "show", merged, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var view struct {
		Edges []struct {
			Client, Server string
			Port           uint32
			Protocol       string
			Requests       int64
			Routes         []struct {
				Method, Path string
				Requests     int64
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &view); err != nil {
		t.Fatalf("graph show -o json: %v\n%s", err, stdout)
	}
	if len(view.Edges) != 1 {
		t.Fatalf("edges = %+v, want one", view.Edges)
	}
	e := view.Edges[0]
	if e.Client != "ip:10.0.0.11" || e.Server != "ip:10.42.0.2" || e.Port != 8080 || e.Protocol != "HTTP" || e.Requests != 2 ||
		len(e.Routes) != 1 || e.Routes[0].Path != "/ping" || e.Routes[0].Requests != 2 {
		t.Errorf("merged edge = %+v, want ip:10.0.0.11 -> ip:10.42.0.2:8080 with 2 GET /ping", e)
	}
	for _, sub := range []string{"dot", "mermaid"} {
		stdout, _, err := run(t, "", "graph", sub, merged)
		if err != nil || !strings.Contains(stdout, "8080 HTTP 2 req") {
			t.Errorf("graph %s: err %v, output:\n%s", sub, err, stdout)
		}
	}
}

func TestBadInputNeverLosesOrHalfWrites(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.txt", goodText)
	bad := write(t, dir, "bad.txt", goodText+"req id=oops proxy=in\n")
	out := filepath.Join(dir, "rec.yaml")
	write(t, dir, "rec.yaml", "previous content\n")

	_, _, err := run(t, "", "observe", "--from-file", good, "--from-file", bad, "-o", out)
	if err == nil || ExitCode(err) != ExitFailure || !strings.Contains(err.Error(), "bad.txt") || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("error = %v (exit %d), want exit 3 naming bad.txt line 4", err, ExitCode(err))
	}
	if data, _ := os.ReadFile(out); string(data) != "previous content\n" {
		t.Errorf("output changed without --keep-going:\n%s", data)
	}

	_, _, err = run(t, "", "observe", "--keep-going", "--from-file", bad, "--from-file", good, "-o", out)
	if err == nil || ExitCode(err) != ExitFailure {
		t.Fatalf("--keep-going error = %v, want exit 3", err)
	}
	rec, rerr := recording.ReadFile(out, nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if len(rec.Edges) != 1 || rec.Edges[0].Requests != 2 {
		t.Errorf("edges = %+v, want both files' requests kept", rec.Edges)
	}
	var noted bool
	for _, w := range rec.Windows {
		noted = noted || strings.Contains(w.Error, "line 4")
	}
	if !noted {
		t.Errorf("windows %+v do not note the error", rec.Windows)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".rec.yaml.tmp-*")); len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

func TestUsageErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"observe"}, "--from-file"},
		{[]string{"observe", "--from-file", "x", "--format", "xml"}, "--format"},
		{[]string{"observe", "--from-file", "x", "--window-start", "yesterday"}, "--window-start"},
		{[]string{"observe", "--from-file", "x", "--max-paths-per-edge", "0"}, "--max-paths-per-edge"},
		{[]string{"observe", "--no-such-flag"}, "no-such-flag"},
		{[]string{"graph", "show"}, "recording"},
		{[]string{"graph", "show", "x", "-o", "xml"}, "-o"},
		{[]string{"pr", "x.yaml", "--repo", ".", "--evidence-path", "evidence"}, "--evidence-path"},
		{[]string{"pr", "x.yaml", "--repo", ".", "--next", "--evidence-path", "../elsewhere"}, "--evidence-path"},
	} {
		_, _, err := run(t, "", tc.args...)
		if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v (exit %d), want a usage error naming %s", tc.args, err, ExitCode(err), tc.want)
		}
	}
}

func TestStdinAndMissingFile(t *testing.T) {
	stdout, _, err := run(t, goodText, "observe", "--from-file", "-")
	if err != nil || !strings.Contains(stdout, "kind: Recording") {
		t.Errorf("observe from stdin: %v\n%s", err, stdout)
	}
	_, _, err = run(t, "", "observe", "--from-file", "does-not-exist.json")
	if ExitCode(err) != ExitFailure || !strings.Contains(err.Error(), "does-not-exist.json") {
		t.Errorf("missing file: %v", err)
	}
}

// TestPluginName: installed as kubectl-cinch or linkerd-cinch, the
// binary's usage lines, help and examples read "kubectl cinch ...", and
// nowhere "kubectl synth" or a bare "cinch synth".
func TestPluginName(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"kubectl-cinch", "linkerd-cinch"} {
		plugin := filepath.Join(dir, name)
		if err := os.Symlink(cinchBinary(t), plugin); err != nil {
			t.Fatal(err)
		}
		host := strings.TrimSuffix(name, "-cinch")
		for _, args := range [][]string{{"--help"}, {"synth", "--help"}, {"graph", "show", "--help"}, {"diff", "--help"}} {
			out, err := exec.Command(plugin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %v: %v\n%s", name, args, err, out)
			}
			help := string(out)
			if args[0] != "--help" && !strings.Contains(help, "\n  "+host+" cinch "+strings.Join(args[:len(args)-1], " ")+" RECORDING") {
				t.Errorf("%s %v: usage does not read %q:\n%s", name, args, host+" cinch "+args[0], help)
			}
			for _, wrong := range []string{host + " synth", host + " graph", "\n  cinch ", "| cinch "} {
				if strings.Contains(help, wrong) {
					t.Errorf("%s %v: help has %q:\n%s", name, args, wrong, help)
				}
			}
		}
	}
	if out, _ := exec.Command(cinchBinary(t), "synth", "--help").CombinedOutput(); !strings.Contains(string(out), "\n  cinch synth booksapp.yaml") {
		t.Errorf("as cinch, the examples read:\n%s", out)
	}
}

// TestReferenceDocsCurrent fails when docs/reference is stale; run
// `make docs` to regenerate it.
func TestReferenceDocsCurrent(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := run(t, "", "docs", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	have, _ := filepath.Glob("../docs/reference/*.md")
	if len(want) != len(have) {
		t.Errorf("docs/reference has %d pages, the command tree %d: run make docs", len(have), len(want))
	}
	for _, p := range want {
		gen, _ := os.ReadFile(p)
		cur, err := os.ReadFile(filepath.Join("../docs/reference", filepath.Base(p)))
		if err != nil || !bytes.Equal(gen, cur) {
			t.Errorf("docs/reference/%s is stale: run make docs", filepath.Base(p))
		}
	}
}
