package gitops

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/policy"
	"github.com/cinchmesh/cinch/synth/stage"
	"github.com/cinchmesh/cinch/synth/status"
)

// NextRequest asks for the next step of every namespace the status
// report says is ready, and for the grants the audit-only requests
// justify in the namespaces they block.
type NextRequest struct {
	Repo, Path, Branch string
	// Evidence is what the status was evaluated on (recordings and the
	// metrics window, merged).
	Evidence *recording.Recording
	Status   *status.Report
	// Synth are the options of every synthesis (route API, probe
	// networks, thresholds); level, mode, default deny and namespaces
	// are set per step.
	Synth synth.Options
	// Namespaces limits the steps (all when empty).
	Namespaces []string
	// Metrics is the part of Evidence recorded from Prometheus for the
	// window (status.Evidence.Metrics), nil without: each stepped
	// namespace's share of it is written under EvidencePath and committed
	// with its policy, so the grants' evidence is reviewed with them and
	// synthesizing from it again gives the same policy.
	Metrics *recording.Recording
	// EvidencePath is that directory, relative to Repo (default Path
	// + "-evidence": outside Path, which is applied as it is).
	EvidencePath string
	// Recordings are the recording files given, for the description's
	// commands.
	Recordings []string
	// Sources name the evidence in the description ("prometheus:URL").
	Sources       []string
	AllowBreaking bool
	// Update commits on an existing Branch that holds other policy.
	Update bool
}

// Step is what pr --next does to one namespace.
type Step struct {
	Namespace string
	// From is the stage in force; To the stage written. To equals From
	// for grants.
	From, To stage.Stage
	// Grants are the audit-only requests the step grants.
	Grants []status.Hit
	Status status.Namespace
	// Evidence is the file, relative to Repo, holding the namespace's
	// share of the metrics recording; empty without one.
	Evidence string
}

// NextError says there is nothing to do, and why.
type NextError struct{ Blocked []string }

func (e *NextError) Error() string {
	if len(e.Blocked) == 0 {
		return "no namespace of the evidence has a next step (cinch status shows why)"
	}
	return "no namespace is ready or blocked by audit-only requests to grant: " + strings.Join(e.Blocked, "; ") + " (cinch status shows the blockers)"
}

// PlanNext picks the steps from a status report: the next stage for the
// ready namespaces; the current stage again, from evidence that now holds
// the missed traffic, for those blocked by audit-only requests.
func PlanNext(rep *status.Report, only []string) ([]Step, error) {
	var steps []Step
	var blocked []string
	for _, n := range rep.Namespaces {
		if len(only) > 0 && !slices.Contains(only, n.Name) {
			continue
		}
		switch {
		case n.Ready:
			steps = append(steps, Step{Namespace: n.Name, From: n.Stage, To: n.Next.Stage, Status: n})
		case auditHits(n) != nil && n.Stage.Mode == synth.ModeAudit:
			steps = append(steps, Step{Namespace: n.Name, From: n.Stage, To: n.Stage, Grants: auditHits(n), Status: n})
		default:
			var rules []string
			for _, b := range n.Blockers {
				rules = append(rules, string(b.Rule))
			}
			blocked = append(blocked, n.Name+": "+cmp.Or(strings.Join(rules, ", "), "nothing to do"))
		}
	}
	if len(steps) == 0 {
		return nil, &NextError{Blocked: blocked}
	}
	return steps, nil
}

func auditHits(n status.Namespace) []status.Hit {
	for _, b := range n.Blockers {
		if b.Rule == status.RuleAuditOnly {
			return b.Hits
		}
	}
	return nil
}

// Next writes the planned steps into the checkout and commits them: the
// stepped namespaces synthesized from the evidence at their new stage,
// every other namespace's files kept as they are.
func Next(req NextRequest) (*Proposal, []Step, error) {
	steps, err := PlanNext(req.Status, req.Namespaces)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(req.Repo, req.Path)
	res, err := kept(dir, steps)
	if err != nil {
		return nil, nil, err
	}
	// One synthesis per target stage.
	byStage := map[stage.Stage][]string{}
	var order []stage.Stage
	for _, s := range steps {
		if _, ok := byStage[s.To]; !ok {
			order = append(order, s.To)
		}
		byStage[s.To] = append(byStage[s.To], s.Namespace)
	}
	for _, to := range order {
		opts := req.Synth
		opts.Level, opts.Mode, opts.DefaultDeny, opts.Namespaces = to.Level, to.Mode, to.DefaultDeny, byStage[to]
		part, err := synth.Synthesize(req.Evidence, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("synthesize %s for %s: %w", to, strings.Join(byStage[to], ", "), err)
		}
		res.Units = append(res.Units, part.Units...)
		res.DefaultDeny = append(res.DefaultDeny, part.DefaultDeny...)
		res.Warnings = append(res.Warnings, part.Warnings...)
		res.Coverage = append(res.Coverage, part.Coverage...)
	}
	slices.SortFunc(res.Units, func(a, b synth.Unit) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Workload, b.Workload))
	})
	slices.Sort(res.DefaultDeny)
	files, err := evidenceFiles(&req, steps)
	if err != nil {
		return nil, nil, err
	}
	d := Describe{Path: req.Path, Subject: "linkerd policy: next steps for " + namespaces(steps)}
	p, err := Propose(Request{Repo: req.Repo, Path: req.Path, Branch: req.Branch, Recording: req.Evidence, Result: res,
		Describe: d, AllowBreaking: req.AllowBreaking, Update: req.Update, Files: files,
		Body: func(d Describe, rec *recording.Recording, res *synth.Result, c *Change) (string, error) {
			return nextBody(d, req, steps, c), nil
		}})
	return p, steps, err
}

// EvidenceName is the file name of a metrics recording of the window w,
// as pr --next writes it: "metrics-20261031T0000Z-20261121T0000Z.yaml".
func EvidenceName(w status.Window) string {
	const stamp = "20060102T1504Z"
	return "metrics-" + w.Start.UTC().Format(stamp) + "-" + w.End.UTC().Format(stamp) + ".yaml"
}

// evidenceFiles are the stepped namespaces' shares of the metrics
// recording, each a recording of its own with the metrics window, by path
// relative to the repository; it notes each file in its step.
func evidenceFiles(req *NextRequest, steps []Step) (map[string][]byte, error) {
	if req.Metrics == nil {
		return nil, nil
	}
	dir := cmp.Or(req.EvidencePath, req.Path+"-evidence")
	if filepath.IsAbs(dir) || !filepath.IsLocal(dir) {
		return nil, fmt.Errorf("evidence path %q: want a directory inside the repository", dir)
	}
	name := EvidenceName(status.WindowOf(req.Metrics))
	files := map[string][]byte{}
	for i := range steps {
		share := servedIn(req.Metrics, steps[i].Namespace)
		if len(share.Edges) == 0 {
			continue
		}
		data, err := recording.Encode(share, recording.YAML)
		if err != nil {
			return nil, err
		}
		steps[i].Evidence = filepath.ToSlash(filepath.Join(dir, steps[i].Namespace, name))
		files[steps[i].Evidence] = data
	}
	return files, nil
}

// servedIn is the part of rec served in namespace ns: the edges to its
// workloads, with the workloads and peers they name and rec's windows,
// each window's request count that of the edges kept.
func servedIn(rec *recording.Recording, ns string) *recording.Recording {
	inNS := map[recording.PeerID]bool{}
	for _, w := range rec.Workloads {
		if w.Namespace == ns {
			inNS[w.ID] = true
		}
	}
	out := recording.New()
	named := map[recording.PeerID]bool{}
	var requests int64
	for _, e := range rec.Edges {
		if inNS[e.Server] {
			out.Edges = append(out.Edges, e)
			named[e.Client], named[e.Server] = true, true
			requests += e.Requests
		}
	}
	out.Workloads = slices.DeleteFunc(slices.Clone(rec.Workloads), func(w recording.Workload) bool { return !named[w.ID] })
	out.Peers = slices.DeleteFunc(slices.Clone(rec.Peers), func(p recording.Peer) bool { return !named[p.ID] })
	for _, w := range rec.Windows {
		w.Requests = requests
		out.Windows = append(out.Windows, w)
	}
	return out
}

func namespaces(steps []Step) string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Namespace)
	}
	return strings.Join(out, ", ")
}

// kept reads the policy files cinch wrote for the namespaces not stepped,
// so that the directory keeps them as they are.
func kept(dir string, steps []Step) (*synth.Result, error) {
	res := &synth.Result{}
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the policy in %s: %w", dir, err)
	}
	for _, e := range entries {
		ns := e.Name()
		if !e.IsDir() || slices.ContainsFunc(steps, func(s Step) bool { return s.Namespace == ns }) {
			continue
		}
		files, err := filepath.Glob(filepath.Join(dir, ns, "*.yaml"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			if !bytes.Contains(data, []byte(synth.LabelManagedBy+": "+synth.ManagedBy+"\n")) {
				continue
			}
			if filepath.Base(f) == "namespace.yaml" {
				res.DefaultDeny = append(res.DefaultDeny, ns)
				continue
			}
			set, err := policy.Read(bytes.NewReader(data), f, policy.ReadOptions{})
			if err != nil {
				return nil, err
			}
			res.Units = append(res.Units, synth.Unit{Namespace: ns, Workload: strings.TrimSuffix(filepath.Base(f), ".yaml"), Set: *set})
		}
	}
	return res, nil
}

// nextBody describes the steps with their evidence: per namespace the
// window, days clean, coverage, the grants, what the step tightens and
// how to roll it back.
func nextBody(d Describe, req NextRequest, steps []Step, c *Change) string {
	var b bytes.Buffer
	rep := req.Status
	added, removed, changed := c.Count()
	b.WriteString("## Linkerd policy: next steps\n\n")
	fmt.Fprintf(&b, "Written by `cinch pr --next` from the evidence of %s to %s (%s)",
		rep.Window.Start.UTC().Format("2006-01-02 15:04"), rep.Window.End.UTC().Format("2006-01-02 15:04"), dayCount(rep.Window.Length()))
	if len(req.Sources) > 0 {
		fmt.Fprintf(&b, ": %s", strings.Join(req.Sources, ", "))
	}
	fmt.Fprintf(&b, ". Clean period %s. **%d added, %d changed, %d removed** objects under `%s`.\n\n",
		dayCount(time.Duration(rep.CleanPeriod)), added, changed, removed, d.Path)
	b.WriteString("| namespace | step | days clean | coverage | evidence |\n|---|---|---|---|---|\n")
	for _, s := range steps {
		cov := "-"
		if s.Status.Coverage != nil {
			cov = fmt.Sprintf("%.2f", *s.Status.Coverage)
		}
		evidence := "clean"
		if len(s.Grants) > 0 {
			evidence = fmt.Sprintf("%d audit-only client(s) granted", len(s.Grants))
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f | %s | %s |\n", s.Namespace, StepName(s), s.Status.DaysClean, cov, evidence)
	}
	b.WriteString("\n")
	for _, s := range steps {
		fmt.Fprintf(&b, "### %s: %s\n\n", s.Namespace, StepName(s))
		fmt.Fprintf(&b, "Evidence: %s, %.1f days clean", dayCount(rep.Window.Length()), s.Status.DaysClean)
		if s.Status.Coverage != nil {
			fmt.Fprintf(&b, ", lowest route coverage %.2f", *s.Status.Coverage)
		}
		b.WriteString(".\n\n")
		if len(s.Grants) > 0 {
			from := "recorded from the metrics"
			if s.Evidence != "" {
				from = fmt.Sprintf("recorded from the metrics in `%s`", s.Evidence)
			}
			fmt.Fprintf(&b, "Grants for requests only audit mode admitted during the window (traffic the recordings missed; %s):\n\n", from)
			b.WriteString("| client | server | port | route | requests | first seen | last seen |\n|---|---|---|---|---|---|---|\n")
			for _, h := range s.Grants {
				fmt.Fprintf(&b, "| %s | %s | %d | %s | %d | %s | %s |\n", h.Client, h.Server, h.Port, markdownCell(cmp.Or(h.Route, "?")), h.Requests, when(h.First), when(h.Last))
			}
			b.WriteString("\nThe namespace stays at its stage: once this is merged and applied, `cinch status` shows it ready when the clean period has passed since the last of these requests.\n\n")
		}
		if s.Evidence != "" {
			recs := append(slices.Clone(req.Recordings), s.Evidence)
			fmt.Fprintf(&b, "Evidence from the metrics: `%s`, the edges to %s's workloads that Prometheus counted during the window. The same policy again: `cinch synth %s --level %s --mode %s -n %s",
				s.Evidence, s.Namespace, strings.Join(recs, " "), s.To.Level, s.To.Mode, s.Namespace)
			if s.To.DefaultDeny {
				b.WriteString(" --default-deny")
			}
			fmt.Fprintf(&b, " -o %s`.\n\n", d.Path)
		}
		fmt.Fprintf(&b, "Who loses what: %s\n\n", tightens(s, c))
		fmt.Fprintf(&b, "Roll back: `git revert` this change and apply; or regenerate the namespace at its previous stage: `cinch synth RECORDING... --level %s --mode %s -n %s -o %s`", s.From.Level, s.From.Mode, s.Namespace, d.Path)
		if s.From.Level == "" {
			fmt.Fprintf(&b, " (it had no Server: delete `%s/%s`)", d.Path, s.Namespace)
		}
		b.WriteString(".\n\n")
	}
	writeChanges(&b, c)
	return b.String()
}

// StepName writes a step as "FROM → TO", or "STAGE (grants)".
func StepName(s Step) string {
	if s.From == s.To {
		return s.To.String() + " (grants)"
	}
	return s.From.String() + " → " + s.To.String()
}

// tightens says what the step takes away.
func tightens(s Step, c *Change) string {
	var revoked []string
	for _, g := range c.Access.Removed {
		if strings.HasPrefix(g, s.Namespace+" ") {
			revoked = append(revoked, "`"+markdownCell(g)+"`")
		}
	}
	var what string
	switch {
	case s.From == s.To:
		what = "nobody: the step only grants"
	case s.To.DefaultDeny && !s.From.DefaultDeny:
		what = "ports no Server claims are closed to pods started after the annotation (restart the workloads: `kubectl rollout restart`)"
	case s.To.Mode == synth.ModeEnforce:
		what = "requests no authorization admits are refused instead of logged; none were seen during the window that the policy does not grant"
	case s.From.Level == "":
		what = "nobody yet: audit mode only logs what it would deny"
	default:
		what = fmt.Sprintf("clients keep only what %s level grants; audit mode logs what it would deny before anything is refused", s.To.Level)
	}
	if len(revoked) > 0 {
		what += "; revoked: " + strings.Join(revoked, ", ")
	}
	return what
}

func when(t *time.Time) string {
	if t == nil {
		return "?"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func dayCount(d time.Duration) string {
	return fmt.Sprintf("%.1f days", d.Hours()/24)
}
