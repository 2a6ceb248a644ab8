package synth

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/diff"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

// selfCheck evaluates the synthesized policy against the traffic it was
// made from, as if enforced, with the evaluator `cinch diff` uses: every
// observed request must be admitted by a generated authorization, not
// merely audited. A failure is a cinch bug, and the policy is not written.
func selfCheck(rec *recording.Recording, res *Result) error {
	var set policy.Set
	for i := range res.Units {
		u := res.Units[i].Set
		u.Servers = append([]policy.Server(nil), u.Servers...)
		for j := range u.Servers {
			u.Servers[j].Spec.AccessPolicy = policy.Deny
		}
		set.Add(&u)
	}
	rep, err := diff.Evaluate(rec, &set, diff.Options{})
	if err != nil {
		return err
	}
	findings := append(rep.Denied, rep.Audit...)
	if len(findings) == 0 {
		return nil
	}
	var lines []string
	for _, f := range findings[:min(len(findings), 10)] {
		lines = append(lines, fmt.Sprintf("%s -> %s port %d %s: %s (%d requests)", f.Client, f.Server, f.Port, f.Sample, f.Reason, f.Requests))
	}
	return errors.New("self-check: the synthesized policy would deny observed traffic (a cinch bug, please report it):\n  " + strings.Join(lines, "\n  "))
}

// selfCheckMeshTraffic evaluates what no recording shows but default deny
// must keep working, in every namespace res gives default deny: the
// scraper reading /metrics on every meshed workload's admin port (unless
// the admin port's policy is off) and kubelet probing every httpGet probe
// of every meshed workload, the proxy's own /live and /ready included.
func selfCheckMeshTraffic(rec *recording.Recording, res *Result, opts *Options, probeNetworks []netip.Prefix) error {
	if len(res.DefaultDeny) == 0 {
		return nil
	}
	var set policy.Set
	for i := range res.Units {
		set.Add(&res.Units[i].Set)
	}
	nsPolicies := map[string]string{}
	for _, ns := range res.DefaultDeny {
		nsPolicies[ns] = policy.Deny
	}
	ev, err := eval.New(&set, eval.Cluster{Workloads: rec.Workloads, NamespacePolicies: nsPolicies}, eval.Options{})
	if err != nil {
		return err
	}
	var reqs []eval.Request
	for _, w := range rec.Workloads {
		if !w.Meshed || nsPolicies[w.Namespace] == "" {
			continue
		}
		if !opts.Scrapes.Disabled {
			for _, sa := range opts.Scrapes.scrapers() {
				reqs = append(reqs, eval.Request{Destination: w.ID, Port: eval.AdminPort, Method: "GET", Path: eval.AdminMetricsPath,
					ClientIdentity: recording.ServiceAccountIdentity(sa.Name, sa.Namespace, "", "").String()})
			}
			for _, p := range opts.Scrapes.Networks {
				reqs = append(reqs, eval.Request{Destination: w.ID, Port: eval.AdminPort, Method: "GET", Path: eval.AdminMetricsPath, SourceIP: p.Addr()})
			}
		}
		probes := append([]recording.Probe{{Port: eval.AdminPort, Path: eval.AdminLivePath}, {Port: eval.AdminPort, Path: eval.AdminReadyPath}}, w.Probes...)
		// Kubelet probes from the probe sources the policy was written
		// for, else from some address (Linkerd's own probe route admits
		// every address by default).
		sources := []netip.Addr{{}}
		if len(probeNetworks) > 0 {
			sources = nil
			for _, p := range probeNetworks {
				sources = append(sources, p.Addr())
			}
		}
		for _, p := range probes {
			method, path, ok := p.Request()
			if !ok {
				continue // tcpSocket: the proxy accepts the connection whatever the policy
			}
			for _, src := range sources {
				reqs = append(reqs, eval.Request{Destination: w.ID, Port: uint32(p.Port), Method: method, Path: path, SourceIP: src})
			}
		}
	}
	var lines []string
	for _, r := range reqs {
		if d := ev.Decide(r); !d.Allowed {
			who := r.ClientIdentity
			if who == "" {
				who = "kubelet"
				if r.SourceIP.IsValid() {
					who = r.SourceIP.String()
				}
			}
			lines = append(lines, fmt.Sprintf("%s -> %s port %d GET %s: %s", who, r.Destination, r.Port, r.Path, d.Reason))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return errors.New("self-check: with default deny the synthesized policy would deny scrapes or probes (a cinch bug, please report it):\n  " + strings.Join(lines[:min(len(lines), 10)], "\n  "))
}
