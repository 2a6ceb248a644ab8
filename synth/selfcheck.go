package synth

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

// selfCheck evaluates the synthesized policy against the traffic it was
// made from, as if enforced: every observed request must be admitted by
// one of the generated authorizations (not merely audited). A failure is a
// cinch bug, and the policy is not written.
func selfCheck(rec *recording.Recording, res *Result, ports []*serverPort, level Level) error {
	var set policy.Set
	for i := range res.Units {
		u := res.Units[i].Set
		u.Servers = append([]policy.Server(nil), u.Servers...)
		for j := range u.Servers {
			u.Servers[j].Spec.AccessPolicy = policy.Deny
		}
		set.Add(&u)
	}
	cp, td := meshNaming(rec)
	ev, err := eval.New(&set, eval.Cluster{Workloads: rec.Workloads}, eval.Options{ControlPlaneNamespace: cp, TrustDomain: td})
	if err != nil {
		return err
	}
	var failures []string
	for _, sp := range ports {
		if !hasServer(res, sp) {
			continue
		}
		for _, c := range sp.Callers {
			for _, req := range requestsOf(sp, c, level, cp, td) {
				d := ev.Decide(req)
				if d.Reason != eval.ReasonAuthorized && len(failures) < 10 {
					failures = append(failures, fmt.Sprintf("%s -> %s port %d %s %s: %s (server %s, route %s)",
						c.Peer, sp.Server, sp.Port, req.Method, req.Path, d.Reason, d.Server, d.Route))
				}
			}
		}
	}
	if len(failures) > 0 {
		return errors.New("self-check: the synthesized policy would deny observed traffic (a cinch bug, please report it):\n  " + strings.Join(failures, "\n  "))
	}
	return nil
}

// hasServer says whether a Server was generated for the port (it is not
// when the workload's labels are unknown).
func hasServer(res *Result, sp *serverPort) bool {
	for i := range res.Units {
		u := &res.Units[i]
		if u.Namespace != sp.Workload.Namespace || u.Workload != sp.Workload.Name {
			continue
		}
		return len(u.Set.Servers) > 0
	}
	return false
}

// requestsOf lists the caller's observed requests as the server's proxy
// saw them: once with its mesh identity when it used mTLS, once from each
// of its addresses when it did not.
func requestsOf(sp *serverPort, c *caller, level Level, cp, td string) []eval.Request {
	type source struct {
		identity string
		ip       netip.Addr
	}
	var sources []source
	if m := c.Mesh; m != nil {
		id := m.Identity
		if id == "" {
			id = m.ServiceAccount + "." + m.Namespace + ".serviceaccount.identity." + cp + "." + td
		}
		sources = append(sources, source{identity: id})
	}
	for _, p := range c.Networks {
		sources = append(sources, source{ip: p.Addr()})
	}
	routes := c.Routes
	if len(routes) == 0 && (level != LevelRoute || sp.TCP) {
		// Known without paths (metrics): any request reaches the server's
		// authorizations at the coarse levels.
		routes = []recording.Route{{Method: "GET", Path: "/"}}
	}
	var out []eval.Request
	for _, s := range sources {
		for _, r := range routes {
			out = append(out, eval.Request{
				Destination: sp.Server, Port: sp.Port,
				ClientIdentity: s.identity, TLS: s.identity != "", SourceIP: s.ip,
				Method: r.Method, Path: r.Path,
			})
		}
	}
	return out
}

// meshNaming reads the control plane namespace and trust domain from the
// recorded identities (<sa>.<ns>.serviceaccount.identity.<cp>.<td>), so
// that ServiceAccount refs evaluate to the identities the clients had.
func meshNaming(rec *recording.Recording) (cp, td string) {
	const marker = ".serviceaccount.identity."
	for _, w := range rec.Workloads {
		if _, rest, ok := strings.Cut(w.Identity, marker); ok {
			if cp, td, ok := strings.Cut(rest, "."); ok {
				return cp, td
			}
		}
	}
	return "linkerd", "cluster.local"
}
