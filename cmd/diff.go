package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/diff"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/intents"
	"github.com/cinchmesh/cinch/synth/policy"
)

type diffOptions struct {
	kube            kubeOptions
	policies        []string
	fromCluster     bool
	clusterFile     string
	output          string
	defaultPolicy   string
	clusterNetworks []string
	trustDomain     string
	controlPlaneNS  string
	liveCheck       bool
	allowAudit      bool
	failOnAudit     bool
	intentsFile     string
}

func (o *diffOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.policies, "policy", nil, "policy manifests to compare with: a file, a directory (its *.yaml, *.yml and *.json, recursively) or - for stdin; repeatable")
	fs.StringVar(&o.clusterFile, "cluster-file", "", "cluster objects as YAML (kubectl get -o yaml output) to evaluate against instead of the workloads the recording describes")
	fs.StringVarP(&o.output, "output", "o", "table", "output format: "+strings.Join(diffFormats(), ", "))
	fs.StringVar(&o.defaultPolicy, "default-inbound-policy", policy.AllUnauthenticated, "the cluster's default inbound policy (the proxy.defaultInboundPolicy chart value): all-unauthenticated, all-authenticated, cluster-authenticated, cluster-unauthenticated, deny or audit")
	fs.StringSliceVar(&o.clusterNetworks, "cluster-networks", nil, "the cluster's pod networks (the clusterNetworks chart value; default 10.0.0.0/8,100.64.0.0/10,172.16.0.0/12,192.168.0.0/16,fd00::/8)")
	fs.StringVar(&o.trustDomain, "trust-domain", "", "mesh trust domain (default: read from the recording's identities, else cluster.local)")
	fs.StringVar(&o.controlPlaneNS, "control-plane-namespace", "", "Linkerd's namespace, part of mesh identities (default: read from the recording's identities, else linkerd)")
	fs.BoolVar(&o.liveCheck, "live-check", false, "compare the evaluator's decisions with the live decision labels in the recording; meaningful when the policy given was live while recording (default: on with --from-cluster)")
	fs.BoolVar(&o.allowAudit, "allow-audit", false, "exit 0 when observed traffic is admitted only by audit mode (by default that exits 1: it is denied once enforced); for checking an audit-mode rollout")
	fs.BoolVar(&o.failOnAudit, "fail-on-audit", false, "")
	_ = fs.MarkDeprecated("fail-on-audit", "traffic only audit mode admits exits 1 by default now; --allow-audit gives the old default")
	fs.StringVar(&o.intentsFile, "intents", "", "declared-intents file: say which declared grants traffic has since shown (they can move to observed)")
}

func diffFormats() []string {
	var names []string
	for n := range diff.Formats {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func newDiffCommand(s Streams) *cobra.Command {
	o := &diffOptions{}
	c := &cobra.Command{
		Use:   "diff RECORDING... (--policy PATH... | --from-cluster) [-o table|json|markdown]",
		Short: "Compare observed traffic with a policy: what it would deny, what it allows that nobody uses",
		Long: `Evaluate every observed request of the recordings (merged when several) against a policy,
the way Linkerd's proxies decide, and report:

  would be denied   observed (client, server, port, route) the policy does not admit, with
                    request counts, a sample path and the reason (no route matched, no
                    authorization matched, default deny)
  audit only        observed traffic only audit mode admits: denied once enforced
  unused grants     per authorization, what it admits beyond what was observed (whole
                    namespaces, wildcard identities, wide networks, routes never hit, Servers
                    without traffic), most open first, and a least-privilege score
  live decisions    with --live-check, the evaluator's decisions against the decision labels
                    the live proxies gave the recorded requests

The policy comes from manifests (--policy) or from the cluster (--from-cluster). The workloads it
applies to (labels, ports, probes, default-inbound-policy annotations) come from the
recording, or from --cluster-file or the cluster. Exit code 1 when observed traffic would be
denied, now or once enforced (traffic only audit mode admits; --allow-audit accepts that), so
CI can gate on it. See docs/diff.md.`,
		Example: `  cinch diff week.yaml --policy policy/
  cinch synth week.yaml --level route | cinch diff week.yaml --policy - -o markdown
  cinch diff week.yaml --from-cluster --context prod -o json
  cinch diff week.yaml --policy policy/ --cluster-file cluster.yaml --default-inbound-policy deny`,
		RunE: func(c *cobra.Command, args []string) error {
			opts, print, err := o.validate(c, args)
			if err != nil {
				return err
			}
			return o.run(c.Context(), s, args, opts, print)
		},
	}
	o.addFlags(c.Flags())
	o.addKubeFlags(c, s)
	return c
}

// addKubeFlags binds the kubeconfig flags, -n and --from-cluster.
func (o *diffOptions) addKubeFlags(c *cobra.Command, s Streams) {
	o.kube.addFlags(c.Flags(), "only servers in these namespaces (default: every namespace of the recording)")
	o.kube.addFromClusterFlag(c, s, &o.fromCluster, "read the policy objects and the cluster objects of the recording's namespaces from the cluster")
}

func (o *diffOptions) validate(c *cobra.Command, args []string) (diff.Options, func(io.Writer, *diff.Report) error, error) {
	opts := diff.Options{}
	print, ok := diff.Formats[o.output]
	if !ok {
		return opts, nil, usageErrorf("-o %q: want one of %s", o.output, strings.Join(diffFormats(), ", "))
	}
	switch {
	case o.fromCluster == (len(o.policies) > 0):
		return opts, nil, usageErrorf("give the policy to compare with: --policy PATH or --from-cluster (one of them)")
	case o.fromCluster && o.clusterFile != "":
		return opts, nil, usageErrorf("--from-cluster reads the cluster objects itself: drop --cluster-file")
	case slices.Contains(args, "-") && slices.Contains(o.policies, "-"):
		return opts, nil, usageErrorf("--policy - and a recording - cannot both read stdin")
	}
	var err error
	if opts.Eval, err = evalOptions(o.defaultPolicy, o.clusterNetworks, o.trustDomain, o.controlPlaneNS); err != nil {
		return opts, nil, err
	}
	opts.LiveCheck = o.liveCheck
	if !c.Flags().Changed("live-check") {
		opts.LiveCheck = o.fromCluster
	}
	opts.Namespaces = o.kube.namespaces
	if o.intentsFile != "" {
		f, err := intents.ReadFile(o.intentsFile)
		if err != nil {
			return opts, nil, fmt.Errorf("--intents: %w", err)
		}
		opts.Intents = f.Intents
	}
	return opts, print, nil
}

func (o *diffOptions) run(ctx context.Context, s Streams, args []string, opts diff.Options, print func(io.Writer, *diff.Report) error) error {
	rec, err := readRecordings(s, args, recording.DefaultLimits)
	if err != nil {
		return err
	}
	var set *policy.Set
	if o.fromCluster {
		set, opts.Cluster, err = o.readCluster(ctx, rec, opts.Namespaces)
	} else {
		set, err = o.readPolicy(s)
	}
	if err != nil {
		return err
	}
	if o.clusterFile != "" {
		objs, err := cluster.ReadFile(o.clusterFile)
		if err != nil {
			return fmt.Errorf("--cluster-file: %w", err)
		}
		inv := cluster.NewInventory(objs, cluster.Options{TrustDomain: o.trustDomain})
		if err := checkFit(s, inv, rec, cluster.FitOptions{Namespaces: opts.Namespaces}, clusterFilesName([]string{o.clusterFile})); err != nil {
			return err
		}
		opts.Cluster = inv
	}
	rep, err := diff.Evaluate(rec, set, opts)
	if err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(s.Err, "warning:", w)
	}
	if err := print(s.Out, rep); err != nil {
		return err
	}
	return findings(&rep.Summary, o.allowAudit)
}

// findings is the error for a diff's summary: traffic the policy denies
// today, and traffic only audit mode admits (denied once enforced), each
// said separately; the latter is not a finding with allowAudit.
func findings(sum *diff.Summary, allowAudit bool) error {
	var found []string
	if sum.Denied.Tuples > 0 {
		found = append(found, fmt.Sprintf("the policy would deny observed traffic: %s", sum.Denied))
	}
	if !allowAudit && sum.Audit.Tuples > 0 {
		found = append(found, fmt.Sprintf("observed traffic is admitted only by audit mode and would be denied when enforced: %s (--allow-audit accepts it)", sum.Audit))
	}
	if len(found) == 0 {
		return nil
	}
	return &FindingsError{Err: errors.New(strings.Join(found, "; "))}
}

// evalOptions checks the flags that describe the Linkerd installation.
func evalOptions(defaultPolicy string, clusterNetworks []string, trustDomain, controlPlaneNS string) (eval.Options, error) {
	opts := eval.Options{DefaultPolicy: defaultPolicy, TrustDomain: trustDomain, ControlPlaneNamespace: controlPlaneNS}
	if !policy.IsDefaultPolicy(defaultPolicy) {
		return opts, usageErrorf("--default-inbound-policy %q: want all-unauthenticated, all-authenticated, cluster-authenticated, cluster-unauthenticated, deny or audit", defaultPolicy)
	}
	for _, n := range clusterNetworks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return opts, usageErrorf("--cluster-networks %q: want a CIDR such as 10.0.0.0/8", n)
		}
		opts.ClusterNetworks = append(opts.ClusterNetworks, p.Masked())
	}
	return opts, nil
}

// readPolicy reads the --policy manifests.
func (o *diffOptions) readPolicy(s Streams) (*policy.Set, error) { return readPolicies(s, o.policies) }

// readPolicies reads policy manifests: files, directories or - for stdin.
func readPolicies(s Streams, paths []string) (*policy.Set, error) {
	set := &policy.Set{}
	for _, p := range paths {
		var (
			part *policy.Set
			err  error
		)
		if p == "-" {
			part, err = policy.Read(s.In, "-", policy.ReadOptions{})
		} else {
			part, err = policy.ReadPaths([]string{p}, policy.ReadOptions{})
		}
		if err != nil {
			return nil, fmt.Errorf("--policy: %w", err)
		}
		set.Add(part)
	}
	return set, nil
}

// readCluster reads the policy objects and the cluster objects of the
// recording's server namespaces (or those of them -n names).
func (o *diffOptions) readCluster(ctx context.Context, rec *recording.Recording, only []string) (*policy.Set, diff.Cluster, error) {
	dyn, cs, err := o.kube.clients()
	if err != nil {
		return nil, nil, err
	}
	set, objs, err := diff.ReadCluster(ctx, dyn, cs, diff.ServerNamespaces(rec, only...))
	if err != nil || objs == nil {
		return set, nil, err
	}
	return set, cluster.NewInventory(objs, cluster.Options{TrustDomain: o.trustDomain}), nil
}
