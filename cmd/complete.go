package cmd

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/cinchmesh/cinch/observe/graphprint"
	"github.com/cinchmesh/cinch/observe/tapapi"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/diff"
	"github.com/cinchmesh/cinch/synth/explain"
	"github.com/cinchmesh/cinch/synth/policy"
	"github.com/cinchmesh/cinch/synth/status"
)

// Shell completion (cinch completion bash|zsh|fish|powershell): the values
// of the flags that take a fixed set, and, where the kube context answers,
// namespaces, kubeconfig contexts and clusters, and observe's tap targets.
// Completion that needs the cluster fails quietly: no candidates, no
// message, within completionTimeout.

// completionTimeout bounds a completion's requests to the API server.
const completionTimeout = 3 * time.Second

// outputValues are the -o values of each command, by command path
// without the root: the formats, and for commands that also write files,
// the stdout formats (a file name completes as a file).
func outputValues() map[string][]string {
	return map[string][]string{
		"observe":     {"yaml", "json"},
		"graph merge": {"yaml", "json"},
		"graph show":  slices.Sorted(maps.Keys(graphprint.Formats)),
		"synth":       {"yaml"},
		"report":      {"html"},
		"diff":        slices.Sorted(maps.Keys(diff.Formats)),
		"status":      slices.Sorted(maps.Keys(status.Formats)),
		"explain":     slices.Sorted(maps.Keys(explain.Formats)),
		"alerts":      {"prometheusrule", "rules"},
	}
}

// fixedValues are the values of flags that take a fixed set, by flag name,
// in every command that has the flag.
func fixedValues() map[string][]string {
	var levels []string
	for _, l := range synth.Levels {
		levels = append(levels, string(l))
	}
	return map[string][]string{
		"level":                  levels,
		"mode":                   {string(synth.ModeAudit), string(synth.ModeEnforce)},
		"route-api":              {string(synth.RouteAPIGateway), string(synth.RouteAPIPolicy)},
		"format":                 {"raw", "json", "text"},
		"default-inbound-policy": {policy.AllUnauthenticated, policy.AllAuthenticated, policy.ClusterAuthenticated, policy.ClusterUnauthenticated, policy.Deny, policy.Audit},
	}
}

// registerCompletions registers the completion of flag values on c and
// its subcommands.
func registerCompletions(c *cobra.Command) {
	path := strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
	if values, ok := outputValues()[path]; ok && c.Flags().Lookup("output") != nil {
		fileToo := path == "observe" || path == "graph merge" || path == "synth" || path == "report"
		_ = c.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			if fileToo {
				return values, cobra.ShellCompDirectiveDefault
			}
			return values, cobra.ShellCompDirectiveNoFileComp
		})
	}
	for flag, values := range fixedValues() {
		if c.Flags().Lookup(flag) != nil {
			_ = c.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	if c.Flags().Lookup("namespace") != nil {
		_ = c.RegisterFlagCompletionFunc("namespace", completeNamespaces)
	}
	if c.Flags().Lookup("kubeconfig") != nil {
		_ = c.RegisterFlagCompletionFunc("context", completeKubeconfig(func(cfg *clientcmdapi.Config) []string { return slices.Sorted(maps.Keys(cfg.Contexts)) }))
		_ = c.RegisterFlagCompletionFunc("cluster", completeKubeconfig(func(cfg *clientcmdapi.Config) []string { return slices.Sorted(maps.Keys(cfg.Clusters)) }))
	}
	for _, sub := range c.Commands() {
		registerCompletions(sub)
	}
}

// completionKube is the kubeconfig selection of the command line being
// completed: the kubeconfig flags given so far.
func completionKube(c *cobra.Command) *kubeOptions {
	k := &kubeOptions{}
	get := func(name string) string {
		v, _ := c.Flags().GetString(name)
		return v
	}
	k.kubeconfig = get("kubeconfig")
	k.overrides.CurrentContext = get("context")
	if cl := get("cluster"); cl != bareCluster {
		k.overrides.Context.Cluster = cl
	}
	k.overrides.Context.AuthInfo = get("user")
	// Completion parses the flags more than once, which repeats a
	// repeatable flag's values.
	ns, _ := c.Flags().GetStringSlice("namespace")
	k.namespaces = slices.Compact(slices.Sorted(slices.Values(ns)))
	return k
}

// completeNames lists, in the kube context of the command line, the
// names of the objects of a tap target kind in the namespace -n or the
// context selects, with requests bounded by completionTimeout.
func completeNames(c *cobra.Command, kind string) ([]string, error) {
	l, err := completionKube(c).load()
	if err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(l.cfg)
	cfg.Timeout = completionTimeout
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	return listNames(ctx, cfg, kind, l.namespace)
}

func completeNamespaces(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	names, err := completeNames(c, "namespace")
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

func completeKubeconfig(names func(*clientcmdapi.Config) []string) cobra.CompletionFunc {
	return func(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = completionKube(c).kubeconfig
		raw, err := rules.Load()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(names(raw), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// tapKinds are the target kinds observe completes, by the short names
// linkerd viz tap accepts.
var tapKinds = []string{"cj/", "deploy/", "ds/", "job/", "ns/", "po/", "rc/", "rs/", "sts/"}

// completeTapTargets completes observe's live targets: a kind, then the
// names of that kind in the namespace -n or the context selects (of the
// namespaces, for ns/).
func completeTapTargets(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	kind, prefix, named := strings.Cut(toComplete, "/")
	if !named {
		return withPrefix(tapKinds, toComplete), cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	}
	names, err := completeNames(c, kind)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, n := range withPrefix(names, prefix) {
		out = append(out, kind+"/"+n)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// listNames lists the names of the objects of a tap target kind (any
// spelling tap accepts) in namespace ns.
func listNames(ctx context.Context, cfg *rest.Config, kind, ns string) ([]string, error) {
	t, err := tapapi.ParseTarget(kind)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	opts := metav1.ListOptions{}
	var list runtime.Object
	switch t.Kind {
	case "namespace":
		list, err = cs.CoreV1().Namespaces().List(ctx, opts)
	case "pod":
		list, err = cs.CoreV1().Pods(ns).List(ctx, opts)
	case "replicationcontroller":
		list, err = cs.CoreV1().ReplicationControllers(ns).List(ctx, opts)
	case "deployment":
		list, err = cs.AppsV1().Deployments(ns).List(ctx, opts)
	case "statefulset":
		list, err = cs.AppsV1().StatefulSets(ns).List(ctx, opts)
	case "daemonset":
		list, err = cs.AppsV1().DaemonSets(ns).List(ctx, opts)
	case "replicaset":
		list, err = cs.AppsV1().ReplicaSets(ns).List(ctx, opts)
	case "job":
		list, err = cs.BatchV1().Jobs(ns).List(ctx, opts)
	case "cronjob":
		list, err = cs.BatchV1().CronJobs(ns).List(ctx, opts)
	}
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range items {
		if m, err := meta.Accessor(o); err == nil {
			names = append(names, m.GetName())
		}
	}
	slices.Sort(names)
	return names, nil
}

// withPrefix keeps the candidates that start with prefix.
func withPrefix(candidates []string, prefix string) []string {
	var out []string
	for _, c := range candidates {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}
