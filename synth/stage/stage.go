// Package stage says how far a namespace, and each Server in it, has come
// on the way from open to least privilege: open (no Server), then
// namespace, service-account and route level, each first in audit and
// then in enforce mode, then default deny. Policy cinch did not write is
// "custom": cinch neither classifies nor steps it.
//
// Classify reads only policy objects and the namespaces' default inbound
// policy; what the evidence says about a stage (is the next step safe?)
// is synth/status's business. cinch status, cinch pr --next and cinch
// alerts share this classification.
//
// It imports synth and synth/policy; it never prints.
package stage

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/policy"
)

// Stage is one rung of the rollout: a level and a mode, open, or custom,
// with the namespace's default deny on top.
type Stage struct {
	// Level is empty when open or custom.
	Level synth.Level
	// Mode is empty when open or custom.
	Mode synth.Mode
	// Custom marks policy cinch did not write.
	Custom bool
	// DefaultDeny says the namespace's default inbound policy is deny:
	// ports without a Server are closed to pods started since.
	DefaultDeny bool
}

// Open is the stage without any Server.
var Open = Stage{}

// Custom is the stage of policy cinch did not write.
var Custom = Stage{Custom: true}

// Names of stages as String writes them.
const (
	nameOpen        = "open"
	nameCustom      = "custom"
	nameDefaultDeny = "default-deny"
)

// ladder lists the cinch stages below default deny in rollout order.
var ladder = []Stage{
	{Level: synth.LevelNamespace, Mode: synth.ModeAudit},
	{Level: synth.LevelNamespace, Mode: synth.ModeEnforce},
	{Level: synth.LevelServiceAccount, Mode: synth.ModeAudit},
	{Level: synth.LevelServiceAccount, Mode: synth.ModeEnforce},
	{Level: synth.LevelRoute, Mode: synth.ModeAudit},
	{Level: synth.LevelRoute, Mode: synth.ModeEnforce},
}

// String writes the stage as "open", "custom", "LEVEL/MODE" (for example
// "serviceaccount/audit"), or "default-deny" for route level enforced
// under default deny; default deny at a coarser level is
// "LEVEL/MODE+default-deny".
func (s Stage) String() string {
	var name string
	switch {
	case s.Custom:
		name = nameCustom
	case s.Level == "":
		name = nameOpen
	case s.Final():
		return nameDefaultDeny
	default:
		name = string(s.Level) + "/" + string(s.Mode)
	}
	if s.DefaultDeny {
		name += "+" + nameDefaultDeny
	}
	return name
}

// Parse reads a stage as String writes it.
func Parse(text string) (Stage, error) {
	if text == nameDefaultDeny {
		return Stage{Level: synth.LevelRoute, Mode: synth.ModeEnforce, DefaultDeny: true}, nil
	}
	base, dd := strings.CutSuffix(text, "+"+nameDefaultDeny)
	var s Stage
	switch base {
	case nameOpen:
	case nameCustom:
		s.Custom = true
	default:
		level, mode, _ := strings.Cut(base, "/")
		s = Stage{Level: synth.Level(level), Mode: synth.Mode(mode)}
		if !slices.Contains(ladder, s) {
			return Stage{}, fmt.Errorf("stage %q: want open, custom, default-deny or LEVEL/MODE (namespace, serviceaccount or route; audit or enforce), optionally +default-deny", text)
		}
	}
	s.DefaultDeny = dd
	return s, nil
}

// MarshalText writes String.
func (s Stage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (s *Stage) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	*s = p
	return err
}

var _ json.Marshaler = Stage{}

// MarshalJSON writes the stage as a JSON string.
func (s Stage) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Rank orders stages along the rollout: open is 0, namespace/audit 1, ...
// route/enforce 6, and default deny on route/enforce 7. Default deny at a
// coarser level does not change the rank. Custom is -1: it is off the
// ladder.
func (s Stage) Rank() int {
	if s.Custom {
		return -1
	}
	if s.Level == "" {
		return 0
	}
	if s.Final() {
		return len(ladder) + 1
	}
	return slices.Index(ladder, Stage{Level: s.Level, Mode: s.Mode}) + 1
}

// Final says nothing is left to tighten: route level enforced under
// default deny.
func (s Stage) Final() bool {
	return s.Level == synth.LevelRoute && s.Mode == synth.ModeEnforce && s.DefaultDeny
}

// Next is the stage after s and whether there is one: audit becomes
// enforce, enforce becomes audit at the next finer level, route level
// enforced gains default deny. Default deny, once on, stays on. Custom
// policy and the final stage have none.
func (s Stage) Next() (Stage, bool) {
	switch {
	case s.Custom || s.Final():
		return Stage{}, false
	case s.Level == "":
		return Stage{Level: synth.LevelNamespace, Mode: synth.ModeAudit, DefaultDeny: s.DefaultDeny}, true
	case s.Level == synth.LevelRoute && s.Mode == synth.ModeEnforce:
		return Stage{Level: s.Level, Mode: s.Mode, DefaultDeny: true}, true
	}
	n := ladder[slices.Index(ladder, Stage{Level: s.Level, Mode: s.Mode})+1]
	n.DefaultDeny = s.DefaultDeny
	return n, true
}

// Server is one Server and the stage its policy is at.
type Server struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Port is the Server's port: a number or a container port name.
	Port  string `json:"port"`
	Stage Stage  `json:"stage"`
}

// OfServer classifies a Server: cinch's (the managed-by label and a level
// annotation it writes) by level and accessPolicy (audit, else enforce:
// deny is also the CRD default), anything else custom. A Server with the
// level annotation but accessPolicy neither audit nor deny (an allow-all
// default someone set by hand) is custom too.
func OfServer(s *policy.Server) Stage {
	if s.Labels[synth.LabelManagedBy] != synth.ManagedBy {
		return Custom
	}
	st := Stage{Level: synth.Level(s.Annotations[synth.AnnotationLevel])}
	switch s.Spec.AccessPolicy {
	case policy.Audit:
		st.Mode = synth.ModeAudit
	case "", policy.Deny:
		st.Mode = synth.ModeEnforce
	default:
		return Custom
	}
	if !slices.Contains(ladder, st) {
		return Custom
	}
	return st
}

// Namespace is one namespace's stage and its Servers'.
type Namespace struct {
	Name  string `json:"name"`
	Stage Stage  `json:"stage"`
	// Servers are sorted by name.
	Servers []Server `json:"servers"`
}

// Input is what Classify reads.
type Input struct {
	// Policy holds the policy objects in force.
	Policy *policy.Set
	// DefaultDeny lists the namespaces whose default inbound policy
	// annotation is deny.
	DefaultDeny []string
	// Namespaces are classified even without any Server (they are open):
	// the namespaces the evidence shows servers in.
	Namespaces []string
}

// Classify gives every namespace of the policy's Servers, of
// in.DefaultDeny and of in.Namespaces its stage, sorted by name. A
// namespace is custom when any of its Servers is, else at the least
// advanced stage of its Servers (a Server cinch wrote for the step before
// is still to be tightened; custom ranks below open), open without
// Servers, and default deny when its annotation says so.
func Classify(in Input) []Namespace {
	byNS := map[string]*Namespace{}
	get := func(ns string) *Namespace {
		n := byNS[ns]
		if n == nil {
			n = &Namespace{Name: ns, Servers: []Server{}}
			byNS[ns] = n
		}
		return n
	}
	for _, ns := range in.Namespaces {
		get(ns)
	}
	for _, ns := range in.DefaultDeny {
		get(ns)
	}
	if in.Policy != nil {
		for i := range in.Policy.Servers {
			s := &in.Policy.Servers[i]
			n := get(s.Namespace)
			st := OfServer(s)
			st.DefaultDeny = !st.Custom && slices.Contains(in.DefaultDeny, s.Namespace)
			n.Servers = append(n.Servers, Server{Namespace: s.Namespace, Name: s.Name, Port: s.Spec.Port.String(), Stage: st})
		}
	}
	out := make([]Namespace, 0, len(byNS))
	for _, n := range byNS {
		slices.SortFunc(n.Servers, func(a, b Server) int { return cmp.Compare(a.Name, b.Name) })
		n.Stage = Open
		if len(n.Servers) > 0 {
			n.Stage = slices.MinFunc(n.Servers, func(a, b Server) int { return cmp.Compare(a.Stage.Rank(), b.Stage.Rank()) }).Stage
		}
		n.Stage.DefaultDeny = !n.Stage.Custom && slices.Contains(in.DefaultDeny, n.Name)
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b Namespace) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// DefaultDenyNamespaces lists, sorted, the namespaces among docs (the
// Namespace manifests a policy directory holds, as policy.Read keeps them
// in Set.Others) whose default inbound policy annotation is deny.
func DefaultDenyNamespaces(docs []policy.Document) ([]string, error) {
	var out []string
	for _, d := range docs {
		if d.Kind != "Namespace" || d.APIVersion != "v1" {
			continue
		}
		var ns struct {
			Metadata struct {
				Name        string            `json:"name"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(d.JSON, &ns); err != nil {
			return nil, fmt.Errorf("%s:%d: Namespace: %w", d.Source, d.Line, err)
		}
		if ns.Metadata.Annotations[synth.AnnotationDefaultInbound] == policy.Deny && !slices.Contains(out, ns.Metadata.Name) {
			out = append(out, ns.Metadata.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}
