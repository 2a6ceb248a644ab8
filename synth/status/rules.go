package status

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/stage"
)

// rules applies the readiness rules that matter for the step from one
// stage to the next, to the given server ports:
//
//	to audit mode            nothing is denied by it; denials under the
//	                         enforced stage it leaves block
//	to enforce mode          audit-only requests, window, recent hits,
//	                         young workloads
//	to default deny          denials, window, recent hits, young
//	                         workloads, ports without a Server
//	to or within route level also route coverage (not for default deny
//	                         alone)
func (r *run) rules(from, to stage.Stage, ports []portKey) []Blocker {
	var out []Blocker
	if from.Mode == synth.ModeEnforce {
		out = append(out, r.denied(ports)...)
	}
	enforcing := to.Mode == synth.ModeEnforce && from.Mode == synth.ModeAudit
	closing := to.DefaultDeny && !from.DefaultDeny
	if enforcing {
		out = append(out, r.auditOnly(ports)...)
	}
	if enforcing || closing {
		out = append(out, r.window()...)
		out = append(out, r.recent(ports)...)
		out = append(out, r.young(ports)...)
	}
	if closing {
		out = append(out, r.uncovered(ports)...)
	}
	if toRoutes(from, to) {
		out = append(out, r.lowCoverage(ports)...)
	}
	return out
}

// auditOnly: requests only the audit fallback admitted, which the policy
// in force still does not grant, would be denied once enforced.
func (r *run) auditOnly(ports []portKey) []Blocker {
	hits := r.hitsOf(ports, func(h *Hit) bool { return h.Kind == HitAudit && !h.Resolved })
	if len(hits) == 0 {
		return nil
	}
	return []Blocker{{Rule: RuleAuditOnly, Hits: hits,
		Message: fmt.Sprintf("%s admitted only by audit mode during the window (%s): enforcing would deny them; grant them (cinch pr --next) or confirm they must stop",
			requests(hits), clients(hits))}}
}

// denied: requests the enforced policy denied during the window are
// traffic someone still sends; tightening further would hide them.
func (r *run) denied(ports []portKey) []Blocker {
	hits := r.hitsOf(ports, func(h *Hit) bool { return h.Kind == HitDenied })
	if len(hits) == 0 {
		return nil
	}
	return []Blocker{{Rule: RuleDenied, Hits: hits,
		Message: fmt.Sprintf("%s denied by the enforced policy during the window (%s): grant them if they are wanted, or make them stop, before tightening further",
			requests(hits), clients(hits))}}
}

// hitsOf lists the ports' hits that keep says, sorted.
func (r *run) hitsOf(ports []portKey, keep func(*Hit) bool) []Hit {
	var hits []Hit
	for _, k := range ports {
		for i := range r.hits[k] {
			if keep(&r.hits[k][i]) {
				hits = append(hits, r.hits[k][i])
			}
		}
	}
	slices.SortFunc(hits, compareHits)
	return hits
}

// window: evidence shorter than the clean period cannot show it clean.
func (r *run) window() []Blocker {
	w := r.in.Window.Length()
	if w >= r.opts.CleanPeriod {
		return nil
	}
	if r.in.Window.End.IsZero() {
		return []Blocker{{Rule: RuleWindow, Message: "the evidence does not say when it was recorded: give a metrics window (--from-prometheus URL --window D) or recordings with times"}}
	}
	return []Blocker{{Rule: RuleWindow, Message: fmt.Sprintf("the evidence covers %s, less than the clean period of %s: observe longer (--window)",
		days(w), days(r.opts.CleanPeriod))}}
}

// recent: the last audit-only request or denial, granted since or not,
// restarts the clean period.
func (r *run) recent(ports []portKey) []Blocker {
	var last *time.Time
	for _, k := range ports {
		if l := r.ports[k].LastHit; l != nil && (last == nil || l.After(*last)) {
			last = l
		}
	}
	if last == nil {
		return nil
	}
	clean := r.in.Window.End.Sub(*last)
	if clean >= r.opts.CleanPeriod {
		return nil
	}
	return []Blocker{{Rule: RuleRecent, Message: fmt.Sprintf("the last audit-only or denied request was %s ago (%s), less than the clean period of %s: wait until %s",
		days(clean), last.UTC().Format(time.RFC3339), days(r.opts.CleanPeriod), last.Add(r.opts.CleanPeriod).UTC().Format(time.RFC3339))}}
}

// young: a server workload created during the window was not observed
// for all of it; like new roles under an access analyzer, it waits.
func (r *run) young(ports []portKey) []Blocker {
	var out []Blocker
	seen := map[recording.PeerID]bool{}
	for _, k := range ports {
		created, ok := r.in.Created[k.server]
		if !ok || seen[k.server] || !created.After(r.in.Window.Start) {
			continue
		}
		seen[k.server] = true
		c := created.UTC()
		out = append(out, Blocker{Rule: RuleYoung, Workload: k.server, Created: &c,
			Message: fmt.Sprintf("%s was created %s (%s ago), after the window started: its traffic was observed for less than the window",
				k.server, c.Format(time.RFC3339), days(r.in.Window.End.Sub(created)))})
	}
	return out
}

// uncovered: default deny closes every port no Server claims.
func (r *run) uncovered(ports []portKey) []Blocker {
	var out []Blocker
	for _, k := range ports {
		if p := r.ports[k]; p.Policy == "" {
			out = append(out, Blocker{Rule: RuleUncovered,
				Message: fmt.Sprintf("%s port %d had %d requests and no Server claims it: default deny would cut them off; synthesize its Server first", k.server, k.port, p.Requests)})
		}
	}
	return out
}

// lowCoverage: a route list built from too little traffic breaks the
// routes not seen yet. Ports without paths (metrics only) have no
// estimate; TCP ports have no routes.
func (r *run) lowCoverage(ports []portKey) []Blocker {
	var out []Blocker
	for _, k := range ports {
		if r.tcp(k) {
			continue
		}
		p := r.ports[k]
		switch {
		case p.Coverage == nil:
			out = append(out, Blocker{Rule: RuleCoverage,
				Message: fmt.Sprintf("%s port %d: no paths recorded, so no route list can be built: record tap traffic for it (cinch observe) and merge it", k.server, k.port)})
		case *p.Coverage < r.opts.MinCoverage:
			out = append(out, Blocker{Rule: RuleCoverage, Coverage: p.Coverage,
				Message: fmt.Sprintf("%s port %d: route coverage %.2f is below %.2f: record longer before route level", k.server, k.port, *p.Coverage, r.opts.MinCoverage)})
		}
	}
	return out
}

// tcp says the port carried connection-level traffic only.
func (r *run) tcp(k portKey) bool {
	es := r.edges[k]
	return len(es) > 0 && !slices.ContainsFunc(es, func(e *recording.Edge) bool { return e.Protocol != recording.ProtocolTCP })
}

// coverage estimates the port's route coverage from the evidence's
// paths; nil without any.
func (r *run) coverage(k portKey) *float64 {
	var rs []recording.Route
	grpc, sampled := false, false
	for _, e := range r.edges[k] {
		rs = append(rs, e.Routes...)
		grpc = grpc || e.Protocol == recording.ProtocolGRPC
	}
	for _, w := range r.in.Evidence.Windows {
		sampled = sampled || w.Sampling.Sampled
	}
	pc := synth.EstimateCoverage(*r.workloads[k.server], k.port, rs, grpc, sampled, r.opts.Routes)
	if pc.Requests == 0 {
		return nil
	}
	return &pc.Coverage
}

func requests(hits []Hit) string {
	var n int64
	for _, h := range hits {
		n += h.Requests
	}
	if n == 1 {
		return "1 request"
	}
	return fmt.Sprintf("%d requests", n)
}

// clients names the clients of hits, at most five.
func clients(hits []Hit) string {
	var names []string
	for _, h := range hits {
		c := string(h.Client)
		if !slices.Contains(names, c) {
			names = append(names, c)
		}
	}
	slices.Sort(names)
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

// days writes a duration in days, or hours below a day.
func days(d time.Duration) string {
	if d < 24*time.Hour {
		return fmt.Sprintf("%.1fh", d.Hours())
	}
	return fmt.Sprintf("%.1fd", d.Hours()/24)
}

// toRoutes says the step goes into or within route level (not default
// deny alone): route coverage matters.
func toRoutes(from, to stage.Stage) bool {
	return to.Level == synth.LevelRoute && (from.Level != to.Level || from.Mode != to.Mode)
}
