package alerts

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// RulesYAML writes the rules as a plain Prometheus rule file.
func RulesYAML(rf *RuleFile) ([]byte, error) { return yaml.Marshal(rf) }

// PrometheusRule is the Prometheus operator's resource holding rule groups.
type PrometheusRule struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Metadata   PrometheusRuleMeta `json:"metadata"`
	Spec       RuleFile           `json:"spec"`
}

// PrometheusRuleMeta names the resource; Labels are what the operator's
// ruleSelector matches.
type PrometheusRuleMeta struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// PrometheusRuleYAML writes the rules as a PrometheusRule
// (monitoring.coreos.com/v1).
func PrometheusRuleYAML(rf *RuleFile, meta PrometheusRuleMeta) ([]byte, error) {
	if meta.Labels == nil {
		meta.Labels = map[string]string{}
	}
	meta.Labels["app.kubernetes.io/managed-by"] = "cinch"
	return yaml.Marshal(PrometheusRule{APIVersion: "monitoring.coreos.com/v1", Kind: "PrometheusRule", Metadata: meta, Spec: *rf})
}

// testFile is a promtool rule unit test file.
type testFile struct {
	RuleFiles          []string   `json:"rule_files"`
	EvaluationInterval string     `json:"evaluation_interval"`
	Tests              []testCase `json:"tests"`
}

type testCase struct {
	Interval   string      `json:"interval"`
	InputSerie []series    `json:"input_series"`
	AlertTests []alertTest `json:"alert_rule_test"`
}

type series struct {
	Series string `json:"series"`
	Values string `json:"values"`
}

type alertTest struct {
	EvalTime  string     `json:"eval_time"`
	Alertname string     `json:"alertname"`
	ExpAlerts []expAlert `json:"exp_alerts"`
}

type expAlert struct {
	ExpLabels      map[string]string `json:"exp_labels"`
	ExpAnnotations map[string]string `json:"exp_annotations"`
}

// TestsYAML writes promtool unit tests for the rules (promtool test rules
// FILE), reading them from ruleFile (relative to the test file): for
// every rule, a counter that rises in one of its namespaces fires it with
// the expected labels and annotations, and a flat counter in the same
// namespace does not.
func TestsYAML(rf *RuleFile, ruleFile string, opts Options) ([]byte, error) {
	opts = opts.withDefaults()
	tf := testFile{RuleFiles: []string{ruleFile}, EvaluationInterval: "1m"}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			tf.Tests = append(tf.Tests, ruleTest(r, opts))
		}
	}
	return yaml.Marshal(tf)
}

// ruleTest is one rule's test case: a minute-by-minute series that holds
// the rule's condition from the start, evaluated once the condition has
// held for the rule's window and its for duration.
func ruleTest(r Rule, opts Options) testCase {
	ns := r.namespaces[0]
	l := map[string]string{"namespace": ns, "deployment": "example", "target_port": "8080",
		"srv_group": "policy.linkerd.io", "srv_kind": "server", "srv_name": "example", "tls": "true",
		"client_id": "client.other.serviceaccount.identity.linkerd.cluster.local"}
	switch r.kind {
	case kindHTTPDenied, kindAudit:
		l["route_group"], l["route_kind"], l["route_name"] = "gateway.networking.k8s.io", "HTTPRoute", "example"
	case kindScrape:
		l = map[string]string{"namespace": ns, "deployment": "example", "pod": "example-0", "job": opts.ProxyJob}
	}
	metric := r.metric
	extra := map[string]string{}
	if r.kind == kindAudit || r.kind == kindAuditTCP {
		extra["authz_kind"], extra["authz_name"] = "default", "audit"
	}
	rising, flat := "0+10x", "5+0x"
	if r.kind == kindScrape {
		rising, flat = "0+0x", "1+0x"
	}
	steps := int((opts.Window + forOf(r, opts) + 2*time.Minute) / time.Minute)
	quiet := maps.Clone(l)
	quiet["deployment"] = "quiet"
	tc := testCase{Interval: "1m", InputSerie: []series{
		{Series: selector(metric, l, extra), Values: fmt.Sprintf("%s%d", rising, steps)},
		{Series: selector(metric, quiet, extra), Values: fmt.Sprintf("%s%d", flat, steps)},
	}}
	// The alert keeps the labels the rule groups by (a filter on up keeps
	// them all) and adds the rule's own.
	want := map[string]string{}
	for k, v := range l {
		if r.kind == kindScrape || slices.Contains(groupBy(r.kind), k) {
			want[k] = v
		}
	}
	maps.Copy(want, r.Labels)
	tc.AlertTests = []alertTest{{EvalTime: fmt.Sprintf("%dm", steps), Alertname: r.Alert,
		ExpAlerts: []expAlert{{ExpLabels: want, ExpAnnotations: render(r.Annotations, l)}}}}
	return tc
}

func forOf(r Rule, opts Options) time.Duration {
	switch r.kind {
	case kindAudit, kindAuditTCP:
		return opts.AuditFor
	case kindScrape:
		return opts.ScrapeFor
	}
	return opts.For
}

func selector(metric string, l, extra map[string]string) string {
	all := maps.Clone(l)
	maps.Copy(all, extra)
	parts := make([]string, 0, len(all))
	for _, k := range slices.Sorted(maps.Keys(all)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, all[k]))
	}
	return metric + "{" + strings.Join(parts, ",") + "}"
}

var labelRef = regexp.MustCompile(`\{\{ \$labels\.([a-z_]+) \}\}`)

// render expands the {{ $labels.NAME }} references of the annotations the
// way Prometheus' templates do (a missing label is empty).
func render(annotations, l map[string]string) map[string]string {
	out := make(map[string]string, len(annotations))
	for k, v := range annotations {
		out[k] = labelRef.ReplaceAllStringFunc(v, func(ref string) string {
			return l[labelRef.FindStringSubmatch(ref)[1]]
		})
	}
	return out
}
