package recorder

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/pathseg"
	"github.com/cinchmesh/cinch/observe/recording"
)

var (
	webIP   = netip.MustParseAddr("10.42.0.1")
	apiIP   = netip.MustParseAddr("10.42.0.2")
	dbIP    = netip.MustParseAddr("10.42.0.3")
	nodeIP  = netip.MustParseAddr("10.0.0.1")
	otherIP = netip.MustParseAddr("192.0.2.7")
)

func pod(ip netip.Addr, ns, deploy, sa string) event.Peer {
	return event.Peer{IP: ip, Port: 8080, Namespace: ns, Pod: deploy + "-abc", OwnerKind: "deployment", Owner: deploy, ServiceAccount: sa}
}

// exchange returns the three events of one request as reported by one proxy.
func exchange(dir event.Direction, id uint64, src, dst event.Peer, method, path string, status uint32) []event.Event {
	base := event.Event{Direction: dir, ID: event.StreamID{Base: 7, Stream: id}, Source: src, Destination: dst}
	if dir == event.Inbound {
		base.Policy = event.Policy{ServerKind: "default", ServerName: "all-unauthenticated", RouteKind: "default", RouteName: "default", AuthzKind: "default", AuthzName: "all-unauthenticated"}
	}
	req, rsp, end := base, base, base
	req.Kind, req.Method, req.Path = event.RequestInit, method, []byte(path)
	rsp.Kind, rsp.HTTPStatus, rsp.SinceRequestInit = event.ResponseInit, status, 1500*time.Microsecond
	end.Kind = event.ResponseEnd
	return []event.Event{req, rsp, end}
}

func run(t *testing.T, opts Options, evs ...[]event.Event) (*recording.Recording, map[string]int64) {
	t.Helper()
	r := New(opts)
	r.BeginWindow(recording.Window{Source: "test"})
	for _, batch := range evs {
		for i := range batch {
			r.Add(&batch[i])
		}
	}
	r.EndWindow(nil, nil)
	rec := r.Recording()
	return rec, rec.Windows[0].Warnings
}

func edgeOf(t *testing.T, rec *recording.Recording, client, server string) recording.Edge {
	t.Helper()
	for _, e := range rec.Edges {
		if string(e.Client) == client && string(e.Server) == server {
			return e
		}
	}
	t.Fatalf("no edge %s -> %s in %+v", client, server, rec.Edges)
	return recording.Edge{}
}

func TestInboundIsTheAuthority(t *testing.T) {
	web, api := pod(webIP, "shop", "web", "web"), pod(apiIP, "shop", "api", "api")
	out := web
	out.TLS = "loopback"
	in := web
	in.TLS, in.Identity = "true", "web.shop.serviceaccount.identity.linkerd.cluster.local"
	rec, _ := run(t, Options{},
		exchange(event.Outbound, 1, out, api, "GET", "/items/1", 200),
		exchange(event.Inbound, 1, in, api, "GET", "/items/1", 200),
		exchange(event.Outbound, 2, out, api, "GET", "/items/2", 503),
		exchange(event.Inbound, 2, in, api, "GET", "/items/2", 503),
	)
	e := edgeOf(t, rec, "shop/web", "shop/api")
	if e.Requests != 2 || e.OutboundOnly {
		t.Errorf("requests = %d outboundOnly = %v, want 2 counted once each from inbound", e.Requests, e.OutboundOnly)
	}
	if e.Status["200"] != 1 || e.Status["503"] != 1 {
		t.Errorf("status = %v, want one 200 and one 503", e.Status)
	}
	if e.Latency.Count != 2 {
		t.Errorf("latency count = %d, want 2", e.Latency.Count)
	}
	if len(e.Decisions) != 1 || e.Decisions[0].Server != "default/all-unauthenticated" || e.Decisions[0].Requests != 2 {
		t.Errorf("decisions = %+v", e.Decisions)
	}
	if e.TLS["true"] != 2 || len(e.SourceIPs) != 0 {
		t.Errorf("tls = %v sourceIPs = %v: want 2 mTLS requests and no unauthenticated sources", e.TLS, e.SourceIPs)
	}
	for _, w := range rec.Workloads {
		if w.ID == "shop/web" && (w.Identity != in.Identity || !w.Meshed || w.Kind != "Deployment" || w.ServiceAccount != "web") {
			t.Errorf("web workload = %+v", w)
		}
	}
}

func TestOutboundOnlyWhenServerNotTapped(t *testing.T) {
	web, db := pod(webIP, "shop", "web", "web"), pod(dbIP, "shop", "db", "db")
	rec, _ := run(t, Options{}, exchange(event.Outbound, 1, web, db, "GET", "/q", 200), exchange(event.Outbound, 2, web, db, "GET", "/q", 200))
	e := edgeOf(t, rec, "shop/web", "shop/db")
	if e.Requests != 2 || !e.OutboundOnly || len(e.Decisions) != 0 {
		t.Errorf("edge = %+v, want 2 outbound-only requests without decisions", e)
	}
}

// TestPathsWithIDsFoldIntoTemplates: every request of a path with typed
// ids counts under its template, with a few raw examples, whatever the
// limit.
func TestPathsWithIDsFoldIntoTemplates(t *testing.T) {
	web, api := pod(webIP, "shop", "web", "web"), pod(apiIP, "shop", "api", "api")
	var evs [][]event.Event
	for i := range 50 {
		evs = append(evs, exchange(event.Inbound, uint64(i), web, api, "GET", fmt.Sprintf("/orders/ORD-%05d/items", i), 200))
	}
	evs = append(evs, exchange(event.Inbound, 99, web, api, "GET", "/orders", 200))
	rec, _ := run(t, Options{Limits: recording.Limits{MaxPathsPerEdge: 3, MaxSourceIPsPerEdge: 1}}, evs...)
	e := edgeOf(t, rec, "shop/web", "shop/api")
	want := []recording.Route{
		{Method: "GET", Path: "/orders", Requests: 1},
		{Method: "GET", Path: "/orders/ORD-{int}/items", Requests: 50, Template: true,
			Examples: []string{"/orders/ORD-00000/items", "/orders/ORD-00001/items", "/orders/ORD-00002/items"}},
	}
	// 50 distinct ids of five digits: more than the sketch counts exactly.
	if p := e.Routes[1].Params; len(p) != 1 || p[0].Shortest != 5 || p[0].Longest != 5 || len(p[0].Sketch) != pathseg.SketchSize || p[0].Distinct < pathseg.SketchSize {
		t.Errorf("params %+v, want one of 5 digits with a full sketch", p)
	}
	e.Routes[1].Params = nil
	if !reflect.DeepEqual(e.Routes, want) || e.RoutesOverflow != 0 {
		t.Errorf("routes %#v, overflow %d; want %#v", e.Routes, e.RoutesOverflow, want)
	}
}

// TestTemplateEvidence: a template counts the distinct values of each of
// its parameters (exactly while they are few), the shortest and the
// longest, across methods and in an outbound-only report joined later.
func TestTemplateEvidence(t *testing.T) {
	web, api := pod(webIP, "shop", "web", "web"), pod(apiIP, "shop", "api", "api")
	var evs [][]event.Event
	for i, id := range []string{"7", "1042", "7", "88", "1042", "7"} {
		method := []string{"GET", "DELETE"}[i%2]
		evs = append(evs, exchange(event.Inbound, uint64(i), web, api, method, "/users/u-"+id+"/keys/"+strings.Repeat("ab12", i+3), 200))
	}
	rec, _ := run(t, Options{}, evs...)
	e := edgeOf(t, rec, "shop/web", "shop/api")
	if len(e.Routes) != 2 {
		t.Fatalf("routes %+v, want GET and DELETE of one template", e.Routes)
	}
	for _, r := range e.Routes {
		if r.Path != "/users/u-{int}/keys/{hex}" || len(r.Params) != 2 {
			t.Fatalf("route %+v", r)
		}
		if p := r.Params[0]; p.Distinct != 3 || p.Shortest != 1 || p.Longest != 4 {
			t.Errorf("%s: the id's evidence is %+v, want 3 distinct values of 1 to 4 digits", r.Method, p)
		}
		if p := r.Params[1]; p.Distinct != 6 || p.Shortest != 12 || p.Longest != 32 {
			t.Errorf("%s: the key's evidence is %+v, want 6 distinct values of 12 to 32 digits", r.Method, p)
		}
	}
}

// TestRouteLimitFoldsUnseenSegments: once an edge holds as many routes as
// it may, a literal segment it has not seen at that depth is folded, so
// no request is without a route; only beyond twice the limit are requests
// counted as overflow.
func TestRouteLimitFoldsUnseenSegments(t *testing.T) {
	web, api := pod(webIP, "shop", "web", "web"), pod(apiIP, "shop", "api", "api")
	var evs [][]event.Event
	for i := range 10 {
		evs = append(evs, exchange(event.Inbound, uint64(i), web, api, "GET", "/users/"+string(rune('a'+i))+"/profile", 200))
	}
	evs = append(evs, exchange(event.Inbound, 20, web, api, "GET", "/users/cus_9fQx2L/profile", 200))
	evs = append(evs, exchange(event.Inbound, 21, web, api, "GET", "/users/a/profile", 200))
	rec, _ := run(t, Options{Limits: recording.Limits{MaxPathsPerEdge: 3, MaxSourceIPsPerEdge: 1}}, evs...)
	e := edgeOf(t, rec, "shop/web", "shop/api")
	got := map[string]int64{}
	var sum int64
	for _, r := range e.Routes {
		got[r.Path] = r.Requests
		sum += r.Requests
	}
	want := map[string]int64{"/users/a/profile": 2, "/users/b/profile": 1, "/users/c/profile": 1, "/users/{param}/profile": 7, "/users/cus_{alnum:6}/profile": 1}
	if !maps.Equal(got, want) || e.RoutesOverflow != 0 || sum != e.Requests {
		t.Errorf("routes %v, overflow %d; want %v and nothing overflowed", got, e.RoutesOverflow, want)
	}

	// Twice the limit: the rest is counted, not lost. Each path folds to
	// a template of its own ({alnum:3}, {alnum:4}, ...).
	evs = evs[:0]
	for i := range 12 {
		evs = append(evs, exchange(event.Inbound, uint64(i), web, api, "GET", "/x/p1"+strings.Repeat("q", i+1), 200))
	}
	rec, _ = run(t, Options{Limits: recording.Limits{MaxPathsPerEdge: 2, MaxSourceIPsPerEdge: 1}}, evs...)
	e = edgeOf(t, rec, "shop/web", "shop/api")
	sum = 0
	for _, r := range e.Routes {
		sum += r.Requests
	}
	if len(e.Routes) != 4 || sum+e.RoutesOverflow != e.Requests || e.RoutesOverflow != 8 {
		t.Errorf("routes %+v, overflow %d: want two raw paths, two folded ones and 8 overflowed", e.Routes, e.RoutesOverflow)
	}
}

func TestProbesAndPeers(t *testing.T) {
	api := pod(apiIP, "shop", "api", "api")
	node := event.Peer{IP: nodeIP, Node: "node-1", TLS: "no_tls_from_remote"}
	ext := event.Peer{IP: otherIP, TLS: "no_tls_from_remote"}
	probe := exchange(event.Inbound, 1, ext, api, "GET", "/healthz", 200)
	probe[0].Policy.RouteName, probe[0].Policy.AuthzName = "probe", "probe"
	rec, _ := run(t, Options{},
		exchange(event.Inbound, 2, node, api, "GET", "/ready", 200),
		probe,
		exchange(event.Inbound, 3, ext, api, "GET", "/", 200),
	)
	fromNode := edgeOf(t, rec, "node:node-1", "shop/api")
	if !fromNode.Routes[0].Probe {
		t.Errorf("node request not marked as probe: %+v", fromNode.Routes)
	}
	fromExt := edgeOf(t, rec, "ip:192.0.2.7", "shop/api")
	for _, r := range fromExt.Routes {
		if want := r.Path == "/healthz"; r.Probe != want {
			t.Errorf("route %s probe = %v, want %v", r.Path, r.Probe, want)
		}
	}
	if len(fromExt.SourceIPs) != 1 || fromExt.SourceIPs[0] != (recording.SourceIP{IP: "192.0.2.7", Requests: 2}) {
		t.Errorf("source IPs = %+v", fromExt.SourceIPs)
	}
	if len(rec.Peers) != 2 || rec.Peers[0].ID != "ip:192.0.2.7" || rec.Peers[1].ID != "node:node-1" || rec.Peers[1].IPs[0] != "10.0.0.1" {
		t.Errorf("peers = %+v", rec.Peers)
	}
}

func TestProbePathsFromCluster(t *testing.T) {
	objs, err := cluster.Read(strings.NewReader(`
apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: shop, labels: {app: api, linkerd.io/control-plane-ns: linkerd}}
spec:
  serviceAccountName: api
  containers:
  - name: main
    ports: [{name: http, containerPort: 8080}]
    livenessProbe: {httpGet: {path: /live, port: http}}
  - name: linkerd-proxy
status: {podIP: 10.42.0.2}
`))
	if err != nil {
		t.Fatal(err)
	}
	inv := cluster.NewInventory(objs, cluster.Options{})
	// Text output: addresses only.
	src := event.Peer{IP: otherIP, TLS: "no_tls_from_remote"}
	dst := event.Peer{IP: apiIP, Port: 8080}
	rec, _ := run(t, Options{Inventory: inv},
		exchange(event.Inbound, 1, src, dst, "GET", "/live", 200),
		exchange(event.Inbound, 2, src, dst, "POST", "/live", 200))
	e := edgeOf(t, rec, "ip:192.0.2.7", "shop/api-1")
	for _, r := range e.Routes {
		if want := r.Method == "GET"; r.Probe != want {
			t.Errorf("%s %s probe = %v, want %v", r.Method, r.Path, r.Probe, want)
		}
	}
	w := rec.Workloads[0]
	if w.Kind != "Pod" || w.Identity != "api.shop.serviceaccount.identity.linkerd.cluster.local" || w.Labels["app"] != "api" || len(w.Probes) != 1 || w.Probes[0].Port != 8080 {
		t.Errorf("workload from cluster = %+v", w)
	}
}

func TestGRPCDetectionAndStatus(t *testing.T) {
	web, api := pod(webIP, "shop", "web", "web"), pod(apiIP, "shop", "api", "api")
	call := exchange(event.Inbound, 1, web, api, "POST", "/shop.v1.Catalog/List", 200)
	call[2].End, call[2].GRPCStatus = event.EndGRPC, 5
	rec, _ := run(t, Options{}, call)
	e := edgeOf(t, rec, "shop/web", "shop/api")
	if e.Protocol != recording.ProtocolGRPC || e.GRPCStatus["5"] != 1 {
		t.Errorf("protocol %s grpcStatus %v, want gRPC with one status 5", e.Protocol, e.GRPCStatus)
	}
	for _, p := range []string{"/v1.2/items", "/shop.v1.Catalog/", "/shop.v1.Catalog/List/x", "/Catalog/List", "/shop.v1.catalog/List"} {
		if grpcPath([]byte(p)) {
			t.Errorf("grpcPath(%q) = true, want false", p)
		}
	}
}

func TestWarnings(t *testing.T) {
	web, api := pod(webIP, "shop", "web", "web"), pod(apiIP, "shop", "api", "api")
	orphan := exchange(event.Inbound, 1, web, api, "GET", "/", 200)[1:]
	noDir := exchange(event.DirectionUnknown, 2, web, api, "GET", "/", 200)[:1]
	noAddr := exchange(event.Inbound, 3, event.Peer{}, api, "GET", "/", 200)[:1]
	_, warnings := run(t, Options{}, orphan, noDir, noAddr)
	want := map[string]int64{"response without its request": 1, "response end without its request": 1, "event without proxy direction": 1, "event without address": 1}
	for k, v := range want {
		if warnings[k] != v {
			t.Errorf("warnings[%q] = %d, want %d (all: %v)", k, warnings[k], v, warnings)
		}
	}
}

func TestStatsCountEdgesOnceWhateverReportedThem(t *testing.T) {
	web, api, db := pod(webIP, "shop", "web", "web"), pod(apiIP, "shop", "api", "api"), pod(dbIP, "shop", "db", "db")
	r := New(Options{})
	r.BeginWindow(recording.Window{Source: "test"})
	for _, batch := range [][]event.Event{
		exchange(event.Outbound, 1, web, api, "GET", "/items/1", 200),
		exchange(event.Inbound, 1, web, api, "GET", "/items/1", 200),
		exchange(event.Inbound, 2, web, api, "GET", "/items/2", 200),
		exchange(event.Outbound, 3, web, db, "GET", "/q", 200),
	} {
		for i := range batch {
			r.Add(&batch[i])
		}
	}
	want := Stats{Events: 12, Edges: 2, Routes: 2}
	if got := r.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v (web->api reported by both proxies is one edge with one route, /items/{int}; web->db one route)", got, want)
	}
}

func TestQueryStringsStayOut(t *testing.T) {
	web, api := pod(webIP, "shop", "web", "web"), pod(apiIP, "shop", "api", "api")
	for _, keep := range []bool{false, true} {
		rec, _ := run(t, Options{KeepQuery: keep},
			exchange(event.Inbound, 1, web, api, "GET", "/login?token=s3cret", 200),
			exchange(event.Inbound, 2, web, api, "GET", "/login", 200))
		e := edgeOf(t, rec, "shop/web", "shop/api")
		want := 1
		if keep {
			want = 2
		}
		if len(e.Routes) != want || strings.Contains(e.Routes[len(e.Routes)-1].Path, "s3cret") != keep {
			t.Errorf("KeepQuery %v: routes %+v", keep, e.Routes)
		}
	}
}

// TestSourceIPLimitBoundary: an edge keeps exactly the limit's number of
// client addresses of requests without mTLS (known ones keep counting)
// and counts the requests of further addresses as overflow.
func TestSourceIPLimitBoundary(t *testing.T) {
	api := pod(apiIP, "shop", "api", "api")
	legacy := func(last byte) event.Peer {
		p := pod(netip.AddrFrom4([4]byte{10, 42, 1, last}), "shop", "legacy", "")
		p.TLS = "no_tls_from_remote"
		return p
	}
	for _, tc := range []struct {
		addrs        []byte
		kept         int
		overflow     int64
		firstCounted int64
	}{
		{[]byte{1, 2, 1}, 2, 0, 2},
		{[]byte{1, 2, 3, 1, 3}, 2, 2, 2},
	} {
		var evs [][]event.Event
		for i, a := range tc.addrs {
			evs = append(evs, exchange(event.Inbound, uint64(i), legacy(a), api, "GET", "/", 200))
		}
		rec, _ := run(t, Options{Limits: recording.Limits{MaxPathsPerEdge: 10, MaxSourceIPsPerEdge: 2}}, evs...)
		e := edgeOf(t, rec, "shop/legacy", "shop/api")
		if len(e.SourceIPs) != tc.kept || e.SourceIPsOverflow != tc.overflow || e.SourceIPs[0].Requests != tc.firstCounted {
			t.Errorf("addresses %v: sources %+v, overflow %d; want %d kept, %d overflowed, the first counted %d times",
				tc.addrs, e.SourceIPs, e.SourceIPsOverflow, tc.kept, tc.overflow, tc.firstCounted)
		}
	}
}

// TestResetsAreCounted: a stream that ends with a reset instead of a
// response end is counted on its edge.
func TestResetsAreCounted(t *testing.T) {
	web, api := pod(webIP, "shop", "web", "web"), pod(apiIP, "shop", "api", "api")
	reset := exchange(event.Inbound, 2, web, api, "GET", "/slow", 200)
	reset[2].End = event.EndReset
	rec, _ := run(t, Options{}, exchange(event.Inbound, 1, web, api, "GET", "/", 200), reset)
	if e := edgeOf(t, rec, "shop/web", "shop/api"); e.Resets != 1 || e.Requests != 2 {
		t.Errorf("edge = %+v, want 2 requests, 1 reset", e)
	}
}
