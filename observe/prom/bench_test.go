package prom

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkRecord measures cinch's side of a recording from metrics:
// decoding Prometheus' answers and folding them into edges. A stand-in
// serves precomputed answers for one namespace of 10,000 edges (the allow
// counter and request_total for each, a gRPC response series for a tenth),
// so the figure is series per second through the client and builder, not
// Prometheus' query time (docs/metrics.md has that, from a real one).
func BenchmarkRecord(b *testing.B) {
	const edges = 10000
	answer := func(metric string) []byte {
		var out []map[string]any
		for i := range edges {
			if metric == metricResponse && i%10 != 0 {
				continue
			}
			l := map[string]string{"namespace": "mesh", "deployment": fmt.Sprintf("server-%d", i%500),
				"target_addr": fmt.Sprintf("10.1.%d.%d:8080", i/250, i%250), "target_port": "8080", "tls": "true",
				"client_id": fmt.Sprintf("client-%d.mesh.serviceaccount.identity.linkerd.cluster.local", i/500)}
			if metric != metricResponse {
				l["srv_kind"], l["srv_name"], l["authz_kind"], l["authz_name"] = "default", "all-unauthenticated", "default", "all-unauthenticated"
			}
			out = append(out, map[string]any{"metric": l, "value": []any{1.0, "1234"}})
		}
		data, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": out}})
		return data
	}
	answers := map[string][]byte{}
	for _, m := range []string{metricAllow, metricRequest, metricResponse} {
		answers[m] = answer(m)
	}
	empty := []byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`)
	count := []byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"mesh"},"value":[1,"21000"]}]}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.FormValue("query")
		if strings.HasPrefix(q, "count") {
			w.Write(count)
			return
		}
		for m, a := range answers {
			if strings.Contains(q, "("+m+"{") {
				w.Write(a)
				return
			}
		}
		w.Write(empty)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rec, _, err := Record(context.Background(), c, Options{End: time.Unix(1, 0), Window: time.Hour, SeriesLimit: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		if len(rec.Edges) != edges {
			b.Fatalf("%d edges, want %d", len(rec.Edges), edges)
		}
	}
	b.ReportMetric(float64(b.N)*(2*edges+edges/10)/b.Elapsed().Seconds(), "series/s")
}
