package cmd

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
)

// TestObserveFromPrometheus runs observe against a stand-in API that
// answers every edge query with one series, and checks the flags reach it.
func TestObserveFromPrometheus(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.FormValue("query")+" time="+r.FormValue("time")+" tenant="+r.Header.Get("X-Scope-OrgID"))
		mu.Unlock()
		metric := `{"namespace":"shop"}`
		if strings.Contains(r.FormValue("query"), "increase(inbound_http_authz_deny_total") {
			metric = `{"namespace":"shop","deployment":"web","target_port":"8080","tls":"true","client_id":"x.other.serviceaccount.identity.linkerd.cluster.local"}`
		}
		w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":` + metric + `,"value":[0,"3"]}]}}`))
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "rec.yaml")
	if _, _, err := run(t, "", "observe", "--from-prometheus", srv.URL, "-n", "shop", "--window", "14d",
		"--end", "2026-11-20T00:00:00Z", "--header", "X-Scope-OrgID=team", "-o", out); err != nil {
		t.Fatal(err)
	}
	rec, err := recording.ReadFile(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Edges) != 1 || rec.Edges[0].Denied != 3 || rec.Edges[0].Server != "shop/web" ||
		rec.Windows[0].Source != "prometheus:"+srv.URL || rec.Windows[0].Sampling.Sampled {
		t.Errorf("recording = %+v", rec)
	}
	if len(queries) != 4 || !strings.Contains(queries[0], `namespace=~"shop"`) ||
		!strings.HasSuffix(queries[1], "[1209600s])) time=1795132800.000 tenant=team") {
		t.Errorf("queries = %q", queries)
	}
}

func TestObserveFromPrometheusUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from-prometheus", "http://127.0.0.1:1"}, "needs -n NAMESPACE or -A"},
		{[]string{"--from-prometheus", "http://127.0.0.1:1", "-A", "-n", "shop"}, "needs -n NAMESPACE or -A"},
		{[]string{"--from-prometheus", "127.0.0.1:9090", "-A"}, "--from-prometheus"},
		{[]string{"--from-prometheus", "http://127.0.0.1:1", "-A", "--header", "novalue"}, `--header "novalue"`},
		{[]string{"--from-prometheus", "http://127.0.0.1:1", "-A", "--end", "yesterday"}, "--end"},
		{[]string{"--from-prometheus", "http://127.0.0.1:1", "-A", "--from-file", "x"}, "either"},
	} {
		_, _, err := run(t, "", append([]string{"observe"}, tc.args...)...)
		if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("observe %v: err = %v (exit %d), want usage error with %q", tc.args, err, ExitCode(err), tc.want)
		}
	}
	if _, _, err := run(t, "", "observe", "--from-prometheus", "http://127.0.0.1:1", "-A", "--window", "2x"); err == nil ||
		!strings.Contains(err.Error(), "14d") {
		t.Errorf("bad --window: err = %v", err)
	}
}
