package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cinchmesh/cinch/observe/cluster"
)

// kubeOptions are kubectl's kubeconfig flags (--kubeconfig, --context,
// --cluster, --user, --as, ...), from client-go's clientcmd, so they behave
// as in kubectl, and -n.
type kubeOptions struct {
	kubeconfig string
	overrides  clientcmd.ConfigOverrides
	// namespaces are -n's: one or more, the same form in every verb.
	namespaces []string
}

// addFlags binds the kubeconfig flags and, when namespaceHelp is not
// empty, -n/--namespace: one or more namespaces (-n a -n b, or -n a,b) in
// every verb that has it, with what they select in namespaceHelp.
func (k *kubeOptions) addFlags(fs *pflag.FlagSet, namespaceHelp string) {
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	flags := clientcmd.RecommendedConfigOverrideFlags("")
	flags.ContextOverrideFlags.Namespace.LongName = ""
	flags.ContextOverrideFlags.Namespace.ShortName = ""
	clientcmd.BindOverrideFlags(&k.overrides, fs, flags)
	if namespaceHelp != "" {
		fs.StringSliceVarP(&k.namespaces, "namespace", "n", nil, namespaceHelp+"; repeatable or comma-separated")
	}
}

// bareCluster is the value of --cluster given without one. --cluster names
// the kubeconfig cluster, as in kubectl; before, diff, explain, status,
// report and alerts took a bare --cluster for --from-cluster.
const bareCluster = "(from-cluster)"

// addFromClusterFlag binds --from-cluster (read from the cluster what the
// verb otherwise reads from files, help says what) and keeps a bare
// --cluster working for it, with a deprecation notice on stderr.
func (k *kubeOptions) addFromClusterFlag(c *cobra.Command, s Streams, from *bool, help string) {
	c.Flags().BoolVar(from, "from-cluster", false, help+" (the kubeconfig flags select it)")
	cl := c.Flags().Lookup("cluster")
	cl.NoOptDefVal = bareCluster
	cl.Usage += "; --cluster alone is deprecated for --from-cluster"
	pre := c.PreRunE
	c.PreRunE = func(c *cobra.Command, args []string) error {
		if k.overrides.Context.Cluster == bareCluster {
			k.overrides.Context.Cluster = ""
			*from = true
			fmt.Fprintln(s.Err, "warning: --cluster alone is deprecated: use --from-cluster (--cluster=NAME names the kubeconfig cluster to use, as in kubectl)")
		}
		if pre != nil {
			return pre(c, args)
		}
		return nil
	}
}

// kubeClients are the connections to the API server the flags select.
type kubeClients struct {
	// HTTP has no overall timeout: tap streams last the whole window.
	HTTP *http.Client
	// Host is the API server's base URL.
	Host string
	// Namespace is the one -n or the context selects.
	Namespace string
	// Context names the kubeconfig context, for messages.
	Context   string
	Clientset kubernetes.Interface
}

// loaded is the client configuration the kubeconfig flags select.
type loaded struct {
	cfg       *rest.Config
	namespace string
	context   string
}

// load reads the kubeconfig the flags select. Its errors say which files
// and which context were tried, and how to choose others.
func (k *kubeOptions) load() (*loaded, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	if len(k.namespaces) == 1 {
		k.overrides.Context.Namespace = k.namespaces[0]
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &k.overrides)
	raw, rawErr := cc.RawConfig()
	context := k.overrides.CurrentContext
	if context == "" && rawErr == nil {
		context = raw.CurrentContext
	}
	cfg, err := cc.ClientConfig()
	if err == nil {
		var ns string
		if ns, _, err = cc.Namespace(); err == nil {
			return &loaded{cfg: cfg, namespace: ns, context: context}, nil
		}
	}
	return nil, k.loadError(rules, context, cmp.Or(rawErr, err))
}

// loadError explains a kubeconfig that gave no usable configuration.
func (k *kubeOptions) loadError(rules *clientcmd.ClientConfigLoadingRules, context string, err error) error {
	var files []string
	if k.kubeconfig != "" {
		files = []string{k.kubeconfig}
	} else {
		files = rules.GetLoadingPrecedence()
	}
	var existing []string
	for _, f := range files {
		if _, serr := os.Stat(f); serr == nil {
			existing = append(existing, f)
		}
	}
	tried := "kubeconfig " + strings.Join(files, ", ")
	named := ""
	if k.overrides.CurrentContext != "" {
		named = fmt.Sprintf(" (context %q)", k.overrides.CurrentContext)
	}
	switch {
	case len(existing) == 0 && k.kubeconfig != "":
		return fmt.Errorf("kubeconfig %s%s does not exist: give an existing file with --kubeconfig", k.kubeconfig, named)
	case len(existing) == 0:
		return fmt.Errorf("%w: tried %s (from %s)%s, none exists: give --kubeconfig FILE or set KUBECONFIG", errNoKubeconfig, strings.Join(files, ", "), kubeconfigSource(), named)
	case clientcmd.IsEmptyConfig(err) && k.kubeconfig == "" && context == "":
		return fmt.Errorf("%w: %s (from %s) names no cluster: give --kubeconfig FILE or set KUBECONFIG", errNoKubeconfig, strings.Join(existing, ", "), kubeconfigSource())
	case context == "":
		return fmt.Errorf("%s names no current context: give --context NAME (kubectl config get-contexts lists them): %w", tried, err)
	}
	return fmt.Errorf("%s, context %q: %w (kubectl config get-contexts lists the contexts)", tried, context, err)
}

// errNoKubeconfig is the error of a command run with no kubeconfig at all:
// commands that can do without the cluster check for it.
var errNoKubeconfig = errors.New("no kubeconfig")

// kubeconfigSource says where the kubeconfig search path came from.
func kubeconfigSource() string {
	if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "" {
		return "$KUBECONFIG"
	}
	return "the default location"
}

func (k *kubeOptions) connect() (*kubeClients, error) {
	l, err := k.load()
	if err != nil {
		return nil, err
	}
	kc := &kubeClients{Host: l.cfg.Host, Namespace: l.namespace, Context: l.context}
	// Reading objects is bounded by --request-timeout, or a minute, so a
	// stuck API server fails the command instead of hanging it.
	listCfg := rest.CopyConfig(l.cfg)
	if listCfg.Timeout == 0 {
		listCfg.Timeout = time.Minute
	}
	if kc.Clientset, err = kubernetes.NewForConfig(listCfg); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg := rest.CopyConfig(l.cfg)
	cfg.Timeout = 0
	if kc.HTTP, err = rest.HTTPClientFor(cfg); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return kc, nil
}

// restConfig is the client configuration the kubeconfig flags select, with
// requests bounded by --request-timeout, or a minute.
func (k *kubeOptions) restConfig() (*rest.Config, error) {
	l, err := k.load()
	if err != nil {
		return nil, err
	}
	if l.cfg.Timeout == 0 {
		l.cfg.Timeout = time.Minute
	}
	return l.cfg, nil
}

// clients are the dynamic client (policy objects) and the clientset
// (cluster objects) for the API server the flags select.
func (k *kubeOptions) clients() (dynamic.Interface, kubernetes.Interface, error) {
	cfg, err := k.restConfig()
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return dyn, cs, nil
}

// reachTimeout bounds the first request of an implicit read of cluster
// objects: a kube context that does not answer in this time is taken as
// unreachable rather than stalling a command that could do without it.
const reachTimeout = 10 * time.Second

// contextObjects reads the cluster objects of namespaces (every namespace
// when empty) from the kube context the flags select, for commands that use
// the cluster only when cluster objects were not given. It returns the
// context's name for messages, or an error saying why the context could not
// be used.
func (k *kubeOptions) contextObjects(ctx context.Context, namespaces []string) (*cluster.Objects, string, error) {
	l, err := k.load()
	if err != nil {
		return nil, "", err
	}
	probe := rest.CopyConfig(l.cfg)
	probe.Timeout = reachTimeout
	cs, err := kubernetes.NewForConfig(probe)
	if err != nil {
		return nil, l.context, fmt.Errorf("kube context %q: %w", l.context, err)
	}
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		return nil, l.context, fmt.Errorf("kube context %q (%s) does not answer: %w", l.context, l.cfg.Host, err)
	}
	cfg := rest.CopyConfig(l.cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Minute
	}
	if cs, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, l.context, fmt.Errorf("kube context %q: %w", l.context, err)
	}
	objs, err := cluster.List(ctx, cs, slices.Compact(slices.Sorted(slices.Values(namespaces))))
	if err != nil {
		return nil, l.context, fmt.Errorf("kube context %q: %w", l.context, err)
	}
	return objs, l.context, nil
}

// errNoClusterObjects is the advice for a command that needs cluster
// objects and has neither --cluster-file nor a reachable kube context.
var errNoClusterObjects = errors.New("give the cluster objects with --cluster-file FILE (kubectl get pods,rs,deploy,sts,ds,svc,nodes,ns -A -o yaml > FILE) or run where the kube context reaches the cluster")
