package alerts

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cinchmesh/cinch/fixtures/metrics"
	"github.com/cinchmesh/cinch/synth/policy"
)

// server writes a Server cinch wrote at level serviceaccount.
func server(ns, name, access, created string) string {
	meta := "{name: " + name + ", namespace: " + ns + ", labels: {app.kubernetes.io/managed-by: cinch}, annotations: {cinch.cinchmesh.io/level: serviceaccount}"
	if created != "" {
		meta += ", creationTimestamp: " + created
	}
	return "apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: " + meta + "}\nspec: {podSelector: {matchLabels: {app: " + name +
		"}}, port: http, accessPolicy: " + access + "}"
}

var now = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// A mesh at every stage: shop enforced a day ago (fresh), books enforced
// a month ago, emojivoto in audit, web under default deny, and an open
// namespace with no Server.
func testInput(t *testing.T) Input {
	t.Helper()
	set, err := policy.Read(strings.NewReader(strings.Join([]string{
		server("shop", "api", "deny", "2026-02-28T00:00:00Z"),
		server("books", "authors", "deny", "2026-01-01T00:00:00Z"),
		server("emojivoto", "voting", "audit", "2026-02-01T00:00:00Z"),
		server("web", "front", "deny", "2025-01-01T00:00:00Z"),
	}, "\n---\n")), "test", policy.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return Input{Policy: set, DefaultDeny: []string{"web"}}
}

func TestRulesBySeverity(t *testing.T) {
	rf := Rules(testInput(t), Options{Now: now})
	var got []string
	for _, r := range rf.Groups[0].Rules {
		got = append(got, r.Alert+" "+r.Labels["severity"]+" for "+r.For+": "+r.Expr)
	}
	by := "namespace, deployment, statefulset, daemonset, target_port, srv_group, srv_kind, srv_name"
	route := ", route_group, route_kind, route_name"
	want := []string{
		"LinkerdAuthorizationDenied critical for 2m: sum by (" + by + route + ", tls, client_id) (increase(inbound_http_authz_deny_total{namespace=~\"shop\"}[1h])) > 0",
		"LinkerdRouteNotFound critical for 2m: sum by (" + by + ", tls, client_id) (increase(inbound_http_route_not_found_total{namespace=~\"shop\"}[1h])) > 0",
		"LinkerdConnectionDenied critical for 2m: sum by (" + by + ", tls, client_id) (increase(inbound_tcp_authz_deny_total{namespace=~\"shop\"}[1h])) > 0",
		"LinkerdAuthorizationDenied warning for 2m: sum by (" + by + route + ", tls, client_id) (increase(inbound_http_authz_deny_total{namespace=~\"books|emojivoto|web\"}[1h])) > 0",
		"LinkerdRouteNotFound warning for 2m: sum by (" + by + ", tls, client_id) (increase(inbound_http_route_not_found_total{namespace=~\"books|emojivoto|web\"}[1h])) > 0",
		"LinkerdConnectionDenied warning for 2m: sum by (" + by + ", tls, client_id) (increase(inbound_tcp_authz_deny_total{namespace=~\"books|emojivoto|web\"}[1h])) > 0",
		"LinkerdAuditWouldDeny info for 10m: sum by (" + by + route + ", tls, client_id) (increase(inbound_http_authz_allow_total{namespace=~\"emojivoto\",authz_kind=\"default\",authz_name=\"audit\"}[1h])) > 0",
		"LinkerdAuditWouldDenyConnection info for 10m: sum by (" + by + ", tls, client_id) (increase(inbound_tcp_authz_allow_total{namespace=~\"emojivoto\",authz_kind=\"default\",authz_name=\"audit\"}[1h])) > 0",
		"LinkerdProxyNotScraped warning for 5m: up{job=\"linkerd-proxy\",namespace=~\"web\"} == 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Flags change thresholds, durations and severities.
	rf = Rules(testInput(t), Options{Now: now, Window: 30 * time.Minute, Threshold: 5, For: 30 * time.Second, Fresh: 90 * 24 * time.Hour,
		PageSeverity: "page", ProxyJob: "proxies"})
	r := rf.Groups[0].Rules
	if r[0].Labels["severity"] != "page" || r[0].For != "30s" || !strings.HasSuffix(r[0].Expr, "[30m])) > 5") ||
		!strings.Contains(r[0].Expr, `namespace=~"books|shop"`) || !strings.Contains(r[len(r)-1].Expr, `job="proxies"`) {
		t.Errorf("with options: %+v", r[0])
	}
}

func TestAnnotations(t *testing.T) {
	rf := Rules(testInput(t), Options{Now: now})
	r := rf.Groups[0].Rules[0]
	got := render(r.Annotations, map[string]string{"namespace": "shop", "deployment": "api", "target_port": "8080",
		"client_id": "web.shop.serviceaccount.identity.linkerd.cluster.local", "tls": "true", "srv_name": "api",
		"route_kind": "HTTPRoute", "route_group": "gateway.networking.k8s.io", "route_name": "api-books"})
	if want := "cinch explain --from-cluster --from web.shop.serviceaccount.identity.linkerd.cluster.local --to shop/api:8080 --route HTTPRoute.gateway.networking.k8s.io/api-books"; got["cinch_explain"] != want {
		t.Errorf("cinch_explain = %q\nwant %q", got["cinch_explain"], want)
	}
	for _, w := range []string{"The proxy of shop/api denied HTTP requests to port 8080 from client web.shop", "route HTTPRoute api-books",
		"The namespace's enforce step is fresh (younger than 14d)"} {
		if !strings.Contains(got["description"], w) {
			t.Errorf("description %q lacks %q", got["description"], w)
		}
	}
}

// write saves the rules, their PrometheusRule and their unit tests in a
// directory.
func write(t *testing.T, rf *RuleFile, opts Options) string {
	t.Helper()
	dir := t.TempDir()
	rules, err := RulesYAML(rf)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := TestsYAML(rf, "rules.yaml", opts)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"rules.yaml": rules, "rules.test.yaml": tests} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// promtool checks the rules and runs the generated unit tests: every rule
// fires for a rising counter with the labels and annotations it should
// have, and not for a flat one.
func TestPromtool(t *testing.T) {
	_, promtool, err := metrics.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{Now: now}, {Now: now, Window: 10 * time.Minute, Threshold: 3, For: 30 * time.Second, ScrapeFor: time.Minute}} {
		dir := write(t, Rules(testInput(t), opts), opts)
		for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules.test.yaml"}} {
			cmd := exec.Command(promtool, args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
}

// The generated tests can fail: a rule that no longer fires with the
// annotations the tests expect is caught by promtool.
func TestPromtoolCatchesAWrongRule(t *testing.T) {
	_, promtool, err := metrics.Binaries()
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Now: now}
	rf := Rules(testInput(t), opts)
	dir := write(t, rf, opts)
	rf.Groups[0].Rules[0].Expr = strings.Replace(rf.Groups[0].Rules[0].Expr, "> 0", "> 1000000", 1)
	rules, err := RulesYAML(rf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", "rules.test.yaml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("promtool passed rules that cannot fire:\n%s", out)
	}
}

// A real Prometheus evaluates the rules over backfilled Linkerd counters:
// a client denied in the freshly enforced namespace for the last half
// hour fires the paging denial alert, with its labels and the explain
// command, read back from Prometheus' API; a flat counter does not.
func TestRealPrometheusFires(t *testing.T) {
	opts := Options{Now: now, For: 3 * time.Second}
	rules, err := RulesYAML(Rules(testInput(t), opts))
	if err != nil {
		t.Fatal(err)
	}
	var om strings.Builder
	om.WriteString("# TYPE inbound_http_authz_deny counter\n")
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	labels := `namespace="shop",deployment="api",pod="api-0",target_addr="10.42.0.5:8080",target_port="8080",` +
		`srv_group="policy.linkerd.io",srv_kind="server",srv_name="api",route_group="gateway.networking.k8s.io",route_kind="HTTPRoute",` +
		`route_name="api-books",tls="true",client_id="web.shop.serviceaccount.identity.linkerd.cluster.local"`
	quiet := strings.ReplaceAll(strings.ReplaceAll(labels, `"api-0"`, `"api-1"`), "web.shop", "admin.shop")
	for i := 30; i >= 0; i-- {
		ts := end.Add(-time.Duration(i) * time.Minute).Unix()
		fmt.Fprintf(&om, "inbound_http_authz_deny_total{%s} %d %d\n", labels, 4*(30-i), ts)
		fmt.Fprintf(&om, "inbound_http_authz_deny_total{%s} 7 %d\n", quiet, ts)
	}
	om.WriteString("# EOF\n")
	p := metrics.StartWithRules(t, []byte(om.String()), rules)
	deadline := time.Now().Add(90 * time.Second)
	for {
		alerts := firing(t, p.URL)
		if len(alerts) > 0 {
			a := alerts[0]
			if len(alerts) != 1 || a.Labels["alertname"] != AlertHTTPDenied || a.Labels["severity"] != "critical" ||
				a.Labels["client_id"] != "web.shop.serviceaccount.identity.linkerd.cluster.local" || a.Labels["route_name"] != "api-books" {
				t.Fatalf("firing: %+v", alerts)
			}
			if want := "cinch explain --from-cluster --from web.shop.serviceaccount.identity.linkerd.cluster.local --to shop/api:8080 --route HTTPRoute.gateway.networking.k8s.io/api-books"; a.Annotations["cinch_explain"] != want {
				t.Errorf("cinch_explain = %q, want %q", a.Annotations["cinch_explain"], want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no alert fired within 90s")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type apiAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// firing reads the firing alerts from Prometheus' API.
func firing(t *testing.T, url string) []apiAlert {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Alerts []apiAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	var out []apiAlert
	for _, a := range body.Data.Alerts {
		if a.State == "firing" {
			out = append(out, a)
		}
	}
	return out
}
