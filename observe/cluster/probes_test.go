package cluster

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
)

// TestProbes: every probe that reaches the pod over the network is
// recorded, named ports resolved within their container as the kubelet
// resolves them, the httpGet path kept as written (query string
// included); exec probes and ports no container of the probe declares are
// left out.
func TestProbes(t *testing.T) {
	objs, err := Read(strings.NewReader(`apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: shop, labels: {app: api}}
spec:
  containers:
  - name: main
    ports: [{name: http, containerPort: 8080}, {name: health, containerPort: 8081}, {name: grpc, containerPort: 9090}]
    readinessProbe: {httpGet: {path: "/ready?verbose=1", port: http}}
    livenessProbe: {tcpSocket: {port: health}}
    startupProbe: {grpc: {port: 9090, service: shop.v1.Cart}}
  - name: sidecar
    ports: [{name: admin, containerPort: 9901}]
    readinessProbe: {httpGet: {port: 9901}}
    livenessProbe: {httpGet: {path: /alive, port: http}}
    startupProbe: {exec: {command: ["true"]}}
status: {podIP: 10.42.0.9}
`))
	if err != nil {
		t.Fatal(err)
	}
	w, ok := NewInventory(objs, Options{}).Workload("shop/api-1")
	if !ok {
		t.Fatal("no workload")
	}
	want := []recording.Probe{
		{Kind: "liveness", Handler: recording.ProbeTCP, Port: 8081},
		{Kind: "readiness", Port: 8080, Path: "/ready?verbose=1", Scheme: "HTTP"},
		{Kind: "startup", Handler: recording.ProbeGRPC, Port: 9090},
		{Kind: "readiness", Port: 9901, Path: "/", Scheme: "HTTP"},
	}
	if !reflect.DeepEqual(w.Probes, want) {
		t.Errorf("probes\n%+v\nwant\n%+v", w.Probes, want)
	}
	for _, tc := range []struct {
		p            recording.Probe
		method, path string
		ok           bool
	}{
		{want[0], "", "", false},
		{want[1], "GET", "/ready", true},
		{want[2], "POST", recording.GRPCHealthCheckPath, true},
		{want[3], "GET", "/", true},
	} {
		if m, p, ok := tc.p.Request(); m != tc.method || p != tc.path || ok != tc.ok {
			t.Errorf("%+v: request %s %s %v, want %s %s %v", tc.p, m, p, ok, tc.method, tc.path, tc.ok)
		}
	}
}
