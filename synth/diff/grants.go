package diff

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/intents"
	"github.com/cinchmesh/cinch/synth/policy"
)

// Breadth says how much an authorization opens beyond what was observed,
// from most to least (docs/diff.md).
type Breadth string

const (
	// OpensAnyClient: any client, with or without mTLS, from any address
	// (or any address of the cluster networks).
	OpensAnyClient Breadth = "any client"
	// OpensAnyIdentity: any mTLS client, or any identity of the trust
	// domain.
	OpensAnyIdentity Breadth = "any identity"
	// OpensNamespace: every service account of a namespace.
	OpensNamespace Breadth = "namespace"
	// OpensNetwork: a network wider than the addresses seen in it.
	OpensNetwork Breadth = "network"
	// OpensUnused: only named clients, Servers and routes, but some of
	// them were never observed.
	OpensUnused Breadth = "unused"
	// OpensEveryRoute: every route of its Servers, while only some were
	// observed (a server-level authorization).
	OpensEveryRoute Breadth = "every route"
)

var breadthRank = map[Breadth]int{
	OpensAnyClient: 0, OpensAnyIdentity: 1, OpensNamespace: 2, OpensNetwork: 3, OpensUnused: 4, OpensEveryRoute: 5,
}

// Grant is an authorization that admits more than was observed: an
// AuthorizationPolicy, a ServerAuthorization, a Server's permissive
// accessPolicy, or the default policy of the ports without a Server.
type Grant struct {
	Namespace string `json:"namespace"`
	// Authorization names it as the proxy labels it
	// ("authorizationpolicy.policy.linkerd.io/NAME",
	// "default/all-unauthenticated"); Target is what it applies to.
	Authorization string `json:"authorization"`
	Target        string `json:"target"`
	// Opens is the broadest way it admits more than was observed.
	Opens Breadth `json:"opens"`
	// Granted is how many (client, server, route) combinations it admits,
	// counting each open-ended dimension as one more than was observed in
	// it; Used how many were observed (docs/diff.md).
	Granted  int64 `json:"granted"`
	Used     int64 `json:"used"`
	Requests int64 `json:"requests"`
	// Beyond says, one item per way, what it admits beyond what was
	// observed.
	Beyond []string `json:"beyond"`
	// Declared lists the declared clients and reasons of an
	// AuthorizationPolicy written for the intents file (its
	// cinch.cinchmesh.io/declared annotation): admitting more than was
	// observed is then its purpose.
	Declared string `json:"declared,omitempty"`
	// width is the widest open network's host bits, to rank network
	// grants.
	width int
	rank  int
}

// usageKey names an authorization in a namespace; server is set for the
// default authorizations (an accessPolicy, a default policy), which are
// per Server.
type usageKey struct {
	ns     string
	server eval.Ref
	authz  eval.Ref
}

// nsName names a Server.
type nsName struct{ ns, name string }

type tupleKey struct {
	principal, server string
	route             eval.Ref
}

// usage is what one authorization admitted.
type usage struct {
	requests   int64
	principals map[string]principal
	servers    map[string]bool
	routes     map[eval.Ref]bool
	tuples     map[tupleKey]struct{}
}

func newUsage() *usage {
	return &usage{principals: map[string]principal{}, servers: map[string]bool{}, routes: map[eval.Ref]bool{},
		tuples: map[tupleKey]struct{}{}}
}

// use counts an admitted tuple against the authorization that admitted
// it. The probe and localhost authorizations are Linkerd's own and not
// counted.
func (r *run) use(e *recording.Edge, p *principal, n int64, d eval.Decision) {
	a := d.Authorization
	k := usageKey{ns: r.workloads[e.Server].Namespace, authz: a}
	server := d.Server.Name
	if a.Kind == kindDefault {
		if a.Name == "probe" || a.Name == "localhost" {
			return
		}
		k.server = d.Server
		if d.Server.Kind == kindDefault {
			server = fmt.Sprintf("%s:%d", e.Server, e.Port)
		}
	}
	u := r.usage[k]
	if u == nil {
		u = newUsage()
		r.usage[k] = u
	}
	u.requests += n
	u.principals[p.key] = principal{key: p.key, identity: p.identity, ip: p.ip}
	u.servers[server] = true
	u.routes[d.Route] = true
	u.tuples[tupleKey{p.key, server, d.Route}] = struct{}{}
}

const kindDefault = "default"

// grants assesses every authorization against its usage: the ones that
// admit more than was observed, most open first, and the least-privilege
// score over all of them.
// nodes names the recorded nodes by address: an unused address that is a
// node's is a kubelet probe source, which the report says.
func grants(list []eval.Grant, set *policy.Set, used map[usageKey]*usage, hit map[nsName]bool, nodes map[netip.Addr]recording.PeerID) ([]Grant, Score) {
	var checks []*check
	declared := map[nsName]string{}
	for _, ap := range set.AuthorizationPolicies {
		if v := ap.Annotations[intents.Annotation]; v != "" {
			declared[nsName{ap.Namespace, ap.Name}] = v
		}
	}
	for _, g := range list {
		c := explicitGrant(g, used[usageKey{ns: g.Namespace, authz: g.Authorization}], hit, nodes)
		if strings.EqualFold(g.Authorization.Kind, policy.KindAuthorizationPolicy) {
			c.out.Declared = declared[nsName{g.Namespace, g.Authorization.Name}]
		}
		checks = append(checks, c)
	}
	defaults := map[usageKey]bool{}
	for i := range set.Servers {
		s := &set.Servers[i]
		if p := s.Spec.AccessPolicy; p != "" && p != policy.Deny && policy.IsDefaultPolicy(p) {
			defaults[usageKey{ns: s.Namespace, server: eval.Ref{Group: policy.GroupPolicy, Kind: "server", Name: s.Name},
				authz: eval.Ref{Kind: kindDefault, Name: p}}] = true
		}
	}
	for k := range used {
		if k.authz.Kind == kindDefault {
			defaults[k] = true
		}
	}
	for k := range defaults {
		if k.authz.Name == policy.Audit && used[k] == nil {
			// A Server in audit mode that admitted nothing beyond its
			// authorizations is a rollout stage, not a grant: traffic it
			// would admit is reported as audit only.
			continue
		}
		checks = append(checks, defaultGrant(k, used[k], hit))
	}
	var score Score
	out := []Grant{}
	for _, c := range checks {
		c.finish()
		score.Granted += c.out.Granted
		score.Used += c.out.Used
		if len(c.out.Beyond) > 0 {
			out = append(out, c.out)
		}
	}
	score.Value = 1
	if score.Granted > 0 {
		score.Value = float64(score.Used) / float64(score.Granted)
	}
	slices.SortFunc(out, func(a, b Grant) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(b.width, a.width),
			cmp.Compare(b.Granted-b.Used, a.Granted-a.Used), cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Authorization, b.Authorization), cmp.Compare(a.Target, b.Target))
	})
	return out, score
}

// check is one authorization being assessed: the clients, servers and
// routes it grants (each counted as used + unused named ones + open
// ones) against what it admitted.
type check struct {
	out Grant
	u   *usage
	// extra clients, servers and routes granted beyond those used.
	clients, servers, routes int64
	// serversTotal, when set, is the number of servers granted.
	serversTotal int64
}

func newCheck(g Grant, u *usage) *check {
	if u == nil {
		u = newUsage()
	}
	g.Requests = u.requests
	g.rank = len(breadthRank)
	c := &check{out: g, u: u}
	if len(u.tuples) == 0 {
		c.beyond(OpensUnused, "admitted nothing observed")
	}
	return c
}

func (c *check) beyond(b Breadth, format string, args ...any) {
	c.out.Beyond = append(c.out.Beyond, fmt.Sprintf(format, args...))
	if r := breadthRank[b]; r < c.out.rank {
		c.out.rank, c.out.Opens = r, b
	}
}

func (c *check) finish() {
	clients := int64(len(c.u.principals)) + c.clients
	servers := int64(len(c.u.servers)) + c.servers
	if c.serversTotal > 0 {
		servers = max(c.serversTotal, int64(len(c.u.servers)))
	}
	routes := int64(len(c.u.routes)) + c.routes
	c.out.Granted = clients * servers * routes
	c.out.Used = int64(len(c.u.tuples))
}

// explicitGrant assesses an AuthorizationPolicy or ServerAuthorization;
// hit says which Servers had any observed traffic.
func explicitGrant(g eval.Grant, u *usage, hit map[nsName]bool, nodes map[netip.Addr]recording.PeerID) *check {
	target := g.Target.String()
	if target == "" {
		target = "Servers selected by label"
	}
	c := newCheck(Grant{Namespace: g.Namespace, Authorization: g.Authorization.String(), Target: target}, u)
	switch g.Authentication {
	case eval.AuthenticationIdentities:
		c.identities(g.Identities)
	case eval.AuthenticationTLS:
		c.clients++
		c.beyond(OpensAnyIdentity, "admits any TLS client; %s", c.usedBy())
	default:
		c.networks(g.Networks, nodes)
	}
	c.serversTotal = int64(len(g.Servers))
	if len(g.Servers) == 0 {
		c.beyond(OpensUnused, "applies to no Server")
	}
	for _, s := range g.Servers {
		switch {
		case c.u.servers[s]:
		case !hit[nsName{g.Namespace, s}]:
			c.beyond(OpensUnused, "Server %s has no observed traffic", s)
		case len(c.u.tuples) > 0:
			c.beyond(OpensUnused, "admitted nothing observed on Server %s", s)
		}
	}
	if g.Route != (eval.Ref{}) {
		if !c.u.routes[g.Route] {
			c.routes++
			c.beyond(OpensUnused, "route %s never hit", g.Route)
		}
		return c
	}
	if len(c.u.routes) == 1 && c.u.routes[eval.Ref{}] {
		return c // connections to an opaque or TLS Server, which has no routes
	}
	c.routes++
	if len(c.u.tuples) > 0 {
		c.beyond(OpensEveryRoute, "admits every route of its Servers; observed on %s", c.routesUsed())
	}
	return c
}

// defaultGrant assesses what a Server's accessPolicy, or the default
// policy of ports without a Server, admits.
func defaultGrant(k usageKey, u *usage, hit map[nsName]bool) *check {
	target := eval.Ref{Group: k.server.Group, Kind: policy.KindServer, Name: k.server.Name}
	c := newCheck(Grant{Namespace: k.ns, Authorization: k.authz.String(), Target: target.String()}, u)
	who, b := "any client", OpensAnyClient
	switch k.authz.Name {
	case policy.AllAuthenticated:
		who, b = "any mTLS client", OpensAnyIdentity
	case policy.ClusterAuthenticated:
		who, b = "any mTLS client from the cluster networks", OpensAnyIdentity
	case policy.ClusterUnauthenticated:
		who = "any client from the cluster networks"
	case policy.Audit:
		who = "any client (allowed and logged)"
	}
	c.clients++
	c.routes++
	if k.server.Kind == kindDefault {
		c.out.Target = "ports without a Server"
		c.servers++
		c.beyond(b, "ports without a Server fall back to %s: %s, on any port and route; %s, on %s",
			k.authz.Name, who, c.usedBy(), list("port", sortedKeys(c.u.servers)))
		return c
	}
	c.serversTotal = 1
	c.beyond(b, "accessPolicy %s admits %s on every route; %s", k.authz.Name, who, c.usedBy())
	if !hit[nsName{k.ns, k.server.Name}] {
		c.beyond(OpensUnused, "Server %s has no observed traffic", k.server.Name)
	}
	return c
}

// identities assesses a MeshTLS match: exact identities never used, and
// what each wildcard admits.
func (c *check) identities(patterns []string) {
	exact := map[string]bool{}
	for _, p := range patterns {
		if _, wild := recording.IdentityWildcard(p); !wild {
			exact[p] = false
		}
	}
	users := map[string][]string{}
	for _, p := range c.principals() {
		if _, ok := exact[p.identity]; ok {
			exact[p.identity] = true
			continue
		}
		for _, pat := range patterns {
			if _, wild := recording.IdentityWildcard(pat); wild && recording.MatchIdentity(pat, p.identity) {
				users[pat] = append(users[pat], shortIdentity(p.identity))
				break
			}
		}
	}
	var unused []string
	for id, ok := range exact {
		if !ok {
			unused = append(unused, shortIdentity(id))
		}
	}
	if len(unused) > 0 {
		slices.Sort(unused)
		c.clients += int64(len(unused))
		c.beyond(OpensUnused, "%s never used: %s", counted("identity", len(unused)), joined(unused))
	}
	for _, pat := range patterns {
		if _, wild := recording.IdentityWildcard(pat); !wild {
			continue
		}
		c.clients++
		used := "used by " + list("client", users[pat])
		switch ns, ok := namespaceOf(pat); {
		case pat == "*":
			c.beyond(OpensAnyIdentity, "identity * admits every mesh identity; %s", used)
		case ok:
			c.beyond(OpensNamespace, "identity %s admits every service account of namespace %s; %s", pat, ns, used)
		default:
			c.beyond(OpensAnyIdentity, "identity %s admits every identity ending in %s; %s", pat, pat[1:], used)
		}
	}
}

// namespaceOf returns the namespace of a "*.<ns>.serviceaccount.identity.
// ..." pattern.
func namespaceOf(pattern string) (string, bool) {
	id, ok := recording.ParseIdentity(pattern)
	return id.Namespace, ok && id.ServiceAccount == "*"
}

// networks assesses the networks of an authorization without identities:
// networks covering every address admit any client, wider ones more
// addresses than were seen, single addresses may be unused.
func (c *check) networks(nets []policy.Network, nodes map[netip.Addr]recording.PeerID) {
	type net struct {
		prefix netip.Prefix
		except []netip.Prefix
		users  []string
	}
	var parsed []*net
	anyAddr := false
	for _, n := range nets {
		p, err := policy.ParseCIDR(n.CIDR)
		if err != nil {
			continue // eval ignores the object; it never comes here
		}
		pn := &net{prefix: p}
		for _, e := range n.Except {
			if ep, err := policy.ParseCIDR(e); err == nil {
				pn.except = append(pn.except, ep)
			}
		}
		if p.Bits() == 0 && len(pn.except) == 0 {
			anyAddr = true
			continue
		}
		parsed = append(parsed, pn)
	}
	for _, p := range c.principals() {
		if !p.ip.IsValid() {
			continue
		}
		for _, n := range parsed {
			if n.prefix.Contains(p.ip) && !slices.ContainsFunc(n.except, func(e netip.Prefix) bool { return e.Contains(p.ip) }) {
				n.users = append(n.users, p.ip.String())
				break
			}
		}
	}
	if anyAddr {
		c.clients++
		c.beyond(OpensAnyClient, "admits any client, with or without mTLS, from any address; %s", c.usedBy())
	}
	for _, n := range parsed {
		host := n.prefix.Addr().BitLen() - n.prefix.Bits()
		switch {
		case host == 0 && len(n.users) == 0:
			c.clients++
			if node, ok := nodes[n.prefix.Addr()]; ok {
				c.beyond(OpensUnused, "address %s never used: node %s, where kubelet probes come from (no probe seen in the window)", n.prefix.Addr(), strings.TrimPrefix(string(node), "node:"))
				continue
			}
			c.beyond(OpensUnused, "address %s never used", n.prefix.Addr())
		case host > 0:
			c.clients++
			c.out.width = max(c.out.width, host)
			c.beyond(OpensNetwork, "network %s (2^%d addresses) used by %s", n.prefix, host, list("address", n.users))
		}
	}
}

// principals lists the clients the authorization admitted, by key.
func (c *check) principals() []principal {
	out := make([]principal, 0, len(c.u.principals))
	for _, p := range c.u.principals {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b principal) int { return cmp.Compare(a.key, b.key) })
	return out
}

// usedBy names the clients the authorization admitted.
func (c *check) usedBy() string {
	var names []string
	for _, p := range c.principals() {
		switch {
		case p.identity != "":
			names = append(names, shortIdentity(p.identity))
		case p.ip.IsValid():
			names = append(names, p.ip.String())
		default:
			names = append(names, "an unknown address of "+strings.TrimPrefix(p.key, "peer:"))
		}
	}
	return "used by " + list("client", names)
}

func (c *check) routesUsed() string {
	var names []string
	for r := range c.u.routes {
		names = append(names, cmp.Or(r.String(), "connections without routes"))
	}
	slices.Sort(names)
	return list("route", names)
}

// list writes "N things: a, b, c" with at most five names.
func list(noun string, names []string) string {
	if len(names) == 0 {
		return "no " + noun
	}
	return counted(noun, len(names)) + ": " + joined(names)
}

// counted writes "1 thing" or "N things".
func counted(noun string, n int) string {
	if n != 1 {
		noun = plural(noun)
	}
	return fmt.Sprintf("%d %s", n, noun)
}

// joined writes at most five names.
func joined(names []string) string {
	const most = 5
	s := strings.Join(names[:min(len(names), most)], ", ")
	if len(names) > most {
		s += fmt.Sprintf(" and %d more", len(names)-most)
	}
	return s
}

func plural(noun string) string {
	switch {
	case strings.HasSuffix(noun, "y"):
		return noun[:len(noun)-1] + "ies"
	case strings.HasSuffix(noun, "s"):
		return noun + "es"
	}
	return noun + "s"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
