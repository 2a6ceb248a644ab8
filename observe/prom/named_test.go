package prom

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
)

// frontCluster runs a bare pod front-1 (service account front) in namespace shop.
const frontCluster = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata:
  name: front-1
  namespace: shop
  labels: {app: front, linkerd.io/control-plane-ns: linkerd}
spec:
  serviceAccountName: front
  containers: [{name: main}, {name: linkerd-proxy}]
status: {phase: Running, podIP: 10.42.0.7}
`

// TestRecordNamed drives the whole metrics flow without the command:
// record, list the namespaces of the recording's servers and clients,
// list again without one that is gone, and name the clients.
func TestRecordNamed(t *testing.T) {
	fake := &fakeProm{series: map[string][]Sample{metricAllow: {
		{series("namespace", "shop", "deployment", "web", "target_port", "8080", "tls", "true", "client_id", "front.shop"+td), 10},
		{series("namespace", "shop", "deployment", "web", "target_port", "8080", "tls", "true", "client_id", "batch.gone"+td), 2},
	}}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := NewClient(srv.URL, ClientOptions{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := cluster.Read(strings.NewReader(frontCluster))
	if err != nil {
		t.Fatal(err)
	}
	var listed [][]string
	naming := Naming{TrustDomain: "cluster.local", Limits: recording.DefaultLimits, List: func(_ context.Context, namespaces []string) (*cluster.Objects, error) {
		listed = append(listed, slices.Clone(namespaces))
		if slices.Contains(namespaces, "gone") {
			return nil, &cluster.NamespaceNotFoundError{Namespace: "gone"}
		}
		return objs, nil
	}}
	opts := Options{End: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Window: 24 * time.Hour, Namespaces: []string{"shop"}}
	rec, err := RecordNamed(context.Background(), c, opts, naming)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"shop", "gone"}, {"shop"}}; !slices.EqualFunc(listed, want, slices.Equal) {
		t.Errorf("listed %q, want %q", listed, want)
	}
	var clients []recording.PeerID
	for _, e := range rec.Edges {
		clients = append(clients, e.Client)
	}
	if want := []recording.PeerID{"identity:batch.gone" + td, "shop/front-1"}; !slices.Equal(clients, want) {
		t.Errorf("clients %q, want %q", clients, want)
	}

	// Objects given are used as they are; without objects or a lister the
	// recording keeps its identities.
	listed = nil
	if rec, err = RecordNamed(context.Background(), c, opts, Naming{Objects: objs, List: naming.List, Limits: recording.DefaultLimits}); err != nil || listed != nil {
		t.Fatalf("with objects: err %v, listed %q", err, listed)
	}
	if !slices.ContainsFunc(rec.Edges, func(e recording.Edge) bool { return e.Client == "shop/front-1" }) {
		t.Errorf("with objects: edges %+v", rec.Edges)
	}
	if rec, err = RecordNamed(context.Background(), c, opts, Naming{}); err != nil || len(rec.Workloads) != 1 || rec.Edges[1].Client != "identity:front.shop"+td {
		t.Errorf("without naming: err %v, recording %+v", err, rec)
	}
}
