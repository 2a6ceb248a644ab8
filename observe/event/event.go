// Package event is cinch's own model of one tap event, decoupled from every wire
// encoding. Decoders in observe/tapstream produce it; the recorder in
// observe/record consumes it.
//
// It imports only the standard library.
package event

import (
	"net/netip"
	"time"
)

// Direction says which proxy reported an event. Policy is about Inbound:
// the server's proxy saw (and admitted) the request.
type Direction uint8

const (
	DirectionUnknown Direction = iota
	Inbound
	Outbound
)

func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	}
	return "unknown"
}

// Kind is the phase of one HTTP exchange that an event reports.
type Kind uint8

const (
	KindUnknown Kind = iota
	RequestInit
	ResponseInit
	ResponseEnd
)

func (k Kind) String() string {
	switch k {
	case RequestInit:
		return "req"
	case ResponseInit:
		return "rsp"
	case ResponseEnd:
		return "end"
	}
	return "unknown"
}

// StreamID identifies one request within the proxy that reported it. Base is
// per proxy process, Stream per request; the pair is only unique together with
// the reporting proxy and direction.
type StreamID struct {
	Base   uint32
	Stream uint64
}

// Peer is one end of the connection as the tap server and proxy labelled it.
// Every string is empty when the label was absent.
type Peer struct {
	IP   netip.Addr
	Port uint32

	Namespace      string
	Pod            string
	OwnerKind      string // label key of the owner: "deployment", "statefulset", "daemonset", "k8s_job", ...
	Owner          string // its value
	ServiceAccount string
	Node           string // set instead of Pod when the address is a node's
	Service        string // destination only: the Service the client addressed
	// TLS is the "tls" label: "true" for mTLS, otherwise the reason
	// ("no_tls_from_remote", "loopback", "disabled", "port_skipped", "passthru").
	TLS string
	// Identity is the peer's mesh identity: client_id on a source, server_id
	// on a destination.
	Identity string
}

// Policy is the live decision the inbound proxy labelled the event with
// (srv_*, route_*, authz_*). Empty on outbound events and on old proxies.
type Policy struct {
	ServerGroup, ServerKind, ServerName string
	RouteGroup, RouteKind, RouteName    string
	AuthzGroup, AuthzKind, AuthzName    string
}

// IsZero reports whether no policy label was present.
func (p Policy) IsZero() bool { return p == Policy{} }

// EndKind says how a response stream ended.
type EndKind uint8

const (
	EndNone  EndKind = iota // no end-of-stream detail (plain HTTP)
	EndGRPC                 // GRPCStatus holds the grpc-status trailer
	EndReset                // ResetCode holds the HTTP/2 reset error code
)

// Event is one decoded tap event.
//
// Labels are interned strings and may be kept. Path and Authority are
// different: they are high-cardinality and alias the decoder's buffer, valid
// only until the next call to the reader's Next. Copy them (string(b)) to keep
// them; lookups such as m[string(ev.Path)] do not allocate.
type Event struct {
	Direction   Direction
	Kind        Kind
	ID          StreamID
	Source      Peer
	Destination Peer
	Policy      Policy
	// Time is when the event was received, for live sources; zero for saved
	// output, which carries no timestamps.
	Time time.Time

	// RequestInit.
	Method      string // upper case; registered methods are constants, others interned
	Scheme      string
	Authority   []byte
	Path        []byte // never includes the query string
	ContentType string // from extracted headers, when tap was asked for them

	// ResponseInit and ResponseEnd.
	HTTPStatus       uint32
	SinceRequestInit time.Duration

	// ResponseEnd.
	SinceResponseInit time.Duration
	ResponseBytes     uint64
	End               EndKind
	GRPCStatus        uint32
	ResetCode         uint32
}

// Reset clears ev for reuse, keeping the capacity of its byte slices.
func (ev *Event) Reset() {
	path, authority := ev.Path[:0], ev.Authority[:0]
	*ev = Event{Path: path, Authority: authority}
}
