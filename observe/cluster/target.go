package cluster

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// AnnotationDisableTap turns tap off for a pod's proxy.
const AnnotationDisableTap = "config.linkerd.io/disable-tap"

// TapTarget is a tap target in the tap API's terms: Kind is the singular
// lower-case kind ("namespace", "deployment", "pod", ...), Name may be
// empty for every resource of the kind, Namespace is where it lives (the
// namespace itself for a namespace target).
type TapTarget struct {
	Namespace string
	Kind      string
	Name      string
	Selector  labels.Selector // nil: every pod
}

// TargetPods counts the running pods a tap target selects and how many of
// them tap can reach: meshed (a linkerd-proxy container) without tap
// disabled. A target with no tappable pod would stream nothing, so callers
// refuse it before recording.
func (o *Objects) TargetPods(t TapTarget) (selected, tappable int) {
	own := newOwners(o)
	for i := range o.Pods {
		pod := &o.Pods[i]
		if pod.Namespace != t.Namespace || pod.Status.Phase != corev1.PodRunning {
			continue
		}
		if t.Selector != nil && !t.Selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if !own.selects(t.Kind, t.Name, pod) {
			continue
		}
		selected++
		if hasProxy(pod) && pod.Annotations[AnnotationDisableTap] != "true" {
			tappable++
		}
	}
	return selected, tappable
}

// TappableNamespaces lists, sorted, the namespaces with at least one pod
// tap can reach.
func (o *Objects) TappableNamespaces() []string {
	seen := map[string]bool{}
	for i := range o.Pods {
		pod := &o.Pods[i]
		if pod.Status.Phase == corev1.PodRunning && hasProxy(pod) && pod.Annotations[AnnotationDisableTap] != "true" {
			seen[pod.Namespace] = true
		}
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// selects says whether a tap target of the given kind and name (empty: all
// of the kind) covers pod.
func (o *owners) selects(kind, name string, pod *corev1.Pod) bool {
	var ownerKind, ownerName string
	switch kind {
	case "namespace":
		return true
	case "pod":
		return name == "" || name == pod.Name
	case "replicaset", "replicationcontroller":
		// The direct controller, not the Deployment above it.
		ref, ok := controller(pod.OwnerReferences)
		if !ok {
			return false
		}
		ownerKind, ownerName = ref.Kind, ref.Name
	default:
		ownerKind, ownerName = o.workloadOf(pod.Namespace, pod.Name, pod.Labels, pod.OwnerReferences)
		if kind == "job" && ownerKind == "CronJob" {
			ref, _ := controller(pod.OwnerReferences)
			ownerKind, ownerName = ref.Kind, ref.Name
		}
	}
	return apiKinds[ownerKind] == kind && (name == "" || name == ownerName)
}

// apiKinds maps Kubernetes kinds to the tap API's names for them.
var apiKinds = map[string]string{
	"Deployment":            "deployment",
	"StatefulSet":           "statefulset",
	"DaemonSet":             "daemonset",
	"Job":                   "job",
	"CronJob":               "cronjob",
	"ReplicaSet":            "replicaset",
	"ReplicationController": "replicationcontroller",
}
