package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
)

// fitObjects: web (a Deployment created on day 1, its one pod on day 5)
// declares 8080; db (a bare pod created on day 1) declares nothing.
const fitObjects = `apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: 10.0.0.1}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, creationTimestamp: "2026-11-01T00:00:00Z"}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: main, ports: [{containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d8f
  namespace: shop
  ownerReferences: [{kind: Deployment, name: web, controller: true}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-5d8f-x1
  namespace: shop
  creationTimestamp: "2026-11-05T00:00:00Z"
  labels: {app: web, pod-template-hash: 5d8f}
  ownerReferences: [{kind: ReplicaSet, name: web-5d8f, controller: true}]
spec: {containers: [{name: main, ports: [{containerPort: 8080}]}]}
status: {podIP: 10.42.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, creationTimestamp: "2026-11-01T00:00:00Z"}
spec: {containers: [{name: main}]}
status: {podIP: 10.42.0.3}
`

func fitInventory(t *testing.T) *Inventory {
	t.Helper()
	objs, err := Read(strings.NewReader(fitObjects))
	if err != nil {
		t.Fatal(err)
	}
	return NewInventory(objs, Options{})
}

func day(d int) *time.Time {
	t := time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC)
	return &t
}

func fitRecording(format string, end *time.Time, edges ...recording.Edge) *recording.Recording {
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "file:x", Format: format, End: end}}
	rec.Edges = edges
	return rec
}

func edge(client, server string, port uint32, requests int64) recording.Edge {
	return recording.Edge{Client: recording.PeerID(client), Server: recording.PeerID(server), Port: port, Requests: requests}
}

func TestFitEverythingFits(t *testing.T) {
	rec := fitRecording("text", day(6),
		edge("shop/db", "shop/web", 8080, 10),
		edge("node:node-1", "shop/db", 5432, 3), // db declares no ports: no finding
	)
	f := fitInventory(t).Fit(rec, FitOptions{})
	if f.NothingFits() || f.MostlyUnknown() || len(f.Findings()) > 0 {
		t.Fatalf("objects that fit: %+v, findings %q", f, f.Findings())
	}
	if f.Servers != 2 || f.Peers != 2 || f.Requests != 13 {
		t.Errorf("counted %+v; want 2 servers, 2 peers (the node is not judged), 13 requests", f)
	}
}

func TestFitUndeclaredPort(t *testing.T) {
	rec := fitRecording("json", nil,
		edge("shop/db", "shop/web", 8080, 10),
		edge("shop/db", "shop/web", 9999, 4),
	)
	f := fitInventory(t).Fit(rec, FitOptions{})
	if f.NothingFits() {
		t.Fatal("an undeclared port alone is not a misfit")
	}
	want := []UndeclaredPort{{Server: "shop/web", Port: 9999, Requests: 4, Declared: []int32{8080}}}
	if len(f.Undeclared) != 1 || f.Undeclared[0].Server != want[0].Server || f.Undeclared[0].Port != 9999 || f.Undeclared[0].Requests != 4 {
		t.Fatalf("undeclared %+v, want %+v", f.Undeclared, want)
	}
	got := strings.Join(f.Findings(), "\n")
	if !strings.Contains(got, "4 requests to 1 server port(s) that no container of the server declares: shop/web:9999 (4 requests; declares 8080)") {
		t.Errorf("findings %q", got)
	}
	if !f.NoTimes {
		t.Error("a window without an end and edges without times: NoTimes must be set")
	}
}

func TestFitCreatedAfterTraffic(t *testing.T) {
	// Text output names addresses, so web's pod, created on day 5, cannot
	// be the pod of traffic recorded by day 3.
	rec := fitRecording("text", day(3), edge("shop/db", "shop/web", 8080, 7))
	f := fitInventory(t).Fit(rec, FitOptions{})
	if len(f.Younger) != 1 || f.Younger[0].Workload != "shop/web" || f.Younger[0].Requests != 7 || !f.Younger[0].Created.Equal(*day(5)) {
		t.Fatalf("younger %+v, want shop/web created on day 5 with 7 requests", f.Younger)
	}
	if got := strings.Join(f.Findings(), "\n"); !strings.Contains(got, "7 requests involve 1 workload(s) whose pods were created after the traffic: shop/web (created 2026-11-05T00:00:00Z, traffic by 2026-11-03T00:00:00Z)") {
		t.Errorf("findings %q", got)
	}
	// Labels name the workload, whose pods may be replaced: the
	// Deployment, created on day 1, fits.
	if f := fitInventory(t).Fit(fitRecording("json", day(3), edge("shop/db", "shop/web", 8080, 7)), FitOptions{}); len(f.Younger) > 0 {
		t.Errorf("tap labels name the workload, not the pod: younger %+v", f.Younger)
	}
	// An edge's own first event time comes before the window's end.
	e := edge("shop/db", "shop/web", 8080, 2)
	e.FirstSeen, e.LastSeen = day(4), day(9)
	if f := fitInventory(t).Fit(fitRecording("text", day(9), e), FitOptions{}); len(f.Younger) != 1 || !f.Younger[0].Traffic.Equal(*day(4)) {
		t.Errorf("younger %+v, want web judged at its first event (day 4)", f.Younger)
	}
}

func TestFitMostlyUnknown(t *testing.T) {
	rec := fitRecording("text", nil,
		edge("shop/db", "shop/web", 8080, 10),
		edge("shop/db", "ip:10.42.9.9", 80, 3),
		edge("shop/db", "other/api", 80, 4),
	)
	f := fitInventory(t).Fit(rec, FitOptions{})
	if f.NothingFits() || !f.MostlyUnknown() {
		t.Fatalf("2 of 3 servers unknown: %+v", f)
	}
	got := strings.Join(f.Findings(), "\n")
	if !strings.Contains(got, "2 of 3 servers (7 of 17 requests) are not among the objects: ip:10.42.9.9, other/api") {
		t.Errorf("findings %q", got)
	}
	// Most requests unknown, most servers known.
	rec = fitRecording("text", nil,
		edge("shop/db", "shop/web", 8080, 1),
		edge("shop/web", "shop/db", 5432, 1),
		edge("shop/db", "ip:10.42.9.9", 80, 30),
	)
	if f := fitInventory(t).Fit(rec, FitOptions{}); !f.MostlyUnknown() {
		t.Errorf("30 of 32 requests to unknown servers: %+v", f)
	}
	// One unknown server of three, few requests: no finding.
	rec = fitRecording("text", nil,
		edge("shop/db", "shop/web", 8080, 10),
		edge("shop/web", "shop/db", 5432, 10),
		edge("shop/db", "ip:192.0.2.1", 443, 1),
	)
	if f := fitInventory(t).Fit(rec, FitOptions{}); len(f.Findings()) > 0 {
		t.Errorf("an external server is no misfit: %q", f.Findings())
	}
}

func TestFitNothingFits(t *testing.T) {
	rec := fitRecording("text", nil,
		edge("ip:10.42.7.1", "ip:10.42.7.2", 8080, 10),
		edge("node:node-9", "other/api", 80, 3), // node peers are not judged
	)
	f := fitInventory(t).Fit(rec, FitOptions{})
	if !f.NothingFits() || f.Peers != 3 {
		t.Fatalf("no peer among the objects: %+v", f)
	}
	// An address the objects know (a recording made without them) fits.
	rec.Edges = append(rec.Edges, edge("ip:10.42.0.3", "ip:10.42.7.2", 80, 1))
	if f := fitInventory(t).Fit(rec, FitOptions{}); f.NothingFits() {
		t.Error("10.42.0.3 is db's address: something fits")
	}
	if f := fitInventory(t).Fit(recording.New(), FitOptions{}); f.NothingFits() || len(f.Findings()) > 0 {
		t.Error("an empty recording has nothing to misfit")
	}
}

func TestFitNamespaces(t *testing.T) {
	// Objects read for namespace shop only judge shop's workloads.
	rec := fitRecording("json", nil,
		edge("shop/db", "shop/web", 8080, 10),
		edge("shop/web", "other/api", 80, 50),
		edge("shop/web", "ip:10.42.9.9", 80, 50),
	)
	f := fitInventory(t).Fit(rec, FitOptions{Namespaces: []string{"shop"}})
	if f.Servers != 1 || f.UnknownServers != 0 || len(f.Findings()) > 0 {
		t.Errorf("scoped to shop: %+v, findings %q", f, f.Findings())
	}
}
