package eval

import (
	"cmp"
	"slices"

	"github.com/cinchmesh/cinch/synth/policy"
)

// Authentication is what a grant requires of a client's connection.
type Authentication string

const (
	// AuthenticationNone admits clients with or without TLS.
	AuthenticationNone Authentication = "none"
	// AuthenticationTLS admits any TLS client (ServerAuthorization
	// meshTLS.unauthenticatedTLS).
	AuthenticationTLS Authentication = "tls"
	// AuthenticationIdentities admits mTLS clients with one of Identities.
	AuthenticationIdentities Authentication = "identities"
)

// Grant is what one AuthorizationPolicy or ServerAuthorization admits, to
// find grants no observed request needs. Decisions name the grant that
// admitted a request by its Authorization ref.
type Grant struct {
	Authorization Ref
	Namespace     string
	// Target is what the object targets: a Server, a route, the Namespace;
	// zero for a ServerAuthorization that selects Servers by label.
	Target Ref
	// Servers are the Servers it applies to (for a route-level grant, the
	// Servers that accept the route); Route is set for a route-level
	// grant.
	Servers []string
	Route   Ref
	// Authentication, Identities (exact identities and "*" / "*.suffix"
	// patterns) and Networks (which the client address must be in) are
	// what a client must meet.
	Authentication Authentication
	Identities     []string
	Networks       []policy.Network
}

type grantBuild struct {
	namespace string
	target    Ref
	route     *route
	servers   []*server
	authz     *authorization
}

// Grants lists the grants of the set's AuthorizationPolicies and
// ServerAuthorizations that Linkerd accepts, by namespace, kind and name.
func (e *Evaluator) Grants() []Grant { return e.grants }

func (b *builder) grants() []Grant {
	out := make([]Grant, 0, len(b.grantList))
	for _, g := range b.grantList {
		a := g.authz
		gr := Grant{Authorization: a.ref, Namespace: g.namespace, Target: g.target}
		if g.route != nil {
			gr.Route = g.route.ref
			gr.Servers = slices.Clone(g.route.servers)
		}
		for _, s := range g.servers {
			gr.Servers = append(gr.Servers, s.ref.Name)
		}
		gr.Servers = sortedUnique(gr.Servers)
		switch a.authn {
		case authnNone:
			gr.Authentication = AuthenticationNone
		case authnTLS:
			gr.Authentication = AuthenticationTLS
		default:
			gr.Authentication = AuthenticationIdentities
			gr.Identities = a.ids.patterns()
		}
		for _, n := range a.networks {
			pn := policy.Network{CIDR: n.net.String()}
			for _, e := range n.except {
				pn.Except = append(pn.Except, e.String())
			}
			gr.Networks = append(gr.Networks, pn)
		}
		out = append(out, gr)
	}
	slices.SortFunc(out, func(a, b Grant) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Authorization.Kind, b.Authorization.Kind),
			cmp.Compare(a.Authorization.Name, b.Authorization.Name))
	})
	return out
}
