package synth

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

// probeRecording is a server whose probes Linkerd trips over: an httpGet
// probe with a query string, one that redirects (/health answers with
// /health/, which the kubelet follows and tap saw from node n1), a gRPC
// probe on its gRPC port (never recorded), a tcpSocket probe on a port no
// client uses; and a client of each traffic port.
func probeRecording() *recording.Recording {
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "file:test"}}
	rec.Workloads = []recording.Workload{
		{ID: "shop/api", Namespace: "shop", Kind: "Deployment", Name: "api", ServiceAccount: "api", Identity: meshID("api", "shop"), Meshed: true,
			Labels: map[string]string{"app": "api"},
			Ports: []recording.ContainerPort{{Port: 8080, Name: "http", Protocol: "TCP"}, {Port: 8081, Name: "health", Protocol: "TCP"},
				{Port: 9090, Name: "grpc", Protocol: "TCP"}},
			Probes: []recording.Probe{
				{Kind: "readiness", Port: 8080, Path: "/ready?verbose=1", Scheme: "HTTP"},
				{Kind: "liveness", Port: 8080, Path: "/health", Scheme: "HTTP"},
				{Kind: "startup", Handler: recording.ProbeGRPC, Port: 9090},
				{Kind: "liveness", Handler: recording.ProbeTCP, Port: 8081},
			}},
		{ID: "shop/web", Namespace: "shop", Kind: "Deployment", Name: "web", ServiceAccount: "web", Identity: meshID("web", "shop"), Meshed: true,
			Labels: map[string]string{"app": "web"}},
	}
	rec.Peers = []recording.Peer{{ID: "node:n1", Kind: recording.PeerNode, IPs: []string{"10.0.0.1"}}}
	mtls := func(port uint32, proto recording.Protocol, method, path string) recording.Edge {
		return recording.Edge{Client: "shop/web", Server: "shop/api", Port: port, Protocol: proto, Requests: 4, TLS: map[string]int64{"true": 4},
			Routes: []recording.Route{{Method: method, Path: path, Requests: 4}}}
	}
	rec.Edges = []recording.Edge{
		mtls(8080, recording.ProtocolHTTP, "GET", "/api/items"),
		mtls(9090, recording.ProtocolGRPC, "POST", "/shop.v1.Cart/Get"),
		{Client: "node:n1", Server: "shop/api", Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 9,
			TLS: map[string]int64{"no_tls_from_remote": 9}, SourceIPs: []recording.SourceIP{{IP: "10.0.0.1", Requests: 9}},
			Routes: []recording.Route{{Method: "GET", Path: "/ready?verbose=1", Requests: 3, Probe: true},
				{Method: "GET", Path: "/health", Requests: 3, Probe: true}, {Method: "GET", Path: "/health/", Requests: 3, Probe: true}}},
	}
	rec.Normalize()
	return rec
}

// probePods is probeRecording's api pod as the API server has it once
// injected: the probes on the containers that declare their ports (the
// tcpSocket probe on a sidecar's), and the proxy's admin port with its
// /live and /ready probes.
const probePods = `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-7c9f
  namespace: shop
  ownerReferences: [{kind: Deployment, name: api}]
---
apiVersion: v1
kind: Pod
metadata:
  name: api-7c9f-q2x4
  namespace: shop
  labels: {app: api, pod-template-hash: 7c9f, linkerd.io/control-plane-ns: linkerd}
  ownerReferences: [{kind: ReplicaSet, name: api-7c9f}]
spec:
  containers:
  - name: main
    ports: [{name: http, containerPort: 8080}, {name: grpc, containerPort: 9090}]
    readinessProbe: {httpGet: {path: '/ready?verbose=1', port: 8080}}
    livenessProbe: {httpGet: {path: /health, port: http}}
    startupProbe: {grpc: {port: 9090}}
  - name: health
    ports: [{name: health, containerPort: 8081}]
    livenessProbe: {tcpSocket: {port: 8081}}
  - name: linkerd-proxy
    ports: [{name: linkerd-admin, containerPort: 4191}, {name: linkerd-proxy, containerPort: 4143}]
    livenessProbe: {httpGet: {path: /live, port: 4191}}
    readinessProbe: {httpGet: {path: /ready, port: 4191}}
status: {podIP: 10.1.0.10}
`

// TestProbesKeepWorking: under default deny and enforcement, at every
// level, the kubelet's probe requests are admitted from a node never seen
// in the recording (a pod may be rescheduled anywhere in the probe
// networks): the httpGet probe with a query string, the redirect it
// follows, and the gRPC health check Linkerd gives no probe route to.
// At route level they are all the kubelet gets; tcpSocket probes need no
// policy (the proxy accepts the connection) and get none. fixtures/judge
// decides every request too, over the YAML stream and the pod, and the
// evaluator must agree with it.
func TestProbesKeepWorking(t *testing.T) {
	rec := probeRecording()
	node := netip.MustParseAddr("10.0.0.77")
	for _, level := range Levels {
		opts := options(level)
		opts.Mode, opts.DefaultDeny = ModeEnforce, true
		opts.ProbeNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
		c := synthesizeChecked(t, string(level), rec, opts)
		c.checkObserved()
		set := resultSet(c.res)
		ev, err := eval.New(set, eval.Cluster{Workloads: rec.Workloads, NamespacePolicies: map[string]string{"shop": policy.Deny}}, eval.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rf := newReferee(t, c.res, clusterPods(t, []byte(probePods)))
		kubelet := func(port uint32, method, path string) eval.Decision {
			d := ev.Decide(eval.Request{Destination: "shop/api", Port: port, SourceIP: node, Method: method, Path: path})
			v, err := rf.decide(request{client: "node:n2", server: "shop/api", port: port, ip: node, method: method, path: path})
			if err != nil {
				t.Fatalf("%s: %v", level, err)
			}
			if v.Allowed != d.Allowed {
				t.Errorf("%s: the kubelet's %s %s on port %d: the judge says %s, the evaluator allowed %v (%s; server %s, route %s, authorization %s)",
					level, method, path, port, v, d.Allowed, d.Reason, d.Server.Name, d.Route.Name, d.Authorization.Name)
			}
			return d
		}
		for _, p := range []struct {
			port         uint32
			method, path string
		}{
			{8080, "GET", "/ready?verbose=1"},
			{8080, "GET", "/ready"},
			{8080, "GET", "/health"},
			{8080, "GET", "/health/"},
			{9090, "POST", recording.GRPCHealthCheckPath},
			{eval.AdminPort, "GET", eval.AdminLivePath},
		} {
			if d := kubelet(p.port, p.method, p.path); !d.Allowed {
				t.Errorf("%s: the kubelet's %s %s on port %d is denied: %s", level, p.method, p.path, p.port, d.Reason)
			}
		}
		if level == LevelRoute {
			for _, p := range []struct {
				port         uint32
				method, path string
			}{{8080, "GET", "/api/items"}, {8080, "GET", "/health/x"}, {9090, "POST", "/shop.v1.Cart/Get"}} {
				if d := kubelet(p.port, p.method, p.path); d.Allowed {
					t.Errorf("route level: a node may %s %s on port %d", p.method, p.path, p.port)
				}
			}
		}
		for _, s := range set.Servers {
			if s.Spec.Port.IntVal == 8081 || s.Spec.Port.StrVal == "health" {
				t.Errorf("%s: a Server for the tcpSocket probe's port: %s", level, s.Name)
			}
		}
	}
}

// TestGRPCProbeWithoutProbeSources: a gRPC probe with no probe source
// known (no --probe-networks, no node in the recording) cannot be granted,
// and synth says so.
func TestGRPCProbeWithoutProbeSources(t *testing.T) {
	rec := probeRecording()
	rec.Peers = nil
	rec.Edges = slices.DeleteFunc(rec.Edges, func(e recording.Edge) bool { return e.Client == "node:n1" })
	opts := options(LevelServiceAccount)
	c := synthesizeChecked(t, "no probe sources", rec, opts)
	for _, w := range c.res.Warnings {
		if w == "shop/api port 9090: its gRPC probe gets no probe route from Linkerd, and no probe source is known: give --probe-networks with your node CIDRs, or the probe is denied once the Server enforces" {
			return
		}
	}
	t.Errorf("no warning about the gRPC probe: %q", c.res.Warnings)
}

// TestRecordedProbeSourcesWarn: probe grants built from the node addresses
// the recording saw are said to miss nodes added later.
func TestRecordedProbeSourcesWarn(t *testing.T) {
	const want = "probes are authorized from the 1 node addresses in the recording only"
	for _, given := range []bool{false, true} {
		opts := options(LevelRoute)
		if given {
			opts.ProbeNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
		}
		c := synthesizeChecked(t, "probe sources", probeRecording(), opts)
		warned := slices.ContainsFunc(c.res.Warnings, func(w string) bool { return strings.HasPrefix(w, want) })
		if warned == given {
			t.Errorf("--probe-networks given %v: warned %v: %q", given, warned, c.res.Warnings)
		}
	}
}
