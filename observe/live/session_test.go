package live

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/tapapi"
)

// sessionObjects: shop has a tappable Deployment, a Deployment started
// before linkerd-viz and an unmeshed pod; offline has only pods with tap
// disabled; plain has no meshed pod.
const sessionObjects = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: offline}
---
apiVersion: v1
kind: Namespace
metadata: {name: plain}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: 7f1e0000-0000-4000-8000-000000000001, labels: {app: web, tier: frontend}}
spec: {selector: {matchLabels: {app: web}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-abc
  namespace: shop
  uid: 7f1e0000-0000-4000-8000-000000000002
  labels: {app: web, pod-template-hash: abc}
  ownerReferences: [{kind: Deployment, name: web, uid: 7f1e0000-0000-4000-8000-000000000001, controller: true}]
spec: {selector: {matchLabels: {app: web, pod-template-hash: abc}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-abc-1
  namespace: shop
  labels: {app: web, pod-template-hash: abc, linkerd.io/control-plane-ns: linkerd}
  annotations: {viz.linkerd.io/tap-enabled: "true"}
  ownerReferences: [{kind: ReplicaSet, name: web-abc, uid: 7f1e0000-0000-4000-8000-000000000002, controller: true}]
status: {phase: Running, podIP: 10.42.0.1}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-abc-2
  namespace: shop
  labels: {app: web, pod-template-hash: abc, linkerd.io/control-plane-ns: linkerd}
  ownerReferences: [{kind: ReplicaSet, name: web-abc, uid: 7f1e0000-0000-4000-8000-000000000002, controller: true}]
status: {phase: Running, podIP: 10.42.0.2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger, namespace: shop, uid: 7f1e0000-0000-4000-8000-000000000003, labels: {app: ledger}}
spec: {selector: {matchLabels: {app: ledger}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: ledger-def
  namespace: shop
  uid: 7f1e0000-0000-4000-8000-000000000004
  labels: {app: ledger, pod-template-hash: def}
  ownerReferences: [{kind: Deployment, name: ledger, uid: 7f1e0000-0000-4000-8000-000000000003, controller: true}]
spec: {selector: {matchLabels: {app: ledger, pod-template-hash: def}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: ledger-def-1
  namespace: shop
  labels: {app: ledger, pod-template-hash: def, linkerd.io/control-plane-ns: linkerd}
  ownerReferences: [{kind: ReplicaSet, name: ledger-def, uid: 7f1e0000-0000-4000-8000-000000000004, controller: true}]
status: {phase: Running, podIP: 10.42.0.3}
---
apiVersion: v1
kind: Pod
metadata: {name: legacy, namespace: shop, labels: {app: legacy}}
status: {phase: Running, podIP: 10.42.0.4}
---
apiVersion: v1
kind: Pod
metadata:
  name: batch
  namespace: offline
  labels: {linkerd.io/control-plane-ns: linkerd}
  annotations: {viz.linkerd.io/disable-tap: "true"}
status: {phase: Running, podIP: 10.42.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: dns, namespace: plain}
status: {phase: Running, podIP: 10.42.2.1}
`

// tapServer accepts every tap request and holds it open, noting its URL.
type tapServer struct {
	mu   sync.Mutex
	urls []string
}

func (s *tapServer) start(t *testing.T) *tapapi.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.urls = append(s.urls, r.URL.Path)
		s.mu.Unlock()
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return &tapapi.Client{HTTP: srv.Client(), Host: srv.URL}
}

func (s *tapServer) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(slices.Values(s.urls))
}

// session is a session over a fake API server holding sessionObjects.
func session(t *testing.T, s Session) (Session, *Plan) {
	t.Helper()
	objs, err := cluster.Read(strings.NewReader(sessionObjects))
	if err != nil {
		t.Fatal(err)
	}
	var all []runtime.Object
	for i := range objs.Namespaces {
		all = append(all, &objs.Namespaces[i])
	}
	for i := range objs.Pods {
		all = append(all, &objs.Pods[i])
	}
	for i := range objs.Deployments {
		all = append(all, &objs.Deployments[i])
	}
	for i := range objs.ReplicaSets {
		all = append(all, &objs.ReplicaSets[i])
	}
	s.Kube, s.Context, s.Limits = fake.NewClientset(all...), "test", recording.DefaultLimits
	s.Duration = 200 * time.Millisecond
	plan := &Plan{}
	s.Planned = func(p *Plan) { *plan = *p }
	return s, plan
}

func untappable(p *Plan) []string {
	var out []string
	for _, u := range p.Untappable {
		out = append(out, u.Namespace+"/"+u.Name+": "+u.State.String())
	}
	return out
}

// TestRunAllNamespaces: -A opens a stream for each namespace with a pod to
// tap, and says, before the window, which pods cannot be tapped and why,
// where something is meshed.
func TestRunAllNamespaces(t *testing.T) {
	tap := &tapServer{}
	s, plan := session(t, Session{AllNamespaces: true})
	rec, err := Run(context.Background(), tap.start(t), s)
	if err != nil {
		t.Fatal(err)
	}
	if got := tap.requested(); !slices.Equal(got, []string{"/apis/tap.linkerd.io/v1alpha1/watch/namespaces/shop/tap"}) {
		t.Errorf("tap requests %v, want one for shop", got)
	}
	want := []string{
		"offline/batch: " + cluster.TapDisabled.String(),
		"shop/legacy: " + cluster.NotMeshed.String(),
		"shop/ledger-def-1: " + cluster.TapNotEnabled.String(),
		"shop/web-abc-2: " + cluster.TapNotEnabled.String(),
	}
	if got := untappable(plan); !slices.Equal(got, want) || !slices.Equal(plan.Unmeshed, []string{"plain"}) {
		t.Errorf("plan: untappable %q, unmeshed %v; want %q, [plain]", got, plan.Unmeshed, want)
	}
	if w := rec.Windows[0]; w.Source != "tap:ns/shop" || w.Start == nil || w.End == nil || w.Sampling.MaxRPS != 100 {
		t.Errorf("window %+v", w)
	}

	// Kinds in every namespace, and -l on their own labels.
	tap = &tapServer{}
	s, _ = session(t, Session{AllNamespaces: true, Targets: []tapapi.Target{{Kind: "deployment"}}, Selector: "tier=frontend"})
	if _, err := Run(context.Background(), tap.start(t), s); err != nil {
		t.Fatal(err)
	}
	if got := tap.requested(); !slices.Equal(got, []string{"/apis/tap.linkerd.io/v1alpha1/watch/namespaces/shop/deployments//tap"}) {
		t.Errorf("tap requests %v, want deployments in shop", got)
	}
}

// TestRunRefusals: what cannot be tapped is refused before any request.
func TestRunRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		session Session
		want    string
	}{
		{"nothing anywhere", Session{AllNamespaces: true, Targets: []tapapi.Target{{Kind: "deployment"}}, Selector: "app=ledger"},
			`no pod can be tapped in any namespace of context "test"`},
		{"named, none tappable", Session{Namespace: "shop", Targets: []tapapi.Target{{Kind: "deployment", Name: "ledger"}}},
			"deployment/ledger in namespace shop: none of its 1 pods can be tapped:\n  tap not enabled (no viz.linkerd.io/tap-enabled: started before linkerd-viz): ledger-def-1; restart them"},
		{"named, missing", Session{Namespace: "shop", Targets: []tapapi.Target{{Kind: "deployment", Name: "nope"}}},
			"deployment/nope in namespace shop: not found"},
		{"selector on pods' labels", Session{Namespace: "shop", Targets: []tapapi.Target{{Kind: "deployment"}}, Selector: "pod-template-hash=abc"},
			"deployments in namespace shop matching -l pod-template-hash=abc: no deployment has labels matching -l pod-template-hash=abc (-l selects the deployments by their own labels, not their pods')"},
		{"namespace without pods", Session{Targets: []tapapi.Target{{Kind: "namespace", Name: "quiet"}}},
			`namespace "quiet" not found in context "test"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tap := &tapServer{}
			s, plan := session(t, tc.session)
			_, err := Run(context.Background(), tap.start(t), s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if got := tap.requested(); len(got) != 0 {
				t.Errorf("tap requests %v, want none", got)
			}
			if got := untappable(plan); tc.name == "nothing anywhere" && !slices.Equal(got, []string{"shop/ledger-def-1: " + cluster.TapNotEnabled.String()}) {
				t.Errorf("plan %q: want ledger's pod, to say why nothing can be tapped", got)
			}
		})
	}
}

// TestRunNamedTargets: a named target is tapped when one of its pods can
// be, and the plan names the others; with a cluster file, which may hold
// only part of the cluster, nothing is refused.
func TestRunNamedTargets(t *testing.T) {
	tap := &tapServer{}
	s, plan := session(t, Session{Namespace: "shop", Targets: []tapapi.Target{{Kind: "deployment", Name: "web"}}})
	if _, err := Run(context.Background(), tap.start(t), s); err != nil {
		t.Fatal(err)
	}
	if got := untappable(plan); !slices.Equal(got, []string{"shop/web-abc-2: " + cluster.TapNotEnabled.String()}) || len(plan.Streams) != 1 {
		t.Errorf("plan: streams %v, untappable %q; want deployment/web, and web-abc-2 not enabled", plan.Streams, got)
	}

	objs, err := cluster.Read(strings.NewReader(sessionObjects))
	if err != nil {
		t.Fatal(err)
	}
	tap = &tapServer{}
	s, _ = session(t, Session{Namespace: "shop", Targets: []tapapi.Target{{Kind: "deployment", Name: "ledger"}}, ClusterFile: objs})
	if _, err := Run(context.Background(), tap.start(t), s); err != nil {
		t.Fatal(err)
	}
	if got := tap.requested(); !slices.Equal(got, []string{"/apis/tap.linkerd.io/v1alpha1/watch/namespaces/shop/deployments/ledger/tap"}) {
		t.Errorf("with a cluster file: tap requests %v, want deployment/ledger's, for tap to decide", got)
	}
}
