package synth

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

// routeMatches counts, per Server (namespace/name), the route matches
// written for it: every match of every rule of every route attached.
func routeMatches(set *policy.Set) map[string]int {
	n := map[string]int{}
	for _, r := range set.HTTPRoutes {
		for _, p := range r.Spec.ParentRefs {
			for _, rule := range r.Spec.Rules {
				n[r.Namespace+"/"+p.Name] += max(1, len(rule.Matches))
			}
		}
	}
	for _, r := range set.GRPCRoutes {
		for _, p := range r.Spec.ParentRefs {
			for _, rule := range r.Spec.Rules {
				n[r.Namespace+"/"+p.Name] += max(1, len(rule.Matches))
			}
		}
	}
	return n
}

// TestPropertyMaxRoutesPerServer: for random recordings capped at 1, 2 and
// 4 route matches per Server, every observed request (probes included)
// is still admitted by a generated authorization, and no Server has more
// matches than the cap, except a gRPC port whose methods span more
// services than the cap (merges stay within one service), which warns.
func TestPropertyMaxRoutesPerServer(t *testing.T) {
	merged := 0
	for seed := range uint64(propertySeeds / 2) {
		rec := newGen(seed).recording()
		services := map[string]map[string]bool{} // server/port -> gRPC services
		for _, e := range rec.Edges {
			if e.Protocol != recording.ProtocolGRPC || e.Requests == 0 {
				continue
			}
			k := fmt.Sprintf("%s:%d", e.Server, e.Port)
			if services[k] == nil {
				services[k] = map[string]bool{}
			}
			for _, r := range e.Routes {
				svc, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
				services[k][svc] = true
			}
		}
		for _, capped := range []int{1, 2, 4} {
			opts := options(LevelRoute)
			opts.Mode = ModeEnforce
			opts.MaxRoutesPerServer = capped
			c := synthesizeChecked(t, fmt.Sprintf("seed %d, --max-routes-per-server %d", seed, capped), rec, opts)
			c.checkObserved()
			merged += len(c.res.RouteMerges)
			for _, u := range c.res.Units {
				for srv, n := range routeMatches(&u.Set) {
					limit := capped
					for _, s := range u.Set.Servers {
						if s.Namespace+"/"+s.Name == srv && s.Spec.Port.IntVal == 9090 {
							limit = max(capped, len(services[fmt.Sprintf("%s/%s:9090", u.Namespace, u.Workload)]))
						}
					}
					if n > limit {
						t.Errorf("%s: Server %s has %d route matches, want at most %d", c.name, srv, n, limit)
					}
				}
			}
		}
	}
	if merged == 0 {
		t.Fatal("no route was merged: the generator made too few routes")
	}
}

// capRecording is one server, shop/api port 8080, and its clients' GETs:
// paths[client] for each client service account of namespace shop.
func capRecording(paths map[string][]string) *recording.Recording {
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "file:test"}}
	rec.Workloads = append(rec.Workloads, recording.Workload{ID: "shop/api", Namespace: "shop", Kind: "Deployment", Name: "api",
		ServiceAccount: "api", Identity: meshID("api", "shop"), Meshed: true, Labels: map[string]string{"app": "api"},
		Ports: []recording.ContainerPort{{Port: 8080, Name: "http", Protocol: "TCP"}}})
	for sa, ps := range paths {
		id := recording.PeerID("shop/" + sa)
		rec.Workloads = append(rec.Workloads, recording.Workload{ID: id, Namespace: "shop", Kind: "Deployment", Name: sa,
			ServiceAccount: sa, Identity: meshID(sa, "shop"), Meshed: true, Labels: map[string]string{"app": sa}})
		e := recording.Edge{Client: id, Server: "shop/api", Port: 8080, Protocol: recording.ProtocolHTTP, TLS: map[string]int64{}}
		for _, p := range ps {
			e.Routes = append(e.Routes, recording.Route{Method: "GET", Path: p, Requests: 5})
			e.Requests += 5
		}
		e.TLS["true"] = e.Requests
		rec.Edges = append(rec.Edges, e)
	}
	rec.Normalize()
	return rec
}

// TestMaxRoutesPerServerMergesWhatCostsLeast: the cap merges first the
// routes one client set shares (nothing new admitted), then across
// clients, and says so; what was not merged keeps its precision.
func TestMaxRoutesPerServerMergesWhatCostsLeast(t *testing.T) {
	rec := capRecording(map[string][]string{"web": {"/users", "/orders"}, "batch": {"/reports"}})
	opts := options(LevelRoute)
	opts.Mode = ModeEnforce
	for _, tc := range []struct {
		max  int
		want []RouteMerge
	}{
		{3, nil},
		{2, []RouteMerge{{Server: "shop/api", Port: 8080, Routes: []string{"GET /orders", "GET /users"},
			Match: "GET RegularExpression ^(?:/orders|/users)$", Clients: []string{"shop/web"}}}},
		{1, []RouteMerge{{Server: "shop/api", Port: 8080, Routes: []string{"GET /orders", "GET /users", "GET /reports"},
			Match: "GET RegularExpression ^(?:/orders|/users|/reports)$", Clients: []string{"shop/batch", "shop/web"}, NewGrants: 3}}},
	} {
		opts.MaxRoutesPerServer = tc.max
		c := synthesizeChecked(t, fmt.Sprintf("--max-routes-per-server %d", tc.max), rec, opts)
		c.checkObserved()
		if fmt.Sprint(c.res.RouteMerges) != fmt.Sprint(tc.want) {
			t.Errorf("max %d: merges\n%v\nwant\n%v", tc.max, c.res.RouteMerges, tc.want)
		}
		if n := routeMatches(resultSet(c.res))["shop/api-http"]; n != tc.max {
			t.Errorf("max %d: %d route matches", tc.max, n)
		}
		batchOnUsers := request{client: "shop/batch", server: "shop/api", port: 8080, identity: meshID("batch", "shop"), method: "GET", path: "/users"}
		if ok, _ := c.admitted(batchOnUsers); ok != (tc.max == 1) {
			t.Errorf("max %d: batch admitted on /users: %v", tc.max, ok)
		}
		webOther := request{client: "shop/web", server: "shop/api", port: 8080, identity: meshID("web", "shop"), method: "GET", path: "/users/1"}
		if ok, _ := c.admitted(webOther); ok {
			t.Errorf("max %d: a path never observed is admitted", tc.max)
		}
	}
	// Alternatives too long for one expression: a PathPrefix of the
	// segments they share, which admits paths never observed, and says so.
	long := strings.Repeat("x", 300)
	rec = capRecording(map[string][]string{"web": {"/a/" + long + "1", "/a/" + long + "2", "/a/" + long + "3", "/a/" + long + "4"}})
	opts.MaxRoutesPerServer = 1
	c := synthesizeChecked(t, "long paths", rec, opts)
	c.checkObserved()
	if len(c.res.RouteMerges) != 1 || c.res.RouteMerges[0].Match != "GET PathPrefix /a" || !c.res.RouteMerges[0].Unbounded {
		t.Fatalf("merges %v", c.res.RouteMerges)
	}
	if !strings.Contains(c.res.RouteMerges[0].String(), "and paths never observed") {
		t.Errorf("the merge does not say it opens unobserved paths: %s", c.res.RouteMerges[0])
	}
	// A PathPrefix matches whole segments: /a/anything is in, /ab is not
	// (the checker's judge and the evaluator must agree on each).
	web := request{client: "shop/web", server: "shop/api", port: 8080, identity: meshID("web", "shop"), method: "GET"}
	for path, want := range map[string]bool{"/a": true, "/a/": true, "/a/new": true, "/ab": false, "/ab/c": false, "/b/a": false} {
		r := web
		r.path = path
		if ok, _ := c.admitted(r); ok != want {
			t.Errorf("PathPrefix /a: GET %s admitted %v, want %v", path, ok, want)
		}
	}
}
