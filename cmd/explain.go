package cmd

import (
	"context"
	"fmt"
	"net/netip"
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
	"github.com/cinchmesh/cinch/synth/explain"
	"github.com/cinchmesh/cinch/synth/policy"
)

type explainOptions struct {
	kube            kubeOptions
	policies        []string
	fromCluster     bool
	clusterFile     string
	from            string
	sourceIP        string
	to              string
	method          string
	path            string
	route           string
	denied          bool
	output          string
	defaultPolicy   string
	clusterNetworks []string
	trustDomain     string
	controlPlaneNS  string
	allowAudit      bool
	prom            promOptions
}

func (o *explainOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.policies, "policy", nil, "policy manifests in force: a file, a directory (its *.yaml, *.yml and *.json, recursively) or - for stdin; repeatable")
	fs.StringVar(&o.clusterFile, "cluster-file", "", "cluster objects as YAML (kubectl get -o yaml output): the server's labels, ports, probes and default-policy annotation, the client's service account")
	fs.StringVar(&o.from, "from", "", "the client: a workload (namespace/name), a mesh identity (name.namespace.serviceaccount.identity.linkerd.cluster.local) or an IP address")
	fs.StringVar(&o.sourceIP, "source-ip", "", "the address the client calls from, when --from names a workload or identity (default: not known, taken to be a pod of the cluster)")
	fs.StringVar(&o.to, "to", "", "the server workload and port: namespace/name:port")
	fs.StringVar(&o.method, "method", "GET", "the request's HTTP method (gRPC calls are POST)")
	fs.StringVar(&o.path, "path", "/", "the request's path, with ?query when it matters (gRPC: /package.Service/Method)")
	fs.StringVar(&o.route, "route", "", "instead of --method and --path, the route the proxy labelled the request with, as its metrics name it: KIND[.GROUP]/NAME (HTTPRoute.gateway.networking.k8s.io/books)")
	fs.BoolVar(&o.denied, "denied", false, "explain every request the recordings name as denied or admitted only by audit, grouped, instead of one request")
	fs.StringVarP(&o.output, "output", "o", "text", "output format: text, json, or yaml (the suggested grant alone, for kubectl apply -f -)")
	fs.StringVar(&o.defaultPolicy, "default-inbound-policy", policy.AllUnauthenticated, "the cluster's default inbound policy (the proxy.defaultInboundPolicy chart value)")
	fs.StringSliceVar(&o.clusterNetworks, "cluster-networks", nil, "the cluster's pod networks (the clusterNetworks chart value; default 10.0.0.0/8,100.64.0.0/10,172.16.0.0/12,192.168.0.0/16,fd00::/8)")
	fs.StringVar(&o.trustDomain, "trust-domain", "", "mesh trust domain (default cluster.local)")
	fs.StringVar(&o.controlPlaneNS, "control-plane-namespace", "", "Linkerd's namespace, part of mesh identities (default linkerd)")
	fs.BoolVar(&o.allowAudit, "allow-audit", false, "exit 0 when the request is admitted only by audit mode (by default that exits 1: it is denied once enforced), as cinch diff")
}

func newExplainCommand(s Streams) *cobra.Command {
	o := &explainOptions{}
	c := &cobra.Command{
		Use:   "explain (--policy PATH... | --from-cluster) --from CLIENT --to NAMESPACE/WORKLOAD:PORT [--method M --path P | --route KIND/NAME]",
		Short: "Explain how Linkerd decides one request: server, route, authorizations, verdict, and the grant that would allow it",
		Long: `Evaluate one request against a policy the way Linkerd's proxy does and print every step in
the proxy's own vocabulary (the srv_*, route_* and authz_* labels of its metrics):

  1. server         which Server claims the pod's port, and why every other Server of the
                    namespace does not (selector, port, the oldest-Server rule); or the
                    default policy, and where it comes from
  2. route          which route matches, which more specific or older one won, and why the
                    others do not match
  3. authorization  every authorization that could admit the request, and why it does or
                    does not (identity, network, TLS)
  verdict           allowed, allowed only by audit, or denied, with the counter the proxy
                    counts it in
  to allow it       for a denied or audit-only request, the narrowest grant at the level of
                    the policy in force, as YAML ready to apply

The workloads (labels, ports, probes, default-policy annotations, service accounts) come from
--cluster-file, the cluster (--from-cluster) or the recordings given as arguments.

With --denied, every request the recordings (or a window of the proxies' metrics in
Prometheus, --from-prometheus URL --window D) show as denied by the policy in force, or that
the policy would deny or admit only by audit, is explained, grouped by server port and
reason. Exit code 1 when the request (any request, with --denied) is denied or admitted only by
audit mode (--allow-audit accepts that), as cinch diff.
See docs/explain.md.`,
		Example: `  cinch explain --policy policy/ --cluster-file cluster.yaml \
      --from emojivoto/web --to emojivoto/voting:8080 --method POST --path /emojivoto.v1.VotingService/VoteDoughnut
  cinch explain --from-cluster --from 192.0.2.10 --to booksapp/authors:7001 --path /authors.json
  cinch explain --from-cluster --from web.shop.serviceaccount.identity.linkerd.cluster.local \
      --to shop/api:8080 --route HTTPRoute.gateway.networking.k8s.io/api-books
  cinch explain --denied week.yaml --policy policy/ -o text
  cinch explain --denied --from-prometheus http://prometheus:9090 --window 1d --from-cluster`,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c, s, args)
		},
	}
	o.addFlags(c.Flags())
	o.prom.addFlags(c.Flags())
	o.kube.addFlags(c.Flags(), "")
	o.kube.addFromClusterFlag(c, s, &o.fromCluster, "read the policy objects and cluster objects of the server's and client's namespaces from the cluster")
	return c
}

func (o *explainOptions) run(c *cobra.Command, s Streams, args []string) error {
	print, ok := explain.Formats[o.output]
	if !ok {
		return usageErrorf("-o %q: want text, json or yaml", o.output)
	}
	evalOpts, err := evalOptions(o.defaultPolicy, o.clusterNetworks, o.trustDomain, o.controlPlaneNS)
	if err != nil {
		return err
	}
	switch {
	case o.fromCluster == (len(o.policies) > 0):
		return usageErrorf("give the policy in force: --policy PATH or --from-cluster (one of them)")
	case o.fromCluster && o.clusterFile != "":
		return usageErrorf("--from-cluster reads the cluster objects itself: drop --cluster-file")
	case o.denied:
		return o.runDenied(c.Context(), s, args, evalOpts)
	case o.from == "" || o.to == "":
		return usageErrorf("name the request: --from CLIENT and --to NAMESPACE/WORKLOAD:PORT (or explain a recording's denials with --denied)")
	}
	q, err := o.query(c)
	if err != nil {
		return err
	}
	var rec *recording.Recording
	if len(args) > 0 {
		if rec, err = readRecordings(s, args, recording.DefaultLimits); err != nil {
			return err
		}
	}
	in, err := o.input(c.Context(), s, rec, []string{namespaceOf(q.To), namespaceOf(q.From.Workload)}, evalOpts)
	if err != nil {
		return err
	}
	x, err := explain.New(in)
	if err != nil {
		return err
	}
	ex, err := x.Explain(q)
	if err != nil {
		return err
	}
	if err := print(s.Out, ex); err != nil {
		return err
	}
	d := ex.Trace.Decision
	switch {
	case !d.Allowed:
		return &FindingsError{Err: fmt.Errorf("the policy denies %s -> %s:%d (%s)", o.from, q.To, q.Port, d.Reason)}
	case !o.allowAudit && d.Reason == eval.ReasonAudit:
		return &FindingsError{Err: fmt.Errorf("only audit mode admits %s -> %s:%d: it is denied once enforced", o.from, q.To, q.Port)}
	}
	return nil
}

// query reads the request flags.
func (o *explainOptions) query(c *cobra.Command) (explain.Query, error) {
	var q explain.Query
	var err error
	if q.From, err = explain.ParseClient(o.from); err != nil {
		return q, usageErrorf("--from: %v", err)
	}
	if o.sourceIP != "" {
		ip, err := netip.ParseAddr(o.sourceIP)
		if err != nil {
			return q, usageErrorf("--source-ip %q: want an IP address", o.sourceIP)
		}
		q.From.Address = ip.Unmap()
	}
	if q.To, q.Port, err = explain.ParseTarget(o.to); err != nil {
		return q, usageErrorf("--to: %v", err)
	}
	if o.route != "" {
		if c.Flags().Changed("method") || c.Flags().Changed("path") {
			return q, usageErrorf("--route names the route the request matched: drop --method and --path")
		}
		kg, name, ok := strings.Cut(o.route, "/")
		kind, group, _ := strings.Cut(kg, ".")
		if !ok || kind == "" || name == "" {
			return q, usageErrorf("--route %q: want KIND[.GROUP]/NAME, as in HTTPRoute.gateway.networking.k8s.io/books", o.route)
		}
		q.Route = eval.Ref{Group: group, Kind: kind, Name: name}
		return q, nil
	}
	q.Method, q.Path = strings.ToUpper(o.method), o.path
	if !strings.HasPrefix(q.Path, "/") {
		return q, usageErrorf("--path %q: want an absolute path such as /books/1", o.path)
	}
	return q, nil
}

func namespaceOf(id recording.PeerID) string {
	ns, _, _ := strings.Cut(string(id), "/")
	return ns
}

// input reads the policy in force and the workloads: from the cluster,
// else the cluster file and the recording.
func (o *explainOptions) input(ctx context.Context, s Streams, rec *recording.Recording, namespaces []string, evalOpts eval.Options) (explain.Input, error) {
	in := explain.Input{Eval: evalOpts}
	namespaces = slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(namespaces))), func(ns string) bool { return ns == "" })
	var objs *cluster.Objects
	switch {
	case o.fromCluster:
		dyn, cs, err := o.kube.clients()
		if err != nil {
			return in, err
		}
		if in.Policy, objs, err = diff.ReadCluster(ctx, dyn, cs, namespaces); err != nil {
			return in, err
		}
	default:
		var err error
		if in.Policy, err = readPolicies(s, o.policies); err != nil {
			return in, err
		}
		if o.clusterFile != "" {
			if objs, err = cluster.ReadFile(o.clusterFile); err != nil {
				return in, fmt.Errorf("--cluster-file: %w", err)
			}
		}
	}
	if rec != nil {
		in.Workloads = append(in.Workloads, rec.Workloads...)
	}
	if objs != nil {
		inv := cluster.NewInventory(objs, cluster.Options{TrustDomain: o.trustDomain})
		in.Workloads = inv.Workloads(in.Workloads)
		in.NamespacePolicies = objs.NamespacePolicies()
	}
	return in, nil
}

func (o *explainOptions) runDenied(ctx context.Context, s Streams, args []string, evalOpts eval.Options) error {
	rec, err := o.deniedEvidence(ctx, s, args)
	if err != nil {
		return err
	}
	in, err := o.input(ctx, s, rec, diff.ServerNamespaces(rec), evalOpts)
	if err != nil {
		return err
	}
	rep, err := explain.Denied(rec, in)
	if err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(s.Err, "warning:", w)
	}
	print, ok := explain.DeniedFormats[o.output]
	if !ok {
		return usageErrorf("-o %q: with --denied want text or json", o.output)
	}
	if err := print(s.Out, rep); err != nil {
		return err
	}
	if n := rep.DeniedRequests(); n > 0 {
		return &FindingsError{Err: fmt.Errorf("%d requests are denied (%d groups)", n, len(rep.Groups))}
	}
	if !o.allowAudit && len(rep.Groups) > 0 {
		return &FindingsError{Err: fmt.Errorf("requests are admitted only by audit mode (%d groups)", len(rep.Groups))}
	}
	return nil
}

// deniedEvidence is what --denied explains: the recordings, or a window of
// the proxies' metrics (every namespace) recorded from Prometheus.
func (o *explainOptions) deniedEvidence(ctx context.Context, s Streams, args []string) (*recording.Recording, error) {
	if o.prom.url == "" {
		return readRecordings(s, args, recording.DefaultLimits)
	}
	if len(args) > 0 {
		return nil, usageErrorf("give either recordings or --from-prometheus")
	}
	if o.prom.window <= 0 {
		return nil, usageErrorf("--window must be positive")
	}
	opts := prom.Options{Window: o.prom.window, SeriesLimit: o.prom.seriesLimit, End: time.Now()}
	end, err := parseTime("--end", o.prom.end)
	if err != nil {
		return nil, err
	}
	if end != nil {
		opts.End = *end
	}
	client, err := o.prom.client()
	if err != nil {
		return nil, err
	}
	naming := prom.Naming{AllNamespaces: true, TrustDomain: o.trustDomain, Limits: recording.DefaultLimits}
	switch {
	case o.clusterFile != "":
		if naming.Objects, err = cluster.ReadFile(o.clusterFile); err != nil {
			return nil, fmt.Errorf("--cluster-file: %w", err)
		}
	case o.fromCluster:
		_, cs, err := o.kube.clients()
		if err != nil {
			return nil, err
		}
		naming.List = func(ctx context.Context, namespaces []string) (*cluster.Objects, error) {
			return cluster.List(ctx, cs, namespaces)
		}
	}
	return prom.RecordNamed(ctx, client, opts, naming)
}
