package cmd

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/prom"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/diff"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
	"github.com/cinchmesh/cinch/synth/routes"
	"github.com/cinchmesh/cinch/synth/stage"
	"github.com/cinchmesh/cinch/synth/status"
)

type statusOptions struct {
	diff        diffOptions
	prom        promOptions
	cleanPeriod time.Duration
	minCoverage float64
	routes      routes.Options
}

func (o *statusOptions) addFlags(fs *pflag.FlagSet) {
	d := &o.diff
	fs.StringArrayVar(&d.policies, "policy", nil, "the policy in force: a GitOps checkout's directory or manifests (its Namespace documents say where default deny is on); repeatable")
	fs.StringVar(&d.clusterFile, "cluster-file", "", "cluster objects as YAML (kubectl get -o yaml output): workload labels, creation times, namespaces' default inbound policy")
	fs.StringVarP(&d.output, "output", "o", "table", "output format: "+strings.Join(statusFormats(), ", "))
	fs.StringVar(&d.trustDomain, "trust-domain", "", "mesh trust domain (default: read from the identities, else cluster.local)")
	fs.StringVar(&d.controlPlaneNS, "control-plane-namespace", "", "Linkerd's namespace, part of mesh identities (default: read from the identities, else linkerd)")
	o.cleanPeriod = status.DefaultCleanPeriod
	fs.Var((*daysDuration)(&o.cleanPeriod), "clean-period", "how long the evidence must cover, and how long ago the last audit-only or denied request must be, before enforcing or default deny (a Go duration or whole days)")
	fs.Float64Var(&o.minCoverage, "min-coverage", status.DefaultMinCoverage, "route coverage (Good's estimate, 0-1) a server port needs before route level")
	o.prom.addFlags(fs)
	r := routes.DefaultOptions()
	o.routes = r
	fs.IntVar(&o.routes.MinDistinct, "route-min-distinct", r.MinDistinct, "route inference for coverage: how many different literal values one path segment must show before it becomes a parameter")
	fs.IntVar(&o.routes.HexMinLength, "route-hex-min-length", r.HexMinLength, "route inference for coverage: the shortest run of hex digits taken for an id")
}

func statusFormats() []string {
	var names []string
	for n := range status.Formats {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func newStatusCommand(s Streams) *cobra.Command {
	o := &statusOptions{}
	c := &cobra.Command{
		Use:   "status [RECORDING...] (--policy DIR | --from-cluster) [--from-prometheus URL --window D] [-n NS]",
		Short: "Where each namespace stands on the way to least privilege, what blocks the next step, and the command that makes it",
		Long: `Read the policy in force (--policy, a GitOps checkout, or --from-cluster) and the evidence
(recordings and/or the proxies' authorization counters in Prometheus over --window), and say
for each namespace, and each server port in it:

  stage    open (no Server) -> namespace -> serviceaccount -> route level, each in audit
           then enforce mode, then default-deny; policy cinch did not write is custom
  ready    whether the next step is safe on the evidence, and what blocks it:
             audit-only      requests only audit mode admitted (client, server, port, route,
                             count, first and last seen) that the policy still does not grant
             denied          requests the enforced policy denied
             window          evidence shorter than --clean-period
             recent          the last audit-only or denied request within --clean-period
             young-workload  a workload created after the window started
             coverage        route coverage below --min-coverage before route level
             uncovered       a port with traffic but no Server, before default deny
  next     the next stage and the command that makes it

cinch pr --next writes the next step for the ready namespaces, and the grants the audit-only
requests justify for the others. See docs/status.md.`,
		Example: `  cinch status --policy ~/src/gitops/linkerd-policy --from-prometheus http://prometheus:9090 --window 21d
  cinch status week.yaml --from-cluster -n shop -o markdown
  cinch status tap.yaml --policy policy/ --cluster-file cluster.yaml -o json`,
		RunE: func(c *cobra.Command, args []string) error {
			print, err := o.validate(args)
			if err != nil {
				return err
			}
			rep, _, err := o.run(c.Context(), s, args)
			if err != nil {
				return err
			}
			return print(s.Out, rep)
		},
	}
	o.addFlags(c.Flags())
	o.diff.kube.addFlags(c.Flags(), "only servers in these namespaces (default: every namespace of the recording)")
	o.diff.kube.addFromClusterFlag(c, s, &o.diff.fromCluster, "read the policy in force and the cluster objects from the cluster")
	return c
}

func (o *statusOptions) validate(args []string) (func(io.Writer, *status.Report) error, error) {
	d := &o.diff
	print, ok := status.Formats[d.output]
	if !ok {
		return nil, usageErrorf("-o %q: want one of %s", d.output, strings.Join(statusFormats(), ", "))
	}
	switch {
	case d.fromCluster == (len(d.policies) > 0):
		return nil, usageErrorf("give the policy in force: --policy DIR or --from-cluster (one of them)")
	case d.fromCluster && d.clusterFile != "":
		return nil, usageErrorf("--from-cluster reads the cluster objects itself: drop --cluster-file")
	case len(args) == 0 && o.prom.url == "":
		return nil, usageErrorf("give the evidence: recordings, --from-prometheus URL, or both")
	case o.cleanPeriod <= 0:
		return nil, usageErrorf("--clean-period must be positive")
	case o.minCoverage < 0 || o.minCoverage > 1:
		return nil, usageErrorf("--min-coverage %g: want a fraction from 0 to 1", o.minCoverage)
	case o.prom.url != "" && o.prom.window <= 0:
		return nil, usageErrorf("--window must be positive")
	}
	if err := o.routes.Validate(); err != nil {
		return nil, &UsageError{Err: err}
	}
	return print, nil
}

// sources are where the evidence comes from, as the flags say.
func (o *statusOptions) sources(s Streams, args []string) (status.Sources, error) {
	src := status.Sources{Limits: recording.DefaultLimits}
	if len(args) > 0 {
		rec, err := readRecordings(s, args, recording.DefaultLimits)
		if err != nil {
			return src, err
		}
		src.Recordings = rec
	}
	if o.prom.url == "" {
		return src, nil
	}
	client, err := o.prom.client()
	if err != nil {
		return src, err
	}
	src.Prometheus = client
	src.Metrics = prom.Options{Window: o.prom.window, SeriesLimit: o.prom.seriesLimit, End: time.Now()}
	src.Metrics.Namespaces = o.diff.kube.namespaces
	end, err := parseTime("--end", o.prom.end)
	if err != nil {
		return src, err
	}
	if end != nil {
		src.Metrics.End = *end
	}
	return src, nil
}

func (o *statusOptions) run(ctx context.Context, s Streams, args []string) (*status.Report, *status.Evidence, error) {
	src, err := o.sources(s, args)
	if err != nil {
		return nil, nil, err
	}
	ev, err := status.Collect(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	in := status.Input{Evidence: ev.Recording, Hits: ev.Hits, Window: ev.Window, TrustDomain: o.diff.trustDomain}
	only := o.diff.kube.namespaces
	if o.diff.fromCluster {
		in.Policy, in.Objects, err = o.readCluster(ctx, ev.Recording, only)
	} else {
		in.Policy, in.DefaultDeny, err = readPolicyInForce(o.diff.policies)
	}
	if err != nil {
		return nil, nil, err
	}
	if o.diff.clusterFile != "" {
		if in.Objects, err = cluster.ReadFile(o.diff.clusterFile); err != nil {
			return nil, nil, fmt.Errorf("--cluster-file: %w", err)
		}
		inv := cluster.NewInventory(in.Objects, cluster.Options{TrustDomain: o.diff.trustDomain})
		if err := checkFit(s, inv, ev.Recording, cluster.FitOptions{Namespaces: only}, clusterFilesName([]string{o.diff.clusterFile})); err != nil {
			return nil, nil, err
		}
	}
	recs := args
	if len(recs) == 0 {
		recs = []string{"METRICS-RECORDING"}
	}
	dir := "POLICY-DIR"
	if len(o.diff.policies) == 1 {
		dir = o.diff.policies[0]
	}
	rep, err := status.Evaluate(in, status.Options{CleanPeriod: o.cleanPeriod, MinCoverage: o.minCoverage, Namespaces: only,
		Eval:    eval.Options{TrustDomain: o.diff.trustDomain, ControlPlaneNamespace: o.diff.controlPlaneNS},
		Routes:  o.routes,
		Command: status.CommandOptions{Recordings: recs, PolicyDir: dir}})
	return rep, ev, err
}

// readPolicyInForce reads the --policy manifests, with the namespaces
// their Namespace documents put under default deny.
func readPolicyInForce(paths []string) (*policy.Set, []string, error) {
	set, err := policy.ReadPaths(paths, policy.ReadOptions{KeepOthers: true})
	if err != nil {
		return nil, nil, fmt.Errorf("--policy: %w", err)
	}
	dd, err := stage.DefaultDenyNamespaces(set.Others)
	if err != nil {
		return nil, nil, fmt.Errorf("--policy: %w", err)
	}
	return set, dd, nil
}

// readCluster reads the policy objects and the cluster objects of the
// evidence's server namespaces (or the one -n names).
func (o *statusOptions) readCluster(ctx context.Context, rec *recording.Recording, only []string) (*policy.Set, *cluster.Objects, error) {
	namespaces := diff.ServerNamespaces(rec)
	if len(only) > 0 {
		namespaces = only
	}
	dyn, cs, err := o.diff.kube.clients()
	if err != nil {
		return nil, nil, err
	}
	return diff.ReadCluster(ctx, dyn, cs, namespaces)
}
