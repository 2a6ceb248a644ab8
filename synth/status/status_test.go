package status

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/policy"
	"github.com/cinchmesh/cinch/synth/routes"
)

var end = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

func day(n float64) time.Time { return end.Add(-time.Duration(n * 24 * float64(time.Hour))) }

func ptr[T any](v T) *T { return &v }

// evidence is a mesh of two namespaces: shop/web called by shop/client on
// many routes, each many times (coverage 1), and books/api called by
// shop/client without paths (metrics only).
func evidence() *recording.Recording {
	rec := recording.New()
	start, stop := day(21), end
	rec.Windows = []recording.Window{{Source: "test", Start: &start, End: &stop}}
	for _, w := range []struct{ ns, name string }{{"shop", "web"}, {"shop", "client"}, {"shop", "intruder"}, {"books", "api"}} {
		rec.Workloads = append(rec.Workloads, recording.Workload{
			ID: recording.PeerID(w.ns + "/" + w.name), Namespace: w.ns, Kind: "Deployment", Name: w.name,
			ServiceAccount: w.name, Meshed: true, Identity: w.name + "." + w.ns + ".serviceaccount.identity.linkerd.cluster.local",
			Labels: map[string]string{"app": w.name}, Ports: []recording.ContainerPort{{Port: 8080, Name: "http"}},
		})
	}
	web := recording.Edge{Client: "shop/client", Server: "shop/web", Port: 8080, Protocol: recording.ProtocolHTTP,
		TLS: map[string]int64{}, FirstSeen: &start, LastSeen: &stop}
	for _, p := range []string{"/cart", "/items", "/checkout", "/login"} {
		web.Routes = append(web.Routes, recording.Route{Method: "GET", Path: p, Requests: 50})
		web.Requests += 50
	}
	web.TLS["true"] = web.Requests
	api := recording.Edge{Client: "shop/client", Server: "books/api", Port: 8080, Protocol: recording.ProtocolHTTP,
		Requests: 30, TLS: map[string]int64{"true": 30}}
	rec.Edges = []recording.Edge{web, api}
	rec.Normalize()
	return rec
}

// policyAt synthesizes cinch's policy for the evidence at a level and mode.
func policyAt(t *testing.T, rec *recording.Recording, level synth.Level, mode synth.Mode) *policy.Set {
	t.Helper()
	res, err := synth.Synthesize(rec, synth.Options{Level: level, Mode: mode, RouteAPI: synth.RouteAPIGateway, Routes: routes.DefaultOptions()})
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{}
	for i := range res.Units {
		set.Add(&res.Units[i].Set)
	}
	return set
}

func input(t *testing.T, level synth.Level, mode synth.Mode, hits ...Hit) Input {
	rec := evidence()
	return Input{Policy: policyAt(t, rec, level, mode), Evidence: rec, Hits: hits, Window: Window{Start: day(21), End: end}}
}

func evaluate(t *testing.T, in Input, opts Options) map[string]*Namespace {
	t.Helper()
	opts.Routes = routes.DefaultOptions()
	rep, err := Evaluate(in, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Namespace{}
	for i := range rep.Namespaces {
		out[rep.Namespaces[i].Name] = &rep.Namespaces[i]
	}
	return out
}

func rules(n *Namespace) []Rule {
	var out []Rule
	for _, b := range n.Blockers {
		out = append(out, b.Rule)
	}
	return out
}

func check(t *testing.T, n *Namespace, stage string, ready bool, want ...Rule) {
	t.Helper()
	if n == nil {
		t.Fatalf("namespace missing")
	}
	if n.Stage.String() != stage || n.Ready != ready || !slices.Equal(rules(n), want) {
		var msgs []string
		for _, b := range n.Blockers {
			msgs = append(msgs, b.Message)
		}
		t.Errorf("%s: stage %s ready %v blockers %v, want %s %v %v\n%s", n.Name, n.Stage, n.Ready, rules(n), stage, ready, want, strings.Join(msgs, "\n"))
	}
}

func TestCleanNamespaceIsReady(t *testing.T) {
	got := evaluate(t, input(t, synth.LevelServiceAccount, synth.ModeAudit), Options{})
	check(t, got["books"], "serviceaccount/audit", true)
	check(t, got["shop"], "serviceaccount/audit", true)
	n := got["shop"]
	if n.Next == nil || n.Next.Stage.String() != "serviceaccount/enforce" ||
		n.Next.Command != "cinch synth RECORDING... --level serviceaccount --mode enforce -n shop -o POLICY-DIR" {
		t.Errorf("next: %+v", n.Next)
	}
	if n.DaysClean != 21 || len(n.Ports) != 1 || !n.Ports[0].Ready || n.Ports[0].Policy == "" {
		t.Errorf("days clean %v, ports %+v", n.DaysClean, n.Ports)
	}
}

func TestOpenNamespaceGoesToAudit(t *testing.T) {
	in := input(t, synth.LevelNamespace, synth.ModeAudit)
	in.Policy = &policy.Set{}
	got := evaluate(t, in, Options{Command: CommandOptions{Recordings: []string{"week.yaml"}, PolicyDir: "policy/"}})
	check(t, got["shop"], "open", true)
	if c := got["shop"].Next.Command; c != "cinch synth week.yaml --level namespace --mode audit -n shop -o policy/" {
		t.Errorf("command %q", c)
	}
}

func TestRuleAuditOnly(t *testing.T) {
	hit := Hit{Kind: HitAudit, Client: "identity:intruder.shop.serviceaccount.identity.linkerd.cluster.local", Server: "shop/web", Port: 8080,
		Requests: 12, First: ptr(day(20)), Last: ptr(day(18))}
	got := evaluate(t, input(t, synth.LevelServiceAccount, synth.ModeAudit, hit), Options{})
	check(t, got["shop"], "serviceaccount/audit", false, RuleAuditOnly)
	check(t, got["books"], "serviceaccount/audit", true)
	b := got["shop"].Blockers[0]
	if len(b.Hits) != 1 || b.Hits[0].Requests != 12 || !strings.Contains(b.Message, "intruder") {
		t.Errorf("blocker %+v", b)
	}
	if got["shop"].DaysClean != 18 {
		t.Errorf("days clean %v, want 18", got["shop"].DaysClean)
	}
}

// A hit the policy in force now grants (the grant was merged since) no
// longer blocks once the clean period has passed since it.
func TestRuleAuditOnlyResolvedByGrant(t *testing.T) {
	hit := Hit{Kind: HitAudit, Client: "shop/client", Server: "shop/web", Port: 8080, Requests: 5, First: ptr(day(20)), Last: ptr(day(18))}
	got := evaluate(t, input(t, synth.LevelServiceAccount, synth.ModeAudit, hit), Options{})
	check(t, got["shop"], "serviceaccount/audit", true)

	hit.Last = ptr(day(2))
	got = evaluate(t, input(t, synth.LevelServiceAccount, synth.ModeAudit, hit), Options{})
	check(t, got["shop"], "serviceaccount/audit", false, RuleRecent)
}

func TestRuleWindow(t *testing.T) {
	in := input(t, synth.LevelNamespace, synth.ModeAudit)
	in.Window.Start = day(3)
	check(t, evaluate(t, in, Options{})["shop"], "namespace/audit", false, RuleWindow)
	check(t, evaluate(t, in, Options{CleanPeriod: 48 * time.Hour})["shop"], "namespace/audit", true)
}

func TestRuleYoung(t *testing.T) {
	in := input(t, synth.LevelNamespace, synth.ModeAudit)
	in.Created = map[recording.PeerID]time.Time{"shop/web": day(4), "books/api": day(400)}
	got := evaluate(t, in, Options{})
	check(t, got["shop"], "namespace/audit", false, RuleYoung)
	check(t, got["books"], "namespace/audit", true)
	if b := got["shop"].Blockers[0]; b.Workload != "shop/web" || !b.Created.Equal(day(4)) {
		t.Errorf("blocker %+v", b)
	}
}

func TestRuleDenied(t *testing.T) {
	hit := Hit{Kind: HitDenied, Client: "identity:intruder.shop.serviceaccount.identity.linkerd.cluster.local", Server: "books/api", Port: 8080,
		Requests: 3, First: ptr(day(1)), Last: ptr(day(1))}
	got := evaluate(t, input(t, synth.LevelNamespace, synth.ModeEnforce, hit), Options{})
	check(t, got["books"], "namespace/enforce", false, RuleDenied)
	check(t, got["shop"], "namespace/enforce", true)
	if got["books"].Ports[0].Ready {
		t.Errorf("the port with the denial is ready")
	}
}

func TestRuleCoverage(t *testing.T) {
	got := evaluate(t, input(t, synth.LevelServiceAccount, synth.ModeEnforce), Options{})
	// shop/web's routes were each seen 50 times; books/api has no paths.
	check(t, got["shop"], "serviceaccount/enforce", true)
	check(t, got["books"], "serviceaccount/enforce", false, RuleCoverage)
	if c := got["shop"].Coverage; c == nil || *c != 1 {
		t.Errorf("shop coverage %v", c)
	}

	in := input(t, synth.LevelServiceAccount, synth.ModeEnforce)
	for i := range in.Evidence.Edges {
		e := &in.Evidence.Edges[i]
		if e.Server == "shop/web" {
			// Five routes seen once each (fewer than route inference
			// needs to make a parameter): coverage 1 - 5/205.
			for j := range 5 {
				e.Routes = append(e.Routes, recording.Route{Method: "GET", Path: fmt.Sprintf("/once-%c", 'a'+j), Requests: 1})
				e.Requests++
			}
		}
	}
	got = evaluate(t, in, Options{MinCoverage: 0.99})
	check(t, got["shop"], "serviceaccount/enforce", false, RuleCoverage)
	if b := got["shop"].Blockers[0]; b.Coverage == nil || *b.Coverage != 1-5.0/205 {
		t.Errorf("blocker %+v", b)
	}
}

func TestRuleUncovered(t *testing.T) {
	in := input(t, synth.LevelRoute, synth.ModeEnforce)
	// books/api has no paths, so route level keeps it at server level:
	// drop its Server to leave the port unclaimed.
	in.Policy.Servers = slices.DeleteFunc(in.Policy.Servers, func(s policy.Server) bool { return s.Namespace == "books" })
	in.Policy.Servers = append(in.Policy.Servers, func() policy.Server {
		s := in.Policy.Servers[0]
		s.Namespace, s.Name = "books", "other"
		s.Spec.Port.StrVal = "metrics"
		return s
	}())
	got := evaluate(t, in, Options{})
	check(t, got["shop"], "route/enforce", true)
	check(t, got["books"], "route/enforce", false, RuleUncovered)
	if got["shop"].Next.Stage.String() != "default-deny" || !strings.Contains(got["shop"].Next.Command, "--default-deny") {
		t.Errorf("next %+v", got["shop"].Next)
	}
}

func TestRuleCustom(t *testing.T) {
	in := input(t, synth.LevelNamespace, synth.ModeAudit)
	for i := range in.Policy.Servers {
		if in.Policy.Servers[i].Namespace == "books" {
			delete(in.Policy.Servers[i].Labels, synth.LabelManagedBy)
		}
	}
	got := evaluate(t, in, Options{})
	check(t, got["books"], "custom", false, RuleCustom)
	if got["books"].Next != nil {
		t.Errorf("custom policy has a next step: %+v", got["books"].Next)
	}
	check(t, got["shop"], "namespace/audit", true)
}

// The last audit-only or denied request restarts the clean period, even
// once granted: enforcing waits --clean-period after it.
func TestRuleRecent(t *testing.T) {
	hit := Hit{Kind: HitAudit, Client: "shop/client", Server: "shop/web", Port: 8080, Requests: 5, First: ptr(day(6)), Last: ptr(day(5))}
	got := evaluate(t, input(t, synth.LevelServiceAccount, synth.ModeAudit, hit), Options{})
	check(t, got["shop"], "serviceaccount/audit", false, RuleRecent)
	check(t, got["books"], "serviceaccount/audit", true)
	if m := got["shop"].Blockers[0].Message; !strings.Contains(m, "5.0d ago") || !strings.Contains(m, "wait until "+day(-2).Format(time.RFC3339)) {
		t.Errorf("message %q", m)
	}
	if d := got["shop"].DaysClean; d != 5 {
		t.Errorf("days clean %v, want 5", d)
	}
	check(t, evaluate(t, input(t, synth.LevelServiceAccount, synth.ModeAudit, hit), Options{CleanPeriod: 4 * 24 * time.Hour})["shop"],
		"serviceaccount/audit", true)
	// A denial under enforce restarts it for default deny too.
	denied := Hit{Kind: HitDenied, Client: "shop/client", Server: "shop/web", Port: 8080, Requests: 1, First: ptr(day(1)), Last: ptr(day(1))}
	in := input(t, synth.LevelRoute, synth.ModeEnforce, denied)
	check(t, evaluate(t, in, Options{})["shop"], "route/enforce", false, RuleDenied, RuleRecent)
}

// Evidence without times cannot show a clean period.
func TestRuleWindowWithoutTimes(t *testing.T) {
	in := input(t, synth.LevelNamespace, synth.ModeAudit)
	in.Window = Window{}
	got := evaluate(t, in, Options{})
	check(t, got["shop"], "namespace/audit", false, RuleWindow)
	if m := got["shop"].Blockers[0].Message; !strings.Contains(m, "does not say when it was recorded") {
		t.Errorf("message %q", m)
	}
}

// A port that carried only connections (TCP, from the metrics) has no
// routes to cover: going to route level does not wait on it.
func TestRuleCoverageExemptsTCP(t *testing.T) {
	rec := evidence()
	for i := range rec.Edges {
		if rec.Edges[i].Server == "books/api" {
			rec.Edges[i].Protocol = recording.ProtocolTCP
		}
	}
	in := Input{Policy: policyAt(t, rec, synth.LevelServiceAccount, synth.ModeEnforce), Evidence: rec, Window: Window{Start: day(21), End: end}}
	got := evaluate(t, in, Options{})
	check(t, got["books"], "serviceaccount/enforce", true)
	if got["books"].Next.Stage.String() != "route/audit" || got["books"].Coverage != nil {
		t.Errorf("books: next %+v, coverage %v", got["books"].Next, got["books"].Coverage)
	}
}
