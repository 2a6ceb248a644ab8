package recording

import "strings"

// Defaults of a Linkerd installation that name its identities.
const (
	DefaultControlPlaneNamespace = "linkerd"
	DefaultTrustDomain           = "cluster.local"
)

// identityMarker sits between a service account identity's namespace and
// its control plane namespace.
const identityMarker = ".serviceaccount.identity."

// Identity is the mesh identity Linkerd gives a meshed service account:
// <sa>.<ns>.serviceaccount.identity.<control plane namespace>.<trust domain>.
// With ServiceAccount "*" it is the wildcard that admits every service
// account of the namespace (what a MeshTLSAuthentication's Namespace
// identityRef means).
type Identity struct {
	ServiceAccount string
	Namespace      string
	ControlPlane   string
	TrustDomain    string
}

// ServiceAccountIdentity is the identity of service account sa in namespace
// ns, with the default control plane namespace and trust domain where
// controlPlane or trustDomain is empty.
func ServiceAccountIdentity(sa, ns, controlPlane, trustDomain string) Identity {
	if controlPlane == "" {
		controlPlane = DefaultControlPlaneNamespace
	}
	if trustDomain == "" {
		trustDomain = DefaultTrustDomain
	}
	return Identity{ServiceAccount: sa, Namespace: ns, ControlPlane: controlPlane, TrustDomain: trustDomain}
}

// String writes the identity as the proxy reports it (client_id) and as a
// MeshTLSAuthentication names it.
func (id Identity) String() string {
	return id.ServiceAccount + "." + id.Namespace + identityMarker + id.ControlPlane + "." + id.TrustDomain
}

// ParseIdentity reads a service account identity, or a namespace wildcard
// ("*.<ns>.serviceaccount.identity..."). It says false for any other
// identity (a SPIFFE ID, a DNS-like name of another form): those are
// valid, but name no service account. A namespace and a control plane
// namespace are DNS labels without dots; a service account name may have
// dots, so the namespace is the last label before the marker. When the
// marker occurs more than once the last one that leaves a valid split
// wins: trust domains are set once per cluster, service account names by
// every application.
func ParseIdentity(s string) (Identity, bool) {
	if strings.HasPrefix(s, "spiffe://") {
		return Identity{}, false
	}
	end := len(s)
	for {
		i := strings.LastIndex(s[:end], identityMarker)
		if i < 0 {
			return Identity{}, false
		}
		head, tail := s[:i], s[i+len(identityMarker):]
		dot := strings.LastIndexByte(head, '.')
		cp, td, ok := strings.Cut(tail, ".")
		if dot > 0 && dot < len(head)-1 && ok && cp != "" && td != "" {
			return Identity{ServiceAccount: head[:dot], Namespace: head[dot+1:], ControlPlane: cp, TrustDomain: td}, true
		}
		end = i + len(identityMarker) - 1
	}
}

// IdentityWildcard returns what the identities a MeshTLSAuthentication
// pattern admits end with: "" for "*", ".rest" for "*.rest". It says false
// for an exact identity.
func IdentityWildcard(pattern string) (suffix string, ok bool) {
	if pattern == "*" || strings.HasPrefix(pattern, "*.") {
		return pattern[1:], true
	}
	return "", false
}

// MatchIdentity says whether a MeshTLSAuthentication identity pattern
// admits a client's identity, as Linkerd's proxy decides: "*" admits every
// identity, "*.rest" every identity ending in ".rest" (so whole labels,
// and never "rest" itself), anything else only itself. SPIFFE IDs
// (spiffe://...) only ever match exactly.
func MatchIdentity(pattern, identity string) bool {
	suffix, wild := IdentityWildcard(pattern)
	if !wild {
		return pattern == identity
	}
	return identity != "" && !strings.HasPrefix(identity, "spiffe://") && strings.HasSuffix(identity, suffix)
}

// identityPeerPrefix starts the ID of a peer known only by its identity.
const identityPeerPrefix = "identity:"

// IdentityPeer is the ID of a meshed client known only by its identity
// (a PeerIdentity).
func IdentityPeer(identity string) PeerID { return PeerID(identityPeerPrefix + identity) }

// Identity returns the identity an IdentityPeer ID names.
func (id PeerID) Identity() (string, bool) {
	return strings.CutPrefix(string(id), identityPeerPrefix)
}
