package live

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recorder"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/tapapi"
)

// defaultMaxRPS is the tap service's own default rate.
const defaultMaxRPS = 100

// Session is one live recording as the command line asks for it.
type Session struct {
	// Targets are named targets (deploy/web, ns/shop) or bare kinds
	// (deploy); with AllNamespaces, kinds only (none: whole namespaces).
	Targets       []tapapi.Target
	AllNamespaces bool
	// Namespace is where the targets live without AllNamespaces (-n, or
	// the kube context's).
	Namespace string
	// Selector (-l) picks, for bare kinds, the resources of the kind by
	// their own labels, as the tap service reads it; "" for none. It must
	// parse.
	Selector    string
	To          *tapapi.Target
	ToNamespace string
	MaxRPS      float64 // 0: the tap service's default, 100

	// ClusterFile holds the cluster objects given as a file; nil: they are
	// read through Kube. A file may hold only part of the cluster, so
	// targets it shows nothing tappable for are left to the tap service.
	ClusterFile *cluster.Objects
	Kube        kubernetes.Interface
	// Context names the kube context in messages.
	Context string

	TrustDomain string
	Limits      recording.Limits
	KeepQuery   bool
	Options
	// Planned, when set, is told what is tapped and what cannot be, before
	// the window starts (and when nothing can be tapped, before Run fails).
	Planned func(*Plan)
}

// Plan is what a session taps, and the pods it cannot.
type Plan struct {
	Streams []tapapi.Params
	// Untappable are the pods, within the targets, the tap service will
	// not tap, sorted by namespace, state and name.
	Untappable []cluster.TargetPod
	// Unmeshed are the namespaces (with -A) without a meshed pod, sorted:
	// nothing there can be tapped, and nothing there is news.
	Unmeshed []string
}

// Run reads the cluster objects, plans the streams (one per target; with
// AllNamespaces one per namespace and kind that has a pod to tap), and
// records one window. A named target without a pod to tap fails before
// the window starts, as does a session where nothing can be tapped; with
// AllNamespaces, namespaces and kinds without one are left out, and the
// plan says which pods cannot be tapped and why.
func Run(ctx context.Context, w Watcher, s Session) (*recording.Recording, error) {
	objs, err := s.objects(ctx)
	if err != nil {
		return nil, err
	}
	plan, err := s.plan(objs)
	if s.Planned != nil && plan != nil {
		s.Planned(plan)
	}
	if err != nil {
		return nil, err
	}
	rec := recorder.New(recorder.Options{Limits: s.Limits, KeepQuery: s.KeepQuery, Inventory: cluster.NewInventory(objs, cluster.Options{TrustDomain: s.TrustDomain})})
	start := time.Now().UTC()
	rec.BeginWindow(recording.Window{
		Source:   "tap:" + source(plan.Streams),
		Start:    &start,
		Sampling: recording.Sampling{Sampled: true, MaxRPS: float64(plan.Streams[0].MaxRPS)},
	})
	if err := Record(ctx, w, plan.Streams, rec, s.Options); err != nil {
		return nil, err
	}
	out := rec.Recording()
	end := time.Now().UTC()
	out.Windows[len(out.Windows)-1].End = &end
	return out, nil
}

// objects reads what the recording is enriched with: the file's objects,
// or the targets' namespaces (every namespace with AllNamespaces) through
// the API server.
func (s *Session) objects(ctx context.Context) (*cluster.Objects, error) {
	if s.ClusterFile != nil {
		return s.ClusterFile, nil
	}
	var namespaces []string
	if !s.AllNamespaces {
		for _, t := range s.Targets {
			ns := s.Namespace
			if t.Kind == "namespace" {
				ns = t.Name
			}
			if !slices.Contains(namespaces, ns) {
				namespaces = append(namespaces, ns)
			}
		}
	}
	objs, err := cluster.List(ctx, s.Kube, namespaces)
	var nf *cluster.NamespaceNotFoundError
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("namespace %q not found in context %q (check -n and --context)", nf.Namespace, s.Context)
	}
	return objs, err
}

// plan turns the targets into tap requests and finds the pods they will
// not reach. A named target without a pod to tap fails with an error that
// names its pods; when nothing at all can be tapped, the plan comes with
// the error, so that the caller can say why per namespace.
func (s *Session) plan(objs *cluster.Objects) (*Plan, error) {
	var selector labels.Selector
	if s.Selector != "" {
		var err error
		if selector, err = labels.Parse(s.Selector); err != nil {
			return nil, fmt.Errorf("-l %q: %w", s.Selector, err)
		}
	}
	base := tapapi.Params{MaxRPS: float32(cmp.Or(s.MaxRPS, defaultMaxRPS)), To: s.To, ToNamespace: s.ToNamespace}
	var candidates []tapapi.Params
	if s.AllNamespaces {
		kinds := s.Targets
		if len(kinds) == 0 {
			kinds = []tapapi.Target{{Kind: "namespace"}}
		}
		for _, ns := range namespaces(objs) {
			for _, k := range kinds {
				p := base
				p.Target, p.Namespace = k, ns
				if k.Kind == "namespace" {
					p.Target.Name = ns
				}
				candidates = append(candidates, p)
			}
		}
	} else {
		for _, t := range s.Targets {
			p := base
			p.Target, p.Namespace = t, s.Namespace
			candidates = append(candidates, p)
		}
	}

	plan := &Plan{}
	meshed := map[string]bool{}
	seen := map[string]bool{}
	for _, p := range candidates {
		if p.Target.Name == "" {
			p.LabelSelector = s.Selector
		}
		ns := p.Namespace
		if p.Target.Kind == "namespace" {
			ns = p.Target.Name
		}
		t := cluster.TapTarget{Namespace: ns, Kind: p.Target.Kind, Name: p.Target.Name}
		if p.Target.Name == "" {
			t.Selector = selector
		}
		resources, pods, known := objs.TargetPods(t)
		tappable := 0
		for _, pod := range pods {
			if pod.State != cluster.NotMeshed {
				meshed[pod.Namespace] = true
			}
			if pod.State == cluster.Tappable {
				tappable++
			} else if key := pod.Namespace + "/" + pod.Name; !seen[key] {
				seen[key] = true
				plan.Untappable = append(plan.Untappable, pod)
			}
		}
		switch {
		case tappable > 0, !known:
		case s.AllNamespaces:
			continue // a kind this namespace does not run, or cannot tap
		case s.ClusterFile != nil:
			// The file may hold only part of the cluster: let tap decide.
		case resources == 0 && p.Target.Name != "":
			return nil, fmt.Errorf("%s: not found (check the name and -n)", p)
		case resources == 0 && s.Selector != "":
			return nil, fmt.Errorf("%s: no %s has labels matching -l %s (-l selects the %s by their own labels, not their pods')",
				p, p.Target.Kind, s.Selector, tapapi.Plural(p.Target.Kind))
		case len(pods) == 0:
			return nil, fmt.Errorf("%s: no pending or running pods", p)
		default:
			return nil, fmt.Errorf("%s: none of its %d pods can be tapped:%s", p, len(pods), Describe(pods))
		}
		plan.Streams = append(plan.Streams, p)
	}
	if s.AllNamespaces {
		// Untappable pods are news only where something is meshed.
		plan.Untappable = slices.DeleteFunc(plan.Untappable, func(p cluster.TargetPod) bool { return !meshed[p.Namespace] })
		for _, ns := range namespaces(objs) {
			if !meshed[ns] {
				plan.Unmeshed = append(plan.Unmeshed, ns)
			}
		}
	}
	slices.SortFunc(plan.Untappable, func(a, b cluster.TargetPod) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), cmp.Compare(a.State, b.State), strings.Compare(a.Name, b.Name))
	})
	if len(plan.Streams) == 0 {
		return plan, fmt.Errorf("no pod can be tapped in any namespace of context %q: tap needs meshed pods (linkerd inject) started after linkerd-viz was installed", s.Context)
	}
	return plan, nil
}

// Describe lists pods by what keeps them from being tapped, one line each
// (each starting with a newline and an indent), with what to do about it.
func Describe(pods []cluster.TargetPod) string {
	byState := map[cluster.TapState][]string{}
	for _, p := range pods {
		byState[p.State] = append(byState[p.State], p.Name)
	}
	var b strings.Builder
	for state := cluster.NotMeshed; state <= cluster.NoPodIP; state++ {
		if names := byState[state]; len(names) > 0 {
			slices.Sort(names)
			fmt.Fprintf(&b, "\n  %s: %s; %s", state, strings.Join(names, ", "), state.Remedy())
		}
	}
	return b.String()
}

// namespaces lists the namespaces holding pods, sorted.
func namespaces(objs *cluster.Objects) []string {
	seen := map[string]bool{}
	for i := range objs.Pods {
		seen[objs.Pods[i].Namespace] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// source names the streams in the window's source: ns/NAME for a
// namespace, NAMESPACE/KIND[/NAME] otherwise.
func source(ps []tapapi.Params) string {
	var parts []string
	for _, p := range ps {
		if p.Target.Kind == "namespace" {
			parts = append(parts, "ns/"+p.Target.Name)
			continue
		}
		t := p.Namespace + "/" + p.Target.Kind
		if p.Target.Name != "" {
			t += "/" + p.Target.Name
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, ",")
}
