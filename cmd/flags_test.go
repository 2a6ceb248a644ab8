package cmd

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// verbs walks every command of the tree.
func verbs(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		verbs(sub, f)
	}
}

// TestOneMeaningPerFlag: -n is one or more namespaces wherever it is a
// flag, --cluster is the kubeconfig cluster wherever it is a flag, and
// every verb that talks to the cluster takes kubectl's kubeconfig flags.
func TestOneMeaningPerFlag(t *testing.T) {
	root := NewRoot("cinch", Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	kubeFlags := []string{"kubeconfig", "context", "cluster", "user", "namespace", "as", "as-group", "token", "server", "certificate-authority", "insecure-skip-tls-verify", "request-timeout", "tls-server-name"}
	talks := map[string]bool{"observe": true, "synth": true, "pr": true, "report": true, "diff": true, "explain": true, "status": true, "alerts": true}
	// Live targets are in one namespace, as in linkerd viz tap.
	if _, _, err := run(t, "", "observe", "deploy/web", "-n", "a,b"); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "live targets are in one namespace") {
		t.Errorf("observe deploy/web -n a,b: %v, want a usage error", err)
	}
	verbs(root, func(c *cobra.Command) {
		name := c.Name()
		if n := c.Flags().Lookup("namespace"); n != nil && (n.Shorthand != "n" || n.Value.Type() != "stringSlice") {
			t.Errorf("%s: -n is %q of type %s, want -n of one or more namespaces (stringSlice)", name, n.Shorthand, n.Value.Type())
		}
		if cl := c.Flags().Lookup("cluster"); cl != nil && (cl.Value.Type() != "string" || !strings.Contains(cl.Usage, "kubeconfig cluster")) {
			t.Errorf("%s: --cluster is a %s (%q), want the kubeconfig cluster's name", name, cl.Value.Type(), cl.Usage)
		}
		if !talks[name] {
			return
		}
		for _, f := range kubeFlags {
			if c.Flags().Lookup(f) == nil && !(f == "namespace" && (name == "explain" || name == "alerts")) {
				t.Errorf("%s talks to the cluster but has no --%s", name, f)
			}
		}
	})
}

// TestFromClusterAndTheDeprecatedBareCluster: --from-cluster reads from
// the cluster; --cluster alone still does, with a deprecation warning;
// --cluster=NAME selects the kubeconfig's cluster.
func TestFromClusterAndTheDeprecatedBareCluster(t *testing.T) {
	dir := t.TempDir()
	rec := write(t, dir, "rec.yaml", "apiVersion: cinch.cinchmesh.io/v1alpha1\nkind: Recording\nwindows: []\nedges: []\n")
	for _, verb := range [][]string{{"diff", rec}, {"status", rec}, {"explain", "--from", "a/b", "--to", "c/d:80"}, {"alerts"}, {"report", rec}} {
		_, stderr, err := run(t, "", append(verb, "--from-cluster")...)
		if !strings.Contains(stderr+errString(err), "no kubeconfig: tried") || strings.Contains(stderr, "deprecated") {
			t.Errorf("%s --from-cluster: err %v, stderr %q; want it to read the (missing) kube context", verb[0], err, stderr)
		}
		_, stderr, err = run(t, "", append(verb, "--cluster")...)
		if !strings.Contains(stderr, "--cluster alone is deprecated: use --from-cluster") || !strings.Contains(errString(err), "no kubeconfig: tried") {
			t.Errorf("%s --cluster: err %v, stderr %q; want the deprecation warning and --from-cluster's behaviour", verb[0], err, stderr)
		}
	}
	srv := fakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	defer srv.Close()
	_, _, err := run(t, "", "diff", rec, "--from-cluster", "--kubeconfig", kubeconfig(t, srv), "--cluster=elsewhere")
	if !strings.Contains(errString(err), `"elsewhere"`) {
		t.Errorf("diff --cluster=elsewhere: err %v, want the kubeconfig's missing cluster named", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestOutputNamesAFormatOrAFile: -o yaml|json writes to stdout as
// kubectl's -o does; synth -o FILE.yaml writes one file, never a
// directory named FILE.yaml; formats a verb does not write are refused.
func TestOutputNamesAFormatOrAFile(t *testing.T) {
	dir := t.TempDir()
	r := runBin(t, dir, "", "observe", "--from-file", demoFile("shop.tap.json.gz"), "--cluster-file", demoFile("shop.cluster.yaml"), "-o", "json")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "{\n") || !strings.Contains(r.stdout, `"kind": "Recording"`) {
		t.Fatalf("observe -o json: exit %d, stdout starts %.40q\n%s", r.code, r.stdout, r.stderr)
	}
	write(t, dir, "rec.json", r.stdout)
	if _, err := os.Stat(filepath.Join(dir, "json")); err == nil {
		t.Error("observe -o json wrote a file named json")
	}
	if r = runBin(t, dir, "", "graph", "merge", "rec.json", "-o", "yaml"); r.code != 0 || !strings.HasPrefix(r.stdout, "apiVersion: cinch") {
		t.Errorf("graph merge -o yaml: exit %d, stdout starts %.40q", r.code, r.stdout)
	}

	stream := runBin(t, dir, "", "synth", "rec.json", "-o", "yaml")
	if stream.code != 0 || !strings.Contains(stream.stdout, "kind: Server\n") {
		t.Fatalf("synth -o yaml: exit %d\n%s", stream.code, stream.stderr)
	}
	r = runBin(t, dir, "", "synth", "rec.json", "-o", "policy.yaml")
	got, err := os.ReadFile(filepath.Join(dir, "policy.yaml"))
	if r.code != 0 || err != nil || string(got) != stream.stdout {
		t.Errorf("synth -o policy.yaml: exit %d, read %v; want the stream as one file (%d bytes, got %d)\n%s", r.code, err, len(stream.stdout), len(got), r.stderr)
	}
	if r = runBin(t, dir, "", "synth", "rec.json", "-o", "policy"); r.code != 0 {
		t.Errorf("synth -o policy: exit %d\n%s", r.code, r.stderr)
	} else if _, err := os.Stat(filepath.Join(dir, "policy", "kustomization.yaml")); err != nil {
		t.Errorf("synth -o policy: no directory: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "old.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"synth", "rec.json", "-o", "json"}, "synth writes YAML manifests"},
		{[]string{"synth", "rec.json", "-o", "policy.json"}, "synth writes YAML manifests"},
		{[]string{"synth", "rec.json", "-o", "table"}, "synth writes YAML manifests"},
		{[]string{"synth", "rec.json", "-o", "old.yaml"}, "-o old.yaml is a directory: write old.yaml/"},
		{[]string{"report", "rec.json", "-o", "review.md"}, "report writes one HTML page"},
	} {
		r := runBin(t, dir, "", tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want a usage error saying %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	for _, name := range []string{"json", "table", "policy.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("a refused -o %s still made %s", name, name)
		}
	}
	if r = runBin(t, dir, "", "synth", "rec.json", "-o", "old.yaml/"); r.code != 0 {
		t.Errorf("synth -o old.yaml/: exit %d\n%s", r.code, r.stderr)
	}
}

// completions returns the candidates of a cobra __complete answer and
// its directive line.
func completions(out string) (candidates []string, directive string) {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

// TestCompletion: flag values complete through the built binary (as the
// shell scripts call it); namespaces, contexts and tap targets complete
// from a reachable kube context, and without one quietly complete nothing.
func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"synth", "rec.yaml", "--level", ""}, []string{"namespace", "serviceaccount", "route"}},
		{[]string{"pr", "rec.yaml", "--mode", ""}, []string{"audit", "enforce"}},
		{[]string{"diff", "rec.yaml", "-o", ""}, []string{"json", "markdown", "table"}},
		{[]string{"status", "-o", ""}, []string{"json", "markdown", "table"}},
		{[]string{"graph", "show", "rec.yaml", "-o", ""}, []string{"json", "table"}},
		{[]string{"explain", "-o", ""}, []string{"json", "text", "yaml"}},
		{[]string{"alerts", "-o", ""}, []string{"prometheusrule", "rules"}},
		{[]string{"observe", "-o", ""}, []string{"yaml", "json"}},
		{[]string{"synth", "-o", ""}, []string{"yaml"}},
		{[]string{"observe", "--format", ""}, []string{"raw", "json", "text"}},
		{[]string{"explain", "--default-inbound-policy", "cluster-"}, []string{"all-unauthenticated", "all-authenticated", "cluster-authenticated", "cluster-unauthenticated", "deny", "audit"}},
		{[]string{"observe", "d"}, []string{"deploy/", "ds/"}},
		// No kube context: nothing, quietly.
		{[]string{"observe", "-n", ""}, nil},
		{[]string{"observe", "deploy/"}, nil},
		{[]string{"diff", "rec.yaml", "--context", ""}, nil},
	} {
		r := runBin(t, dir, "", append([]string{"__complete"}, tc.args...)...)
		got, directive := completions(r.stdout)
		if r.code != 0 || !slices.Equal(got, tc.want) || !strings.HasPrefix(directive, ":") {
			t.Errorf("complete %q: exit %d, %q (%s), want %q", tc.args, r.code, got, directive, tc.want)
		}
		if strings.Count(r.stderr, "\n") > 1 {
			t.Errorf("complete %q says more than its directive on stderr:\n%s", tc.args, r.stderr)
		}
	}

	srv := fakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	defer srv.Close()
	kc := kubeconfig(t, srv)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"observe", "--kubeconfig", kc, "-n", ""}, []string{"empty", "shop"}},
		{[]string{"synth", "r.yaml", "--kubeconfig", kc, "-n", "s"}, []string{"shop"}},
		{[]string{"observe", "--kubeconfig", kc, "deploy/"}, []string{"deploy/web"}},
		{[]string{"observe", "--kubeconfig", kc, "-n", "empty", "deploy/"}, nil},
		{[]string{"observe", "--kubeconfig", kc, "ns/s"}, []string{"ns/shop"}},
		{[]string{"observe", "--kubeconfig", kc, "--to", "deploy/w"}, []string{"deploy/web"}},
		{[]string{"diff", "r.yaml", "--kubeconfig", kc, "--context", ""}, []string{"test"}},
		{[]string{"observe", "--kubeconfig", kc, "--cluster", ""}, []string{"test"}},
		{[]string{"diff", "r.yaml", "--kubeconfig", kc, "--cluster="}, []string{"test"}},
	} {
		out, _, err := run(t, "", append([]string{"__complete"}, tc.args...)...)
		if got, _ := completions(out); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("complete %q: %v, %q, want %q", tc.args, err, got, tc.want)
		}
	}
}
