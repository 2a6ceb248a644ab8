package cluster

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// linkerd-viz's annotations that decide whether its tap service taps a pod.
const (
	// AnnotationTapEnabled is set by linkerd-viz's tap injector on the pods
	// it injects as they start.
	AnnotationTapEnabled = "viz.linkerd.io/tap-enabled"
	// AnnotationDisableTap, set by the user, turns tap off for a pod.
	AnnotationDisableTap = "viz.linkerd.io/disable-tap"
)

// TapState says whether linkerd-viz's tap service can tap a pod, and if
// not, why.
type TapState int

// The states, in the order a pod is checked.
const (
	Tappable TapState = iota
	// NotMeshed: no linkerd.io/control-plane-ns label (no proxy injected).
	NotMeshed
	// TapDisabled: viz.linkerd.io/disable-tap is true.
	TapDisabled
	// TapNotEnabled: no viz.linkerd.io/tap-enabled, as on pods that started
	// before linkerd-viz was installed.
	TapNotEnabled
	// NoPodIP: the pod has no address yet; the tap service dials a
	// target's pods once, when the stream opens, so it is not tapped in
	// this window.
	NoPodIP
)

// String says what keeps a pod from being tapped.
func (s TapState) String() string {
	switch s {
	case Tappable:
		return "tappable"
	case NotMeshed:
		return "not meshed (no " + LabelControlPlaneNS + " label)"
	case TapDisabled:
		return "tap disabled (" + AnnotationDisableTap + ")"
	case TapNotEnabled:
		return "tap not enabled (no " + AnnotationTapEnabled + ": started before linkerd-viz)"
	case NoPodIP:
		return "no pod IP yet"
	}
	return "unknown"
}

// Remedy says what makes a pod in state s tappable.
func (s TapState) Remedy() string {
	switch s {
	case NotMeshed:
		return "inject the linkerd proxy (linkerd inject) and restart"
	case TapDisabled:
		return "remove the annotation and restart to tap them"
	case TapNotEnabled:
		return "restart them (kubectl rollout restart) so linkerd-viz's tap injector enables tap"
	case NoPodIP:
		return "record again once they run"
	}
	return ""
}

// PodTapState is whether linkerd-viz's tap service taps pod: meshed (the
// control plane's label), tap not disabled, tap enabled by its injector
// (both annotations read as booleans, as strconv.ParseBool reads them),
// and an address to dial.
func PodTapState(pod *corev1.Pod) TapState {
	switch {
	case pod.Labels[LabelControlPlaneNS] == "":
		return NotMeshed
	case annotationTrue(pod, AnnotationDisableTap):
		return TapDisabled
	case !annotationTrue(pod, AnnotationTapEnabled):
		return TapNotEnabled
	case pod.Status.PodIP == "":
		return NoPodIP
	}
	return Tappable
}

func annotationTrue(pod *corev1.Pod, key string) bool {
	v, err := strconv.ParseBool(pod.Annotations[key])
	return err == nil && v
}

// TapTarget is a tap target in the tap API's terms: Kind is the singular
// lower-case kind ("namespace", "deployment", "pod", ...), Name may be
// empty for every resource of the kind, Namespace is where it lives (the
// namespace itself for a namespace target).
type TapTarget struct {
	Namespace string
	Kind      string
	Name      string
	// Selector picks, when Name is empty, the resources of Kind by their
	// own labels (the Deployments, not their pods), as the tap service
	// reads the label selector. nil: every one.
	Selector labels.Selector
}

// TargetPod is a pod a tap target covers.
type TargetPod struct {
	Namespace, Name string
	State           TapState
}

// TargetPods finds what the tap service would for t: the target
// resources (by name, or every one of the kind whose labels match the
// selector) and their pending and running pods, through the workloads'
// selectors and owner UIDs (a Deployment's ReplicaSets, then theirs; a
// CronJob's Jobs, then theirs). Resources counts the target resources
// found; known is false for kinds the objects do not hold
// (ReplicationControllers), where nothing can be told.
func (o *Objects) TargetPods(t TapTarget) (resources int, pods []TargetPod, known bool) {
	sel := t.Selector
	if sel == nil || t.Name != "" {
		sel = labels.Everything()
	}
	picks := func(m *metav1.ObjectMeta) bool {
		if m.Namespace != t.Namespace {
			return false
		}
		if t.Name != "" {
			return m.Name == t.Name
		}
		return sel.Matches(labels.Set(m.Labels))
	}
	var owners []podOwner
	switch t.Kind {
	case "namespace":
		resources = 1
		owners = append(owners, podOwner{namespace: t.Name, selector: labels.Everything()})
	case "pod":
		for i := range o.Pods {
			p := &o.Pods[i]
			if picks(&p.ObjectMeta) && pendingOrRunning(p) {
				resources++
				pods = append(pods, TargetPod{Namespace: p.Namespace, Name: p.Name, State: PodTapState(p)})
			}
		}
		return resources, pods, true
	case "deployment":
		for i := range o.Deployments {
			d := &o.Deployments[i]
			if !picks(&d.ObjectMeta) {
				continue
			}
			resources++
			rsSel := matchLabels(d.Spec.Selector)
			for j := range o.ReplicaSets {
				rs := &o.ReplicaSets[j]
				if rs.Namespace == d.Namespace && rsSel.Matches(labels.Set(rs.Labels)) && owns(&d.ObjectMeta, "Deployment", rs.OwnerReferences) {
					owners = append(owners, podOwner{rs.Namespace, matchLabels(rs.Spec.Selector), &rs.ObjectMeta, "ReplicaSet"})
				}
			}
		}
	case "replicaset":
		for i := range o.ReplicaSets {
			if rs := &o.ReplicaSets[i]; picks(&rs.ObjectMeta) {
				resources++
				owners = append(owners, podOwner{rs.Namespace, matchLabels(rs.Spec.Selector), &rs.ObjectMeta, "ReplicaSet"})
			}
		}
	case "statefulset":
		for i := range o.StatefulSets {
			if s := &o.StatefulSets[i]; picks(&s.ObjectMeta) {
				resources++
				owners = append(owners, podOwner{s.Namespace, matchLabels(s.Spec.Selector), &s.ObjectMeta, "StatefulSet"})
			}
		}
	case "daemonset":
		for i := range o.DaemonSets {
			if d := &o.DaemonSets[i]; picks(&d.ObjectMeta) {
				resources++
				owners = append(owners, podOwner{d.Namespace, matchLabels(d.Spec.Selector), &d.ObjectMeta, "DaemonSet"})
			}
		}
	case "job":
		for i := range o.Jobs {
			if j := &o.Jobs[i]; picks(&j.ObjectMeta) {
				resources++
				owners = append(owners, podOwner{j.Namespace, matchLabels(j.Spec.Selector), &j.ObjectMeta, "Job"})
			}
		}
	case "cronjob":
		for i := range o.CronJobs {
			c := &o.CronJobs[i]
			if !picks(&c.ObjectMeta) {
				continue
			}
			resources++
			for j := range o.Jobs {
				job := &o.Jobs[j]
				if job.Namespace == c.Namespace && owns(&c.ObjectMeta, "CronJob", job.OwnerReferences) {
					owners = append(owners, podOwner{job.Namespace, matchLabels(job.Spec.Selector), &job.ObjectMeta, "Job"})
				}
			}
		}
	default:
		return 0, nil, false
	}
	for _, w := range owners {
		for i := range o.Pods {
			p := &o.Pods[i]
			if p.Namespace != w.namespace || !pendingOrRunning(p) || !w.selector.Matches(labels.Set(p.Labels)) {
				continue
			}
			if w.meta != nil && !owns(w.meta, w.kind, p.OwnerReferences) {
				continue
			}
			pods = append(pods, TargetPod{Namespace: p.Namespace, Name: p.Name, State: PodTapState(p)})
		}
	}
	return resources, pods, true
}

// podOwner is an object whose pods a target covers: those its selector
// matches that it owns (any, when meta is nil).
type podOwner struct {
	namespace string
	selector  labels.Selector
	meta      *metav1.ObjectMeta
	kind      string
}

// matchLabels is the selector the tap service makes of a workload's:
// its matchLabels only.
func matchLabels(s *metav1.LabelSelector) labels.Selector {
	if s == nil {
		return labels.Everything()
	}
	return labels.SelectorFromSet(s.MatchLabels)
}

// owns says whether one of refs points at the object: by UID, as the tap
// service matches them, or by kind and name when the object has no UID
// (manifests given as --cluster-file).
func owns(owner *metav1.ObjectMeta, kind string, refs []metav1.OwnerReference) bool {
	for _, r := range refs {
		if owner.UID != "" && r.UID == owner.UID || owner.UID == "" && r.Kind == kind && r.Name == owner.Name {
			return true
		}
	}
	return false
}

// pendingOrRunning says whether the tap service considers the pod: pending
// or running, and not being deleted.
func pendingOrRunning(p *corev1.Pod) bool {
	return (p.Status.Phase == corev1.PodPending || p.Status.Phase == corev1.PodRunning) && p.DeletionTimestamp == nil
}
