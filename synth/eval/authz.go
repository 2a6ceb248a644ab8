package eval

import (
	"net/netip"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

// authentication is what an authorization requires of the connection.
type authentication uint8

const (
	authnNone     authentication = iota // any client, TLS or not
	authnTLS                            // any TLS client, with or without identity
	authnIdentity                       // an mTLS identity that ids admit
)

// network is a CIDR minus exceptions.
type network struct {
	net    netip.Prefix
	except []netip.Prefix
}

func (n network) contains(ip netip.Addr) bool {
	if !n.net.Contains(ip) {
		return false
	}
	for _, e := range n.except {
		if e.Contains(ip) {
			return false
		}
	}
	return true
}

// covers reports whether every address of p is in n.
func (n network) covers(p netip.Prefix) bool {
	if n.net.Bits() > p.Bits() || !n.net.Contains(p.Addr()) {
		return false
	}
	for _, e := range n.except {
		if e.Overlaps(p) {
			return false
		}
	}
	return true
}

func networksOf(prefixes []netip.Prefix) []network {
	out := make([]network, len(prefixes))
	for i, p := range prefixes {
		out[i] = network{net: p.Masked()}
	}
	return out
}

// identities is a MeshTLS identity match: exact names and wildcard
// patterns ("*", "*.x.y"), matched as recording.MatchIdentity says.
type identities struct {
	exact     map[string]bool
	wildcards []string
}

// add parses one identity as Linkerd does: "*" matches every identity,
// "*.rest" every identity ending in ".rest", anything else itself.
func (m *identities) add(id string) {
	if _, wild := recording.IdentityWildcard(id); wild {
		m.wildcards = append(m.wildcards, id)
		return
	}
	if m.exact == nil {
		m.exact = map[string]bool{}
	}
	m.exact[id] = true
}

func (m *identities) empty() bool { return len(m.exact) == 0 && len(m.wildcards) == 0 }

// patterns lists the match as identity strings (exact names and "*"
// patterns), sorted.
func (m *identities) patterns() []string {
	out := make([]string, 0, len(m.exact)+len(m.wildcards))
	for id := range m.exact {
		out = append(out, id)
	}
	out = append(out, m.wildcards...)
	return sortedUnique(out)
}

// authorization is one compiled authorization: the client must come from
// one of networks and meet authn.
type authorization struct {
	ref      Ref
	audit    bool
	networks []network
	// anyAddr and clusterAddrs say whether networks cover every address,
	// or every cluster network: what an unknown source address satisfies.
	anyAddr, clusterAddrs bool
	authn                 authentication
	ids                   identities
}

func newAuthorization(ref Ref, nets []network, authn authentication, ids identities, opts *Options) *authorization {
	a := &authorization{ref: ref, networks: nets, authn: authn, ids: ids}
	for _, all := range allNetworks {
		for _, n := range nets {
			if n.covers(all) {
				a.anyAddr = true
			}
		}
	}
	a.clusterAddrs = true
	for _, c := range opts.ClusterNetworks {
		covered := false
		for _, n := range nets {
			covered = covered || n.covers(c.Masked())
		}
		a.clusterAddrs = a.clusterAddrs && covered
	}
	return a
}

// defaultAuthorization is the authorization of a default policy (or a
// Server's accessPolicy): none for deny.
func defaultAuthorization(name string, opts *Options) *authorization {
	switch name {
	case policy.AllUnauthenticated:
		return newAuthorization(defaultRef(name), networksOf(allNetworks), authnNone, identities{}, opts)
	case policy.AllAuthenticated:
		return newAuthorization(defaultRef(name), networksOf(allNetworks), authnIdentity, identities{wildcards: []string{"*"}}, opts)
	case policy.ClusterUnauthenticated:
		return newAuthorization(defaultRef(name), networksOf(opts.ClusterNetworks), authnNone, identities{}, opts)
	case policy.ClusterAuthenticated:
		return newAuthorization(defaultRef(name), networksOf(opts.ClusterNetworks), authnIdentity, identities{wildcards: []string{"*"}}, opts)
	case policy.Audit:
		a := newAuthorization(defaultRef(name), networksOf(allNetworks), authnNone, identities{}, opts)
		a.audit = true
		return a
	}
	return nil
}

// client is the connection side of a request.
type client struct {
	identity string
	tls      bool
	ip       netip.Addr
}

func (a *authorization) admits(c *client) bool { return a.check(c) == admitted }

// refusal is why an authorization does not admit a client.
type refusal uint8

const (
	admitted          refusal = iota
	refusedNetwork            // the source address is not in its networks
	refusedUnknownIP          // the address is unknown and its networks do not cover the cluster's
	refusedNoTLS              // it requires TLS
	refusedNoIdentity         // it requires an mTLS identity
	refusedIdentity           // the identity is not among the ones it admits
	refusedSPIFFE             // a SPIFFE identity matches exactly only
)

func (a *authorization) check(c *client) refusal {
	if c.ip.IsValid() {
		in := false
		for _, n := range a.networks {
			if n.contains(c.ip) {
				in = true
				break
			}
		}
		if !in {
			return refusedNetwork
		}
	} else if !a.anyAddr && !a.clusterAddrs {
		return refusedUnknownIP
	}
	switch a.authn {
	case authnNone:
		return admitted
	case authnTLS:
		if c.tls {
			return admitted
		}
		return refusedNoTLS
	}
	if c.identity == "" {
		return refusedNoIdentity
	}
	if a.ids.exact[c.identity] {
		return admitted
	}
	for _, w := range a.ids.wildcards {
		if recording.MatchIdentity(w, c.identity) {
			return admitted
		}
	}
	if strings.HasPrefix(c.identity, "spiffe://") && len(a.ids.wildcards) > 0 {
		return refusedSPIFFE // the proxy matches URI identities exactly only
	}
	return refusedIdentity
}
