package cmd

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
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
	if len(queries) != 6 || !strings.Contains(queries[0], `namespace=~"shop"`) ||
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

// promAnswers is a stand-in Prometheus API: the allow counter has one
// series per client identity given, to shop/web port 8080.
func promAnswers(identities ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.FormValue("query")
		var results []string
		switch {
		case strings.HasPrefix(q, "count"):
			results = append(results, `{"metric":{"namespace":"shop"},"value":[0,"3"]}`)
		case strings.Contains(q, "increase(inbound_http_authz_allow_total"):
			for _, id := range identities {
				results = append(results, `{"metric":{"namespace":"shop","deployment":"web","target_port":"8080","tls":"true","client_id":"`+id+`"},"value":[0,"5"]}`)
			}
		}
		w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(results, ",") + `]}}`))
	}
}

// TestObserveFromPrometheusNamesClients reads the cluster through the
// kubeconfig's API server to name the clients metrics know by identity:
// web's identity becomes shop/web with its labels; an identity from a
// namespace that is gone stays an identity.
func TestObserveFromPrometheusNamesClients(t *testing.T) {
	prom := httptest.NewServer(promAnswers("web.shop.serviceaccount.identity.linkerd.cluster.local",
		"batch.gone.serviceaccount.identity.linkerd.cluster.local"))
	defer prom.Close()
	api := fakeAPIServer(t, nil)
	defer api.Close()
	out := filepath.Join(t.TempDir(), "rec.yaml")
	if _, stderr, err := run(t, "", "observe", "--from-prometheus", prom.URL, "--kubeconfig", kubeconfig(t, api), "-n", "shop", "-o", out); err != nil {
		t.Fatal(err, stderr)
	}
	rec, err := recording.ReadFile(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	var clients []recording.PeerID
	for _, e := range rec.Edges {
		clients = append(clients, e.Client)
	}
	want := []recording.PeerID{"identity:batch.gone.serviceaccount.identity.linkerd.cluster.local", "shop/web"}
	if !slices.Equal(clients, want) {
		t.Errorf("clients = %q, want %q", clients, want)
	}
	if len(rec.Workloads) != 1 || rec.Workloads[0].ID != "shop/web" || rec.Workloads[0].Labels["app"] != "web" || rec.Workloads[0].ServiceAccount != "web" {
		t.Errorf("workloads = %+v, want shop/web as the cluster declares it", rec.Workloads)
	}
}

func TestObserveFromPrometheusWithoutKubeconfig(t *testing.T) {
	prom := httptest.NewServer(promAnswers("web.shop.serviceaccount.identity.linkerd.cluster.local"))
	defer prom.Close()
	out := filepath.Join(t.TempDir(), "rec.yaml")
	_, stderr, err := run(t, "", "observe", "--from-prometheus", prom.URL, "-n", "shop", "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "no kubeconfig") || !strings.Contains(stderr, "--cluster-file") {
		t.Errorf("stderr = %q, want a note that clients stay identities", stderr)
	}
	rec, err := recording.ReadFile(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Edges) != 1 || rec.Edges[0].Client != "identity:web.shop.serviceaccount.identity.linkerd.cluster.local" {
		t.Errorf("edges = %+v", rec.Edges)
	}
}

// TestPrometheusAuthFlags checks the bearer token and TLS flags against an
// HTTPS stand-in that wants the token.
func TestPrometheusAuthFlags(t *testing.T) {
	answers := promAnswers("web.shop.serviceaccount.identity.linkerd.cluster.local")
	prom := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"status":"error","errorType":"unauthorized","error":"bad token"}`))
			return
		}
		answers(w, r)
	}))
	// The case without the CA fails the handshake on purpose.
	prom.Config.ErrorLog = log.New(io.Discard, "", 0)
	prom.StartTLS()
	defer prom.Close()
	dir := t.TempDir()
	token := write(t, dir, "token", "s3cret\n")
	wrongToken := write(t, dir, "wrong", "nope")
	ca := write(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: prom.Certificate().Raw})))
	notPEM := write(t, dir, "ca.txt", "not a certificate")
	base := []string{"observe", "--from-prometheus", prom.URL, "-n", "shop", "--cluster-file", write(t, dir, "cluster.yaml", clusterYAML), "-o", filepath.Join(dir, "rec.yaml")}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error; "" for success
	}{
		{"token and CA", []string{"--prometheus-bearer-token-file", token, "--prometheus-ca-file", ca}, ""},
		{"token, no verification", []string{"--prometheus-bearer-token-file", token, "--prometheus-insecure-skip-tls-verify"}, ""},
		{"unknown CA", []string{"--prometheus-bearer-token-file", token}, "certificate"},
		{"wrong token", []string{"--prometheus-bearer-token-file", wrongToken, "--prometheus-ca-file", ca}, "bad token"},
		{"missing token file", []string{"--prometheus-bearer-token-file", filepath.Join(dir, "absent")}, "--prometheus-bearer-token-file"},
		{"CA file without certificates", []string{"--prometheus-ca-file", notPEM}, "--prometheus-ca-file " + notPEM + ": no PEM certificates"},
	} {
		_, _, err := run(t, "", append(slices.Clone(base), tc.args...)...)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}
