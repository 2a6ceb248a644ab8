package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

// labels writes a ref as the proxy's metric labels with prefix (srv,
// route, authz): prefix_group, prefix_kind and prefix_name.
func labels(prefix string, r eval.Ref) string {
	s := fmt.Sprintf("%s_kind=%s %s_name=%s", prefix, r.Kind, prefix, r.Name)
	if r.Group != "" {
		s = fmt.Sprintf("%s_group=%s ", prefix, r.Group) + s
	}
	return s
}

var defaultRoute = eval.Ref{Kind: "default", Name: "default"}

// Text writes the explanation step by step.
func Text(w io.Writer, e *Explanation) error {
	p := &printer{w: w}
	tr := e.Trace
	p.f("request   %s\n", e.describe())
	p.f("client    %s\n", e.client())
	if tr.Workload == nil {
		p.f("\nverdict   %s is not a workload of the cluster objects given: nothing to explain\n", e.Query.To)
		return p.err
	}
	p.f("\n1. server  %s\n", labels("srv", tr.Decision.Server))
	if len(tr.Servers) == 0 {
		p.f("   no Server in namespace %s selects the pod\n", tr.Workload.Namespace)
	}
	for _, s := range tr.Servers {
		mark := "  "
		if s.Outcome == eval.ServerClaims {
			mark = "=>"
		}
		p.f("   %s Server %s: %s\n", mark, s.Server.Name, s.Why)
	}
	if tr.Default != nil {
		p.f("   => no Server claims port %d: the default policy %s applies, from %s\n", tr.Request.Port, tr.Default.Policy, tr.Default.From)
	} else {
		for _, s := range tr.Servers {
			if s.Outcome == eval.ServerClaims {
				p.f("      proxyProtocol %s, accessPolicy %s\n", s.ProxyProtocol, s.AccessPolicy)
			}
		}
	}
	p.routes(tr)
	if tr.Decision.Reason != eval.ReasonNoRouteMatched {
		p.authorizations(tr)
	}
	for _, wr := range tr.Ignored {
		p.f("   note: %s\n", wr)
	}
	if tr.RouteGiven && e.Query.Route == defaultRoute && tr.Decision.Reason == eval.ReasonNoRouteMatched {
		p.f("   note: the request's path is not known (the proxy's deny counter of a recording has no path) and the port has routes: which one it matched cannot be told; explain one request with --method and --path\n")
	}
	p.f("\nverdict   %s\n", verdict(tr))
	if g := e.Grant; g != nil {
		p.f("\nto allow it")
		if g.Level != "" {
			p.f(" (%s level, as the policy in force)", g.Level)
		}
		p.f(":\n")
		if g.Objects == nil {
			p.f("   %s\n", g.Note)
			return p.err
		}
		p.f("   %s.\n   Apply it (kubectl apply -f -) or add it to the policy's directory:\n\n", g.Summary)
		if p.err == nil {
			p.err = policy.Encode(w, g.Objects)
		}
		if in, err := e.Intent(); err != nil {
			return err
		} else if in != nil {
			p.f("\n   Or, for access that must exist without being observed, declare it in the intents file\n   (docs/synth.md, \"Declared intents\"), under intents:\n\n%s", in)
		}
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (e *Explanation) client() string {
	var parts []string
	if e.Identity != "" {
		parts = append(parts, "mTLS identity "+e.Identity)
	} else {
		parts = append(parts, "no mTLS identity")
	}
	if e.Address.IsValid() {
		parts = append(parts, "from "+e.Address.String())
	} else {
		parts = append(parts, "address not known (taken to be a pod of the cluster)")
	}
	return strings.Join(parts, ", ")
}

func (p *printer) routes(tr *eval.Trace) {
	switch {
	case tr.Protocol == policy.ProtocolOpaque || tr.Protocol == policy.ProtocolTLS:
		p.f("\n2. route   none: a %s Server has no routes, only authorizations\n", tr.Protocol)
		return
	case tr.Decision.Route != (eval.Ref{}):
		p.f("\n2. route   %s\n", labels("route", tr.Decision.Route))
	default:
		p.f("\n2. route   none matches: the proxy answers 404 and counts it in inbound_http_route_not_found_total\n")
	}
	if tr.ImplicitRoutes {
		p.f("   the port has no %s attached, so Linkerd gives it its default route (and a probe route for its httpGet probes)\n", routeKind(tr))
	}
	for _, r := range tr.Routes {
		mark := "  "
		if r.Picked {
			mark = "=>"
		}
		p.f("   %s %s: %s\n", mark, r.Route, r.Why)
	}
}

func routeKind(tr *eval.Trace) string {
	if tr.Protocol == policy.ProtocolGRPC {
		return "GRPCRoute"
	}
	return "HTTPRoute"
}

func (p *printer) authorizations(tr *eval.Trace) {
	p.f("\n3. authorization")
	if a := tr.Decision.Authorization; a != (eval.Ref{}) {
		p.f("  %s", labels("authz", a))
	}
	p.f("\n")
	for _, a := range tr.Authorizations {
		mark := "   no "
		switch {
		case a.Named:
			mark = "=> yes"
		case a.Admits:
			mark = "   yes"
		}
		scope := "server"
		if a.Route != (eval.Ref{}) {
			scope = "route " + a.Route.Name
		}
		p.f("   %s %s (%s; admits %s): %s\n", mark, a.Authorization, scope, a.Requires, a.Why)
	}
	for _, a := range tr.Elsewhere {
		p.f("   note: %s on route %s would admit the client, but the request matched %s and the route is chosen before authorization\n",
			a.Authorization, a.Route.Name, tr.Decision.Route.Name)
	}
}

// verdict says what the proxy does with the request and the counter it
// counts it in, with its labels.
func verdict(tr *eval.Trace) string {
	d := tr.Decision
	tcp := tr.Protocol == policy.ProtocolOpaque || tr.Protocol == policy.ProtocolTLS
	switch d.Reason {
	case eval.ReasonAuthorized:
		if tcp {
			return "ALLOWED: counted in inbound_tcp_authz_allow_total{" + metricLabels(d, true) + "}"
		}
		return "ALLOWED: counted in inbound_http_authz_allow_total{" + metricLabels(d, true) + "}"
	case eval.ReasonAudit:
		return "ALLOWED ONLY BY AUDIT: denied once the Server enforces (accessPolicy deny); counted in inbound_http_authz_allow_total{" +
			metricLabels(d, true) + "}"
	case eval.ReasonNoRouteMatched:
		return "DENIED (NoRouteMatched): no route matches, the proxy answers HTTP 404; counted in inbound_http_route_not_found_total{" +
			metricLabels(d, false) + "}"
	case eval.ReasonUnknownDestination:
		return "UNKNOWN: the server is not a workload of the cluster objects given"
	}
	what := "DENIED (" + string(d.Reason) + ")"
	if d.Reason == eval.ReasonDefaultDeny {
		what += ": no Server claims the port and the default policy is deny"
	}
	if tcp {
		return what + ": the proxy refuses the connection; counted in inbound_tcp_authz_deny_total{" + metricLabels(d, false) + "}"
	}
	return what + ": the proxy answers HTTP 403 (gRPC: PermissionDenied); counted in inbound_http_authz_deny_total{" +
		metricLabels(d, false) + "}"
}

func metricLabels(d eval.Decision, authz bool) string {
	var parts []string
	add := func(prefix string, r eval.Ref) {
		if r == (eval.Ref{}) {
			return
		}
		parts = append(parts, fmt.Sprintf("%s_group=%q", prefix, r.Group), fmt.Sprintf("%s_kind=%q", prefix, r.Kind),
			fmt.Sprintf("%s_name=%q", prefix, r.Name))
	}
	add("srv", d.Server)
	add("route", d.Route)
	if authz {
		add("authz", d.Authorization)
	}
	return strings.Join(parts, ",")
}

// view is the JSON form of an explanation.
type view struct {
	Request  string            `json:"request"`
	Identity string            `json:"identity,omitempty"`
	Address  string            `json:"address,omitempty"`
	Allowed  bool              `json:"allowed"`
	Reason   eval.Reason       `json:"reason"`
	Labels   map[string]string `json:"labels"`
	Servers  []stepView        `json:"servers"`
	Default  *eval.DefaultStep `json:"defaultPolicy,omitempty"`
	Routes   []stepView        `json:"routes"`
	Authz    []stepView        `json:"authorizations"`
	Grant    *grantView        `json:"grant,omitempty"`
}

type stepView struct {
	Name     string `json:"name"`
	Outcome  string `json:"outcome"`
	Requires string `json:"requires,omitempty"`
	Why      string `json:"why"`
}

type grantView struct {
	Level   string `json:"level,omitempty"`
	Summary string `json:"summary,omitempty"`
	Note    string `json:"note,omitempty"`
	YAML    string `json:"yaml,omitempty"`
}

// JSON writes the explanation as indented JSON.
func JSON(w io.Writer, e *Explanation) error {
	tr := e.Trace
	d := tr.Decision
	v := view{Request: e.describe(), Identity: e.Identity, Allowed: d.Allowed, Reason: d.Reason, Default: tr.Default,
		Labels: map[string]string{}, Servers: []stepView{}, Routes: []stepView{}, Authz: []stepView{}}
	if e.Address.IsValid() {
		v.Address = e.Address.String()
	}
	for prefix, r := range map[string]eval.Ref{"srv": d.Server, "route": d.Route, "authz": d.Authorization} {
		if r != (eval.Ref{}) {
			v.Labels[prefix+"_group"], v.Labels[prefix+"_kind"], v.Labels[prefix+"_name"] = r.Group, r.Kind, r.Name
		}
	}
	for _, s := range tr.Servers {
		v.Servers = append(v.Servers, stepView{Name: s.Server.String(), Outcome: string(s.Outcome), Why: s.Why})
	}
	for _, r := range tr.Routes {
		out := "no match"
		switch {
		case r.Picked:
			out = "picked"
		case r.Matched:
			out = "lost"
		}
		v.Routes = append(v.Routes, stepView{Name: r.Route.String(), Outcome: out, Why: r.Why})
	}
	for _, a := range tr.Authorizations {
		out := "refuses"
		switch {
		case a.Named:
			out = "admits (named)"
		case a.Admits:
			out = "admits"
		}
		v.Authz = append(v.Authz, stepView{Name: a.Authorization.String(), Outcome: out, Requires: a.Requires, Why: a.Why})
	}
	if g := e.Grant; g != nil {
		y, err := g.YAML()
		if err != nil {
			return err
		}
		v.Grant = &grantView{Level: string(g.Level), Summary: g.Summary, Note: g.Note, YAML: string(y)}
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// YAML writes only the suggested grant, for kubectl apply -f -.
func YAML(w io.Writer, e *Explanation) error {
	if e.Grant == nil || e.Grant.Objects == nil {
		return nil
	}
	return policy.Encode(w, e.Grant.Objects)
}

// Formats maps the names `cinch explain -o` accepts to printers.
var Formats = map[string]func(io.Writer, *Explanation) error{
	"text": Text,
	"json": JSON,
	"yaml": YAML,
}
