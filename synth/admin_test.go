package synth

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

// TestDefaultDenyKeepsScrapesAndProxyProbes reads the written policy back
// and asks the evaluator, with every namespace at default deny, what the
// proxies' admin port admits: the scraper on /metrics and kubelet on /live
// and /ready, nobody else and nothing else. fixtures/judge decides every
// request too, over the YAML stream and the scenario's pods, and the
// evaluator must agree with it.
func TestDefaultDenyKeepsScrapesAndProxyProbes(t *testing.T) {
	rec := recorded.Scenario(t, "shop")
	var cluster bytes.Buffer
	if err := recorded.Load(t, "shop").WriteCluster(&cluster); err != nil {
		t.Fatal(err)
	}
	nodes := netip.MustParsePrefix("192.168.0.0/24")
	offCluster := netip.MustParsePrefix("203.0.113.0/28")
	// scraperPod is where meshed scrapers' requests come from.
	scraperPod := netip.MustParseAddr("10.42.200.1")
	for _, level := range Levels {
		for _, tc := range []struct {
			name    string
			scrapes Scrapes
			// who may scrape: identities and addresses
			ids   []string
			addrs []netip.Addr
		}{
			{"default scraper", Scrapes{}, []string{"prometheus.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"}, nil},
			{"another scraper and a network", Scrapes{ServiceAccounts: []ServiceAccountRef{{Namespace: "monitoring", Name: "prom"}}, Networks: []netip.Prefix{offCluster}},
				[]string{"prom.monitoring.serviceaccount.identity.linkerd.cluster.local"}, []netip.Addr{netip.MustParseAddr("203.0.113.5")}},
			{"network only", Scrapes{Networks: []netip.Prefix{offCluster}}, nil, []netip.Addr{netip.MustParseAddr("203.0.113.5")}},
		} {
			t.Run(string(level)+"/"+tc.name, func(t *testing.T) {
				opts := options(level)
				opts.Mode, opts.DefaultDeny, opts.ProbeNetworks, opts.Scrapes = ModeEnforce, true, []netip.Prefix{nodes}, tc.scrapes
				res, err := Synthesize(rec, opts)
				if err != nil {
					t.Fatal(err)
				}
				ev := readBack(t, rec, res)
				rf := newReferee(t, res, clusterPods(t, cluster.Bytes()))
				for _, w := range rec.Workloads {
					if !w.Meshed || !slices.Contains(res.DefaultDeny, w.Namespace) {
						continue
					}
					allow := func(r eval.Request, want bool) {
						t.Helper()
						r.Destination, r.Port = w.ID, eval.AdminPort
						if !r.SourceIP.IsValid() {
							r.SourceIP = scraperPod
						}
						d := ev.Decide(r)
						if d.Allowed != want {
							t.Errorf("%s %s from %q %v: allowed %v (%s), want %v", w.ID, r.Path, r.ClientIdentity, r.SourceIP, d.Allowed, d.Reason, want)
						}
						v, err := rf.decide(request{server: w.ID, port: r.Port, identity: r.ClientIdentity, ip: r.SourceIP, method: r.Method, path: r.Path})
						if err != nil {
							t.Fatal(err)
						}
						if v.Allowed != d.Allowed {
							t.Errorf("%s %s from %q %v: the judge says %s, the evaluator allowed %v (%s)", w.ID, r.Path, r.ClientIdentity, r.SourceIP, v, d.Allowed, d.Reason)
						}
					}
					for _, id := range tc.ids {
						allow(eval.Request{ClientIdentity: id, Method: "GET", Path: "/metrics"}, true)
						allow(eval.Request{ClientIdentity: id, Method: "GET", Path: "/metrics?x=1"}, true)
						allow(eval.Request{ClientIdentity: id, Method: "GET", Path: "/env.json"}, false)
						allow(eval.Request{ClientIdentity: id, Method: "POST", Path: "/shutdown"}, false)
					}
					for _, a := range tc.addrs {
						allow(eval.Request{SourceIP: a, Method: "GET", Path: "/metrics"}, true)
					}
					if len(tc.scrapes.ServiceAccounts)+len(tc.scrapes.Networks) > 0 {
						allow(eval.Request{ClientIdentity: "prometheus.linkerd-viz.serviceaccount.identity.linkerd.cluster.local", Method: "GET", Path: "/metrics"}, false)
					}
					allow(eval.Request{ClientIdentity: "web.shop.serviceaccount.identity.linkerd.cluster.local", Method: "GET", Path: "/metrics"}, false)
					allow(eval.Request{SourceIP: netip.MustParseAddr("10.9.9.9"), Method: "GET", Path: "/metrics"}, false)
					allow(eval.Request{SourceIP: netip.MustParseAddr("192.168.0.7"), Method: "GET", Path: "/live"}, true)
					allow(eval.Request{SourceIP: netip.MustParseAddr("192.168.0.7"), Method: "GET", Path: "/ready"}, true)
					allow(eval.Request{SourceIP: netip.MustParseAddr("192.168.0.7"), Method: "GET", Path: "/metrics"}, false)
				}
			})
		}
	}
}

// TestScrapesOff: --allow-scrapes=false writes no admin port policy, and
// without default deny there is none either.
func TestScrapesOff(t *testing.T) {
	rec := recorded.Scenario(t, "shop")
	for _, tc := range []struct {
		defaultDeny, disabled bool
	}{{true, true}, {false, false}} {
		opts := options(LevelServiceAccount)
		opts.DefaultDeny, opts.Scrapes.Disabled = tc.defaultDeny, tc.disabled
		res, err := Synthesize(rec, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		WriteStream(&out, res)
		if strings.Contains(out.String(), "proxy-admin") {
			t.Errorf("default deny %v, disabled %v: the admin port's policy is written", tc.defaultDeny, tc.disabled)
		}
	}
}

// TestAdminPortWithoutProbeSources: with no probe source known, the admin
// Server gets no routes (so Linkerd's own probe route stays) and a warning.
func TestAdminPortWithoutProbeSources(t *testing.T) {
	rec := recorded.Scenario(t, "tiny")
	opts := options(LevelRoute)
	opts.DefaultDeny = true
	res, err := Synthesize(rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "no probe source is known") {
		t.Errorf("no warning about the missing probe sources: %q", res.Warnings)
	}
	ev := readBack(t, rec, res)
	d := ev.Decide(eval.Request{Destination: "demo/server", Port: eval.AdminPort, Method: "GET", Path: "/live", SourceIP: netip.MustParseAddr("10.1.2.3")})
	if !d.Allowed || d.Route.Name != "probe" {
		t.Errorf("/live: %+v, want admitted by Linkerd's probe route", d)
	}
}

// readBack writes res as YAML, reads it with the policy reader and indexes
// it with every namespace of res at default deny.
func readBack(t *testing.T, rec *recording.Recording, res *Result) *eval.Evaluator {
	t.Helper()
	var out bytes.Buffer
	if err := WriteStream(&out, res); err != nil {
		t.Fatal(err)
	}
	set, err := policy.Read(&out, "synth output", policy.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsPolicies := map[string]string{}
	for _, ns := range res.DefaultDeny {
		nsPolicies[ns] = policy.Deny
	}
	ev, err := eval.New(set, eval.Cluster{Workloads: rec.Workloads, NamespacePolicies: nsPolicies}, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}
