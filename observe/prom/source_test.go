package prom

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeProm answers the queries Record makes from a fixed set of series,
// counts queries and refuses answers over maxSeries.
type fakeProm struct {
	series    map[string][]Sample // by metric name, already increase()d
	maxSeries int
	mu        sync.Mutex
	queries   []string
	fail      int // answer this many queries with 503 first
}

var matcherRE = regexp.MustCompile(`(\w+)(=~|!=|=)"((?:[^"\\]|\\.)*)"`)

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	f.mu.Lock()
	f.queries = append(f.queries, q)
	fail := f.fail > 0
	f.fail--
	f.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "unavailable", "error": "try later"})
		return
	}
	match := func(l map[string]string) bool {
		for _, m := range matcherRE.FindAllStringSubmatch(q, -1) {
			name, op, v := m[1], m[2], strings.ReplaceAll(m[3], `\\`, `\`)
			switch {
			case name == "__name__" || name == "direction":
			case op == "=" && l[name] != v:
				return false
			case op == "!=" && l[name] == v:
				return false
			case op == "=~" && !regexp.MustCompile("^(?:"+v+")$").MatchString(l[name]):
				return false
			}
		}
		return true
	}
	var out []map[string]any
	add := func(l map[string]string, v float64) {
		out = append(out, map[string]any{"metric": l, "value": []any{1.0, fmt.Sprint(v)}})
	}
	if by, ok := strings.CutPrefix(q, "count by ("); ok {
		labels := strings.Split(by[:strings.Index(by, ")")], ",")
		counts := map[string]float64{}
		groups := map[string]map[string]string{}
		for _, ss := range f.series {
			for _, s := range ss {
				if !match(s.Labels) {
					continue
				}
				g := map[string]string{}
				for _, l := range labels {
					if s.Labels[l] != "" {
						g[l] = s.Labels[l]
					}
				}
				k := fmt.Sprint(g)
				counts[k]++
				groups[k] = g
			}
		}
		for k, g := range groups {
			add(g, counts[k])
		}
	} else {
		for name, ss := range f.series {
			if !strings.Contains(q, "("+name+"{") {
				continue
			}
			for _, s := range ss {
				if match(s.Labels) {
					add(s.Labels, s.Value)
				}
			}
		}
	}
	if f.maxSeries > 0 && len(out) > f.maxSeries {
		w.WriteHeader(http.StatusUnprocessableEntity)
		json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "execution", "error": "too many series"})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"status": "success",
		"data": map[string]any{"resultType": "vector", "result": out}})
}

const td = ".serviceaccount.identity.linkerd.cluster.local"

func series(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func shopSeries() map[string][]Sample {
	frontWeb := series("namespace", "shop", "deployment", "web", "target_addr", "10.0.0.1:8080", "target_port", "8080",
		"tls", "true", "client_id", "front"+".shop"+td, "srv_kind", "server", "srv_group", "policy.linkerd.io",
		"srv_name", "web-http", "authz_kind", "authorizationpolicy", "authz_group", "policy.linkerd.io", "authz_name", "web")
	unmeshedWeb := series("namespace", "shop", "deployment", "web", "target_addr", "10.0.0.1:8080", "target_port", "8080",
		"tls", "false", "no_tls_reason", "no_identity", "srv_kind", "default", "srv_name", "all-unauthenticated")
	ordersPay := series("namespace", "shop", "deployment", "pay", "target_addr", "10.0.0.5:9090", "tls", "true",
		"client_id", "orders.shop"+td)
	with := func(l map[string]string, kv ...string) map[string]string {
		out := maps.Clone(l)
		maps.Copy(out, series(kv...))
		return out
	}
	return map[string][]Sample{
		metricAllow: {
			{frontWeb, 1200},
			{unmeshedWeb, 30},
			{series("namespace", "shop", "statefulset", "cache", "target_addr", "10.0.0.9:6379", "tls", "true",
				"client_id", "worker.jobs"+td), 7},
			{ordersPay, 50},
			{series("namespace", "shop", "job", "linkerd-proxy", "k8s_job", "migrate", "target_port", "8080", "tls", "true",
				"client_id", "front.shop"+td), 2},
			// A bare pod: job is the scrape job, not an owner.
			{series("namespace", "shop", "job", "linkerd-proxy", "pod", "debug", "target_port", "8080", "tls", "true",
				"client_id", "front.shop"+td), 6},
		},
		metricDeny: {
			{series("namespace", "shop", "deployment", "web", "target_port", "8080", "tls", "true",
				"client_id", "intruder.other"+td), 4},
			{series("namespace", "shop", "deployment", "web", "target_port", "8080", "tls", "true",
				"client_id", "broken.other"+td), math.NaN()},
		},
		metricOpen: {
			{series("namespace", "shop", "statefulset", "db", "target_port", "5432", "tls", "true",
				"client_id", "web.shop"+td), 55},
			// HTTP connections are in tcp_open_total too: no TCP edge.
			{series("namespace", "shop", "deployment", "web", "target_port", "8080", "tls", "true",
				"client_id", "front.shop"+td), 12},
		},
		metricRequest: {
			// The allow counter's requests again: not counted twice.
			{with(frontWeb, "direction", "inbound"), 1200},
			{with(unmeshedWeb, "direction", "inbound"), 30},
			{with(ordersPay, "direction", "inbound"), 50},
			// A second web pod whose proxy has no authz counters.
			{with(frontWeb, "direction", "inbound", "target_addr", "10.0.0.2:8080", "srv_kind", "", "srv_group", "",
				"srv_name", "", "authz_kind", "", "authz_group", "", "authz_name", ""), 100},
			// A workload whose proxy has no authz counters at all.
			{series("direction", "inbound", "namespace", "shop", "deployment", "legacy", "target_addr", "10.0.0.20:8080",
				"target_port", "8080", "tls", "true", "client_id", "front.shop"+td), 40},
		},
		metricResponse: {
			{with(ordersPay, "direction", "inbound", "status_code", "200", "classification", "success", "grpc_status", "0"), 48},
			{with(ordersPay, "direction", "inbound", "status_code", "200", "classification", "failure", "grpc_status", "14"), 2},
			{with(frontWeb, "direction", "inbound", "status_code", "200", "classification", "success"), 1200},
			// Responses without requests make no edge and no peer.
			{series("direction", "inbound", "namespace", "shop", "deployment", "web", "target_port", "8080", "tls", "true",
				"client_id", "ghost.shop"+td, "grpc_status", "0"), 3},
		},
	}
}

func TestRecord(t *testing.T) {
	fake := &fakeProm{series: shopSeries(), fail: 1}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := NewClient(srv.URL, ClientOptions{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	rec, stats, err := Record(context.Background(), c, Options{End: end, Window: 14 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range rec.Edges {
		got[fmt.Sprintf("%s -> %s:%d", e.Client, e.Server, e.Port)] = fmt.Sprintf("%s req=%d denied=%d tls=%v decisions=%v",
			e.Protocol, e.Requests, e.Denied, e.TLS, e.Decisions)
	}
	want := map[string]string{
		"identity:front.shop" + td + " -> shop/web:8080":     "HTTP req=1300 denied=0 tls=map[true:1300] decisions=[{server.policy.linkerd.io/web-http  authorizationpolicy.policy.linkerd.io/web 1200}]",
		"identity:front.shop" + td + " -> shop/legacy:8080":  "HTTP req=40 denied=0 tls=map[true:40] decisions=[]",
		"identity:orders.shop" + td + " -> shop/pay:9090":    "gRPC req=50 denied=0 tls=map[true:50] decisions=[]",
		"identity:front.shop" + td + " -> shop/migrate:8080": "HTTP req=2 denied=0 tls=map[true:2] decisions=[]",
		"ip:unknown -> shop/web:8080":                        "HTTP req=30 denied=0 tls=map[no_identity:30] decisions=[{default/all-unauthenticated   30}]",
		"identity:worker.jobs" + td + " -> shop/cache:6379":  "HTTP req=7 denied=0 tls=map[true:7] decisions=[]",
		"identity:intruder.other" + td + " -> shop/web:8080": "HTTP req=0 denied=4 tls=map[] decisions=[]",
		"identity:web.shop" + td + " -> shop/db:5432":        "TCP req=55 denied=0 tls=map[true:55] decisions=[]",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("edge %s:\n got  %s\n want %s", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d edges, want %d: %v", len(got), len(want), got)
	}
	if w := rec.Windows[0]; w.Sampling.Sampled || w.Source != "prometheus:"+srv.URL || !w.End.Equal(end) ||
		!w.Start.Equal(end.Add(-14*24*time.Hour)) || w.Requests != 1429 || w.Warnings["bad-value"] != 1 || w.Warnings["no-owner-or-port"] != 6 {
		t.Errorf("window = %+v", w)
	}
	for _, w := range rec.Workloads {
		if w.ID == "shop/migrate" && w.Kind != "Job" {
			t.Errorf("workload %s is a %s, want a Job", w.ID, w.Kind)
		}
	}
	for _, p := range rec.Peers {
		if strings.Contains(string(p.ID), "ghost") || strings.Contains(string(p.ID), "broken") {
			t.Errorf("peer %s has no edge", p.ID)
		}
	}
	// 1 count + 5 edge queries, and one retry of the first after a 503.
	if stats.Queries != 6 || len(fake.queries) != 7 || len(stats.Split) != 0 {
		t.Errorf("queries: stats %+v, server saw %d", stats, len(fake.queries))
	}
	if !strings.Contains(fake.queries[2], "[1209600s]") {
		t.Errorf("query %q does not cover the window", fake.queries[2])
	}
}

// TestRecordSplits checks that a namespace with more series than the
// limit is queried per workload, so no answer is larger than a workload's.
func TestRecordSplits(t *testing.T) {
	s := map[string][]Sample{}
	const workloads, clients = 20, 30
	for w := range workloads {
		for cl := range clients {
			l := series("namespace", "big", "deployment", fmt.Sprint("w", w), "target_addr", fmt.Sprintf("10.0.0.%d:80", w),
				"target_port", "80", "tls", "true", "client_id", fmt.Sprintf("c%d.big%s", cl, td))
			s[metricAllow] = append(s[metricAllow], Sample{l, 1})
			s[metricRequest] = append(s[metricRequest], Sample{l, 1})
		}
	}
	s[metricOpen] = []Sample{{series("namespace", "small", "deployment", "db", "target_port", "5432", "tls", "true",
		"client_id", "c1.big"+td), 3}}
	fake := &fakeProm{series: s, maxSeries: 100}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := NewClient(srv.URL, ClientOptions{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	rec, stats, err := Record(context.Background(), c, Options{Window: time.Hour, SeriesLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Edges) != workloads*clients+1 {
		t.Errorf("got %d edges, want %d", len(rec.Edges), workloads*clients+1)
	}
	if w := rec.Windows[0]; w.Requests != workloads*clients {
		t.Errorf("%d requests, want %d: request_total counted with the allow counter", w.Requests, workloads*clients)
	}
	// count + (workload count + 5 per workload) for big + 5 for small.
	if want := 1 + 1 + 5*workloads + 5; stats.Queries != want || len(stats.Split) != 1 || stats.Split[0] != "big" {
		t.Errorf("stats = %+v, want %d queries and big split", stats, want)
	}
	// Without splitting the big namespace's answer is refused.
	_, _, err = Record(context.Background(), c, Options{Window: time.Hour, SeriesLimit: 10000})
	if err == nil || !strings.Contains(err.Error(), "too many series") || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("err = %v, want the refusal with the URL", err)
	}
}

func TestQueryError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"parse error at char 3"}`)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(context.Background(), "up{", time.Now())
	if err == nil || err.Error() != "query up{ at "+srv.URL+": bad_data: parse error at char 3" {
		t.Errorf("err = %v", err)
	}
	if _, err := NewClient("localhost:9090", ClientOptions{}); err == nil {
		t.Error("a URL without scheme was accepted")
	}
}
