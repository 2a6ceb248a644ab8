package cluster

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cinchmesh/cinch/observe/recording"
)

// Linkerd's labels and annotations the inventory reads.
const (
	LabelControlPlaneNS         = "linkerd.io/control-plane-ns"
	AnnotationDefaultInbound    = "config.linkerd.io/default-inbound-policy"
	proxyContainerName          = "linkerd-proxy"
	labelPodTemplateHash        = "pod-template-hash"
	labelControllerRevisionHash = "controller-revision-hash"
	labelStatefulSetPodName     = "statefulset.kubernetes.io/pod-name"
)

// Options tune how identities are derived.
type Options struct {
	// TrustDomain of the mesh identities (default cluster.local).
	TrustDomain string
}

// Pod is what the inventory knows about one pod address.
type Pod struct {
	Namespace string
	Name      string
	// Workload is the ID of the owning workload ("namespace/name").
	Workload recording.PeerID
}

// Inventory answers address and workload questions from cluster objects.
type Inventory struct {
	opts      Options
	pods      map[netip.Addr]Pod
	nodes     map[netip.Addr]string
	workloads map[recording.PeerID]*recording.Workload
	// created is when each workload object was created (a bare pod's
	// own), oldestPod when the oldest of its pods among the objects was;
	// zero when the objects do not say.
	created   map[recording.PeerID]time.Time
	oldestPod map[recording.PeerID]time.Time
}

// NewInventory indexes objs.
func NewInventory(objs *Objects, opts Options) *Inventory {
	opts.TrustDomain = cmp.Or(opts.TrustDomain, recording.DefaultTrustDomain)
	inv := &Inventory{
		opts:      opts,
		pods:      map[netip.Addr]Pod{},
		nodes:     map[netip.Addr]string{},
		workloads: map[recording.PeerID]*recording.Workload{},
		created:   objs.Created(),
		oldestPod: map[recording.PeerID]time.Time{},
	}
	for _, n := range objs.Nodes {
		for _, a := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				inv.nodes[ip] = n.Name
			}
		}
	}
	nsPolicy := map[string]string{}
	for _, ns := range objs.Namespaces {
		nsPolicy[ns.Name] = ns.Annotations[AnnotationDefaultInbound]
	}
	owners := newOwners(objs)
	for i := range objs.Pods {
		pod := &objs.Pods[i]
		kind, name := owners.workloadOf(pod.Namespace, pod.Name, pod.Labels, pod.OwnerReferences)
		id := recording.PeerID(pod.Namespace + "/" + name)
		for _, s := range podIPs(pod) {
			inv.pods[s] = Pod{Namespace: pod.Namespace, Name: pod.Name, Workload: id}
		}
		if c := pod.CreationTimestamp.UTC(); !pod.CreationTimestamp.IsZero() {
			if old, ok := inv.oldestPod[id]; !ok || c.Before(old) {
				inv.oldestPod[id] = c
			}
			if kind == "Pod" {
				inv.created[id] = c
			}
		}
		if _, ok := inv.workloads[id]; ok {
			continue
		}
		meta, spec := owners.template(kind, pod.Namespace, name, pod)
		w := &recording.Workload{
			ID:             id,
			Namespace:      pod.Namespace,
			Kind:           kind,
			Name:           name,
			ServiceAccount: cmp.Or(spec.ServiceAccountName, "default"),
			Labels:         selectorLabels(meta.Labels),
			Ports:          ports(spec),
			Probes:         probes(spec),
			DefaultInboundPolicy: cmp.Or(meta.Annotations[AnnotationDefaultInbound],
				pod.Annotations[AnnotationDefaultInbound], nsPolicy[pod.Namespace]),
		}
		if cpNS := pod.Labels[LabelControlPlaneNS]; cpNS != "" && hasProxy(pod) {
			w.Meshed = true
			w.Identity = recording.ServiceAccountIdentity(w.ServiceAccount, w.Namespace, cpNS, opts.TrustDomain).String()
		}
		inv.workloads[id] = w
	}
	for _, svc := range objs.Services {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		for _, w := range inv.workloads {
			if w.Namespace == svc.Namespace && sel.Matches(labels.Set(w.Labels)) {
				w.Services = append(w.Services, svc.Name)
			}
		}
	}
	return inv
}

// Workloads returns every workload of the inventory and those of extra it
// does not know (as the recording describes them), by ID.
func (inv *Inventory) Workloads(extra []recording.Workload) []recording.Workload {
	out := make([]recording.Workload, 0, len(inv.workloads)+len(extra))
	for _, w := range inv.workloads {
		out = append(out, *w)
	}
	for _, w := range extra {
		if _, ok := inv.workloads[w.ID]; !ok {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b recording.Workload) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Pod returns the pod with address ip.
func (inv *Inventory) Pod(ip netip.Addr) (Pod, bool) {
	p, ok := inv.pods[ip]
	return p, ok
}

// Node returns the name of the node with address ip.
func (inv *Inventory) Node(ip netip.Addr) (string, bool) {
	n, ok := inv.nodes[ip]
	return n, ok
}

// Workload returns a copy of what the cluster declares about a workload.
func (inv *Inventory) Workload(id recording.PeerID) (recording.Workload, bool) {
	w, ok := inv.workloads[id]
	if !ok {
		return recording.Workload{}, false
	}
	c := *w
	c.Labels = maps.Clone(w.Labels)
	return c, true
}

func podIPs(pod *corev1.Pod) []netip.Addr {
	var out []netip.Addr
	add := func(s string) {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip)
		}
	}
	add(pod.Status.PodIP)
	for _, p := range pod.Status.PodIPs {
		if p.IP != pod.Status.PodIP {
			add(p.IP)
		}
	}
	return out
}

func hasProxy(pod *corev1.Pod) bool {
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if c.Name == proxyContainerName {
			return true
		}
	}
	return false
}

// selectorLabels drops the labels controllers add per revision or per pod,
// which no Server's podSelector should name.
func selectorLabels(in map[string]string) map[string]string {
	out := maps.Clone(in)
	for _, k := range []string{labelPodTemplateHash, labelControllerRevisionHash, labelStatefulSetPodName, LabelControlPlaneNS} {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// ports lists the application's container ports (not the proxy's).
func ports(spec *corev1.PodSpec) []recording.ContainerPort {
	var out []recording.ContainerPort
	for _, c := range spec.Containers {
		if c.Name == proxyContainerName {
			continue
		}
		for _, p := range c.Ports {
			// The API server defaults the protocol to TCP; manifests may
			// leave it out. Both mean the same port.
			out = append(out, recording.ContainerPort{Port: p.ContainerPort, Name: p.Name, Protocol: cmp.Or(string(p.Protocol), string(corev1.ProtocolTCP))})
		}
	}
	return out
}

// probes lists the containers' probes that reach the pod over the
// network (httpGet, gRPC, tcpSocket; exec probes stay inside), with named
// ports resolved within the container as the kubelet resolves them. A
// probe whose port name the container does not declare is left out: the
// kubelet cannot run it either.
func probes(spec *corev1.PodSpec) []recording.Probe {
	var out []recording.Probe
	for _, c := range spec.Containers {
		for _, kp := range []struct {
			kind string
			p    *corev1.Probe
		}{{"liveness", c.LivenessProbe}, {"readiness", c.ReadinessProbe}, {"startup", c.StartupProbe}} {
			kind, p := kp.kind, kp.p
			if p == nil {
				continue
			}
			switch {
			case p.HTTPGet != nil:
				port, ok := resolvePort(p.HTTPGet.Port, c.Ports)
				if !ok {
					continue
				}
				// Defaults as the API server fills them in.
				out = append(out, recording.Probe{Kind: kind, Port: port, Path: cmp.Or(p.HTTPGet.Path, "/"), Scheme: cmp.Or(string(p.HTTPGet.Scheme), string(corev1.URISchemeHTTP))})
			case p.GRPC != nil:
				out = append(out, recording.Probe{Kind: kind, Handler: recording.ProbeGRPC, Port: p.GRPC.Port})
			case p.TCPSocket != nil:
				if port, ok := resolvePort(p.TCPSocket.Port, c.Ports); ok {
					out = append(out, recording.Probe{Kind: kind, Handler: recording.ProbeTCP, Port: port})
				}
			}
		}
	}
	return out
}

func resolvePort(p intstr.IntOrString, declared []corev1.ContainerPort) (int32, bool) {
	if p.Type == intstr.Int {
		return p.IntVal, true
	}
	for _, d := range declared {
		if d.Name == p.StrVal {
			return d.ContainerPort, true
		}
	}
	return 0, false
}

// owners resolves pods to the workload that owns them.
type owners struct {
	rsOwn  map[string][]metav1.OwnerReference
	jobOwn map[string][]metav1.OwnerReference
	tmpl   map[string]*corev1.PodTemplateSpec // Kind/namespace/name -> template
}

func newOwners(objs *Objects) *owners {
	o := &owners{
		rsOwn:  map[string][]metav1.OwnerReference{},
		jobOwn: map[string][]metav1.OwnerReference{},
		tmpl:   map[string]*corev1.PodTemplateSpec{},
	}
	for i := range objs.ReplicaSets {
		rs := &objs.ReplicaSets[i]
		o.rsOwn[rs.Namespace+"/"+rs.Name] = rs.OwnerReferences
		o.tmpl["ReplicaSet/"+rs.Namespace+"/"+rs.Name] = &rs.Spec.Template
	}
	for i := range objs.Jobs {
		j := &objs.Jobs[i]
		o.jobOwn[j.Namespace+"/"+j.Name] = j.OwnerReferences
		o.tmpl["Job/"+j.Namespace+"/"+j.Name] = &j.Spec.Template
	}
	for i := range objs.Deployments {
		d := &objs.Deployments[i]
		o.tmpl["Deployment/"+d.Namespace+"/"+d.Name] = &d.Spec.Template
	}
	for i := range objs.StatefulSets {
		s := &objs.StatefulSets[i]
		o.tmpl["StatefulSet/"+s.Namespace+"/"+s.Name] = &s.Spec.Template
	}
	for i := range objs.DaemonSets {
		d := &objs.DaemonSets[i]
		o.tmpl["DaemonSet/"+d.Namespace+"/"+d.Name] = &d.Spec.Template
	}
	for i := range objs.CronJobs {
		c := &objs.CronJobs[i]
		o.tmpl["CronJob/"+c.Namespace+"/"+c.Name] = &c.Spec.JobTemplate.Spec.Template
	}
	return o
}

func controller(refs []metav1.OwnerReference) (metav1.OwnerReference, bool) {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r, true
		}
	}
	if len(refs) > 0 {
		return refs[0], true
	}
	return metav1.OwnerReference{}, false
}

// workloadOf follows owner references up to the top-level workload:
// Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob, or the direct
// StatefulSet/DaemonSet owner. A ReplicaSet that is not in the objects but
// carries the pod-template-hash suffix is taken to belong to the Deployment
// named by the rest, as Kubernetes names them.
func (o *owners) workloadOf(ns, podName string, podLabels map[string]string, refs []metav1.OwnerReference) (kind, name string) {
	ref, ok := controller(refs)
	if !ok {
		return "Pod", podName
	}
	switch ref.Kind {
	case "ReplicaSet":
		if up, ok := controller(o.rsOwn[ns+"/"+ref.Name]); ok && up.Kind == "Deployment" {
			return "Deployment", up.Name
		}
		if _, known := o.rsOwn[ns+"/"+ref.Name]; !known {
			if hash := podLabels[labelPodTemplateHash]; hash != "" && strings.HasSuffix(ref.Name, "-"+hash) {
				return "Deployment", strings.TrimSuffix(ref.Name, "-"+hash)
			}
		}
		return "ReplicaSet", ref.Name
	case "Job":
		if up, ok := controller(o.jobOwn[ns+"/"+ref.Name]); ok && up.Kind == "CronJob" {
			return "CronJob", up.Name
		}
		return "Job", ref.Name
	}
	return ref.Kind, ref.Name
}

// template returns the pod template of a workload, falling back to the pod
// itself when the workload object is not among the objects.
func (o *owners) template(kind, ns, name string, pod *corev1.Pod) (*metav1.ObjectMeta, *corev1.PodSpec) {
	if t, ok := o.tmpl[kind+"/"+ns+"/"+name]; ok {
		return &t.ObjectMeta, &t.Spec
	}
	return &pod.ObjectMeta, &pod.Spec
}
