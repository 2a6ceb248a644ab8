package cluster

import (
	"cmp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cinchmesh/cinch/observe/recording"
)

// AnnotationInject is the annotation that has Linkerd's proxy injector
// mesh a pod (on the pod template or its namespace).
const AnnotationInject = "linkerd.io/inject"

// Candidate is a meshed workload the cluster objects declare, which could
// be a client in the mesh whether or not it is running now.
type Candidate struct {
	ID             recording.PeerID
	Namespace      string
	Kind           string
	Name           string
	ServiceAccount string
	// Schedule is a CronJob's schedule, Interval the longest time between
	// two of its runs (0 when the schedule could not be read), Suspended
	// whether it is suspended.
	Schedule  string
	Interval  time.Duration
	Suspended bool
	// ScaledToZero is set for a Deployment, StatefulSet or ReplicaSet
	// with no replicas wanted.
	ScaledToZero bool
}

// Candidates lists every meshed workload in objs, by namespace and name:
// the Deployments, StatefulSets, DaemonSets, CronJobs, Jobs (not run by a
// CronJob) and ReplicaSets (not owned by a Deployment) whose pod template
// is injected (its own linkerd.io/inject annotation, else its
// namespace's), and any other workload with a running meshed pod. Not
// running now is no reason to leave one out: those are the clients a
// recording window is most likely to have missed.
func Candidates(objs *Objects, opts Options) []Candidate {
	opts.TrustDomain = cmp.Or(opts.TrustDomain, recording.DefaultTrustDomain)
	nsInject := map[string]string{}
	for _, ns := range objs.Namespaces {
		nsInject[ns.Name] = ns.Annotations[AnnotationInject]
	}
	out := map[recording.PeerID]Candidate{}
	add := func(kind string, meta *metav1.ObjectMeta, tmpl *corev1.PodTemplateSpec, c Candidate) {
		inject := cmp.Or(tmpl.Annotations[AnnotationInject], nsInject[meta.Namespace])
		if inject != "enabled" && inject != "ingress" {
			return
		}
		c.ID = recording.PeerID(meta.Namespace + "/" + meta.Name)
		c.Namespace, c.Kind, c.Name = meta.Namespace, kind, meta.Name
		c.ServiceAccount = cmp.Or(tmpl.Spec.ServiceAccountName, "default")
		out[c.ID] = c
	}
	zero := func(r *int32) bool { return r != nil && *r == 0 }
	for i := range objs.Deployments {
		d := &objs.Deployments[i]
		add("Deployment", &d.ObjectMeta, &d.Spec.Template, Candidate{ScaledToZero: zero(d.Spec.Replicas)})
	}
	for i := range objs.StatefulSets {
		s := &objs.StatefulSets[i]
		add("StatefulSet", &s.ObjectMeta, &s.Spec.Template, Candidate{ScaledToZero: zero(s.Spec.Replicas)})
	}
	for i := range objs.DaemonSets {
		d := &objs.DaemonSets[i]
		add("DaemonSet", &d.ObjectMeta, &d.Spec.Template, Candidate{})
	}
	for i := range objs.ReplicaSets {
		rs := &objs.ReplicaSets[i]
		if owner, ok := controller(rs.OwnerReferences); !ok || owner.Kind != "Deployment" {
			add("ReplicaSet", &rs.ObjectMeta, &rs.Spec.Template, Candidate{ScaledToZero: zero(rs.Spec.Replicas)})
		}
	}
	for i := range objs.CronJobs {
		cj := &objs.CronJobs[i]
		c := Candidate{Schedule: cj.Spec.Schedule, Suspended: cj.Spec.Suspend != nil && *cj.Spec.Suspend}
		c.Interval, _ = CronInterval(cj.Spec.Schedule)
		add("CronJob", &cj.ObjectMeta, &cj.Spec.JobTemplate.Spec.Template, c)
	}
	for i := range objs.Jobs {
		j := &objs.Jobs[i]
		if owner, ok := controller(j.OwnerReferences); !ok || owner.Kind != "CronJob" {
			add("Job", &j.ObjectMeta, &j.Spec.Template, Candidate{})
		}
	}
	// Running meshed pods of workloads the objects do not include.
	inv := NewInventory(objs, opts)
	for _, w := range inv.workloads {
		if _, ok := out[w.ID]; !ok && w.Meshed {
			out[w.ID] = Candidate{ID: w.ID, Namespace: w.Namespace, Kind: w.Kind, Name: w.Name, ServiceAccount: w.ServiceAccount}
		}
	}
	list := make([]Candidate, 0, len(out))
	for _, c := range out {
		list = append(list, c)
	}
	slices.SortFunc(list, func(a, b Candidate) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return list
}
