package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cinchmesh/cinch/synth/alerts"
	"github.com/cinchmesh/cinch/synth/diff"
)

type alertsOptions struct {
	kube          kubeOptions
	policies      []string
	fromCluster   bool
	output        string
	name          string
	ruleNamespace string
	ruleLabels    []string
	tests         string
	ruleFile      string
	opts          alerts.Options
}

func (o *alertsOptions) addFlags(fs *pflag.FlagSet) {
	d := alerts.Defaults
	fs.StringArrayVar(&o.policies, "policy", nil, "policy manifests in force: a file, a directory (its *.yaml, *.yml and *.json, recursively); repeatable")
	fs.StringVarP(&o.output, "output", "o", "prometheusrule", "output format: prometheusrule (monitoring.coreos.com/v1, for the Prometheus operator) or rules (a plain Prometheus rule file)")
	fs.StringVar(&o.name, "name", "cinch-linkerd-authorization", "the PrometheusRule's name")
	fs.StringVar(&o.ruleNamespace, "rule-namespace", "", "the PrometheusRule's namespace (default: the one kubectl apply uses)")
	fs.StringArrayVar(&o.ruleLabels, "rule-label", nil, "a label KEY=VALUE on the PrometheusRule, for the operator's ruleSelector (release=prometheus); repeatable")
	fs.StringVar(&o.tests, "tests", "", "also write promtool unit tests for the rules to this file (run: promtool test rules FILE)")
	fs.StringVar(&o.ruleFile, "rule-file", "cinch-alerts.yaml", "with --tests: the rule file the tests read, relative to the test file (save the -o rules output there)")
	fs.DurationVar(&o.opts.Window, "window", d.Window, "range the counters' increase is taken over")
	fs.Float64Var(&o.opts.Threshold, "threshold", d.Threshold, "requests (connections) in --window above which denials and audit findings alert")
	fs.DurationVar(&o.opts.For, "for", d.For, "how long denials must go on before their alert fires")
	fs.DurationVar(&o.opts.AuditFor, "audit-for", d.AuditFor, "how long audit-only requests must go on before their alert fires")
	fs.DurationVar(&o.opts.ScrapeFor, "scrape-for", d.ScrapeFor, "how long a proxy's scrape must fail before its alert fires")
	fs.DurationVar(&o.opts.Fresh, "fresh", d.Fresh, "how long an enforce step counts as fresh: its denials page (--page-severity), later ones warn")
	fs.StringVar(&o.opts.PageSeverity, "page-severity", d.PageSeverity, "severity label of denials in freshly enforced namespaces")
	fs.StringVar(&o.opts.WarnSeverity, "warn-severity", d.WarnSeverity, "severity label of denials in namespaces enforced for longer than --fresh")
	fs.StringVar(&o.opts.AuditSeverity, "audit-severity", d.AuditSeverity, "severity label of requests admitted only by audit mode")
	fs.StringVar(&o.opts.ProxyJob, "proxy-job", d.ProxyJob, "Prometheus job that scrapes the proxies' admin port")
	fs.StringVar(&o.opts.Scraper, "scraper", d.Scraper, "mesh identity of the Prometheus that scrapes the proxies (for the scrape alert's explain command)")
}

func newAlertsCommand(s Streams) *cobra.Command {
	o := &alertsOptions{}
	c := &cobra.Command{
		Use:   "alerts (--policy PATH... | --from-cluster) [-o prometheusrule|rules] [--tests FILE]",
		Short: "Write Prometheus alerts for denials under enforce, audit-only requests and proxies no longer scraped",
		Long: `Write the alerting rules for the policy in force, from Linkerd's proxy metrics:

  LinkerdAuthorizationDenied       inbound_http_authz_deny_total rises (HTTP 403)
  LinkerdRouteNotFound             inbound_http_route_not_found_total rises (HTTP 404: no route)
  LinkerdConnectionDenied          inbound_tcp_authz_deny_total rises (opaque and TLS servers)
  LinkerdAuditWouldDeny(Connection) requests admitted only by audit mode: the next step is
                                   not safe yet
  LinkerdProxyNotScraped           a proxy's admin port no longer scraped under default deny

Each alert keeps the client identity, Server, route, workload and port, says what happened
in words and carries the cinch explain command line for it. Severity follows the namespace's
stage: denials in a namespace whose enforce step is younger than --fresh page, older ones
warn. Output is a PrometheusRule (-o prometheusrule, the default) or a plain rule file
(-o rules); --tests writes promtool unit tests for the rules. See docs/alerts.md.`,
		Example: `  cinch alerts --policy policy/ --rule-label release=prometheus | kubectl apply -n monitoring -f -
  cinch alerts --from-cluster -o rules --tests alerts/cinch-alerts.test.yaml > alerts/cinch-alerts.yaml
  promtool test rules alerts/cinch-alerts.test.yaml`,
		RunE: func(c *cobra.Command, _ []string) error { return o.run(c.Context(), s) },
	}
	o.addFlags(c.Flags())
	o.kube.addFlags(c.Flags(), "")
	o.kube.addFromClusterFlag(c, s, &o.fromCluster, "read the policy objects and namespaces from the cluster")
	return c
}

func (o *alertsOptions) run(ctx context.Context, s Streams) error {
	switch {
	case o.fromCluster == (len(o.policies) > 0):
		return usageErrorf("give the policy in force: --policy PATH or --from-cluster (one of them)")
	case o.output != "prometheusrule" && o.output != "rules":
		return usageErrorf("-o %q: want prometheusrule or rules", o.output)
	case o.opts.Window <= 0 || o.opts.For < 0 || o.opts.AuditFor < 0 || o.opts.ScrapeFor < 0 || o.opts.Fresh < 0:
		return usageErrorf("--window must be positive, --for, --audit-for, --scrape-for and --fresh not negative")
	case o.opts.Threshold < 0:
		return usageErrorf("--threshold %g: want 0 or more", o.opts.Threshold)
	}
	labels := map[string]string{}
	for _, l := range o.ruleLabels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return usageErrorf("--rule-label %q: want KEY=VALUE", l)
		}
		labels[k] = v
	}
	var in alerts.Input
	var err error
	if o.fromCluster {
		in, err = o.readCluster(ctx)
	} else {
		in.Policy, in.DefaultDeny, err = readPolicyInForce(o.policies)
	}
	if err != nil {
		return err
	}
	o.opts.Now = time.Now()
	rf := alerts.Rules(in, o.opts)
	var out []byte
	if o.output == "rules" {
		out, err = alerts.RulesYAML(rf)
	} else {
		out, err = alerts.PrometheusRuleYAML(rf, alerts.PrometheusRuleMeta{Name: o.name, Namespace: o.ruleNamespace, Labels: labels})
	}
	if err != nil {
		return err
	}
	if o.tests != "" {
		tests, err := alerts.TestsYAML(rf, o.ruleFile, o.opts)
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.tests, tests, 0o644); err != nil {
			return fmt.Errorf("--tests: %w", err)
		}
		if o.output != "rules" {
			fmt.Fprintf(s.Err, "note: the tests in %s read the plain rule file %s: write it with -o rules\n", o.tests, filepath.Join(filepath.Dir(o.tests), o.ruleFile))
		}
	}
	_, err = s.Out.Write(out)
	return err
}

// readCluster reads the policy objects of every namespace of the cluster
// and the namespaces under default deny.
func (o *alertsOptions) readCluster(ctx context.Context) (alerts.Input, error) {
	var in alerts.Input
	dyn, cs, err := o.kube.clients()
	if err != nil {
		return in, err
	}
	namespaces, defaultDeny, err := diff.ListNamespaces(ctx, cs)
	if err != nil {
		return in, err
	}
	in.DefaultDeny = defaultDeny
	in.Policy, err = diff.ListPolicy(ctx, dyn, namespaces)
	return in, err
}
