package prom

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHits answers Hits' queries by their shape: the namespaces, then per
// namespace and counter the count, the first and the last step.
func TestHits(t *testing.T) {
	first, last := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC), time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	series := map[string]string{"namespace": "shop", "deployment": "web", "target_port": "8080",
		"client_id": "batch.jobs.serviceaccount.identity.linkerd.cluster.local",
		"srv_kind":  "server", "srv_group": "policy.linkerd.io", "srv_name": "web-http", "route_kind": "default", "route_name": "default"}
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.FormValue("query")
		mu.Lock()
		queries = append(queries, q)
		mu.Unlock()
		var v float64
		labels := series
		switch {
		case strings.HasPrefix(q, "count by (namespace)"):
			labels, v = map[string]string{"namespace": "shop"}, 1
		case strings.Contains(q, "inbound_http_authz_deny_total"):
			labels = nil
		case strings.HasPrefix(q, "sum by"):
			v = 41.7
		case strings.HasPrefix(q, "min by"):
			v = float64(first.Unix())
		case strings.HasPrefix(q, "max by"):
			v = float64(last.Unix())
		}
		result := []map[string]any{}
		if labels != nil {
			result = append(result, map[string]any{"metric": labels, "value": []any{1.0, fmt.Sprint(v)}})
		}
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hits, stats, err := Hits(context.Background(), c, Options{End: last.Add(time.Hour), Window: 21 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want := Hit{Client: "identity:batch.jobs.serviceaccount.identity.linkerd.cluster.local", Server: "shop/web", Port: 8080,
		ServerPolicy: "server.policy.linkerd.io/web-http", Route: "default/default", Requests: 42, First: first, Last: last}
	if len(hits) != 1 || hits[0] != want {
		t.Errorf("hits %+v, want %+v", hits, want)
	}
	if stats.Queries != 1+6 || stats.Resolution != time.Hour {
		t.Errorf("stats %+v, want 7 queries at a 1h resolution", stats)
	}
	for _, q := range queries[1:] {
		if !strings.Contains(q, `namespace="shop"`) || (strings.Contains(q, "allow") && !strings.Contains(q, `authz_name="audit"`)) {
			t.Errorf("query %s is not bounded to the namespace's audit or deny series", q)
		}
		if !strings.HasPrefix(q, "sum by") && !strings.Contains(q, "[1814400s:3600s]") {
			t.Errorf("query %s does not step the window by the resolution", q)
		}
	}
}
