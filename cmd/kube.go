package cmd

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeOptions are kubectl's kubeconfig flags (--kubeconfig, --context, -n,
// --as, ...), from client-go's clientcmd, so they behave as in kubectl.
type kubeOptions struct {
	kubeconfig string
	overrides  clientcmd.ConfigOverrides
}

func (k *kubeOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	clientcmd.BindOverrideFlags(&k.overrides, fs, clientcmd.RecommendedConfigOverrideFlags(""))
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

func (k *kubeOptions) connect() (*kubeClients, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &k.overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	kc := &kubeClients{Host: cfg.Host, Namespace: ns, Context: raw.CurrentContext}
	if k.overrides.CurrentContext != "" {
		kc.Context = k.overrides.CurrentContext
	}
	// Reading objects is bounded by --request-timeout, or a minute, so a
	// stuck API server fails the command instead of hanging it.
	listCfg := rest.CopyConfig(cfg)
	if listCfg.Timeout == 0 {
		listCfg.Timeout = time.Minute
	}
	if kc.Clientset, err = kubernetes.NewForConfig(listCfg); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.Timeout = 0
	if kc.HTTP, err = rest.HTTPClientFor(cfg); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return kc, nil
}
