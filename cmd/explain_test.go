package cmd

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/scenario"
)

func TestExplainExitCodes(t *testing.T) {
	dir, rec := tinyFiles(t, map[string]string{
		"empty.yaml":   "# no policy\n",
		"server.yaml":  serverOnly,
		"audit.yaml":   serverOnly + "\n  accessPolicy: audit",
		"allowed.yaml": clientAllowed,
	})
	p := func(name string) string { return filepath.Join(dir, name) }
	request := []string{"explain", rec, "--from", "demo/client", "--to", "demo/server:8080", "--path", "/items/1"}
	for _, tc := range []struct {
		name string
		args []string
		exit int
		want string // in stdout, or in the error when the exit code is not 0
	}{
		{"the cluster default admits it", []string{"--policy", p("empty.yaml")}, ExitOK, "srv_kind=default srv_name=all-unauthenticated"},
		{"a Server alone denies it", []string{"--policy", p("server.yaml")}, ExitFindings, "the policy denies demo/client -> demo/server:8080 (NoAuthorizationMatched)"},
		{"only audit admits it", []string{"--policy", p("audit.yaml")}, ExitFindings, "only audit mode admits"},
		{"--allow-audit accepts audit", []string{"--policy", p("audit.yaml"), "--allow-audit"}, ExitOK, "ALLOWED ONLY BY AUDIT"},
		{"an authorization admits it", []string{"--policy", p("allowed.yaml")}, ExitOK, "=> yes authorizationpolicy.policy.linkerd.io/server-client"},
		{"--denied explains the recording's denials", []string{"--policy", p("server.yaml"), "--denied"}, ExitFindings, "10 requests are denied (1 groups)"},
		{"--denied with nothing denied", []string{"--policy", p("allowed.yaml"), "--denied"}, ExitOK, "no denied or audit-only requests"},
		{"no policy", nil, ExitUsage, "--policy PATH or --from-cluster"},
		{"bad client", []string{"--policy", p("empty.yaml"), "--from", "nobody"}, ExitUsage, "--from: client \"nobody\""},
		{"--route with --path", []string{"--policy", p("empty.yaml"), "--route", "HTTPRoute/x"}, ExitUsage, "drop --method and --path"},
		{"bad output", []string{"--policy", p("empty.yaml"), "-o", "xml"}, ExitUsage, "-o \"xml\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := run(t, "", append(append([]string{}, request...), tc.args...)...)
			if ExitCode(err) != tc.exit {
				t.Fatalf("exit %d (%v), want %d\n%s", ExitCode(err), err, tc.exit, stdout)
			}
			got := stdout
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("want %q in:\n%s", tc.want, got)
			}
		})
	}
}

// -o yaml is the grant alone, which explain then admits.
func TestExplainGrantApplies(t *testing.T) {
	dir, rec := tinyFiles(t, map[string]string{"server.yaml": serverOnly})
	request := []string{"explain", rec, "--from", "demo/client", "--to", "demo/server:8080", "--path", "/items/1"}
	grant, _, err := run(t, "", append(request, "--policy", filepath.Join(dir, "server.yaml"), "-o", "yaml")...)
	if ExitCode(err) != ExitFindings || !strings.Contains(grant, "kind: AuthorizationPolicy") {
		t.Fatalf("exit %d, grant:\n%s", ExitCode(err), grant)
	}
	write(t, dir, "grant.yaml", grant)
	if _, _, err := run(t, "", append(request, "--policy", filepath.Join(dir, "server.yaml"), "--policy", filepath.Join(dir, "grant.yaml"))...); err != nil {
		t.Errorf("with the grant: %v", err)
	}
}

// --denied --from-prometheus records the window from a stand-in API (one
// denied series) and explains the denial.
func TestExplainDeniedFromPrometheus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metric := `{"namespace":"demo"}`
		if strings.Contains(r.FormValue("query"), "increase(inbound_http_authz_deny_total") {
			metric = `{"namespace":"demo","deployment":"server","target_port":"8080","tls":"true","client_id":"client.demo.serviceaccount.identity.linkerd.cluster.local"}`
		}
		w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":` + metric + `,"value":[0,"3"]}]}}`))
	}))
	defer srv.Close()
	dir, _ := tinyFiles(t, map[string]string{"server.yaml": serverOnly})
	sc, err := scenario.Load(filepath.Join("..", "fixtures", "scenarios", "tiny.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var objs bytes.Buffer
	if err := sc.WriteCluster(&objs); err != nil {
		t.Fatal(err)
	}
	clusterFile := write(t, dir, "cluster.yaml", objs.String())
	stdout, _, err := run(t, "", "explain", "--denied", "--from-prometheus", srv.URL, "--window", "1h",
		"--cluster-file", clusterFile, "--policy", filepath.Join(dir, "server.yaml"))
	if ExitCode(err) != ExitFindings {
		t.Fatalf("exit %d (%v)\n%s", ExitCode(err), err, stdout)
	}
	for _, want := range []string{"=== 1. denied by the policy in force: demo/client -> demo/server:8080, 3 requests",
		"DENIED (NoAuthorizationMatched)", "name: client\n    namespace: demo"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("want %q in:\n%s", want, stdout)
		}
	}
}
