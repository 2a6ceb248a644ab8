package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/scenario"
	"github.com/cinchmesh/cinch/observe/cluster"
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

// clusterYAML is what the fake API server lists: web's pod has the
// address goodText's request went to, and the client's address is a node.
const clusterYAML = `apiVersion: v1
kind: Namespace
metadata: {name: shop, annotations: {config.linkerd.io/default-inbound-policy: all-authenticated}}
---
apiVersion: v1
kind: Namespace
metadata: {name: empty}
---
apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: 10.0.0.11}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: 0d0f6a3e-8d3c-4f1e-9a57-6b1c2e3d4f01, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers:
      - name: main
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /ping, port: http}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d8f
  namespace: shop
  uid: 0d0f6a3e-8d3c-4f1e-9a57-6b1c2e3d4f02
  labels: {app: web, pod-template-hash: 5d8f}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: 0d0f6a3e-8d3c-4f1e-9a57-6b1c2e3d4f01, controller: true}]
spec:
  selector: {matchLabels: {app: web, pod-template-hash: 5d8f}}
  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: main}]}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-5d8f-x1
  namespace: shop
  labels: {app: web, pod-template-hash: 5d8f, linkerd.io/control-plane-ns: linkerd}
  annotations: {viz.linkerd.io/tap-enabled: "true"}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f, uid: 0d0f6a3e-8d3c-4f1e-9a57-6b1c2e3d4f02, controller: true}]
spec:
  serviceAccountName: web
  containers: [{name: main, ports: [{name: http, containerPort: 8080}]}, {name: linkerd-proxy}]
status: {phase: Running, podIP: 10.42.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: legacy, namespace: shop, labels: {app: legacy}}
spec: {containers: [{name: main}]}
status: {phase: Running, podIP: 10.42.0.3}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}
`

// fakeAPIServer answers the list and get requests cinch makes for cluster
// enrichment from clusterYAML, and hands tap requests to tap.
func fakeAPIServer(t *testing.T, tap http.HandlerFunc) *httptest.Server {
	t.Helper()
	objs, err := cluster.Read(strings.NewReader(clusterYAML))
	if err != nil {
		t.Fatal(err)
	}
	type list struct {
		apiVersion, kind string
		items            func(ns string) []any
	}
	inNS := func(ns string, all []any, nsOf func(any) string) []any {
		var out []any
		for _, o := range all {
			if ns == "" || nsOf(o) == ns {
				out = append(out, o)
			}
		}
		return out
	}
	each := func(objects ...any) []any { return objects }
	meta := func(o any) string {
		b, _ := json.Marshal(o)
		var m struct {
			Metadata struct{ Namespace string } `json:"metadata"`
		}
		json.Unmarshal(b, &m)
		return m.Metadata.Namespace
	}
	asAny := func(n int, at func(int) any) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = at(i)
		}
		return out
	}
	lists := map[string]list{
		"pods": {"v1", "PodList", func(ns string) []any {
			return inNS(ns, asAny(len(objs.Pods), func(i int) any { return objs.Pods[i] }), meta)
		}},
		"services": {"v1", "ServiceList", func(ns string) []any {
			return inNS(ns, asAny(len(objs.Services), func(i int) any { return objs.Services[i] }), meta)
		}},
		"replicasets": {"apps/v1", "ReplicaSetList", func(ns string) []any {
			return inNS(ns, asAny(len(objs.ReplicaSets), func(i int) any { return objs.ReplicaSets[i] }), meta)
		}},
		"deployments": {"apps/v1", "DeploymentList", func(ns string) []any {
			return inNS(ns, asAny(len(objs.Deployments), func(i int) any { return objs.Deployments[i] }), meta)
		}},
		"statefulsets": {"apps/v1", "StatefulSetList", func(string) []any { return each() }},
		"daemonsets":   {"apps/v1", "DaemonSetList", func(string) []any { return each() }},
		"jobs":         {"batch/v1", "JobList", func(string) []any { return each() }},
		"cronjobs":     {"batch/v1", "CronJobList", func(string) []any { return each() }},
		"nodes":        {"v1", "NodeList", func(string) []any { return asAny(len(objs.Nodes), func(i int) any { return objs.Nodes[i] }) }},
		"namespaces":   {"v1", "NamespaceList", func(string) []any { return asAny(len(objs.Namespaces), func(i int) any { return objs.Namespaces[i] }) }},
	}
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/apis/tap.linkerd.io/") {
			tap(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/version" { // cinch asks it whether the context answers
			fmt.Fprint(w, `{"major":"1","minor":"34","gitVersion":"v1.34.4"}`)
			return
		}
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		// /api/v1/..., /apis/GROUP/VERSION/...: drop the prefix.
		if parts[0] == "api" {
			parts = parts[2:]
		} else {
			parts = parts[3:]
		}
		ns := ""
		if len(parts) >= 2 && parts[0] == "namespaces" {
			ns = parts[1]
			parts = parts[2:]
			if len(parts) == 0 { // GET one namespace
				for _, n := range objs.Namespaces {
					if n.Name == ns {
						n.Kind, n.APIVersion = "Namespace", "v1"
						json.NewEncoder(w).Encode(n)
						return
					}
				}
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"namespaces %q not found","details":{"name":%q,"kind":"namespaces"}}`, ns, ns)
				return
			}
		}
		l, ok := lists[parts[0]]
		if !ok || len(parts) != 1 {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": l.apiVersion, "kind": l.kind, "metadata": map[string]any{}, "items": l.items(ns)})
	}))
}

func TestObserveLive(t *testing.T) {
	frames := frame(t)
	want := tapapi.Params{Target: tapapi.Target{Kind: "deployment", Name: "web"}, Namespace: "shop", MaxRPS: 100}
	srv := fakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != want.URL() {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusBadRequest)
			return
		}
		w.Write(frames)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
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
	if w.Source != "tap:shop/deployment/web" || !w.Sampling.Sampled || w.Sampling.MaxRPS != 100 || w.Start == nil || w.End == nil || w.Events != 3 {
		t.Errorf("window = %+v", w)
	}
	// The event carries only addresses: the cluster names them.
	if len(rec.Edges) != 1 || rec.Edges[0].Requests != 1 || rec.Edges[0].Client != "node:node-1" || rec.Edges[0].Server != "shop/web" {
		t.Errorf("edges = %+v, want node:node-1 -> shop/web", rec.Edges)
	}
	if len(rec.Workloads) != 1 || rec.Workloads[0].DefaultInboundPolicy != "all-authenticated" || len(rec.Workloads[0].Probes) != 1 ||
		rec.Workloads[0].Identity != "web.shop.serviceaccount.identity.linkerd.cluster.local" || len(rec.Workloads[0].Services) != 1 {
		t.Errorf("workloads = %+v, want web enriched from the cluster", rec.Workloads)
	}

	// --append adds a second window, and the counts add up.
	if _, _, err := run(t, "", "observe", "--kubeconfig", kubeconfig(t, srv), "deploy/web", "--duration", "300ms", "-o", out, "--append"); err != nil {
		t.Fatal(err)
	}
	if rec, err = recording.ReadFile(out, nil); err != nil {
		t.Fatal(err)
	}
	if len(rec.Windows) != 2 || len(rec.Edges) != 1 || rec.Edges[0].Requests != 2 {
		t.Errorf("after --append: %d windows, edges %+v; want 2 windows and 2 requests", len(rec.Windows), rec.Edges)
	}
}

func TestObserveLiveAllNamespacesAndProgress(t *testing.T) {
	frames := frame(t)
	var paths []string
	var mu sync.Mutex
	srv := fakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Write(frames)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	defer srv.Close()
	var stderr bytes.Buffer
	root := NewRoot("cinch", Streams{In: strings.NewReader(""), Out: io.Discard, Err: &stderr, Terminal: true})
	out := filepath.Join(t.TempDir(), "rec.yaml")
	root.SetArgs([]string{"observe", "--kubeconfig", kubeconfig(t, srv), "-A", "--duration", "1500ms", "-o", out})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Only shop has a pod tap can reach; the empty namespace gets no stream.
	if len(paths) != 1 || paths[0] != "/apis/tap.linkerd.io/v1alpha1/watch/namespaces/shop/tap" {
		t.Errorf("tap requests = %v, want one for namespace shop", paths)
	}
	// Before the window: the pod in shop that tap cannot reach, and why.
	if want := "warning: namespace shop: 1 pods cannot be tapped; their traffic is recorded only where a tapped peer reports it:\n  not meshed (no linkerd.io/control-plane-ns label): legacy; inject the linkerd proxy (linkerd inject) and restart\n"; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr = %q, want it to start with %q", stderr.String(), want)
	}
	if !strings.Contains(stderr.String(), "streams 1/1 up") || !strings.Contains(stderr.String(), "recorded 1s") || !strings.Contains(stderr.String(), "1 edges") || !strings.HasSuffix(stderr.String(), "\n") {
		t.Errorf("stderr = %q, want a progress line ending in a newline", stderr.String())
	}
}

func TestObserveLiveErrors(t *testing.T) {
	forbidden := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"kind":"Status","message":"deployments.tap.linkerd.io \"web\" is forbidden","reason":"Forbidden","code":403}`))
	}
	srv := fakeAPIServer(t, forbidden)
	defer srv.Close()
	kc := kubeconfig(t, srv)
	dir := t.TempDir()
	out := filepath.Join(dir, "rec.yaml")
	bad := write(t, dir, "bad.yaml", "apiVersion: cinch.cinchmesh.io/v1alpha1\nkind: Recording\nwindows: 3\n")
	for _, tc := range []struct {
		args []string
		exit int
		want string
	}{
		{[]string{"deploy/web", "-o", out}, ExitFailure, "linkerd-linkerd-viz-tap-admin"},
		{[]string{"deploy/web", "--context", "nope"}, ExitFailure, `context "nope"`},
		{[]string{"deploy/web", "-n", "nope"}, ExitFailure, `namespace "nope" not found in context "test"`},
		{[]string{"deploy/api"}, ExitFailure, "deployment/api in namespace shop: not found"},
		{[]string{"deploy", "-l", "pod-template-hash=5d8f"}, ExitFailure, "deployments in namespace shop matching -l pod-template-hash=5d8f: no deployment has labels matching"},
		{[]string{"deploy/web", "-l", "app=other"}, ExitUsage, "tap ignores it for named targets"},
		{[]string{"ns/shop", "-l", "app=web"}, ExitUsage, "give a kind, or drop -l"},
		{[]string{"-A", "-l", "app=web"}, ExitUsage, "give a kind"},
		{[]string{"pod/legacy"}, ExitFailure, "none of its 1 pods can be tapped:\n  not meshed (no linkerd.io/control-plane-ns label): legacy; inject the linkerd proxy"},
		{[]string{"ns/empty"}, ExitFailure, "namespace/empty: no pending or running pods"},
		{[]string{"svc/web"}, ExitUsage, "does not support kind"},
		{[]string{"deploy/web", "--from-file", "x"}, ExitUsage, "not both"},
		{[]string{"-A", "deploy/web"}, ExitUsage, "name kinds only"},
		{[]string{"deploy", "-l", "a=(b"}, ExitUsage, "--selector"},
		{[]string{"deploy/web", "--to-namespace", "x"}, ExitUsage, "--to-namespace needs --to"},
		{[]string{"deploy/web", "--to", "svc/x"}, ExitUsage, "--to"},
		{[]string{"deploy/web", "--append"}, ExitUsage, "--append needs -o FILE"},
		{[]string{"deploy/web", "--append", "-o", bad}, ExitFailure, "bad.yaml"},
		{[]string{}, ExitUsage, "name tap targets"},
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
