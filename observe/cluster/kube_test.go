package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
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

func TestTargetPods(t *testing.T) {
	_, objs := fakeCluster(t)
	for i := range objs.Pods {
		objs.Pods[i].Status.Phase = corev1.PodRunning
	}
	for _, tc := range []struct {
		target             TapTarget
		selected, tappable int
	}{
		{TapTarget{Namespace: "shop", Kind: "namespace", Name: "shop"}, 3, 1},
		{TapTarget{Namespace: "shop", Kind: "deployment", Name: "web"}, 1, 1},
		{TapTarget{Namespace: "shop", Kind: "deployment"}, 1, 1},
		{TapTarget{Namespace: "shop", Kind: "replicaset", Name: "web-5d8f"}, 1, 1},
		{TapTarget{Namespace: "shop", Kind: "cronjob", Name: "report"}, 1, 0}, // unmeshed
		{TapTarget{Namespace: "shop", Kind: "job", Name: "report-123"}, 1, 0},
		{TapTarget{Namespace: "shop", Kind: "statefulset", Name: "db"}, 1, 0}, // tap disabled
		{TapTarget{Namespace: "shop", Kind: "deployment", Name: "db"}, 0, 0},
		{TapTarget{Namespace: "other", Kind: "namespace", Name: "other"}, 0, 0},
		{TapTarget{Namespace: "shop", Kind: "namespace", Name: "shop", Selector: labels.SelectorFromSet(labels.Set{"app": "web"})}, 1, 1},
	} {
		s, tp := objs.TargetPods(tc.target)
		if s != tc.selected || tp != tc.tappable {
			t.Errorf("TargetPods(%+v) = %d selected, %d tappable; want %d, %d", tc.target, s, tp, tc.selected, tc.tappable)
		}
	}
	if got := objs.TappableNamespaces(); len(got) != 1 || got[0] != "shop" {
		t.Errorf("TappableNamespaces = %v, want [shop]", got)
	}
}
