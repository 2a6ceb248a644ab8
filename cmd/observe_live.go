package cmd

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cinchmesh/cinch/observe/live"
	"github.com/cinchmesh/cinch/observe/tapapi"
)

// runLive records a live window from the named tap targets.
func (o *observeOptions) runLive(c *cobra.Command, s Streams, args []string) error {
	session, err := o.validateLive(args)
	if err != nil {
		return err
	}
	base, err := o.appendBase()
	if err != nil {
		return err
	}
	if len(o.clusterFiles) > 0 {
		if session.ClusterFile, err = readClusterFiles(o.clusterFiles); err != nil {
			return err
		}
	}
	kc, err := o.kube.connect()
	if err != nil {
		return err
	}
	session.Kube, session.Context, session.Namespace = kc.Clientset, kc.Context, kc.Namespace
	session.Planned = func(p *live.Plan) { printPlan(s.Err, p) }
	if s.Terminal {
		p := &progressLine{w: s.Err}
		session.Progress = p.show
		defer p.done()
	}
	rec, err := live.Run(c.Context(), &tapapi.Client{HTTP: kc.HTTP, Host: kc.Host}, session)
	if err != nil {
		return err
	}
	return o.write(s, base, rec)
}

// validateLive checks the live flags and parses the targets.
func (o *observeOptions) validateLive(args []string) (live.Session, error) {
	session := live.Session{
		AllNamespaces: o.allNamespaces, Selector: o.selector, MaxRPS: o.maxRPS, ToNamespace: o.toNamespace,
		TrustDomain: o.trustDomain, Limits: o.limits, KeepQuery: o.keepQuery, Options: live.Options{Duration: o.duration},
	}
	if len(o.fromFiles) > 0 {
		return session, usageErrorf("give either tap targets or --from-file, not both")
	}
	if o.duration <= 0 {
		return session, usageErrorf("--duration must be positive")
	}
	if len(o.kube.namespaces) > 1 {
		return session, usageErrorf("-n %s: live targets are in one namespace, as in linkerd viz tap (ns/NAME targets a whole namespace; -A taps every namespace)", strings.Join(o.kube.namespaces, ","))
	}
	if o.maxRPS < 0 {
		return session, usageErrorf("--max-rps must not be negative")
	}
	if err := o.validateLimits(); err != nil {
		return session, err
	}
	bareKind := false
	for _, a := range args {
		t, err := tapapi.ParseTarget(a)
		if err != nil {
			return session, &UsageError{Err: err}
		}
		if o.allNamespaces && (t.Kind == "namespace" || t.Name != "") {
			return session, usageErrorf("-A taps every namespace: name kinds only (deploy, sts), not %q", a)
		}
		bareKind = bareKind || t.Name == ""
		session.Targets = append(session.Targets, t)
	}
	if len(session.Targets) == 0 && !o.allNamespaces {
		return session, usageErrorf("name tap targets (deploy/web, ns/emojivoto), -A, or --from-file")
	}
	if o.selector != "" {
		if _, err := labels.Parse(o.selector); err != nil {
			return session, usageErrorf("--selector %q: %v", o.selector, err)
		}
		// The tap service applies -l to the resources of a bare kind and
		// ignores it for named ones: refuse rather than record more than
		// asked for.
		if !bareKind {
			return session, usageErrorf("-l %s selects resources of a kind by their own labels (deploy -l %s); tap ignores it for named targets and whole namespaces: give a kind, or drop -l", o.selector, o.selector)
		}
	}
	if o.to != "" {
		to, err := tapapi.ParseTarget(o.to)
		if err != nil {
			return session, usageErrorf("--to: %v", err)
		}
		session.To = &to
	} else if o.toNamespace != "" {
		return session, usageErrorf("--to-namespace needs --to")
	}
	return session, nil
}

// printPlan says, before the window starts, which pods within the
// targets cannot be tapped and why, per namespace: only the proxies of
// their tapped peers report their traffic.
func printPlan(w io.Writer, p *live.Plan) {
	for i := 0; i < len(p.Untappable); {
		j := i
		for j < len(p.Untappable) && p.Untappable[j].Namespace == p.Untappable[i].Namespace {
			j++
		}
		fmt.Fprintf(w, "warning: namespace %s: %d pods cannot be tapped; their traffic is recorded only where a tapped peer reports it:%s\n",
			p.Untappable[i].Namespace, j-i, live.Describe(p.Untappable[i:j]))
		i = j
	}
	if len(p.Unmeshed) > 0 {
		fmt.Fprintf(w, "note: no meshed pods, not tapped: namespace %s\n", strings.Join(p.Unmeshed, ", "))
	}
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
