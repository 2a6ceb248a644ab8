package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/cinchmesh/cinch/synth/gitops"
	"github.com/cinchmesh/cinch/synth/status"
)

// intentsFileName is where pr looks for the declared intents, next to the
// policy, when --intents is not given.
const intentsFileName = "cinch-intents.yaml"

type prOptions struct {
	synth         synthOptions
	repo          string
	path          string
	branch        string
	bodyFile      string
	allowBreaking bool
	// next: the next step from the evidence (cinch pr --next).
	next         bool
	prom         promOptions
	cleanPeriod  time.Duration
	update       bool
	evidencePath string
}

func newPRCommand(s Streams) *cobra.Command {
	o := &prOptions{}
	c := &cobra.Command{
		Use:   "pr RECORDING... --repo DIR [--path linkerd-policy] ([--level ...] [--mode audit|enforce] | --next [--from-prometheus URL --window D])",
		Short: "Write synthesized policy into a GitOps checkout and commit it on a branch for a pull request",
		Long: `Synthesize policy from recordings (as cinch synth does), write it into a GitOps checkout
under --path, and commit it with git on a new branch, with a pull request description.
It never pushes: it prints the git push and gh pr create lines to run.

The change is computed against the policy already at --path (from an earlier run or
written by hand): only objects whose content changed are rewritten, objects an earlier run
wrote that are no longer justified are removed, and files cinch did not write are left
alone. Re-running on the same recordings changes nothing and commits nothing, on the same
branch too (exit 0). When the branch exists and holds other policy, it refuses unless
--update, which commits the change on that branch. The declared intents are read from
--intents, else from cinch-intents.yaml next to the policy.

With --next, the policy at --path is the policy in force and the recordings (and
--from-prometheus over --window) the evidence, as cinch status reads them: every namespace
(or those -n names) that is ready gets its next stage, and every namespace blocked by
requests only audit mode admitted gets the grants those requests justify, at its stage.
Other namespaces are left as they are. The description shows, per namespace, the window,
days clean, coverage, the grants, who loses what and how to roll back. See docs/status.md.`,
		Example: `  cinch pr week.yaml --repo ~/src/gitops --path clusters/prod/linkerd-policy --level serviceaccount
  cinch pr week.yaml --repo . --mode enforce --body-file /tmp/pr.md && gh pr create --body-file /tmp/pr.md
  cinch pr --next tap.yaml --repo ~/src/gitops --from-prometheus http://prometheus:9090 --window 21d`,
		RunE: func(c *cobra.Command, args []string) error {
			if o.repo == "" {
				return usageErrorf("--repo: name the GitOps checkout to write into")
			}
			if filepath.IsAbs(o.path) || o.path == "" {
				return usageErrorf("--path %q: want a directory relative to the repository", o.path)
			}
			if o.evidencePath != "" && (!o.next || filepath.IsAbs(o.evidencePath) || !filepath.IsLocal(o.evidencePath)) {
				return usageErrorf("--evidence-path %q: want a directory relative to the repository, with --next", o.evidencePath)
			}
			if next := filepath.Join(o.repo, o.path, intentsFileName); o.synth.intentsFile == "" {
				if _, err := os.Stat(next); err == nil {
					o.synth.intentsFile = next
					fmt.Fprintf(s.Err, "declared intents: %s\n", next)
				}
			}
			if o.next {
				return o.runNext(c, s, args)
			}
			rec, res, opts, err := o.synth.synthesize(c.Context(), s, args)
			if err != nil {
				return err
			}
			branch := o.branch
			if branch == "" {
				branch = fmt.Sprintf("cinch/%s-%s", opts.Level, time.Now().UTC().Format("2006-01-02"))
			}
			p, err := gitops.Propose(gitops.Request{Repo: o.repo, Path: o.path, Branch: branch, Recording: rec, Result: res,
				Describe: gitops.Describe{Level: opts.Level, Mode: opts.Mode, Path: o.path}, AllowBreaking: o.allowBreaking, Update: o.update})
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(s.Err, "warning:", w)
			}
			return o.print(s, p)
		},
	}
	o.synth.addFlags(c.Flags())
	o.synth.addKubeFlags(c.Flags())
	// With --next the threshold is also status's: the coverage a port
	// needs before route level, with status's default.
	c.Flags().Lookup("min-coverage").Usage += fmt.Sprintf("; with --next: the route coverage a server port needs before route level (default %g)", status.DefaultMinCoverage)
	c.Flags().StringVar(&o.repo, "repo", "", "the GitOps checkout (a git work tree) to write into")
	c.Flags().StringVar(&o.path, "path", "linkerd-policy", "directory of the policy inside the repository")
	c.Flags().StringVar(&o.branch, "branch", "", "branch to create (default cinch/<level>-<date>)")
	c.Flags().BoolVar(&o.allowBreaking, "allow-breaking", false, "write and commit even when the resulting policy (with the hand-written objects already at --path) would deny observed traffic; the PR body lists it")
	c.Flags().BoolVar(&o.update, "update", false, "when --branch exists and holds other policy (an earlier run on other recordings), commit the change on it instead of refusing")
	c.Flags().StringVar(&o.bodyFile, "body-file", "", "write the pull request description (markdown) here instead of stdout")
	c.Flags().BoolVar(&o.next, "next", false, "write the next step the evidence allows for each ready namespace, and the grants audit-only requests justify for the blocked (docs/status.md)")
	o.prom.addFlags(c.Flags())
	o.cleanPeriod = status.DefaultCleanPeriod
	c.Flags().StringVar(&o.evidencePath, "evidence-path", "", "with --next and --from-prometheus: directory of the repository where each stepped namespace's share of the metrics recording is written and committed (default <path>-evidence, outside the applied policy)")
	c.Flags().Var((*daysDuration)(&o.cleanPeriod), "clean-period", "with --next: how long the evidence must cover, and how long ago the last audit-only or denied request must be, before enforcing or default deny")
	return c
}

// print says what was committed and how to push it, and writes the
// description to --body-file or stdout.
func (o *prOptions) print(s Streams, p *gitops.Proposal) error {
	switch {
	case p.Commit == "" && p.Existing:
		fmt.Fprintf(s.Err, "branch %s already holds this policy in %s: nothing to commit\n", p.Branch, filepath.Join(o.repo, o.path))
		return nil
	case p.Commit == "":
		fmt.Fprintf(s.Err, "%s is current: nothing to commit\n", filepath.Join(o.repo, o.path))
		return nil
	}
	added, removed, changed := p.Change.Count()
	on := "new branch"
	if p.Existing {
		on = "existing branch"
	}
	fmt.Fprintf(s.Err, "committed %.12s on %s %s: %d added, %d changed, %d removed\n", p.Commit, on, p.Branch, added, changed, removed)
	bodyFile := "BODY.md   (the description above)"
	if o.bodyFile == "" {
		fmt.Fprint(s.Out, p.Body)
	} else {
		if err := os.WriteFile(o.bodyFile, []byte(p.Body), 0o644); err != nil {
			return fmt.Errorf("--body-file: %w", err)
		}
		bodyFile = o.bodyFile
	}
	fmt.Fprintf(s.Err, "next:\n  git -C %s push -u origin %s\n  gh pr create --head %s --title %q --body-file %s\n", o.repo, p.Branch, p.Branch, p.Subject, bodyFile)
	return nil
}

// runNext writes the next step: status on the checkout's policy and the
// evidence, then gitops.Next.
func (o *prOptions) runNext(c *cobra.Command, s Streams, args []string) error {
	for _, f := range []string{"level", "mode", "default-deny"} {
		if c.Flags().Changed(f) {
			return usageErrorf("--next picks each namespace's level and mode from its stage: drop --%s", f)
		}
	}
	opts, err := o.synth.validate()
	if err != nil {
		return err
	}
	if !c.Flags().Changed("min-coverage") {
		opts.MinCoverage = status.DefaultMinCoverage
	}
	st := &statusOptions{prom: o.prom, cleanPeriod: o.cleanPeriod, minCoverage: opts.MinCoverage, routes: opts.Routes}
	st.diff.policies = []string{filepath.Join(o.repo, o.path)}
	switch len(o.synth.clusterFiles) {
	case 0:
	case 1:
		st.diff.clusterFile = o.synth.clusterFiles[0]
	default:
		return usageErrorf("--next reads the cluster objects from one --cluster-file")
	}
	st.diff.output = "table"
	st.diff.kube = o.synth.kube
	if _, err := st.validate(args); err != nil {
		return err
	}
	rep, ev, err := st.run(c.Context(), s, args)
	if err != nil {
		return err
	}
	branch := o.branch
	if branch == "" {
		branch = "cinch/next-" + time.Now().UTC().Format("2006-01-02")
	}
	sources := slices.Clone(args)
	if o.prom.url != "" {
		sources = append(sources, "prometheus:"+o.prom.url)
	}
	p, steps, err := gitops.Next(gitops.NextRequest{Repo: o.repo, Path: o.path, Branch: branch, Evidence: ev.Recording, Status: rep,
		Metrics: ev.Metrics, EvidencePath: o.evidencePath, Recordings: args,
		Synth: opts, Namespaces: o.synth.kube.namespaces, Sources: sources, AllowBreaking: o.allowBreaking, Update: o.update})
	if err != nil {
		return err
	}
	for _, st := range steps {
		fmt.Fprintf(s.Err, "%s: %s", st.Namespace, gitops.StepName(st))
		if st.Evidence != "" {
			fmt.Fprintf(s.Err, " (evidence from the metrics: %s)", st.Evidence)
		}
		fmt.Fprintln(s.Err)
	}
	return o.print(s, p)
}
