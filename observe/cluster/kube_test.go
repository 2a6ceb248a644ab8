package cluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cinchmesh/cinch/observe/recording"
)

// fakeCluster loads the inventory test's objects into a fake clientset, so
// that listing them back must give what reading the file gives.
func fakeCluster(t *testing.T) (*fake.Clientset, *Objects) {
	t.Helper()
	objs, err := Read(strings.NewReader(objects))
	if err != nil {
		t.Fatal(err)
	}
	var all []runtime.Object
	for i := range objs.Namespaces {
		all = append(all, &objs.Namespaces[i])
	}
	for i := range objs.Nodes {
		all = append(all, &objs.Nodes[i])
	}
	for i := range objs.Pods {
		all = append(all, &objs.Pods[i])
	}
	for i := range objs.Services {
		all = append(all, &objs.Services[i])
	}
	for i := range objs.Jobs {
		all = append(all, &objs.Jobs[i])
	}
	for i := range objs.StatefulSets {
		all = append(all, &objs.StatefulSets[i])
	}
	return fake.NewClientset(all...), objs
}

func TestListGivesTheSameInventoryAsTheFile(t *testing.T) {
	cs, fromFile := fakeCluster(t)
	for _, namespaces := range [][]string{nil, {"shop"}} {
		got, err := List(context.Background(), cs, namespaces)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Pods) != len(fromFile.Pods) || len(got.Nodes) != len(fromFile.Nodes) ||
			len(got.Services) != len(fromFile.Services) || len(got.Jobs) != len(fromFile.Jobs) {
			t.Fatalf("List(%v): %d pods, %d nodes, %d services, %d jobs; the file has %d, %d, %d, %d", namespaces,
				len(got.Pods), len(got.Nodes), len(got.Services), len(got.Jobs),
				len(fromFile.Pods), len(fromFile.Nodes), len(fromFile.Services), len(fromFile.Jobs))
		}
		want := NewInventory(fromFile, Options{})
		inv := NewInventory(got, Options{})
		for _, id := range []string{"shop/web", "shop/report"} {
			w, ok := inv.Workload(recording.PeerID(id))
			ww, _ := want.Workload(recording.PeerID(id))
			if !ok || w.DefaultInboundPolicy != ww.DefaultInboundPolicy || w.Identity != ww.Identity || len(w.Probes) != len(ww.Probes) || len(w.Services) != len(ww.Services) {
				t.Errorf("List(%v): workload %s = %+v, want %+v", namespaces, id, w, ww)
			}
		}
	}
}

func TestListErrors(t *testing.T) {
	cs, _ := fakeCluster(t)
	_, err := List(context.Background(), cs, []string{"nope"})
	var nf *NamespaceNotFoundError
	if !errors.As(err, &nf) || nf.Namespace != "nope" {
		t.Errorf("missing namespace: err = %v, want NamespaceNotFoundError for nope", err)
	}

	forbid := func(resource string) {
		cs.PrependReactor("list", resource, func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("RBAC"))
		})
	}
	forbid("nodes")
	objs, err := List(context.Background(), cs, []string{"shop"})
	if err != nil || len(objs.Nodes) != 0 || len(objs.Pods) == 0 {
		t.Errorf("nodes forbidden: err = %v, %d nodes, %d pods; want pods and no nodes", err, len(objs.Nodes), len(objs.Pods))
	}
	forbid("pods")
	_, err = List(context.Background(), cs, []string{"shop"})
	var le *ListError
	if !errors.As(err, &le) || le.Resource != "pods" || !strings.Contains(err.Error(), "docs/rbac.md") || !strings.Contains(err.Error(), "--cluster-file") {
		t.Errorf("pods forbidden: err = %v, want a ListError for pods naming docs/rbac.md and --cluster-file", err)
	}
}

// targetObjects are linked as a cluster's controllers link them (UIDs,
// labelled ReplicaSets), with pods in every tap state.
const targetObjects = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000001, labels: {app: web, tier: frontend}}
spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-abc
  namespace: shop
  uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000002
  labels: {app: web, pod-template-hash: abc}
  ownerReferences: [{kind: Deployment, name: web, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000001, controller: true}]
spec: {selector: {matchLabels: {app: web, pod-template-hash: abc}}}
---
# Another Deployment's ReplicaSet whose labels the web Deployment's selector matches.
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-canary-def
  namespace: shop
  uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000003
  labels: {app: web, pod-template-hash: def}
  ownerReferences: [{kind: Deployment, name: web-canary, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000004, controller: true}]
spec: {selector: {matchLabels: {app: web, pod-template-hash: def}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-canary-def-1
  namespace: shop
  labels: {app: web, pod-template-hash: def, linkerd.io/control-plane-ns: linkerd}
  annotations: {viz.linkerd.io/tap-enabled: "true"}
  ownerReferences: [{kind: ReplicaSet, name: web-canary-def, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000003, controller: true}]
status: {phase: Running, podIP: 10.42.0.9}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-abc-1
  namespace: shop
  labels: {app: web, pod-template-hash: abc, linkerd.io/control-plane-ns: linkerd}
  annotations: {viz.linkerd.io/tap-enabled: "true", config.linkerd.io/disable-tap: "true"}
  ownerReferences: [{kind: ReplicaSet, name: web-abc, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000002, controller: true}]
status: {phase: Running, podIP: 10.42.0.1}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-abc-2
  namespace: shop
  labels: {app: web, pod-template-hash: abc, linkerd.io/control-plane-ns: linkerd}
  ownerReferences: [{kind: ReplicaSet, name: web-abc, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000002, controller: true}]
status: {phase: Running, podIP: 10.42.0.2}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-abc-3
  namespace: shop
  labels: {app: web, pod-template-hash: abc, linkerd.io/control-plane-ns: linkerd}
  annotations: {viz.linkerd.io/tap-enabled: "TRUE"}
  ownerReferences: [{kind: ReplicaSet, name: web-abc, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000002, controller: true}]
status: {phase: Pending}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-abc-4
  namespace: shop
  labels: {app: web, pod-template-hash: abc, linkerd.io/control-plane-ns: linkerd}
  annotations: {viz.linkerd.io/tap-enabled: "true"}
  ownerReferences: [{kind: ReplicaSet, name: web-abc, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000002, controller: true}]
status: {phase: Succeeded, podIP: 10.42.0.4}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-abc-5
  namespace: shop
  deletionTimestamp: "2026-12-01T10:00:00Z"
  labels: {app: web, pod-template-hash: abc, linkerd.io/control-plane-ns: linkerd}
  annotations: {viz.linkerd.io/tap-enabled: "true"}
  ownerReferences: [{kind: ReplicaSet, name: web-abc, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000002, controller: true}]
status: {phase: Running, podIP: 10.42.0.5}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000005}
spec: {selector: {matchLabels: {app: db}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  labels: {app: db, linkerd.io/control-plane-ns: linkerd}
  annotations: {viz.linkerd.io/disable-tap: "true"}
  ownerReferences: [{kind: StatefulSet, name: db, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000005, controller: true}]
status: {phase: Running, podIP: 10.42.0.6}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000006}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: report-1
  namespace: shop
  uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000007
  ownerReferences: [{kind: CronJob, name: report, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000006, controller: true}]
spec: {selector: {matchLabels: {batch.kubernetes.io/controller-uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000007}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: report-1-x
  namespace: shop
  labels: {batch.kubernetes.io/controller-uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000007, linkerd.io/control-plane-ns: linkerd}
  annotations: {viz.linkerd.io/tap-enabled: "1"}
  ownerReferences: [{kind: Job, name: report-1, uid: 5b0e6a1c-0d7e-4e34-9d8c-000000000007, controller: true}]
status: {phase: Running, podIP: 10.42.0.7}
---
apiVersion: v1
kind: Pod
metadata: {name: legacy, namespace: shop, labels: {app: legacy}}
status: {phase: Running, podIP: 10.42.0.8}
`

func TestTargetPods(t *testing.T) {
	objs, err := Read(strings.NewReader(targetObjects))
	if err != nil {
		t.Fatal(err)
	}
	sel := func(s string) labels.Selector {
		l, err := labels.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	web := []string{"web-abc-1 tappable", "web-abc-2 " + TapNotEnabled.String(), "web-abc-3 " + NoPodIP.String()}
	for _, tc := range []struct {
		target    TapTarget
		resources int
		pods      []string
	}{
		{TapTarget{Namespace: "shop", Kind: "deployment", Name: "web"}, 1, web},
		// -l picks Deployments by their own labels, not their pods'.
		{TapTarget{Namespace: "shop", Kind: "deployment", Selector: sel("tier=frontend")}, 1, web},
		{TapTarget{Namespace: "shop", Kind: "deployment", Selector: sel("pod-template-hash=abc")}, 0, nil},
		{TapTarget{Namespace: "shop", Kind: "deployment", Name: "web", Selector: sel("app=other")}, 1, web},
		{TapTarget{Namespace: "shop", Kind: "pod", Selector: sel("pod-template-hash=abc")}, 3, web},
		{TapTarget{Namespace: "shop", Kind: "replicaset", Name: "web-abc"}, 1, web},
		{TapTarget{Namespace: "shop", Kind: "statefulset", Name: "db"}, 1, []string{"db-0 " + TapDisabled.String()}},
		{TapTarget{Namespace: "shop", Kind: "cronjob", Name: "report"}, 1, []string{"report-1-x tappable"}},
		{TapTarget{Namespace: "shop", Kind: "job"}, 1, []string{"report-1-x tappable"}},
		{TapTarget{Namespace: "shop", Kind: "pod", Name: "legacy"}, 1, []string{"legacy " + NotMeshed.String()}},
		{TapTarget{Namespace: "shop", Kind: "deployment", Name: "nope"}, 0, nil},
		{TapTarget{Namespace: "other", Kind: "deployment", Name: "web"}, 0, nil},
		{TapTarget{Namespace: "shop", Kind: "namespace", Name: "shop", Selector: sel("app=nothing")}, 1, []string{
			"web-canary-def-1 tappable", "web-abc-1 tappable", "web-abc-2 " + TapNotEnabled.String(), "web-abc-3 " + NoPodIP.String(),
			"db-0 " + TapDisabled.String(), "report-1-x tappable", "legacy " + NotMeshed.String()}},
	} {
		n, pods, known := objs.TargetPods(tc.target)
		var got []string
		for _, p := range pods {
			got = append(got, p.Name+" "+p.State.String())
		}
		if n != tc.resources || !known || !slices.Equal(got, tc.pods) {
			t.Errorf("TargetPods(%+v) = %d, %q, %v; want %d, %q", tc.target, n, got, known, tc.resources, tc.pods)
		}
	}
	if _, _, known := objs.TargetPods(TapTarget{Namespace: "shop", Kind: "replicationcontroller", Name: "x"}); known {
		t.Error("replication controllers, which cinch does not read, are known")
	}
}
