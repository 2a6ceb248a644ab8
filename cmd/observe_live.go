package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/live"
	"github.com/cinchmesh/cinch/observe/recorder"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/tapapi"
)

// runLive records a live window from the named tap targets.
func (o *observeOptions) runLive(c *cobra.Command, s Streams, args []string) error {
	targets, selector, err := o.validateLive(args)
	if err != nil {
		return err
	}
	base, err := o.appendBase()
	if err != nil {
		return err
	}
	kc, err := o.kube.connect()
	if err != nil {
		return err
	}
	objs, err := o.clusterObjects(c.Context(), kc, targets)
	if err != nil {
		return err
	}
	params, err := o.tapParams(kc, objs, targets, selector)
	if err != nil {
		return err
	}

	rec := recorder.New(recorder.Options{Limits: o.limits, KeepQuery: o.keepQuery, Inventory: cluster.NewInventory(objs, cluster.Options{TrustDomain: o.trustDomain})})
	start := time.Now().UTC()
	rec.BeginWindow(recording.Window{
		Source:   "tap:" + describeTargets(params),
		Start:    &start,
		Sampling: recording.Sampling{Sampled: true, MaxRPS: float64(params[0].MaxRPS)},
	})
	opts := live.Options{Duration: o.duration}
	if s.Terminal {
		p := &progressLine{w: s.Err}
		opts.Progress = p.show
		defer p.done()
	}
	if err := live.Record(c.Context(), &tapapi.Client{HTTP: kc.HTTP, Host: kc.Host}, params, rec, opts); err != nil {
		return err
	}
	out := rec.Recording()
	end := time.Now().UTC()
	out.Windows[len(out.Windows)-1].End = &end
	return o.write(s, base, out)
}

// validateLive checks the live flags and parses the targets.
func (o *observeOptions) validateLive(args []string) ([]tapapi.Target, labels.Selector, error) {
	if len(o.fromFiles) > 0 {
		return nil, nil, usageErrorf("give either tap targets or --from-file, not both")
	}
	if o.duration <= 0 {
		return nil, nil, usageErrorf("--duration must be positive")
	}
	if o.maxRPS < 0 {
		return nil, nil, usageErrorf("--max-rps must not be negative")
	}
	if err := o.validateLimits(); err != nil {
		return nil, nil, err
	}
	var targets []tapapi.Target
	for _, a := range args {
		t, err := tapapi.ParseTarget(a)
		if err != nil {
			return nil, nil, &UsageError{Err: err}
		}
		if o.allNamespaces && (t.Kind == "namespace" || t.Name != "") {
			return nil, nil, usageErrorf("-A taps every namespace: name kinds only (deploy, sts), not %q", a)
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 && !o.allNamespaces {
		return nil, nil, usageErrorf("name tap targets (deploy/web, ns/emojivoto), -A, or --from-file")
	}
	var selector labels.Selector
	if o.selector != "" {
		var err error
		if selector, err = labels.Parse(o.selector); err != nil {
			return nil, nil, usageErrorf("--selector %q: %v", o.selector, err)
		}
	}
	if o.to != "" {
		if _, err := tapapi.ParseTarget(o.to); err != nil {
			return nil, nil, usageErrorf("--to: %v", err)
		}
	} else if o.toNamespace != "" {
		return nil, nil, usageErrorf("--to-namespace needs --to")
	}
	return targets, selector, nil
}

// clusterObjects reads what the recording is enriched with: --cluster-file
// when given, else the targets' namespaces (every namespace with -A)
// through the API server.
func (o *observeOptions) clusterObjects(ctx context.Context, kc *kubeClients, targets []tapapi.Target) (*cluster.Objects, error) {
	if len(o.clusterFiles) > 0 {
		return readClusterFiles(o.clusterFiles)
	}
	var namespaces []string
	if !o.allNamespaces {
		seen := map[string]bool{}
		for _, t := range targets {
			ns := kc.Namespace
			if t.Kind == "namespace" {
				ns = t.Name
			}
			if !seen[ns] {
				seen[ns] = true
				namespaces = append(namespaces, ns)
			}
		}
	}
	objs, err := cluster.List(ctx, kc.Clientset, namespaces)
	var nf *cluster.NamespaceNotFoundError
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("namespace %q not found in context %q (check -n and --context)", nf.Namespace, kc.Context)
	}
	return objs, err
}

// tapParams turns the targets into one tap request each (with -A, one per
// namespace with meshed pods), refusing targets without a pod tap can
// reach: such a stream would record nothing for the whole window.
func (o *observeOptions) tapParams(kc *kubeClients, objs *cluster.Objects, targets []tapapi.Target, selector labels.Selector) ([]tapapi.Params, error) {
	maxRPS := o.maxRPS
	if maxRPS == 0 {
		maxRPS = 100
	}
	p := tapapi.Params{MaxRPS: float32(maxRPS), LabelSelector: o.selector}
	if o.to != "" {
		to, _ := tapapi.ParseTarget(o.to)
		p.To, p.ToNamespace = &to, o.toNamespace
	}
	var out []tapapi.Params
	if o.allNamespaces {
		namespaces := objs.TappableNamespaces()
		if len(namespaces) == 0 {
			return nil, fmt.Errorf("no meshed pods with tap enabled in any namespace of context %q: tap needs pods injected with the linkerd proxy (linkerd inject)", kc.Context)
		}
		kinds := targets
		if len(kinds) == 0 {
			kinds = []tapapi.Target{{Kind: "namespace"}}
		}
		for _, ns := range namespaces {
			for _, k := range kinds {
				p.Target, p.Namespace = k, ns
				if k.Kind == "namespace" {
					p.Target.Name = ns
				}
				out = append(out, p)
			}
		}
	} else {
		for _, t := range targets {
			p.Target, p.Namespace = t, kc.Namespace
			out = append(out, p)
		}
	}
	var kept []tapapi.Params
	for _, q := range out {
		ns := q.Namespace
		if q.Target.Kind == "namespace" {
			ns = q.Target.Name
		}
		selected, tappable := objs.TargetPods(cluster.TapTarget{Namespace: ns, Kind: q.Target.Kind, Name: q.Target.Name, Selector: selector})
		switch {
		case tappable > 0:
		case o.allNamespaces:
			continue // a kind this namespace does not run
		case len(o.clusterFiles) > 0:
			// The file may hold only part of the cluster: let tap decide.
		case selected == 0:
			return nil, fmt.Errorf("%s: no running pods (check the name, -n and -l)", describeTarget(q))
		default:
			return nil, fmt.Errorf("%s: none of its %d running pods can be tapped: they need the linkerd proxy (linkerd inject) and tap not disabled (%s)", describeTarget(q), selected, cluster.AnnotationDisableTap)
		}
		kept = append(kept, q)
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("no meshed pods with tap enabled for %s in any namespace of context %q", describeTargets(out), kc.Context)
	}
	return kept, nil
}

func describeTarget(p tapapi.Params) string {
	if p.Target.Kind == "namespace" {
		return "namespace/" + p.Target.Name
	}
	t := p.Target.Kind
	if p.Target.Name != "" {
		t += "/" + p.Target.Name
	}
	return t + " in namespace " + p.Namespace
}

func describeTargets(ps []tapapi.Params) string {
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

// progressLine redraws one status line on a terminal.
type progressLine struct {
	w     io.Writer
	drawn bool
}

func (p *progressLine) show(pr live.Progress) {
	verb := "recording"
	if pr.Done {
		verb = "recorded"
	}
	line := fmt.Sprintf("%s %s", verb, pr.Elapsed.Truncate(time.Second))
	if pr.Remaining > 0 {
		line += fmt.Sprintf(", %s left", pr.Remaining.Round(time.Second))
	}
	rate := 0.0
	if secs := pr.Elapsed.Seconds(); secs > 0 {
		rate = float64(pr.Events) / secs
	}
	line += fmt.Sprintf(" | %.0f events/s | %d edges | %d routes", rate, pr.Edges, pr.Routes)
	if !pr.Done {
		line += fmt.Sprintf(" | streams %d/%d up", pr.StreamsUp, pr.Streams)
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.drawn = true
}

func (p *progressLine) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
