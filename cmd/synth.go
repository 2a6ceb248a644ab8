package cmd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/intents"
	"github.com/cinchmesh/cinch/synth/routes"
)

type synthOptions struct {
	level           string
	mode            string
	defaultDeny     bool
	serviceProfiles bool
	routeAPI        string
	output          string
	widenIPv4       int
	widenIPv6       int
	probeNetworks   []string
	clusterDomain   string
	grantDenied     bool
	minCoverage     float64
	maxRoutes       int
	allowScrapes    bool
	scraperSAs      []string
	scraperNetworks []string
	intentsFile     string
	routes          routes.Options
	clusterFiles    []string
	trustDomain     string
	// kube selects the kube context cluster objects are read from when
	// the recording lacks them and no --cluster-file is given; its -n
	// selects the servers.
	kube kubeOptions
}

func (o *synthOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.level, "level", string(synth.LevelNamespace), "how tight: namespace (client namespaces per server), serviceaccount (client service accounts per server) or route (per-route authorizations)")
	fs.StringVar(&o.mode, "mode", string(synth.ModeAudit), "Servers' accessPolicy: audit (unauthorized requests are allowed and logged) or enforce (denied)")
	fs.BoolVar(&o.defaultDeny, "default-deny", false, "also annotate each namespace with the deny default inbound policy (last document; pods pick it up when they restart)")
	fs.BoolVar(&o.serviceProfiles, "service-profiles", false, "also write ServiceProfiles for the Services in front of the servers, with the inferred routes")
	fs.StringVar(&o.routeAPI, "route-api", string(synth.RouteAPIGateway), "API group of the HTTPRoutes at route level: gateway.networking.k8s.io or policy.linkerd.io")
	fs.IntVar(&o.widenIPv4, "widen-ipv4", 0, "widen unmeshed clients' IPv4 addresses to networks of this prefix length (0: single addresses)")
	fs.IntVar(&o.widenIPv6, "widen-ipv6", 0, "widen unmeshed clients' IPv6 addresses to networks of this prefix length (0: single addresses)")
	fs.StringSliceVar(&o.probeNetworks, "probe-networks", nil, "route level: networks kubelet probes come from (your node CIDRs); default: the node addresses in the recording")
	fs.StringVar(&o.clusterDomain, "cluster-domain", "cluster.local", "cluster domain, for ServiceProfile names")
	fs.IntVar(&o.maxRoutes, "max-routes-per-server", 0, "route level: at most this many route matches per Server (0: no cap); above it, routes are merged, those admitting the fewest new requests first, and the merges listed (docs/synth.md#capping-routes)")
	fs.Float64Var(&o.minCoverage, "min-coverage", 0, "route level: keep server ports whose estimated coverage (1 - share of requests on routes seen once) is below this at service-account level (0: never)")
	fs.BoolVar(&o.grantDenied, "grant-denied", false, "also grant clients whose every request the policy in force denied (seen in metrics recordings); by default they stay denied")
	fs.StringArrayVar(&o.clusterFiles, "cluster-file", nil, "cluster objects as YAML (kubectl get -o yaml output or manifests) for servers the recording has no pod labels for (default: read them from the kube context when it answers); repeatable, merged")
	fs.StringVar(&o.trustDomain, "trust-domain", recording.DefaultTrustDomain, "mesh trust domain, for identities derived from cluster objects")
	fs.BoolVar(&o.allowScrapes, "allow-scrapes", true, "with --default-deny: per namespace, a Server for the proxies' admin port (linkerd-admin, 4191) admitting the scraper on GET /metrics and kubelet on /live and /ready; --allow-scrapes=false leaves it out")
	fs.StringSliceVar(&o.scraperSAs, "scraper-service-account", nil, "the scraper's service account as namespace/name (default: linkerd-viz/prometheus, unless --scraper-network is given)")
	fs.StringSliceVar(&o.scraperNetworks, "scraper-network", nil, "networks of a scraper without mTLS, such as a Prometheus outside the cluster (CIDR)")
	fs.StringVar(&o.intentsFile, "intents", "", "declared-intents file: access that must exist although no recording shows it, each with its reason (docs/synth.md#declared-intents); its grants are marked cinch.cinchmesh.io/declared")
	d := routes.DefaultOptions()
	fs.IntVar(&o.routes.MinDistinct, "route-min-distinct", d.MinDistinct, "route level: how many different literal values one path segment must show before it becomes a parameter (docs/route-inference.md)")
	fs.IntVar(&o.routes.HexMinLength, "route-hex-min-length", d.HexMinLength, "route level: the shortest run of hex digits taken for an id")
}

// addKubeFlags binds the kubeconfig flags and -n, the namespaces of the
// servers to write policy for.
func (o *synthOptions) addKubeFlags(fs *pflag.FlagSet) {
	o.kube.addFlags(fs, "only servers in these namespaces (default: all in the recording)")
}

func newSynthCommand(s Streams) *cobra.Command {
	o := &synthOptions{}
	c := &cobra.Command{
		Use:   "synth RECORDING... [--level namespace|serviceaccount|route] [-o yaml|FILE.yaml|DIR]",
		Short: "Turn recordings into Linkerd authorization policy",
		Long: `Turn what was observed into Linkerd policy that admits it, and as little else as the
level allows. Recordings named together are merged first.

Levels, from coarse to tight:
  namespace        a Server per observed server port; its clients' namespaces may call it
  serviceaccount   exactly the client service accounts seen
  route            per Server, HTTPRoutes (GRPCRoutes for gRPC) with the routes seen, each
                   authorized for exactly the clients seen on it, plus probe routes

Unmeshed clients are authorized by address (NetworkAuthentication). Every object carries
app.kubernetes.io/managed-by: cinch and says which traffic justified it. The output is
checked against Linkerd's admission rules and evaluated against the recording before it
is written: every observed request is admitted. Start with --mode audit (the default),
watch the audit logs, then --mode enforce, then --default-deny. See docs/synth.md.`,
		Example: `  cinch synth booksapp.yaml | kubectl apply -f -
  cinch synth booksapp.yaml --level serviceaccount -o booksapp-policy.yaml
  cinch synth booksapp.yaml --level serviceaccount --mode enforce -o policy/
  cinch synth monday.yaml tuesday.yaml --level route --service-profiles -o policy/`,
		RunE: func(c *cobra.Command, args []string) error {
			kind, err := synthOutput(o.output)
			if err != nil {
				return err
			}
			_, res, _, err := o.synthesize(c.Context(), s, args)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(s.Err, "warning:", w)
			}
			fmt.Fprintln(s.Err, objectSummary(res))
			for _, m := range res.RouteMerges {
				fmt.Fprintln(s.Err, "merged:", m)
			}
			if len(res.DefaultDeny) > 0 {
				fmt.Fprintf(s.Err, "note: default deny applies to pods started after the annotation: restart the workloads of %s (kubectl rollout restart) once the policy is in place\n", strings.Join(res.DefaultDeny, ", "))
			}
			switch kind {
			case toStdout:
				return synth.WriteStream(s.Out, res)
			case toFile:
				if err := writePolicyFile(o.output, res); err != nil {
					return err
				}
				fmt.Fprintf(s.Err, "%s: written\n", o.output)
				return nil
			}
			written, removed, err := synth.WriteDir(o.output, res)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Err, "%s: %d files written, %d removed, %d unchanged\n", o.output, len(written), len(removed), countFiles(res)-len(written))
			return nil
		},
	}
	o.addFlags(c.Flags())
	o.addKubeFlags(c.Flags())
	c.Flags().StringVarP(&o.output, "output", "o", "-", "where to write: yaml (or -) for one YAML stream on stdout, FILE.yaml (or .yml) for that stream in one file, or a directory (one folder per namespace, one file per workload, a kustomization.yaml)")
	return c
}

// objectSummary says how many objects of each kind the result writes, in
// total and per namespace: the policy controller keeps every one in memory.
func objectSummary(res *synth.Result) string {
	counts := res.Counts()
	byKind, total := synth.TotalsByKind(counts)
	var b strings.Builder
	fmt.Fprintf(&b, "objects: %d", total)
	for i, c := range byKind {
		fmt.Fprintf(&b, "%s%d %s", map[bool]string{true: " (", false: ", "}[i == 0], c.Count, c.Kind)
	}
	if len(byKind) > 0 {
		b.WriteString(")")
	}
	ns := ""
	for _, c := range counts {
		if c.Namespace != ns {
			ns = c.Namespace
			fmt.Fprintf(&b, "\n  %s:", ns)
		} else {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %d %s", c.Count, c.Kind)
	}
	return b.String()
}

// countFiles is how many files a directory output has, kustomization.yaml
// included.
func countFiles(res *synth.Result) int {
	return len(res.Units) + len(res.DefaultDeny) + 1
}

// synthesize validates the flags, reads and merges the recordings, and
// synthesizes them.
func (o *synthOptions) synthesize(ctx context.Context, s Streams, args []string) (*recording.Recording, *synth.Result, synth.Options, error) {
	opts, err := o.validate()
	if err != nil {
		return nil, nil, opts, err
	}
	rec, err := readRecordings(s, args, recording.DefaultLimits)
	if err != nil {
		return nil, nil, opts, err
	}
	rec, why, err := o.complete(ctx, s, rec, opts)
	if err != nil {
		return nil, nil, opts, err
	}
	res, err := synth.Synthesize(rec, opts)
	var unselectable *synth.UnselectableError
	if errors.As(err, &unselectable) {
		return nil, nil, opts, fmt.Errorf("%w.\n%s", err, unselectableAdvice(unselectable, len(o.clusterFiles) > 0, why))
	}
	return rec, res, opts, err
}

// unselectableAdvice says how to give a synthesis that could select no
// server what it lacks: why is the reason the kube context was not used.
func unselectableAdvice(e *synth.UnselectableError, files bool, why error) string {
	var advice []string
	switch {
	case len(e.Unlabeled) > 0 && why != nil:
		advice = append(advice, fmt.Sprintf("%v (%v)", errNoClusterObjects, why))
	case len(e.Unlabeled) > 0 && files:
		advice = append(advice, "the --cluster-file objects do not hold these workloads: give the objects of the cluster the traffic was recorded in")
	case len(e.Unlabeled) > 0:
		advice = append(advice, "the kube context's objects do not hold these workloads: give the objects of the cluster the traffic was recorded in with --cluster-file FILE")
	}
	if len(e.Addresses) > 0 {
		advice = append(advice, "addresses are named when the tap output is recorded: run cinch observe --from-file again with --cluster-file FILE (kubectl get pods,rs,deploy,sts,ds,svc,nodes,ns -A -o yaml > FILE, taken while the pods ran) or where the kube context reaches the cluster")
	}
	return strings.Join(advice, "\n")
}

// complete gives the recording's server workloads the cluster objects it
// lacks (pod labels, ports, probes), from --cluster-file or, without it,
// from the kube context when that answers. It returns why the kube context
// was not used when it was needed, so a failing synthesis can say so.
func (o *synthOptions) complete(ctx context.Context, s Streams, rec *recording.Recording, opts synth.Options) (*recording.Recording, error, error) {
	if len(o.clusterFiles) > 0 {
		objs, err := readClusterFiles(o.clusterFiles)
		if err != nil {
			return nil, nil, err
		}
		inv := cluster.NewInventory(objs, cluster.Options{TrustDomain: o.trustDomain})
		if err := checkFit(s, inv, rec, cluster.FitOptions{}, clusterFilesName(o.clusterFiles)); err != nil {
			return nil, nil, err
		}
		return inv.Enrich(rec, recording.DefaultLimits), nil, nil
	}
	missing := synth.Unlabeled(rec, opts)
	if len(missing) == 0 {
		return rec, nil, nil
	}
	var namespaces []string
	for _, w := range missing {
		namespaces = append(namespaces, w.Namespace)
	}
	objs, context, err := o.kube.contextObjects(ctx, namespaces)
	if err != nil {
		return rec, err, nil
	}
	fmt.Fprintf(s.Err, "the recording has no pod labels for %d servers: reading the cluster objects of namespace %s from kube context %q\n", len(missing), strings.Join(slices.Compact(slices.Sorted(slices.Values(namespaces))), ", "), context)
	inv := cluster.NewInventory(objs, cluster.Options{TrustDomain: o.trustDomain})
	if err := checkFit(s, inv, rec, cluster.FitOptions{Namespaces: namespaces}, fmt.Sprintf("kube context %q", context)); err != nil {
		return nil, nil, err
	}
	return inv.Enrich(rec, recording.DefaultLimits), nil, nil
}

// readClusterFiles reads and merges the objects of --cluster-file files.
func readClusterFiles(names []string) (*cluster.Objects, error) {
	all := &cluster.Objects{}
	for _, n := range names {
		objs, err := cluster.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("--cluster-file: %w", err)
		}
		all.Add(objs)
	}
	return all, nil
}

func (o *synthOptions) validate() (synth.Options, error) {
	opts := synth.Options{
		Level:              synth.Level(o.level),
		Mode:               synth.Mode(o.mode),
		DefaultDeny:        o.defaultDeny,
		ServiceProfiles:    o.serviceProfiles,
		RouteAPI:           synth.RouteAPI(o.routeAPI),
		NetworkPrefix:      synth.PrefixLengths{IPv4: o.widenIPv4, IPv6: o.widenIPv6},
		Namespaces:         o.kube.namespaces,
		ClusterDomain:      o.clusterDomain,
		GrantDenied:        o.grantDenied,
		MinCoverage:        o.minCoverage,
		MaxRoutesPerServer: o.maxRoutes,
	}
	for _, n := range o.probeNetworks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return opts, usageErrorf("--probe-networks %q: want a CIDR such as 10.0.0.0/16", n)
		}
		opts.ProbeNetworks = append(opts.ProbeNetworks, p.Masked())
	}
	opts.Scrapes.Disabled = !o.allowScrapes
	for _, sa := range o.scraperSAs {
		ns, name, ok := strings.Cut(sa, "/")
		if !ok {
			return opts, usageErrorf("--scraper-service-account %q: want namespace/name, such as linkerd-viz/prometheus", sa)
		}
		opts.Scrapes.ServiceAccounts = append(opts.Scrapes.ServiceAccounts, synth.ServiceAccountRef{Namespace: ns, Name: name})
	}
	for _, n := range o.scraperNetworks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return opts, usageErrorf("--scraper-network %q: want a CIDR such as 203.0.113.0/28", n)
		}
		opts.Scrapes.Networks = append(opts.Scrapes.Networks, p.Masked())
	}
	opts.Routes = o.routes
	if o.defaultDeny && len(o.clusterFiles) > 0 {
		// The meshed workloads that could be clients, for the list of
		// those never observed.
		objs, err := readClusterFiles(o.clusterFiles)
		if err != nil {
			return opts, err
		}
		opts.Candidates = cluster.Candidates(objs, cluster.Options{TrustDomain: o.trustDomain})
	}
	if o.intentsFile != "" {
		f, err := intents.ReadFile(o.intentsFile)
		if err != nil {
			return opts, fmt.Errorf("--intents: %w", err)
		}
		opts.Intents = f.Intents
	}
	if err := opts.Validate(); err != nil {
		return opts, &UsageError{Err: err}
	}
	return opts, nil
}
