package tapstream

import (
	"bytes"
	"net/netip"
	"strconv"

	"github.com/cinchmesh/cinch/observe/event"
)

// Helpers shared by the JSON and text decoders: the mapping of endpoint
// labels onto the event model, HTTP method names, and warning reasons.

// Warning reasons counted by the JSON and text decoders. The first two read
// the same as the raw decoder's.
const (
	warnNoHTTP       = "event without http payload"
	warnNoID         = "event without request id"
	warnNoAddress    = "event without address"
	warnBadDirection = "unknown proxy direction"
)

// applyLabel maps one endpoint label (key=value, as the tap server and the
// proxy set them) onto the event model: p is the peer the label belongs to,
// pol the event's policy, and dest says whether p is the destination. Policy
// labels (srv_*, route_*, authz_*) count on the destination only, as do
// server_id and service; client_id counts on the source only. Labels the
// model has no place for are ignored.
//
// Every value kept is interned through in, so key and value may alias a
// buffer the caller reuses.
func applyLabel(p *event.Peer, pol *event.Policy, dest bool, key, value []byte, in *event.Interner) {
	var s *string
	switch string(key) { // no allocation: the compiler compares in place
	case "namespace":
		s = &p.Namespace
	case "pod":
		s = &p.Pod
	case "serviceaccount":
		s = &p.ServiceAccount
	case "node":
		s = &p.Node
	case "tls":
		s = &p.TLS
	case "client_id":
		if !dest {
			s = &p.Identity
		}
	case "server_id":
		if dest {
			s = &p.Identity
		}
	case "service":
		if dest {
			s = &p.Service
		}
	case "cronjob":
		setOwner(p, "cronjob", value, in)
	case "k8s_job":
		setOwner(p, "k8s_job", value, in)
	case "job":
		setOwner(p, "job", value, in)
	case "deployment":
		setOwner(p, "deployment", value, in)
	case "statefulset":
		setOwner(p, "statefulset", value, in)
	case "daemonset":
		setOwner(p, "daemonset", value, in)
	case "replicationcontroller":
		setOwner(p, "replicationcontroller", value, in)
	case "replicaset":
		setOwner(p, "replicaset", value, in)
	}
	if dest && pol != nil {
		switch string(key) {
		case "srv_group":
			s = &pol.ServerGroup
		case "srv_kind":
			s = &pol.ServerKind
		case "srv_name":
			s = &pol.ServerName
		case "route_group":
			s = &pol.RouteGroup
		case "route_kind":
			s = &pol.RouteKind
		case "route_name":
			s = &pol.RouteName
		case "authz_group":
			s = &pol.AuthzGroup
		case "authz_kind":
			s = &pol.AuthzKind
		case "authz_name":
			s = &pol.AuthzName
		}
	}
	if s != nil {
		*s = in.Bytes(value)
	}
}

// setOwner records an owner label unless a more significant one is already
// set. The tap server labels a pod with its whole owner chain (a
// Deployment's pod also carries its ReplicaSet, a CronJob's its Job), and
// the top of the chain is what a policy is written for. kind must be a
// constant: it is kept as is.
func setOwner(p *event.Peer, kind string, value []byte, in *event.Interner) {
	if len(value) == 0 || ownerSignificance(kind) < ownerSignificance(p.OwnerKind) {
		return
	}
	p.OwnerKind, p.Owner = kind, in.Bytes(value)
}

// ownerSignificance ranks owner label keys: the higher, the closer to the
// top of an owner chain. Unknown kinds (and "") rank lowest.
func ownerSignificance(kind string) int {
	switch kind {
	case "cronjob":
		return 7
	case "k8s_job", "job":
		return 6
	case "deployment":
		return 5
	case "statefulset":
		return 4
	case "daemonset":
		return 3
	case "replicationcontroller":
		return 2
	case "replicaset":
		return 1
	}
	return 0
}

// methodName returns the event model's string for an HTTP method as
// printed by linkerd: a constant for the nine registered methods, otherwise
// the upper-cased method interned through in. scratch is reused for the
// upper-casing.
func methodName(b []byte, in *event.Interner, scratch *[]byte) string {
	switch string(b) {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "OPTIONS":
		return "OPTIONS"
	case "CONNECT":
		return "CONNECT"
	case "HEAD":
		return "HEAD"
	case "TRACE":
		return "TRACE"
	}
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			// Methods are case-sensitive tokens, but the event model keeps
			// them upper case; only lower-case input pays for the copy.
			up := append((*scratch)[:0], b...)
			for j := i; j < len(up); j++ {
				if c := up[j]; 'a' <= c && c <= 'z' {
					up[j] = c - ('a' - 'A')
				}
			}
			*scratch = up
			return methodName(up, in, scratch)
		}
	}
	return in.Bytes(b)
}

// schemeName returns the constant for the registered schemes, otherwise the
// scheme interned.
func schemeName(b []byte, in *event.Interner) string {
	switch string(b) {
	case "HTTP":
		return "HTTP"
	case "HTTPS":
		return "HTTPS"
	}
	return in.Bytes(b)
}

// Limits on the warnings for unknown fields: a hostile or unexpected input
// must not grow Warnings without bound.
const (
	maxUnknownReasons  = 16 // distinct "unknown field <key>" reasons
	maxUnknownKeyBytes = 64 // bytes of the key kept in a reason
	unknownOther       = "unknown field (other)"
)

// unknownFields names the warnings for unknown fields: "unknown field
// <key>" for the first maxUnknownReasons distinct keys, unknownOther after
// that. A known key costs a map lookup and no allocation.
type unknownFields struct {
	reasons map[string]string // key (with its prefix) -> reason
	scratch []byte
}

// reason returns the warning reason for the unknown key prefix+key; prefix
// qualifies the key, as in "requestInitEvent.".
func (u *unknownFields) reason(prefix string, key []byte) string {
	u.scratch = append(append(u.scratch[:0], prefix...), key...)
	if r, ok := u.reasons[string(u.scratch)]; ok {
		return r
	}
	if len(u.reasons) >= maxUnknownReasons {
		return unknownOther
	}
	if u.reasons == nil {
		u.reasons = make(map[string]string)
	}
	name := u.scratch
	if len(name) > maxUnknownKeyBytes {
		name = name[:maxUnknownKeyBytes]
	}
	r := "unknown field " + printable(name)
	u.reasons[string(u.scratch)] = r
	return r
}

// printable returns b as is when it is printable ASCII, quoted otherwise, so
// that a warning never carries control characters or broken UTF-8.
func printable(b []byte) string {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			return strconv.Quote(string(b))
		}
	}
	return string(b)
}

// parseIP parses an IP address as linkerd prints it (net.IP.String):
// dotted IPv4 without allocating, anything else through netip.
func parseIP(b []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	if bytes.IndexByte(b, ':') < 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(string(b))
	return a, err == nil
}

// parseIPv4 parses a dotted IPv4 address: four decimal octets without
// leading zeros, as netip.ParseAddr accepts them.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var a [4]byte
	for i := range a {
		if i > 0 {
			if len(b) == 0 || b[0] != '.' {
				return netip.Addr{}, false
			}
			b = b[1:]
		}
		v, n := 0, 0
		for n < len(b) && n < 4 && '0' <= b[n] && b[n] <= '9' {
			v = v*10 + int(b[n]-'0')
			n++
		}
		if n == 0 || n > 3 || n > 1 && b[0] == '0' || v > 255 {
			return netip.Addr{}, false
		}
		a[i] = byte(v)
		b = b[n:]
	}
	return netip.AddrFrom4(a), len(b) == 0
}
