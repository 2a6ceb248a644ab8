// Package status answers, per namespace and per server port, where the
// policy in force stands on the rollout (synth/stage), whether the next
// step is safe on the evidence, what blocks it, and the command that
// makes it: the tightening loop of cinch status and cinch pr --next.
//
// The evidence is a recording (tap and/or metrics, with the workloads the
// policy selects), the requests that only the audit fallback admitted or
// that the policy denied (Hits, with first and last seen), the window it
// covers, and the workloads' creation times. Each readiness rule is a
// function of its own (rules.go); thresholds are Options.
//
// It imports observe/recording, observe/cluster, observe/prom, synth, synth/eval, synth/policy,
// synth/routes and synth/stage; it never prints (print.go renders a
// Report).
package status

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
	"github.com/cinchmesh/cinch/synth/routes"
	"github.com/cinchmesh/cinch/synth/stage"
)

// HitKind says how the policy in force treated a hit.
type HitKind string

const (
	// HitAudit: admitted only by the audit fallback authorization
	// (authz_kind="default", authz_name="audit"): denied once enforced.
	HitAudit HitKind = "audit"
	// HitDenied: denied (inbound_http_authz_deny_total).
	HitDenied HitKind = "denied"
)

// Hit is requests of one client to one server port (and route, when
// known) that the policy in force admitted only by audit, or denied.
type Hit struct {
	Kind   HitKind          `json:"kind"`
	Client recording.PeerID `json:"client"`
	Server recording.PeerID `json:"server"`
	Port   uint32           `json:"port"`
	// ServerPolicy and Route are the Server and route as the proxy
	// labelled them ("server.policy.linkerd.io/web-http"); Route is empty
	// when unknown.
	ServerPolicy string `json:"serverPolicy,omitempty"`
	Route        string `json:"route,omitempty"`
	Requests     int64  `json:"requests"`
	// First and Last bound when the requests were seen (to the query
	// step for metrics); nil when the source does not say.
	First *time.Time `json:"firstSeen,omitempty"`
	Last  *time.Time `json:"lastSeen,omitempty"`
	// Resolved says the policy in force now admits the client without
	// audit (a grant was added since): the hit no longer blocks, but it
	// still restarts the clean period.
	Resolved bool `json:"resolved,omitempty"`
}

// Window is the time the evidence covers.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Length is the window's duration.
func (w Window) Length() time.Duration { return w.End.Sub(w.Start) }

// Input is the policy and the evidence.
type Input struct {
	// Policy is the policy in force (a GitOps checkout or the cluster).
	Policy *policy.Set
	// DefaultDeny lists the namespaces whose default inbound policy is
	// deny.
	DefaultDeny []string
	// Evidence holds the observed traffic and the workloads (labels,
	// ports: what the policy selects); route coverage comes from its
	// paths.
	Evidence *recording.Recording
	// Hits are the audit-only and denied requests of the window.
	Hits []Hit
	// Window is what the evidence covers.
	Window Window
	// Created are the workloads' creation times, where known.
	Created map[recording.PeerID]time.Time
	// Objects, when set, are the cluster objects of the evidence's
	// namespaces: they fill in the evidence's workloads (labels, ports,
	// service accounts), their creation times and the namespaces with
	// default deny.
	Objects     *cluster.Objects
	TrustDomain string
}

// Options are the thresholds and what to report on.
type Options struct {
	// CleanPeriod is how long the evidence must cover, and how long ago
	// the last audit-only request or denial must be, before enforcing or
	// tightening (default 7 days).
	CleanPeriod time.Duration
	// MinCoverage is the route coverage (Good's estimate, 0-1) a server
	// port needs before route level (default 0.9).
	MinCoverage float64
	// Namespaces limits the report (all when empty).
	Namespaces []string
	// Eval describes the Linkerd installation, for evaluating hits
	// against the policy in force.
	Eval eval.Options
	// Routes are route inference's thresholds, for coverage.
	Routes routes.Options
	// Command is how the next step's command names its inputs.
	Command CommandOptions
}

// CommandOptions name the inputs in the next step's command.
type CommandOptions struct {
	// Recordings are the recording arguments (RECORDING... when none).
	Recordings []string
	// PolicyDir is where the policy is written (POLICY-DIR when empty).
	PolicyDir string
}

// Defaults for Options.
const (
	DefaultCleanPeriod = 7 * 24 * time.Hour
	DefaultMinCoverage = 0.9
)

// Rule names a readiness rule; a Blocker says which one held.
type Rule string

const (
	// RuleAuditOnly: requests only audit mode admitted during the window
	// that the policy in force still does not grant.
	RuleAuditOnly Rule = "audit-only"
	// RuleDenied: requests the enforced policy denied during the window.
	RuleDenied Rule = "denied"
	// RuleWindow: the evidence covers less than the clean period.
	RuleWindow Rule = "window"
	// RuleRecent: the last audit-only request or denial is more recent
	// than the clean period.
	RuleRecent Rule = "recent"
	// RuleYoung: a workload is younger than the window: its traffic was
	// not observed for all of it.
	RuleYoung Rule = "young-workload"
	// RuleCoverage: route coverage below the threshold before route
	// level.
	RuleCoverage Rule = "coverage"
	// RuleUncovered: observed traffic on a port no Server claims, which
	// default deny would cut off.
	RuleUncovered Rule = "uncovered"
	// RuleCustom: policy cinch did not write; cinch does not step it.
	RuleCustom Rule = "custom"
)

// Blocker is one reason the next step is not safe yet.
type Blocker struct {
	Rule    Rule   `json:"rule"`
	Message string `json:"message"`
	// Hits are the requests behind audit-only and denied blockers.
	Hits []Hit `json:"hits,omitempty"`
	// Workload is the young workload, Created its creation time.
	Workload recording.PeerID `json:"workload,omitempty"`
	Created  *time.Time       `json:"created,omitempty"`
	// Coverage is the estimate behind a coverage blocker.
	Coverage *float64 `json:"coverage,omitempty"`
}

// Step is the next stage and the command that makes it.
type Step struct {
	Stage   stage.Stage `json:"stage"`
	Command string      `json:"command"`
}

// Port is the status of one observed server port.
type Port struct {
	Server recording.PeerID `json:"server"`
	Port   uint32           `json:"port"`
	// Policy is the Server that claims the port, empty when none does.
	Policy   string      `json:"policy,omitempty"`
	Stage    stage.Stage `json:"stage"`
	Ready    bool        `json:"ready"`
	Blockers []Blocker   `json:"blockers"`
	Next     *Step       `json:"next,omitempty"`
	// Requests observed in the window; Coverage of its routes, when the
	// evidence has paths.
	Requests int64    `json:"requests"`
	Coverage *float64 `json:"coverage,omitempty"`
	// LastHit is the last audit-only request or denial seen.
	LastHit *time.Time `json:"lastHit,omitempty"`
}

// Namespace is the status of one namespace.
type Namespace struct {
	Name     string      `json:"name"`
	Stage    stage.Stage `json:"stage"`
	Ready    bool        `json:"ready"`
	Blockers []Blocker   `json:"blockers"`
	Next     *Step       `json:"next,omitempty"`
	// DaysClean is the time since the last audit-only request or denial
	// (or since the window started), in days.
	DaysClean float64 `json:"daysClean"`
	// Coverage is the lowest route coverage of its ports with paths.
	Coverage *float64 `json:"coverage,omitempty"`
	Ports    []Port   `json:"ports"`
}

// Report is the status of every namespace, sorted by name.
type Report struct {
	Window      Window      `json:"window"`
	CleanPeriod Duration    `json:"cleanPeriod"`
	MinCoverage float64     `json:"minCoverage"`
	Namespaces  []Namespace `json:"namespaces"`
	Warnings    []string    `json:"warnings"`
}

// Duration is written as Go writes durations ("168h0m0s").
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Evaluate classifies the policy, evaluates the hits against it and
// applies the readiness rules to every namespace and server port.
func Evaluate(in Input, opts Options) (*Report, error) {
	if opts.CleanPeriod <= 0 {
		opts.CleanPeriod = DefaultCleanPeriod
	}
	if opts.MinCoverage < 0 || opts.MinCoverage > 1 {
		return nil, fmt.Errorf("--min-coverage %g: want a fraction from 0 to 1", opts.MinCoverage)
	}
	if in.Evidence == nil {
		in.Evidence = recording.New()
	}
	if in.Policy == nil {
		in.Policy = &policy.Set{}
	}
	if in.Objects != nil {
		inv := cluster.NewInventory(in.Objects, cluster.Options{TrustDomain: in.TrustDomain})
		in.Evidence = inv.Enrich(in.Evidence, recording.DefaultLimits)
		created := in.Objects.Created()
		maps.Copy(created, in.Created)
		in.Created = created
		in.DefaultDeny = append(slices.Clone(in.DefaultDeny), in.Objects.DefaultDeny()...)
	}
	if in.Window.End.Before(in.Window.Start) {
		return nil, fmt.Errorf("evidence window ends (%s) before it starts (%s)", in.Window.End, in.Window.Start)
	}
	ev, err := eval.New(in.Policy, eval.Cluster{Workloads: in.Evidence.Workloads}, opts.Eval)
	if err != nil {
		return nil, err
	}
	r := &run{in: &in, opts: &opts, ev: ev, workloads: map[recording.PeerID]*recording.Workload{},
		servers: map[policy.Key]*policy.Server{}, ports: map[portKey]*Port{}}
	for i := range in.Evidence.Workloads {
		w := &in.Evidence.Workloads[i]
		r.workloads[w.ID] = w
	}
	for i := range in.Policy.Servers {
		s := &in.Policy.Servers[i]
		r.servers[policy.KeyOf(s)] = s
	}
	r.collect()
	r.keys = map[string][]portKey{}
	for _, k := range slices.SortedFunc(maps.Keys(r.ports), func(a, b portKey) int {
		return cmp.Or(cmp.Compare(a.server, b.server), cmp.Compare(a.port, b.port))
	}) {
		ns := r.workloads[k.server].Namespace
		r.keys[ns] = append(r.keys[ns], k)
	}
	rep := &Report{Window: in.Window, CleanPeriod: Duration(opts.CleanPeriod), MinCoverage: opts.MinCoverage,
		Namespaces: []Namespace{}, Warnings: []string{}}
	classes := stage.Classify(stage.Input{Policy: in.Policy, DefaultDeny: in.DefaultDeny, Namespaces: r.namespaces()})
	for _, c := range classes {
		if len(opts.Namespaces) > 0 && !slices.Contains(opts.Namespaces, c.Name) {
			continue
		}
		rep.Namespaces = append(rep.Namespaces, r.namespace(c))
	}
	for _, w := range ev.Warnings() {
		rep.Warnings = append(rep.Warnings, w.String())
	}
	return rep, nil
}

type portKey struct {
	server recording.PeerID
	port   uint32
}

type run struct {
	in        *Input
	opts      *Options
	ev        *eval.Evaluator
	workloads map[recording.PeerID]*recording.Workload
	servers   map[policy.Key]*policy.Server
	ports     map[portKey]*Port
	// keys are the ports of each namespace, sorted.
	keys  map[string][]portKey
	hits  map[portKey][]Hit
	edges map[portKey][]*recording.Edge
	// byPort are every edge of the evidence by server port, meshed or
	// not, for placing hits.
	byPort map[portKey][]*recording.Edge
}

// collect gathers the observed server ports with the Server claiming
// each, their edges and their hits, evaluated against the policy.
func (r *run) collect() {
	r.edges = map[portKey][]*recording.Edge{}
	r.byPort = map[portKey][]*recording.Edge{}
	r.hits = map[portKey][]Hit{}
	for i := range r.in.Evidence.Edges {
		e := &r.in.Evidence.Edges[i]
		r.byPort[portKey{e.Server, e.Port}] = append(r.byPort[portKey{e.Server, e.Port}], e)
		if w := r.workloads[e.Server]; w == nil || !w.Meshed {
			continue
		}
		k := portKey{e.Server, e.Port}
		r.edges[k] = append(r.edges[k], e)
		r.port(k).Requests += e.Requests
	}
	for _, h := range r.in.Hits {
		if r.workloads[h.Server] == nil {
			continue
		}
		k := portKey{h.Server, h.Port}
		if h.Kind == HitAudit {
			h.Resolved = r.resolved(&h)
		}
		r.hits[k] = append(r.hits[k], h)
		p := r.port(k)
		if h.Last != nil && (p.LastHit == nil || h.Last.After(*p.LastHit)) {
			p.LastHit = h.Last
		}
	}
	for _, hs := range r.hits {
		slices.SortFunc(hs, compareHits)
	}
}

func compareHits(a, b Hit) int {
	return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Client, b.Client), cmp.Compare(a.Server, b.Server),
		cmp.Compare(a.Port, b.Port), cmp.Compare(a.Route, b.Route), cmp.Compare(a.Kind, b.Kind))
}

// port returns the port's status, with the Server claiming it.
func (r *run) port(k portKey) *Port {
	p := r.ports[k]
	if p != nil {
		return p
	}
	p = &Port{Server: k.server, Port: k.port, Blockers: []Blocker{}}
	d := r.ev.Decide(eval.Request{Destination: k.server, Port: k.port, Method: "GET", Path: "/"})
	w := r.workloads[k.server]
	if d.Server.Kind == "server" {
		p.Policy = d.Server.Name
		if s := r.servers[policy.Key{Kind: policy.KindServer, Namespace: w.Namespace, Name: d.Server.Name}]; s != nil {
			p.Stage = stage.OfServer(s)
			p.Stage.DefaultDeny = !p.Stage.Custom && slices.Contains(r.in.DefaultDeny, w.Namespace)
		}
	} else {
		p.Stage.DefaultDeny = slices.Contains(r.in.DefaultDeny, w.Namespace)
	}
	r.ports[k] = p
	return p
}

// identity is the client's mesh identity, "" when unknown or unmeshed.
func (r *run) identity(client recording.PeerID) string {
	if id, ok := client.Identity(); ok {
		return id
	}
	if w := r.workloads[client]; w != nil {
		return w.Identity
	}
	return ""
}

// resolved says whether the policy in force admits the hit's client
// without audit: on every path the evidence recorded for the client at
// that port, or, without paths, on any path when the Server has no
// routes. A hit the evaluator cannot place stays unresolved.
func (r *run) resolved(h *Hit) bool {
	id := r.identity(h.Client)
	req := eval.Request{Destination: h.Server, Port: h.Port, ClientIdentity: id, TLS: id != "", Method: "GET", Path: "/"}
	var paths []recording.Route
	for _, e := range r.byPort[portKey{h.Server, h.Port}] {
		if e.Client == h.Client {
			paths = append(paths, e.Routes...)
		}
	}
	if len(paths) == 0 {
		d := r.ev.Decide(req)
		routed := d.Route.Kind != "" && d.Route.Kind != "default"
		return d.Allowed && d.Reason == eval.ReasonAuthorized && !routed
	}
	for _, p := range paths {
		req.Method, req.Path = p.Method, p.Path
		if d := r.ev.Decide(req); !d.Allowed || d.Reason != eval.ReasonAuthorized {
			return false
		}
	}
	return true
}

// namespaces are the namespaces of the observed server ports.
func (r *run) namespaces() []string {
	var out []string
	for k := range r.ports {
		out = append(out, r.workloads[k.server].Namespace)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// namespace applies the rules to the namespace's ports and to the
// namespace as a whole.
func (r *run) namespace(c stage.Namespace) Namespace {
	n := Namespace{Name: c.Name, Stage: c.Stage, Blockers: []Blocker{}, Ports: []Port{}}
	var last *time.Time
	next, hasNext := c.Stage.Next()
	for _, k := range r.keys[c.Name] {
		p := r.ports[k]
		// Route inference is the costly part: coverage is estimated only
		// where a next step reaches route level.
		pn, portNext := p.Stage.Next()
		if (hasNext && toRoutes(c.Stage, next)) || (portNext && toRoutes(p.Stage, pn)) {
			p.Coverage = r.coverage(k)
		}
		if p.Coverage != nil && (n.Coverage == nil || *p.Coverage < *n.Coverage) {
			n.Coverage = p.Coverage
		}
		if p.LastHit != nil && (last == nil || p.LastHit.After(*last)) {
			last = p.LastHit
		}
		if pn, ok := p.Stage.Next(); ok {
			p.Blockers = r.rules(p.Stage, pn, []portKey{k})
			p.Next = &Step{Stage: pn, Command: r.command(c.Name, pn)}
		} else if p.Stage.Custom {
			p.Blockers = []Blocker{custom(fmt.Sprintf("Server %s was not written by cinch", p.Policy))}
		}
		if p.Blockers == nil {
			p.Blockers = []Blocker{}
		}
		p.Ready = len(p.Blockers) == 0 && p.Next != nil
		n.Ports = append(n.Ports, *p)
	}
	start := r.in.Window.Start
	if last != nil && last.After(start) {
		start = *last
	}
	n.DaysClean = max(r.in.Window.End.Sub(start).Hours()/24, 0)
	switch {
	case c.Stage.Custom:
		n.Blockers = []Blocker{custom("the namespace has policy cinch did not write")}
	case hasNext:
		var ks []portKey
		for _, p := range n.Ports {
			ks = append(ks, portKey{p.Server, p.Port})
		}
		n.Blockers = r.rules(c.Stage, next, ks)
		n.Next = &Step{Stage: next, Command: r.command(c.Name, next)}
	}
	if n.Blockers == nil {
		n.Blockers = []Blocker{}
	}
	n.Ready = len(n.Blockers) == 0 && n.Next != nil
	return n
}

func custom(msg string) Blocker {
	return Blocker{Rule: RuleCustom, Message: msg + ": cinch leaves it as it is; replace it with cinch's (cinch synth) to go on"}
}

// command is the cinch command that takes namespace ns to the stage.
func (r *run) command(ns string, to stage.Stage) string {
	recs := r.opts.Command.Recordings
	if len(recs) == 0 {
		recs = []string{"RECORDING..."}
	}
	dir := cmp.Or(r.opts.Command.PolicyDir, "POLICY-DIR")
	cmd := fmt.Sprintf("cinch synth %s --level %s --mode %s -n %s", strings.Join(recs, " "), to.Level, to.Mode, ns)
	if to.DefaultDeny {
		cmd += " --default-deny"
	}
	if to.Level == synth.LevelRoute && r.opts.MinCoverage > 0 {
		cmd += fmt.Sprintf(" --min-coverage %g", r.opts.MinCoverage)
	}
	return cmd + " -o " + dir
}
