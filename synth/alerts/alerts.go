// Package alerts writes the Prometheus alerting rules that catch the day
// a policy cinch wrote was wrong: denials under enforce (Linkerd's
// inbound_http_authz_deny_total, inbound_tcp_authz_deny_total and
// inbound_http_route_not_found_total), requests admitted only by audit
// mode (the next step is not safe yet), and proxies Prometheus no longer
// scrapes after default deny (docs/alerts.md).
//
// Severity follows the namespace's stage (synth/stage): a namespace whose
// enforce step is fresh pages, one enforced for longer warns. Each alert
// says what happened in words and carries the `cinch explain` command
// line for it. Rules are written as a plain rule file or a PrometheusRule
// (monitoring.coreos.com/v1), with promtool unit tests for them.
//
// It imports the standard library, sigs.k8s.io/yaml, synth, synth/policy
// and synth/stage; it never prints.
package alerts

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/policy"
	"github.com/cinchmesh/cinch/synth/stage"
)

// Options are the thresholds, durations and names of the rules; zero
// values take the documented defaults (Defaults).
type Options struct {
	// Window is the range the counters' increase is taken over.
	Window time.Duration
	// Threshold is the number of requests in Window above which denials
	// alert (0: any).
	Threshold float64
	// For, AuditFor and ScrapeFor are how long a condition must hold
	// before the denial, audit and scrape alerts fire.
	For, AuditFor, ScrapeFor time.Duration
	// Fresh is how long an enforce step counts as fresh: its denials page.
	Fresh time.Duration
	// PageSeverity, WarnSeverity and AuditSeverity are the severity
	// labels of fresh enforce steps, older ones, and audit findings.
	PageSeverity, WarnSeverity, AuditSeverity string
	// ProxyJob is the scrape job of the proxies' admin port.
	ProxyJob string
	// Scraper is the mesh identity of the Prometheus that scrapes the
	// proxies, for the explain command of the scrape alert.
	Scraper string
	// Now decides which enforce steps are fresh.
	Now time.Time
}

// Defaults are the documented defaults of Options.
var Defaults = Options{
	Window:        time.Hour,
	For:           2 * time.Minute,
	AuditFor:      10 * time.Minute,
	ScrapeFor:     5 * time.Minute,
	Fresh:         14 * 24 * time.Hour,
	PageSeverity:  "critical",
	WarnSeverity:  "warning",
	AuditSeverity: "info",
	ProxyJob:      "linkerd-proxy",
	Scraper:       "prometheus.linkerd-viz.serviceaccount.identity.linkerd.cluster.local",
}

func (o Options) withDefaults() Options {
	d := Defaults
	o.Window = cmp.Or(o.Window, d.Window)
	o.For = cmp.Or(o.For, d.For)
	o.AuditFor = cmp.Or(o.AuditFor, d.AuditFor)
	o.ScrapeFor = cmp.Or(o.ScrapeFor, d.ScrapeFor)
	o.Fresh = cmp.Or(o.Fresh, d.Fresh)
	o.PageSeverity = cmp.Or(o.PageSeverity, d.PageSeverity)
	o.WarnSeverity = cmp.Or(o.WarnSeverity, d.WarnSeverity)
	o.AuditSeverity = cmp.Or(o.AuditSeverity, d.AuditSeverity)
	o.ProxyJob = cmp.Or(o.ProxyJob, d.ProxyJob)
	o.Scraper = cmp.Or(o.Scraper, d.Scraper)
	return o
}

// Input is the policy in force.
type Input struct {
	Policy *policy.Set
	// DefaultDeny lists the namespaces whose default inbound policy is
	// deny.
	DefaultDeny []string
}

// RuleFile is a Prometheus rule file.
type RuleFile struct {
	Groups []Group `json:"groups"`
}

// Group is a rule group.
type Group struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// Rule is an alerting rule.
type Rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// kind, metric and namespaces say what the rule watches, for its
	// tests.
	kind       alertKind
	metric     string
	namespaces []string
}

type alertKind uint8

const (
	kindHTTPDenied alertKind = iota
	kindTCPDenied
	kindRouteNotFound
	kindAudit
	kindAuditTCP
	kindScrape
)

// Alert names.
const (
	AlertHTTPDenied    = "LinkerdAuthorizationDenied"
	AlertTCPDenied     = "LinkerdConnectionDenied"
	AlertRouteNotFound = "LinkerdRouteNotFound"
	AlertAudit         = "LinkerdAuditWouldDeny"
	AlertAuditTCP      = "LinkerdAuditWouldDenyConnection"
	AlertScrape        = "LinkerdProxyNotScraped"
)

// Metrics the rules read: the inbound proxy's authorization counters and
// Prometheus' own up series.
const (
	metricHTTPDeny      = "inbound_http_authz_deny_total"
	metricHTTPAllow     = "inbound_http_authz_allow_total"
	metricRouteNotFound = "inbound_http_route_not_found_total"
	metricTCPDeny       = "inbound_tcp_authz_deny_total"
	metricTCPAllow      = "inbound_tcp_authz_allow_total"
)

// ownerLabels are the workload labels linkerd-viz's scrape configuration
// adds from the proxy's pod; one of them names the server's workload.
var ownerLabels = []string{"deployment", "statefulset", "daemonset"}

// GroupName is the name of the rule group cinch writes.
const GroupName = "cinch-linkerd-authorization"

// Rules writes the alerting rules for the policy in in: the namespaces
// with Servers (denials; audit findings where a Server is in audit mode)
// and those under default deny (denials and scrapes).
func Rules(in Input, opts Options) *RuleFile {
	opts = opts.withDefaults()
	namespaces := stage.Classify(stage.Input{Policy: in.Policy, DefaultDeny: in.DefaultDeny})
	var page, warn, audit, scrapePage, scrapeWarn []string
	for _, ns := range namespaces {
		if ns.Stage == stage.Open {
			continue
		}
		fresh := freshEnforce(in.Policy, ns.Name, opts)
		if fresh {
			page = append(page, ns.Name)
		} else {
			warn = append(warn, ns.Name)
		}
		if slices.ContainsFunc(ns.Servers, func(s stage.Server) bool { return s.Stage.Mode == synth.ModeAudit }) {
			audit = append(audit, ns.Name)
		}
		if ns.Stage.DefaultDeny || slices.Contains(in.DefaultDeny, ns.Name) {
			if fresh {
				scrapePage = append(scrapePage, ns.Name)
			} else {
				scrapeWarn = append(scrapeWarn, ns.Name)
			}
		}
	}
	g := Group{Name: GroupName}
	for _, sev := range []struct {
		namespaces []string
		severity   string
		fresh      bool
	}{{page, opts.PageSeverity, true}, {warn, opts.WarnSeverity, false}} {
		if len(sev.namespaces) == 0 {
			continue
		}
		g.Rules = append(g.Rules,
			deniedRule(kindHTTPDenied, sev.namespaces, sev.severity, sev.fresh, opts),
			deniedRule(kindRouteNotFound, sev.namespaces, sev.severity, sev.fresh, opts),
			deniedRule(kindTCPDenied, sev.namespaces, sev.severity, sev.fresh, opts))
	}
	if len(audit) > 0 {
		g.Rules = append(g.Rules, auditRule(kindAudit, audit, opts), auditRule(kindAuditTCP, audit, opts))
	}
	for _, sev := range []struct {
		namespaces []string
		severity   string
	}{{scrapePage, opts.PageSeverity}, {scrapeWarn, opts.WarnSeverity}} {
		if len(sev.namespaces) > 0 {
			g.Rules = append(g.Rules, scrapeRule(sev.namespaces, sev.severity, opts))
		}
	}
	return &RuleFile{Groups: []Group{g}}
}

// freshEnforce says whether the namespace's newest enforcing Server is
// younger than opts.Fresh: a Server without creationTimestamp is not
// applied yet, so the step it makes is fresh.
func freshEnforce(set *policy.Set, ns string, opts Options) bool {
	if set == nil {
		return false
	}
	for _, s := range set.Servers {
		if s.Namespace != ns || s.Spec.AccessPolicy != "" && s.Spec.AccessPolicy != policy.Deny {
			continue
		}
		if s.CreationTimestamp == nil || opts.Now.Sub(s.CreationTimestamp.Time) < opts.Fresh {
			return true
		}
	}
	return false
}

// namespaceMatcher matches the namespaces exactly (Prometheus anchors a
// label regular expression).
func namespaceMatcher(namespaces []string) string {
	quoted := make([]string, len(namespaces))
	for i, ns := range namespaces {
		quoted[i] = regexp.QuoteMeta(ns)
	}
	return `namespace=~"` + strings.Join(quoted, "|") + `"`
}

// duration writes d as Prometheus writes durations (1h, 2m, 30s).
func duration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// groupBy lists the labels an alert keeps: the workload, the server port,
// the Server and route, and the client.
func groupBy(kind alertKind) []string {
	l := append([]string{"namespace"}, ownerLabels...)
	l = append(l, "target_port", "srv_group", "srv_kind", "srv_name")
	switch kind {
	case kindHTTPDenied, kindAudit:
		l = append(l, "route_group", "route_kind", "route_name")
	}
	return append(l, "tls", "client_id")
}

const workload = "{{ $labels.namespace }}/{{ $labels.deployment }}{{ $labels.statefulset }}{{ $labels.daemonset }}"

func deniedRule(kind alertKind, namespaces []string, severity string, fresh bool, opts Options) Rule {
	metric, alert := metricHTTPDeny, AlertHTTPDenied
	switch kind {
	case kindTCPDenied:
		metric, alert = metricTCPDeny, AlertTCPDenied
	case kindRouteNotFound:
		metric, alert = metricRouteNotFound, AlertRouteNotFound
	}
	expr := fmt.Sprintf("sum by (%s) (increase(%s{%s}[%s])) > %g", strings.Join(groupBy(kind), ", "), metric,
		namespaceMatcher(namespaces), duration(opts.Window), opts.Threshold)
	step := "The namespace has no fresh enforce step (it has enforced for longer than " + duration(opts.Fresh) +
		", is in audit mode, or has policy cinch did not write)."
	if fresh {
		step = "The namespace's enforce step is fresh (younger than " + duration(opts.Fresh) + "): this is likely traffic the recording missed, and it is failing now."
	}
	client := "{{ $labels.client_id }}"
	explainCmd := "cinch explain --from-cluster --from " + client + " --to " + workload + ":{{ $labels.target_port }}"
	var summary, desc string
	switch kind {
	case kindHTTPDenied:
		summary = "Linkerd denies " + client + " on " + workload + ":{{ $labels.target_port }}"
		desc = "The proxy of " + workload + " denied HTTP requests to port {{ $labels.target_port }} from client " + client +
			" (tls {{ $labels.tls }}) in the last " + duration(opts.Window) + ": Server {{ $labels.srv_name }}, route {{ $labels.route_kind }} {{ $labels.route_name }}, " +
			"no authorization admits the client (HTTP 403, gRPC PermissionDenied). "
		explainCmd += " --route {{ $labels.route_kind }}.{{ $labels.route_group }}/{{ $labels.route_name }}"
	case kindRouteNotFound:
		summary = "Linkerd finds no route for requests on " + workload + ":{{ $labels.target_port }}"
		desc = "The proxy of " + workload + " answered HTTP 404 to requests on port {{ $labels.target_port }} from client " + client +
			" (tls {{ $labels.tls }}) in the last " + duration(opts.Window) + ": no route of Server {{ $labels.srv_name }} matches them. "
		explainCmd += " --method METHOD --path PATH"
	case kindTCPDenied:
		summary = "Linkerd refuses connections from " + client + " to " + workload + ":{{ $labels.target_port }}"
		desc = "The proxy of " + workload + " refused connections to port {{ $labels.target_port }} from client " + client +
			" (tls {{ $labels.tls }}) in the last " + duration(opts.Window) + ": Server {{ $labels.srv_name }}, no authorization admits the client. "
	}
	desc += step + " An empty client is a client without mTLS: give its address to --from. Run the cinch_explain command to see why and the grant that would allow it."
	return Rule{Alert: alert, Expr: expr, For: duration(opts.For), kind: kind, metric: metric, namespaces: namespaces,
		Labels: map[string]string{"severity": severity},
		Annotations: map[string]string{"summary": summary, "description": desc,
			"cinch_explain": explainCmd}}
}

func auditRule(kind alertKind, namespaces []string, opts Options) Rule {
	metric, alert, what := metricHTTPAllow, AlertAudit, "requests"
	if kind == kindAuditTCP {
		metric, alert, what = metricTCPAllow, AlertAuditTCP, "connections"
	}
	expr := fmt.Sprintf(`sum by (%s) (increase(%s{%s,authz_kind="default",authz_name="audit"}[%s])) > %g`,
		strings.Join(groupBy(kind), ", "), metric, namespaceMatcher(namespaces), duration(opts.Window), opts.Threshold)
	explainCmd := "cinch explain --from-cluster --from {{ $labels.client_id }} --to " + workload + ":{{ $labels.target_port }}"
	if kind == kindAudit {
		explainCmd += " --route {{ $labels.route_kind }}.{{ $labels.route_group }}/{{ $labels.route_name }}"
	}
	return Rule{Alert: alert, Expr: expr, For: duration(opts.AuditFor), kind: kind, metric: metric, namespaces: namespaces,
		Labels: map[string]string{"severity": opts.AuditSeverity},
		Annotations: map[string]string{
			"summary": "Only audit mode admits {{ $labels.client_id }} on " + workload + ":{{ $labels.target_port }}",
			"description": "Server {{ $labels.srv_name }} of " + workload + " is in audit mode and admitted " + what + " from client {{ $labels.client_id }} " +
				"(tls {{ $labels.tls }}) in the last " + duration(opts.Window) + " that no authorization admits: enforcing it now would deny them. " +
				"The next step is not safe yet: grant them (the cinch_explain command prints the grant) or record again and regenerate.",
			"cinch_explain": explainCmd,
		}}
}

func scrapeRule(namespaces []string, severity string, opts Options) Rule {
	expr := fmt.Sprintf(`up{job="%s",%s} == 0`, opts.ProxyJob, namespaceMatcher(namespaces))
	return Rule{Alert: AlertScrape, Expr: expr, For: duration(opts.ScrapeFor), kind: kindScrape, metric: "up", namespaces: namespaces,
		Labels: map[string]string{"severity": severity},
		Annotations: map[string]string{
			"summary": "Prometheus cannot scrape the Linkerd proxy of {{ $labels.namespace }}/{{ $labels.pod }}",
			"description": "The scrape of the proxy admin port of pod {{ $labels.pod }} (" + workload + ", job " + opts.ProxyJob + ") has failed for " +
				duration(opts.ScrapeFor) + " in a namespace under default deny: the admin port needs a Server and an authorization for the scraper " +
				"(cinch synth --default-deny writes them), or every dashboard and metrics recording of this namespace goes blind.",
			"cinch_explain": "cinch explain --from-cluster --from " + opts.Scraper + " --to " + workload + ":4191 --path /metrics",
		}}
}
