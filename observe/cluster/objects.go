// Package cluster turns Kubernetes objects (read from a file such as the
// fixtures' .cluster.yaml, or later from a live cluster) into an inventory
// that answers what the recorder needs: which workload owns a pod address,
// which node owns an address, and what each workload declares (labels,
// ports, httpGet probes, Services, service account, default inbound policy).
//
// It imports the standard library, k8s.io/api, k8s.io/apimachinery,
// sigs.k8s.io/yaml and observe/recording.
package cluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/cinchmesh/cinch/observe/recording"
)

// Objects are the cluster objects the inventory is built from.
type Objects struct {
	Nodes        []corev1.Node
	Namespaces   []corev1.Namespace
	Pods         []corev1.Pod
	Services     []corev1.Service
	ReplicaSets  []appsv1.ReplicaSet
	Deployments  []appsv1.Deployment
	StatefulSets []appsv1.StatefulSet
	DaemonSets   []appsv1.DaemonSet
	Jobs         []batchv1.Job
	CronJobs     []batchv1.CronJob
	// Ignored counts documents of kinds the inventory does not use.
	Ignored int
}

// NamespacePolicies maps each namespace to its
// config.linkerd.io/default-inbound-policy annotation, for those that
// have one.
func (o *Objects) NamespacePolicies() map[string]string {
	out := map[string]string{}
	for _, ns := range o.Namespaces {
		if p := ns.Annotations[AnnotationDefaultInbound]; p != "" {
			out[ns.Name] = p
		}
	}
	return out
}

// ReadFile reads a multi-document YAML (or JSON) file of cluster objects,
// such as the output of `kubectl get -o yaml` (a List) or a concatenation of
// manifests.
func ReadFile(name string) (*Objects, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	objs, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return objs, nil
}

// Read parses YAML documents separated by "---" lines. Errors name the line
// where the offending document starts.
func Read(r io.Reader) (*Objects, error) {
	objs := &Objects{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var (
		doc       bytes.Buffer
		line      int
		startLine = 1
	)
	flush := func() error {
		if len(bytes.TrimSpace(doc.Bytes())) > 0 {
			if err := objs.addDocument(doc.Bytes()); err != nil {
				return fmt.Errorf("line %d: %w", startLine, err)
			}
		}
		doc.Reset()
		startLine = line + 1
		return nil
	}
	for sc.Scan() {
		line++
		if bytes.Equal(bytes.TrimRight(sc.Bytes(), " \t\r"), []byte("---")) {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		doc.Write(sc.Bytes())
		doc.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line, err)
	}
	line++
	if err := flush(); err != nil {
		return nil, err
	}
	return objs, nil
}

func (o *Objects) addDocument(data []byte) error {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	return o.addJSON(js)
}

func (o *Objects) addJSON(js []byte) error {
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return err
	}
	if head.Kind == "" {
		return fmt.Errorf("document without kind")
	}
	var into any
	switch head.Kind {
	case "List":
		for i, item := range head.Items {
			if err := o.addJSON(item); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
		return nil
	case "Node":
		into = appendTo(&o.Nodes)
	case "Namespace":
		into = appendTo(&o.Namespaces)
	case "Pod":
		into = appendTo(&o.Pods)
	case "Service":
		into = appendTo(&o.Services)
	case "ReplicaSet":
		into = appendTo(&o.ReplicaSets)
	case "Deployment":
		into = appendTo(&o.Deployments)
	case "StatefulSet":
		into = appendTo(&o.StatefulSets)
	case "DaemonSet":
		into = appendTo(&o.DaemonSets)
	case "Job":
		into = appendTo(&o.Jobs)
	case "CronJob":
		into = appendTo(&o.CronJobs)
	default:
		o.Ignored++
		return nil
	}
	if err := json.Unmarshal(js, into); err != nil {
		return fmt.Errorf("%s: %w", head.Kind, err)
	}
	return nil
}

// appendTo grows s by one zero element and returns a pointer to it.
func appendTo[T any](s *[]T) *T {
	var zero T
	*s = append(*s, zero)
	return &(*s)[len(*s)-1]
}

// Created returns when each workload (Deployment, StatefulSet, DaemonSet,
// Job, CronJob) was created, by the workload's peer ID.
func (o *Objects) Created() map[recording.PeerID]time.Time {
	out := map[recording.PeerID]time.Time{}
	add := func(m *metav1.ObjectMeta) {
		if !m.CreationTimestamp.IsZero() {
			out[recording.PeerID(m.Namespace+"/"+m.Name)] = m.CreationTimestamp.UTC()
		}
	}
	for i := range o.Deployments {
		add(&o.Deployments[i].ObjectMeta)
	}
	for i := range o.StatefulSets {
		add(&o.StatefulSets[i].ObjectMeta)
	}
	for i := range o.DaemonSets {
		add(&o.DaemonSets[i].ObjectMeta)
	}
	for i := range o.Jobs {
		add(&o.Jobs[i].ObjectMeta)
	}
	for i := range o.CronJobs {
		add(&o.CronJobs[i].ObjectMeta)
	}
	return out
}

// DefaultDeny lists, sorted, the namespaces whose default inbound policy
// annotation is deny.
func (o *Objects) DefaultDeny() []string {
	var out []string
	for _, ns := range o.Namespaces {
		if ns.Annotations[AnnotationDefaultInbound] == "deny" {
			out = append(out, ns.Name)
		}
	}
	slices.Sort(out)
	return out
}

// Add merges other's objects into o, as when objects come from several
// files (one per namespace, say). An object both hold (same kind, namespace
// and name) is taken from other, the later source.
func (o *Objects) Add(other *Objects) {
	o.Nodes = mergeObjects(o.Nodes, other.Nodes, func(n *corev1.Node) metav1.Object { return n })
	o.Namespaces = mergeObjects(o.Namespaces, other.Namespaces, func(n *corev1.Namespace) metav1.Object { return n })
	o.Pods = mergeObjects(o.Pods, other.Pods, func(p *corev1.Pod) metav1.Object { return p })
	o.Services = mergeObjects(o.Services, other.Services, func(s *corev1.Service) metav1.Object { return s })
	o.ReplicaSets = mergeObjects(o.ReplicaSets, other.ReplicaSets, func(r *appsv1.ReplicaSet) metav1.Object { return r })
	o.Deployments = mergeObjects(o.Deployments, other.Deployments, func(d *appsv1.Deployment) metav1.Object { return d })
	o.StatefulSets = mergeObjects(o.StatefulSets, other.StatefulSets, func(s *appsv1.StatefulSet) metav1.Object { return s })
	o.DaemonSets = mergeObjects(o.DaemonSets, other.DaemonSets, func(d *appsv1.DaemonSet) metav1.Object { return d })
	o.Jobs = mergeObjects(o.Jobs, other.Jobs, func(j *batchv1.Job) metav1.Object { return j })
	o.CronJobs = mergeObjects(o.CronJobs, other.CronJobs, func(c *batchv1.CronJob) metav1.Object { return c })
	o.Ignored += other.Ignored
}

// mergeObjects appends later to earlier, replacing the objects of earlier
// that later holds too.
func mergeObjects[T any](earlier, later []T, meta func(*T) metav1.Object) []T {
	if len(earlier) == 0 {
		return later
	}
	type key struct{ namespace, name string }
	index := make(map[key]int, len(earlier))
	for i := range earlier {
		m := meta(&earlier[i])
		index[key{m.GetNamespace(), m.GetName()}] = i
	}
	for _, obj := range later {
		m := meta(&obj)
		if i, ok := index[key{m.GetNamespace(), m.GetName()}]; ok {
			earlier[i] = obj
			continue
		}
		index[key{m.GetNamespace(), m.GetName()}] = len(earlier)
		earlier = append(earlier, obj)
	}
	return earlier
}
