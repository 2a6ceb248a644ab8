package cluster

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// listPageSize bounds each list answer, as kubectl does, so that a large
// cluster is read in pages rather than in one huge response.
const listPageSize = 500

// ListError is a refusal to read cluster objects; it says which permission
// is missing.
type ListError struct {
	Resource  string // "pods", "deployments.apps", ...
	Namespace string // "" for cluster-wide
	Err       error
}

func (e *ListError) Error() string {
	where := "in all namespaces"
	if e.Namespace != "" {
		where = "in namespace " + e.Namespace
	}
	msg := fmt.Sprintf("list %s %s: %v", e.Resource, where, e.Err)
	if apierrors.IsForbidden(e.Err) {
		msg += "; cinch needs get/list on pods, services, replicasets, deployments, statefulsets, daemonsets, jobs, cronjobs and namespaces (the ClusterRole in docs/rbac.md), or give the objects offline with --cluster-file"
	}
	return msg
}

func (e *ListError) Unwrap() error { return e.Err }

// NamespaceNotFoundError says a namespace named on the command line does
// not exist in the cluster.
type NamespaceNotFoundError struct{ Namespace string }

func (e *NamespaceNotFoundError) Error() string {
	return fmt.Sprintf("namespace %q not found", e.Namespace)
}

// List reads the objects the inventory needs from a live cluster: the
// workloads, pods and Services of the given namespaces (every namespace
// when namespaces is empty), the Namespace objects themselves (for their
// default-inbound-policy annotation) and the nodes. Nodes are optional: a
// user who may not list them gets node addresses recorded as plain IPs.
func List(ctx context.Context, cs kubernetes.Interface, namespaces []string) (*Objects, error) {
	objs := &Objects{}
	if len(namespaces) == 0 {
		nss, err := listAll(ctx, "namespaces", "", cs.CoreV1().Namespaces().List, func(l *corev1.NamespaceList) ([]corev1.Namespace, string) { return l.Items, l.Continue })
		if err != nil {
			return nil, err
		}
		objs.Namespaces = nss
		namespaces = []string{metav1.NamespaceAll}
	} else {
		for _, name := range namespaces {
			ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				return nil, &NamespaceNotFoundError{Namespace: name}
			case apierrors.IsForbidden(err):
				// Reading the namespace only adds its annotation; the pods
				// still say whether it exists.
				objs.Namespaces = append(objs.Namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
			case err != nil:
				return nil, fmt.Errorf("get namespace %s: %w", name, err)
			default:
				objs.Namespaces = append(objs.Namespaces, *ns)
			}
		}
	}
	for _, ns := range namespaces {
		if err := listNamespace(ctx, cs, ns, objs); err != nil {
			return nil, err
		}
	}
	nodes, err := listAll(ctx, "nodes", "", cs.CoreV1().Nodes().List, func(l *corev1.NodeList) ([]corev1.Node, string) { return l.Items, l.Continue })
	var le *ListError
	if errors.As(err, &le) && !apierrors.IsForbidden(le.Err) {
		return nil, err
	}
	objs.Nodes = nodes
	return objs, nil
}

func listNamespace(ctx context.Context, cs kubernetes.Interface, ns string, objs *Objects) error {
	var err error
	core, apps, batch := cs.CoreV1(), cs.AppsV1(), cs.BatchV1()
	if objs.Pods, err = appendList(objs.Pods, ctx, "pods", ns, core.Pods(ns).List, func(l *corev1.PodList) ([]corev1.Pod, string) { return l.Items, l.Continue }); err != nil {
		return err
	}
	if objs.Services, err = appendList(objs.Services, ctx, "services", ns, core.Services(ns).List, func(l *corev1.ServiceList) ([]corev1.Service, string) { return l.Items, l.Continue }); err != nil {
		return err
	}
	if objs.ReplicaSets, err = appendList(objs.ReplicaSets, ctx, "replicasets.apps", ns, apps.ReplicaSets(ns).List, func(l *appsv1.ReplicaSetList) ([]appsv1.ReplicaSet, string) { return l.Items, l.Continue }); err != nil {
		return err
	}
	if objs.Deployments, err = appendList(objs.Deployments, ctx, "deployments.apps", ns, apps.Deployments(ns).List, func(l *appsv1.DeploymentList) ([]appsv1.Deployment, string) { return l.Items, l.Continue }); err != nil {
		return err
	}
	if objs.StatefulSets, err = appendList(objs.StatefulSets, ctx, "statefulsets.apps", ns, apps.StatefulSets(ns).List, func(l *appsv1.StatefulSetList) ([]appsv1.StatefulSet, string) { return l.Items, l.Continue }); err != nil {
		return err
	}
	if objs.DaemonSets, err = appendList(objs.DaemonSets, ctx, "daemonsets.apps", ns, apps.DaemonSets(ns).List, func(l *appsv1.DaemonSetList) ([]appsv1.DaemonSet, string) { return l.Items, l.Continue }); err != nil {
		return err
	}
	if objs.Jobs, err = appendList(objs.Jobs, ctx, "jobs.batch", ns, batch.Jobs(ns).List, func(l *batchv1.JobList) ([]batchv1.Job, string) { return l.Items, l.Continue }); err != nil {
		return err
	}
	objs.CronJobs, err = appendList(objs.CronJobs, ctx, "cronjobs.batch", ns, batch.CronJobs(ns).List, func(l *batchv1.CronJobList) ([]batchv1.CronJob, string) { return l.Items, l.Continue })
	return err
}

func appendList[T, L any](dst []T, ctx context.Context, resource, ns string, list func(context.Context, metav1.ListOptions) (L, error), items func(L) ([]T, string)) ([]T, error) {
	got, err := listAll(ctx, resource, ns, list, items)
	return append(dst, got...), err
}

// listAll pages through one resource.
func listAll[T, L any](ctx context.Context, resource, ns string, list func(context.Context, metav1.ListOptions) (L, error), items func(L) ([]T, string)) ([]T, error) {
	var out []T
	opts := metav1.ListOptions{Limit: listPageSize}
	for {
		l, err := list(ctx, opts)
		if err != nil {
			return nil, &ListError{Resource: resource, Namespace: ns, Err: err}
		}
		page, next := items(l)
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		opts.Continue = next
	}
}
