// Package recording defines the recorded service graph: the versioned file
// that is the contract between observe (which writes it) and synth (which
// reads it). A recording holds the windows of traffic it covers, the
// workloads and other peers seen, and one edge per (client, server, port).
//
// Everything here is deterministic: slices are kept sorted (Normalize), maps
// are written with sorted keys, so the same input gives the same bytes.
//
// It imports only the standard library, sigs.k8s.io/yaml, gonum and
// observe/pathseg.
package recording

import (
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/pathseg"
)

// APIVersion and Kind identify the file format. Readers refuse other
// versions, except the older ones they still read (ReadsVersions).
const (
	APIVersion = "cinch.cinchmesh.io/v1alpha2"
	Kind       = "Recording"
)

// ReadsVersions are the apiVersions Decode reads: the current one, and
// v1alpha1, whose routes are all raw paths or --redact templates with
// whole-segment parameters, a subset of v1alpha2. What is read is written
// back as the current version.
var ReadsVersions = []string{APIVersion, "cinch.cinchmesh.io/v1alpha1"}

// PeerID names a peer the way the truth files and `graph show -o json` do:
// "namespace/workload" for a workload, "node:NAME" for a node address,
// "ip:ADDRESS" for anything else.
type PeerID string

// Protocol is what an edge carried as far as the source can tell. Tap
// does not report the HTTP version, so plain HTTP is "HTTP" (HTTP/1 or
// HTTP/2). TCP is a connection-level edge (opaque or otherwise not HTTP),
// known from metrics only: its Requests count connections.
type Protocol string

const (
	ProtocolHTTP Protocol = "HTTP"
	ProtocolGRPC Protocol = "gRPC"
	ProtocolTCP  Protocol = "TCP"
)

// Recording is the whole file.
type Recording struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Windows    []Window   `json:"windows"`
	Workloads  []Workload `json:"workloads,omitempty"`
	Peers      []Peer     `json:"peers,omitempty"`
	Edges      []Edge     `json:"edges"`
}

// New returns an empty recording with its type fields set.
func New() *Recording {
	return &Recording{APIVersion: APIVersion, Kind: Kind, Windows: []Window{}, Edges: []Edge{}}
}

// Window is one stretch of observation from one source.
type Window struct {
	// Source says where the traffic came from: "file:NAME", "tap:...".
	Source string `json:"source"`
	// Format of a file source: raw, json or text.
	Format string     `json:"format,omitempty"`
	Start  *time.Time `json:"start,omitempty"`
	End    *time.Time `json:"end,omitempty"`
	// Sampling says how complete the window is.
	Sampling Sampling `json:"sampling"`
	Events   int64    `json:"events"`
	Requests int64    `json:"requests"`
	// Warnings counts input skipped on purpose, by reason.
	Warnings map[string]int64 `json:"warnings,omitempty"`
	// Error is set when reading stopped early (with --keep-going): what was
	// read before it is in the recording.
	Error string `json:"error,omitempty"`
	// Interrupted is set when the replay of a file was interrupted (Ctrl-C)
	// before its end: how far it got. The window holds only that part.
	Interrupted string `json:"interrupted,omitempty"`
	// Gaps are the stretches of a live window when a stream was down (a tap
	// pod restart, an API server hiccup) before it was re-established.
	Gaps []Gap `json:"gaps,omitempty"`
	// Redacted says the window's raw paths were replaced by their route
	// templates (cinch observe --redact).
	Redacted bool `json:"redacted,omitempty"`
}

// Gap is a stretch of a live window without events from one target.
type Gap struct {
	Target string    `json:"target"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Error  string    `json:"error"`
}

// Sampling describes how the traffic was collected.
type Sampling struct {
	// Sampled is true for tap: tap forwards at most MaxRPS requests per
	// second per target, so counts are a sample, not totals.
	Sampled bool `json:"sampled"`
	// MaxRPS is tap's limit when known (0 when unknown, e.g. saved output).
	MaxRPS float64 `json:"maxRps,omitempty"`
}

// Workload is a meshed or unmeshed Kubernetes workload seen as client or
// server. Cluster fields (labels, ports, probes, services, annotations) are
// present when cluster objects were available while recording, so later
// stages never need the cluster.
type Workload struct {
	ID             PeerID `json:"id"`
	Namespace      string `json:"namespace"`
	Kind           string `json:"kind"`
	Name           string `json:"name"`
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// Identity is the workload's mesh identity when it is meshed.
	Identity string `json:"identity,omitempty"`
	Meshed   bool   `json:"meshed"`
	// Labels are the pod template's labels (without pod-template-hash):
	// what a Server's podSelector can match.
	Labels   map[string]string `json:"labels,omitempty"`
	Ports    []ContainerPort   `json:"ports,omitempty"`
	Probes   []Probe           `json:"probes,omitempty"`
	Services []string          `json:"services,omitempty"`
	// DefaultInboundPolicy is config.linkerd.io/default-inbound-policy from
	// the pod template, else from the namespace.
	DefaultInboundPolicy string `json:"defaultInboundPolicy,omitempty"`
}

// ContainerPort is a declared container port.
type ContainerPort struct {
	Port     int32  `json:"port"`
	Name     string `json:"name,omitempty"`
	Protocol string `json:"protocol,omitempty"`
}

// Probe is a probe of the pod template (liveness, readiness or startup),
// with its port resolved to a number.
type Probe struct {
	Kind string `json:"kind"` // liveness, readiness or startup
	// Handler is how the kubelet probes: "" for httpGet (Path and Scheme
	// set), ProbeGRPC or ProbeTCP.
	Handler string `json:"handler,omitempty"`
	Port    int32  `json:"port"`
	// Path is the httpGet path as the pod spec gives it, a query string
	// included.
	Path   string `json:"path,omitempty"`
	Scheme string `json:"scheme,omitempty"`
}

// Probe handlers other than httpGet.
const (
	ProbeGRPC = "grpc"
	ProbeTCP  = "tcpSocket"
)

// GRPCHealthCheckPath is the request of a kubelet gRPC probe: the standard
// health service's Check, whatever service the probe names (that goes in
// the request body).
const GRPCHealthCheckPath = "/grpc.health.v1.Health/Check"

// Request is the HTTP request the kubelet sends for the probe: GET of
// the path without its query string (a route matches the path only) for
// httpGet, POST of the health check for gRPC; ok is false for a tcpSocket
// probe, which only opens a connection.
func (p Probe) Request() (method, path string, ok bool) {
	switch p.Handler {
	case "":
		path, _, _ = strings.Cut(p.Path, "?")
		if path == "" {
			path = "/"
		}
		return "GET", path, true
	case ProbeGRPC:
		return "POST", GRPCHealthCheckPath, true
	}
	return "", "", false
}

// PeerKind classifies non-workload peers.
type PeerKind string

const (
	PeerNode     PeerKind = "node"
	PeerExternal PeerKind = "ip"
	// PeerIdentity is a meshed client known only by its mesh identity
	// (metrics name clients by client_id, not by address): its ID is
	// "identity:" followed by the identity.
	PeerIdentity PeerKind = "identity"
)

// Peer is a client or server that is not a workload: a node address or any
// other IP.
type Peer struct {
	ID   PeerID   `json:"id"`
	Kind PeerKind `json:"kind"`
	IPs  []string `json:"ips,omitempty"`
}

// Edge is the traffic from one client to one server port.
type Edge struct {
	Client   PeerID   `json:"client"`
	Server   PeerID   `json:"server"`
	Port     uint32   `json:"port"`
	Protocol Protocol `json:"protocol"`
	Requests int64    `json:"requests"`
	// Denied counts requests the server's proxy refused by policy. Only
	// metrics show them (tap never sees a denied request); an edge may have
	// Denied and no Requests at all. synth never grants them by itself.
	Denied int64 `json:"denied,omitempty"`
	// OutboundOnly is set when no inbound event was seen for this edge (the
	// server's proxy was not tapped): the counts come from the client's
	// proxy and carry no policy decision.
	OutboundOnly bool `json:"outboundOnly,omitempty"`
	// TLS counts requests by the connection's tls state: "true" for mTLS,
	// or the reason there was none (as the server's proxy saw the client;
	// for outbound-only edges as the client's proxy saw the server).
	TLS map[string]int64 `json:"tls,omitempty"`
	// SourceIPs are the client addresses of requests without mTLS (what a
	// NetworkAuthentication must cover), at most the recorder's limit;
	// SourceIPsOverflow counts requests from addresses beyond it.
	SourceIPs         []SourceIP `json:"sourceIPs,omitempty"`
	SourceIPsOverflow int64      `json:"sourceIPsOverflow,omitempty"`
	// Status counts responses by HTTP status; GRPCStatus by grpc-status
	// (gRPC edges only); Resets counts streams reset before a response end.
	Status     map[string]int64 `json:"status,omitempty"`
	GRPCStatus map[string]int64 `json:"grpcStatus,omitempty"`
	Resets     int64            `json:"resets,omitempty"`
	// Latency is the time to response headers (tap's "latency").
	Latency   Histogram  `json:"latency"`
	FirstSeen *time.Time `json:"firstSeen,omitempty"`
	LastSeen  *time.Time `json:"lastSeen,omitempty"`
	// Decisions are the live policy decisions the server's proxy labelled
	// the requests with.
	Decisions []Decision `json:"decisions,omitempty"`
	// Routes are the observed (method, path) pairs, raw paths or the
	// templates the recorder folded them into, at most the recorder's limit
	// of routes; RoutesOverflow counts the requests beyond it, so
	// Requests == sum(Routes) + RoutesOverflow.
	Routes         []Route `json:"routes,omitempty"`
	RoutesOverflow int64   `json:"routesOverflow,omitempty"`
}

// Key identifies an edge.
type Key struct {
	Client PeerID
	Server PeerID
	Port   uint32
}

// Key returns the edge's identity.
func (e *Edge) Key() Key { return Key{e.Client, e.Server, e.Port} }

// Decision is one live policy decision and how many requests got it. Each
// is written "kind/name", with ".group" after the kind when it has one, as
// the proxy labelled it (e.g. "default/all-unauthenticated",
// "server.policy.linkerd.io/web-http").
type Decision struct {
	Server   string `json:"server"`
	Route    string `json:"route,omitempty"`
	Authz    string `json:"authz,omitempty"`
	Requests int64  `json:"requests"`
}

// SourceIP is a client address and its request count.
type SourceIP struct {
	IP       string `json:"ip"`
	Requests int64  `json:"requests"`
}

// Route is one observed method and raw path, or its template.
type Route struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	Requests int64  `json:"requests"`
	// Probe is set when the requests were recognised as kubelet probes:
	// the proxy's probe route, a node as the client, or a GET of one of
	// the server's httpGet probe paths on that port.
	Probe bool `json:"probe,omitempty"`
	// Template says Path is a route template, not a raw path: typed
	// segments such as {int}, ORD-{int} or {param}, with the braces of
	// literal text doubled ("{{" for "{"). The recorder folds paths with
	// typed ids into templates as it records; cinch observe --redact
	// writes inferred templates.
	Template bool `json:"template,omitempty"`
	// Examples are a few raw paths of a template the recorder folded
	// (sorted, at most MaxExamples); never in a redacted recording.
	Examples []string `json:"examples,omitempty"`
	// Params are the evidence of a template's parameters, one per
	// parameter in the order of the template text: distinct values seen
	// (counted exactly up to pathseg.SketchSize, estimated beyond), the
	// shortest and the longest. Route inference reads them: a {hex} whose
	// values all had one length becomes {hex:N}. Absent for a template
	// nothing was kept for (a redacted recording, v1alpha1).
	Params []pathseg.Evidence `json:"params,omitempty"`
}

// RequestPath is the path that stands for the route's requests when they
// are evaluated against policy: the raw path, or for a template the first
// raw path kept of it (a real request, as hand-written policy would see
// it), else, in a redacted recording, one made up from the template
// (pathseg.ExamplePath).
func (r *Route) RequestPath() string {
	switch {
	case r.Template && len(r.Examples) > 0:
		return r.Examples[0]
	case r.Template:
		return pathseg.ExamplePath(r.Path)
	}
	return r.Path
}

// MaxExamples is how many raw paths a template keeps as examples.
const MaxExamples = 3
