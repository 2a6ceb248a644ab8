package cmd

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/scenario"
	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/tapapi"
	"github.com/cinchmesh/cinch/observe/tapstream"
)

// kubeconfig writes a kubeconfig for srv with a bearer token.
func kubeconfig(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	return write(t, t.TempDir(), "kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %s, insecure-skip-tls-verify: true}
users:
- name: dev
  user: {token: secret}
contexts:
- name: test
  context: {cluster: test, user: dev, namespace: shop}
current-context: test
`, srv.URL))
}

func TestObserveLive(t *testing.T) {
	frames := frame(t)
	want := tapapi.Params{Target: tapapi.Target{Kind: "deployment", Name: "web"}, Namespace: "shop", MaxRPS: 100}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" || r.URL.Path != want.URL() {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusBadRequest)
			return
		}
		w.Write(frames)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "rec.yaml")
	if _, _, err := run(t, "", "observe", "--kubeconfig", kubeconfig(t, srv), "deploy/web", "--duration", "300ms", "-o", out); err != nil {
		t.Fatal(err)
	}
	rec, err := recording.ReadFile(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := rec.Windows[0]
	if w.Source != "tap:shop/deploy/web" || !w.Sampling.Sampled || w.Sampling.MaxRPS != 100 || w.Start == nil || w.End == nil || w.Events != 3 {
		t.Errorf("window = %+v", w)
	}
	if len(rec.Edges) != 1 || rec.Edges[0].Requests != 1 || rec.Edges[0].Client != "ip:10.0.0.11" {
		t.Errorf("edges = %+v", rec.Edges)
	}
}

func TestObserveLiveErrors(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"kind":"Status","message":"deployments.tap.linkerd.io \"web\" is forbidden","reason":"Forbidden","code":403}`))
	}))
	defer srv.Close()
	kc := kubeconfig(t, srv)
	out := filepath.Join(t.TempDir(), "rec.yaml")
	for _, tc := range []struct {
		args []string
		exit int
		want string
	}{
		{[]string{"deploy/web", "-o", out}, ExitFailure, "linkerd-linkerd-viz-tap-admin"},
		{[]string{"deploy/web", "--context", "nope"}, ExitFailure, `context "nope"`},
		{[]string{"svc/web"}, ExitUsage, "does not support kind"},
		{[]string{"deploy/web", "--from-file", "x"}, ExitUsage, "not both"},
	} {
		_, _, err := run(t, "", append([]string{"observe", "--kubeconfig", kc}, tc.args...)...)
		if ExitCode(err) != tc.exit || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v (exit %d), want exit %d mentioning %q", tc.args, err, ExitCode(err), tc.exit, tc.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused window wrote %s", out)
	}
}

// frame builds the raw tap stream of goodText's request: the scenario
// encoder is the project's one writer of tap formats.
func frame(t *testing.T) []byte {
	t.Helper()
	dec := tapstream.NewTextDecoder(strings.NewReader(goodText), nil)
	var evs []event.Event
	for {
		var ev event.Event
		err := dec.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	var b bytes.Buffer
	if err := scenario.WriteRaw(&b, evs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
