package cmd

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/fixtures/scenario"
	"github.com/cinchmesh/cinch/observe/recording"
)

// The tiny scenario: demo/client calls GET /items/{int} on demo/server
// (labels app=server, port 8080 "http") 10 times over mTLS.
const (
	serverOnly = `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {namespace: demo, name: server-http}
spec:
  podSelector: {matchLabels: {app: server}}
  port: http`
	clientAllowed = serverOnly + `
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: demo, name: server-client}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: server-http}
  requiredAuthenticationRefs: [{kind: ServiceAccount, name: client}]`
)

// tinyFiles writes the tiny scenario's recording and the named policies
// into a directory and returns their paths.
func tinyFiles(t *testing.T, policies map[string]string) (dir, rec string) {
	t.Helper()
	dir = t.TempDir()
	rec = filepath.Join(dir, "tiny.yaml")
	if err := recording.WriteFile(rec, recorded.Scenario(t, "tiny"), nil); err != nil {
		t.Fatal(err)
	}
	for name, content := range policies {
		write(t, dir, name, content)
	}
	return dir, rec
}

func TestDiffExitCodes(t *testing.T) {
	dir, rec := tinyFiles(t, map[string]string{
		"empty.yaml":   "# no policy\n",
		"server.yaml":  serverOnly,
		"audit.yaml":   serverOnly + "\n  accessPolicy: audit",
		"allowed.yaml": clientAllowed,
	})
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		name string
		args []string
		exit int
		// want is in stdout, or in the error when the exit code is not 0.
		want string
	}{
		{"no policy: the cluster default admits the client", []string{"--policy", p("empty.yaml")}, ExitOK, "would be denied         0 tuples (0 requests)"},
		{"a Server alone denies the client", []string{"--policy", p("server.yaml")}, ExitFindings, "the policy would deny observed traffic: 1 tuples (10 requests)"},
		{"an authorization for the client's service account admits it", []string{"--policy", p("allowed.yaml")}, ExitOK, "UNUSED GRANTS"},
		{"a directory of manifests: both files together admit it", []string{"--policy", dir}, ExitOK, "would be denied         0 tuples"},
		{"audit mode fails: it breaks once enforced", []string{"--policy", p("audit.yaml")}, ExitFindings, "admitted only by audit mode and would be denied when enforced: 1 tuples (10 requests)"},
		{"audit mode passes with --allow-audit", []string{"--policy", p("audit.yaml"), "--allow-audit"}, ExitOK, "admitted only by audit  1 tuples (10 requests)"},
		{"the deprecated --fail-on-audit still fails", []string{"--policy", p("audit.yaml"), "--fail-on-audit"}, ExitFindings, "only by audit mode"},
		{"a deny cluster default denies", []string{"--policy", p("empty.yaml"), "--default-inbound-policy", "deny"}, ExitFindings, "would deny"},
		{"-n leaves other namespaces out", []string{"--policy", p("server.yaml"), "-n", "elsewhere"}, ExitOK, "observed                0 tuples"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := run(t, "", append([]string{"diff", rec}, tc.args...)...)
			if got := ExitCode(err); got != tc.exit {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tc.exit, stdout)
			}
			where := stdout
			if err != nil {
				where = err.Error()
			}
			if !strings.Contains(where, tc.want) {
				t.Errorf("want %q in:\n%s", tc.want, where)
			}
		})
	}
}

func TestDiffUsageErrors(t *testing.T) {
	dir, rec := tinyFiles(t, map[string]string{"p.yaml": serverOnly})
	p := filepath.Join(dir, "p.yaml")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"diff", rec}, "--policy PATH or --from-cluster"},
		{[]string{"diff", rec, "--policy", p, "--from-cluster"}, "--policy PATH or --from-cluster"},
		{[]string{"diff", rec, "--from-cluster", "--cluster-file", p}, "--cluster-file"},
		{[]string{"diff", "--policy", p}, "recording"},
		{[]string{"diff", rec, "--policy", p, "-o", "yaml"}, "-o"},
		{[]string{"diff", rec, "--policy", p, "--default-inbound-policy", "open"}, "--default-inbound-policy"},
		{[]string{"diff", rec, "--policy", p, "--cluster-networks", "10.0.0.0"}, "--cluster-networks"},
		{[]string{"diff", "-", "--policy", "-"}, "stdin"},
	} {
		_, _, err := run(t, "", tc.args...)
		if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v (exit %d), want a usage error naming %s", tc.args, err, ExitCode(err), tc.want)
		}
	}
	_, _, err := run(t, "", "diff", rec, "--policy", filepath.Join(dir, "missing.yaml"))
	if ExitCode(err) != ExitFailure || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing policy file: %v (exit %d), want exit 3 naming it", err, ExitCode(err))
	}
}

func TestDiffPolicyFromStdinAsJSON(t *testing.T) {
	_, rec := tinyFiles(t, nil)
	stdout, _, err := run(t, serverOnly, "diff", rec, "--policy", "-", "-o", "json", "--live-check")
	if ExitCode(err) != ExitFindings {
		t.Fatalf("exit %d (%v), want 1", ExitCode(err), err)
	}
	var rep struct {
		Denied []struct {
			Client, Server, Route, Reason string
			Requests                      int64
		} `json:"wouldBeDenied"`
		Live *struct{ Requests, Disagree int64 } `json:"liveCheck"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	if len(rep.Denied) != 1 || rep.Denied[0].Client != "demo/client" || rep.Denied[0].Reason != "NoAuthorizationMatched" || rep.Denied[0].Requests != 10 {
		t.Errorf("denied = %+v, want demo/client's 10 requests, NoAuthorizationMatched", rep.Denied)
	}
	// The recording was made under the default policy, not this one.
	if rep.Live == nil || rep.Live.Requests != 10 || rep.Live.Disagree != 10 {
		t.Errorf("live check = %+v, want 10 requests compared, all disagreeing", rep.Live)
	}
	stdout, _, _ = run(t, serverOnly, "diff", rec, "--policy", "-")
	if strings.Contains(stdout, "LIVE DECISIONS") {
		t.Errorf("--policy checks live decisions without --live-check:\n%s", stdout)
	}
}

// --cluster-file replaces what the recording says about the server: with
// other labels, the Server no longer selects it.
func TestDiffClusterFile(t *testing.T) {
	dir, rec := tinyFiles(t, map[string]string{"server.yaml": serverOnly})
	sc, err := scenario.Load(filepath.Join("..", "fixtures", "scenarios", "tiny.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var objs bytes.Buffer
	if err := sc.WriteCluster(&objs); err != nil {
		t.Fatal(err)
	}
	renamed := write(t, dir, "cluster.yaml", strings.ReplaceAll(objs.String(), "app: server", "app: renamed"))
	_, _, err = run(t, "", "diff", rec, "--policy", filepath.Join(dir, "server.yaml"), "--cluster-file", renamed)
	if err != nil {
		t.Errorf("with the cluster's labels: %v, want no finding", err)
	}
}
