package cluster

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
)

const objects = `apiVersion: v1
kind: Namespace
metadata: {name: shop, annotations: {config.linkerd.io/default-inbound-policy: all-authenticated}}
---
apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: 10.0.0.1}]}
---
# A Deployment's pod whose ReplicaSet is not among the objects.
apiVersion: v1
kind: Pod
metadata:
  name: web-5d8f-x1
  namespace: shop
  labels: {app: web, pod-template-hash: 5d8f, linkerd.io/control-plane-ns: linkerd}
  ownerReferences: [{kind: ReplicaSet, name: web-5d8f, controller: true}]
spec:
  serviceAccountName: web
  containers:
  - name: main
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /ready, port: http}}
  - name: linkerd-proxy
status: {podIP: 10.42.0.1}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: report-123
  namespace: shop
  ownerReferences: [{kind: CronJob, name: report, controller: true}]
---
apiVersion: v1
kind: Pod
metadata:
  name: report-123-abc
  namespace: shop
  annotations: {config.linkerd.io/default-inbound-policy: deny}
  ownerReferences: [{kind: Job, name: report-123, controller: true}]
spec: {containers: [{name: main}]}
status: {podIP: 10.42.0.2}
---
# A meshed StatefulSet pod with tap turned off.
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  labels: {app: db, linkerd.io/control-plane-ns: linkerd}
  annotations: {config.linkerd.io/disable-tap: "true"}
  ownerReferences: [{kind: StatefulSet, name: db, controller: true}]
spec: {containers: [{name: main}, {name: linkerd-proxy}]}
status: {podIP: 10.42.0.3}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored, namespace: shop}
`

func TestInventory(t *testing.T) {
	objs, err := Read(strings.NewReader(objects))
	if err != nil {
		t.Fatal(err)
	}
	if objs.Ignored != 1 {
		t.Errorf("ignored = %d, want 1 (the ConfigMap)", objs.Ignored)
	}
	inv := NewInventory(objs, Options{TrustDomain: "example.org"})
	for ip, want := range map[string]recording.PeerID{"10.42.0.1": "shop/web", "10.42.0.2": "shop/report"} {
		p, ok := inv.Pod(netip.MustParseAddr(ip))
		if !ok || p.Workload != want {
			t.Errorf("Pod(%s) = %+v, %v; want workload %s", ip, p, ok, want)
		}
	}
	if n, ok := inv.Node(netip.MustParseAddr("10.0.0.1")); !ok || n != "node-1" {
		t.Errorf("Node(10.0.0.1) = %q, %v", n, ok)
	}
	web, _ := inv.Workload("shop/web")
	if web.Kind != "Deployment" || !web.Meshed || web.Identity != "web.shop.serviceaccount.identity.linkerd.example.org" ||
		len(web.Labels) != 1 || web.Labels["app"] != "web" || len(web.Probes) != 1 || web.Probes[0].Port != 8080 ||
		len(web.Services) != 1 || web.DefaultInboundPolicy != "all-authenticated" {
		t.Errorf("web = %+v", web)
	}
	report, _ := inv.Workload("shop/report")
	if report.Kind != "CronJob" || report.Meshed || report.Identity != "" || report.DefaultInboundPolicy != "deny" || report.ServiceAccount != "default" {
		t.Errorf("report = %+v", report)
	}
}

func TestReadErrorsNameTheLine(t *testing.T) {
	_, err := Read(strings.NewReader("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: b}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 5") || !strings.Contains(err.Error(), "without kind") {
		t.Errorf("error = %v, want one naming line 5 and the missing kind", err)
	}
	_, err = Read(strings.NewReader("kind: Pod\nspec: {containers: 3}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1") || !strings.Contains(err.Error(), "Pod") {
		t.Errorf("error = %v, want one naming line 1 and the Pod", err)
	}
}

func TestEnrichNamesIdentityClients(t *testing.T) {
	objs, err := Read(strings.NewReader(objects))
	if err != nil {
		t.Fatal(err)
	}
	inv := NewInventory(objs, Options{TrustDomain: "example.org"})
	const web, db = "identity:web.shop.serviceaccount.identity.linkerd.example.org", "identity:default.shop.serviceaccount.identity.linkerd.example.org"
	const stranger = "identity:web.other.serviceaccount.identity.linkerd.example.org"
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "prometheus:http://127.0.0.1:9090"}}
	rec.Workloads = []recording.Workload{{ID: "shop/db", Namespace: "shop", Kind: "StatefulSet", Name: "db", Meshed: true}}
	rec.Peers = []recording.Peer{{ID: web, Kind: recording.PeerIdentity}, {ID: db, Kind: recording.PeerIdentity}, {ID: stranger, Kind: recording.PeerIdentity}}
	rec.Edges = []recording.Edge{
		{Client: web, Server: "shop/db", Port: 5432, Protocol: recording.ProtocolTCP, Requests: 3},
		{Client: "shop/web", Server: "shop/db", Port: 5432, Protocol: recording.ProtocolTCP, Requests: 4},
		{Client: db, Server: "shop/db", Port: 9000, Protocol: recording.ProtocolHTTP, Requests: 5},
		{Client: stranger, Server: "shop/db", Port: 5432, Protocol: recording.ProtocolTCP, Requests: 6},
	}
	// db and the unmeshed report both run as "default": only db has the
	// identity, so it names db.
	out := inv.Enrich(rec, recording.DefaultLimits)

	var edges []string
	for _, e := range out.Edges {
		edges = append(edges, fmt.Sprintf("%s -> %s:%d %d", e.Client, e.Server, e.Port, e.Requests))
	}
	want := []string{
		"identity:web.other.serviceaccount.identity.linkerd.example.org -> shop/db:5432 6",
		"shop/web -> shop/db:5432 7",
		"shop/db -> shop/db:9000 5",
	}
	if !slices.Equal(edges, want) {
		t.Errorf("edges\n  %q\nwant\n  %q", edges, want)
	}
	if len(out.Peers) != 1 || out.Peers[0].ID != stranger {
		t.Errorf("peers = %+v, want only the identity no workload runs with", out.Peers)
	}
	var ids []recording.PeerID
	for _, w := range out.Workloads {
		ids = append(ids, w.ID)
		if w.ID == "shop/web" && (w.Labels["app"] != "web" || w.ServiceAccount != "web") {
			t.Errorf("client workload not filled in from the cluster: %+v", w)
		}
	}
	if !slices.Equal(ids, []recording.PeerID{"shop/db", "shop/web"}) {
		t.Errorf("workloads = %q, want the server and the named client", ids)
	}
	if len(rec.Edges) != 4 || rec.Edges[0].Client != web {
		t.Error("Enrich changed its input")
	}
}
