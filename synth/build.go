package synth

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/intents"
	"github.com/cinchmesh/cinch/synth/policy"
)

// Labels and annotations on every generated object.
const (
	LabelManagedBy     = "app.kubernetes.io/managed-by"
	ManagedBy          = "cinch"
	AnnotationObserved = "cinch.cinchmesh.io/observed"
	AnnotationLevel    = "cinch.cinchmesh.io/level"
)

// Unit is the policy of one workload: what goes into one file.
type Unit struct {
	Namespace string
	Workload  string // the workload's name; its file is <Workload>.yaml
	Set       policy.Set
}

// Result is a synthesis.
type Result struct {
	// Units are the workloads' policies, by namespace and workload.
	Units []Unit
	// DefaultDeny lists the namespaces to annotate with the deny default
	// inbound policy (with Options.DefaultDeny).
	DefaultDeny []string
	// Warnings say what was left out and why.
	Warnings []string
	// Coverage estimates, per server port with a Server, how complete the
	// recording is.
	Coverage []PortCoverage
	// AdminPorts are the proxies' admin port policies written with
	// default deny, by namespace.
	AdminPorts []AdminPort
	// RareClients are, with default deny and Options.Candidates, the
	// meshed workloads never observed as clients, by namespace and name.
	RareClients []RareClient
	// Intents are the declared grants merged in (Options.Intents).
	Intents []intents.Intent
	// RouteMerges are the route matches written for several templates
	// (Options.MaxRoutesPerServer), in port order.
	RouteMerges []RouteMerge
}

// Synthesize turns rec into policy at opts.Level, in five stages, each a
// function of what the one before returned: collect the evidence per
// server port, decide per server port what the level grants and to whom,
// emit the objects, validate them against Linkerd's admission rules and
// cinch's openness limits, and self-check them against the recording.
func Synthesize(rec *recording.Recording, opts Options) (*Result, error) {
	opts.ClusterDomain = cmp.Or(opts.ClusterDomain, "cluster.local")
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	rec, decl, err := declare(rec, opts.Intents, opts.Candidates)
	if err != nil {
		return nil, err
	}
	ev := collect(rec, &opts, decl)
	grants := decide(ev, &opts)
	res := emit(ev, grants, &opts)
	if len(res.Units) == 0 {
		if err := unselectable(rec, &opts); err != nil {
			return nil, err
		}
	}
	wide, err := validate(res, &opts)
	if err != nil {
		return nil, err
	}
	res.Warnings = append(res.Warnings, wide...)
	if w := recordedProbeSources(ev, grants, res, &opts); w != "" {
		res.Warnings = append(res.Warnings, w)
	}
	if err := selfCheck(ev.refused.remove(rec), res); err != nil {
		return nil, err
	}
	if err := selfCheckMeshTraffic(rec, res, &opts, probeNetworks(&opts, ev.nodes)); err != nil {
		return nil, err
	}
	return res, nil
}

// validate checks the emitted policy as a whole: Linkerd's admission rules
// (a failure is a cinch bug) and the openness limits (checkOpenness). It
// returns the warnings about wide networks.
func validate(res *Result, opts *Options) ([]string, error) {
	var all policy.Set
	for i := range res.Units {
		all.Add(&res.Units[i].Set)
	}
	if errs := policy.Validate(&all); len(errs) > 0 {
		return nil, fmt.Errorf("synthesized policy fails Linkerd's admission rules (a cinch bug, please report it):\n%w", errors.Join(errs...))
	}
	return checkOpenness(&all, opts)
}
