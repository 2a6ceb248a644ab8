package synth

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/fixtures/upstream"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
	"github.com/cinchmesh/cinch/synth/routes"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func options(level Level) Options {
	return Options{Level: level, Mode: ModeAudit, RouteAPI: RouteAPIGateway, Routes: routes.DefaultOptions()}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./synth -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the synthesized policy (run go test ./synth -update and review the diff):\n%s", path, firstDiff(string(want), string(got)))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < min(len(al), len(bl)); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d vs %d lines", len(al), len(bl))
}

// TestGoldens synthesizes every level for every scenario. Synthesize
// itself validates the output against the admission rules and evaluates
// it against the recording; beyond that self-check, every observed request
// is decided by the evaluator and by fixtures/judge, on the pods of the
// cluster objects the recording was made with, and must be admitted.
func TestGoldens(t *testing.T) {
	recs := map[string]func(testing.TB) (*recording.Recording, []byte){
		"shop": func(t testing.TB) (*recording.Recording, []byte) {
			var cluster bytes.Buffer
			if err := recorded.Load(t, "shop").WriteCluster(&cluster); err != nil {
				t.Fatal(err)
			}
			return recorded.Scenario(t, "shop"), cluster.Bytes()
		},
		"booksapp": func(t testing.TB) (*recording.Recording, []byte) {
			return recorded.Upstream(t, "booksapp"), upstream.Read(t, "booksapp.cluster.yaml")
		},
		"emojivoto": func(t testing.TB) (*recording.Recording, []byte) {
			return recorded.Upstream(t, "emojivoto"), upstream.Read(t, "emojivoto.cluster.yaml")
		},
	}
	for name, record := range recs {
		t.Run(name, func(t *testing.T) {
			rec, cluster := record(t)
			for _, level := range Levels {
				opts := options(level)
				opts.ServiceProfiles = level == LevelRoute
				res, err := Synthesize(rec, opts)
				if err != nil {
					t.Fatalf("%s: %v", level, err)
				}
				var out bytes.Buffer
				if err := WriteStream(&out, res); err != nil {
					t.Fatal(err)
				}
				golden(t, name+"."+string(level)+".yaml", out.Bytes())

				again := synthesizeChecked(t, name+" "+string(level), rec, opts)
				if !bytes.Equal(out.Bytes(), again.stream()) {
					t.Errorf("%s: two runs on the same recording differ", level)
				}
				again.rf = newRefereeYAML(t, again.stream(), clusterPods(t, cluster))
				again.checkObserved()
			}
		})
	}
}

// TestRouteLevelAdmitsNothingElse checks the route level's promise: for
// every route object, a client of the same server that was never seen on
// it is denied, and the clients that were seen are admitted only on their
// routes' templates. The evaluator and fixtures/judge decide, and agree.
func TestRouteLevelAdmitsNothingElse(t *testing.T) {
	rec := recorded.Upstream(t, "booksapp")
	res, err := Synthesize(rec, Options{Level: LevelRoute, Mode: ModeEnforce, RouteAPI: RouteAPIGateway, Routes: routes.DefaultOptions()})
	if err != nil {
		t.Fatal(err)
	}
	var set policy.Set
	for i := range res.Units {
		set.Add(&res.Units[i].Set)
	}
	ev, err := eval.New(&set, eval.Cluster{Workloads: rec.Workloads}, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// fixtures/judge decides every request too, on the pods of the real
	// cluster's objects, and must agree.
	rf := newReferee(t, res, clusterPods(t, upstream.Read(t, "booksapp.cluster.yaml")))
	decide := func(client recording.PeerID, r eval.Request) eval.Decision {
		t.Helper()
		d := ev.Decide(r)
		v, err := rf.decide(request{client: client, server: r.Destination, port: r.Port, identity: r.ClientIdentity, method: r.Method, path: r.Path})
		if err != nil {
			t.Fatal(err)
		}
		if v.Allowed != d.Allowed {
			t.Errorf("%s %s from %s to %s:%d: the judge says %s, the evaluator allowed %v (%s)", r.Method, r.Path, client, r.Destination, r.Port, v, d.Allowed, d.Reason)
		}
		return d
	}
	identity := func(id recording.PeerID) string {
		for _, w := range rec.Workloads {
			if w.ID == id {
				return w.Identity
			}
		}
		return ""
	}
	// Who called which (server, port, method, path).
	seen := map[call]map[recording.PeerID]bool{}
	clients := map[recording.PeerID]bool{}
	for _, e := range rec.Edges {
		if identity(e.Client) == "" {
			continue
		}
		clients[e.Client] = true
		for _, r := range e.Routes {
			// A template is checked on a path it stands for and on the
			// raw paths it kept.
			for _, path := range append([]string{r.RequestPath()}, r.Examples...) {
				k := call{e.Server, e.Port, r.Method, path}
				if seen[k] == nil {
					seen[k] = map[recording.PeerID]bool{}
				}
				seen[k][e.Client] = true
			}
		}
	}
	checked := 0
	for k, who := range seen {
		for c := range clients {
			d := decide(c, eval.Request{Destination: k.server, Port: k.port, ClientIdentity: identity(c), TLS: true, Method: k.method, Path: k.path})
			if who[c] && !d.Allowed {
				t.Errorf("%s %s %s on %s:%d was observed but is denied: %s", c, k.method, k.path, k.server, k.port, d.Reason)
			}
			if !who[c] && d.Allowed && !sameTemplate(seen, k, c) {
				t.Errorf("%s %s %s on %s:%d was never observed but is allowed by %s", c, k.method, k.path, k.server, k.port, d.Authorization)
			}
			checked++
		}
		// Another method on the same path is not admitted unless observed.
		other := call{k.server, k.port, "PATCH", k.path}
		if _, ok := seen[other]; !ok {
			for c := range who {
				if d := decide(c, eval.Request{Destination: k.server, Port: k.port, ClientIdentity: identity(c), TLS: true, Method: "PATCH", Path: k.path}); d.Allowed {
					t.Errorf("PATCH %s on %s from %s is allowed, but only %s was observed", k.path, k.server, c, k.method)
				}
			}
		}
	}
	if checked < 100 {
		t.Errorf("checked %d (client, call) pairs, want a real sample", checked)
	}
}

// call is one observed request shape.
type call struct {
	server       recording.PeerID
	port         uint32
	method, path string
}

// sameTemplate says whether client c was observed on another path that
// the route template of k also covers: then admitting k is what the
// template is for.
func sameTemplate(seen map[call]map[recording.PeerID]bool, k call, c recording.PeerID) bool {
	prefix := func(p string) string {
		i := strings.LastIndexByte(p, '/')
		return p[:i+1]
	}
	for o, who := range seen {
		if who[c] && o.server == k.server && o.port == k.port && o.method == k.method && prefix(o.path) == prefix(k.path) {
			return true
		}
	}
	return false
}

func TestNamespaceLevelNetworksAndNamespaces(t *testing.T) {
	rec := recorded.Upstream(t, "emojivoto")
	res, err := Synthesize(rec, options(LevelNamespace))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	WriteStream(&out, res)
	s := out.String()
	for _, want := range []string{
		"kind: Namespace\n    name: emojivoto", // identityRefs of kind Namespace
		"cidr: 192.0.2.10/32",                  // the unmeshed client, a single address
		"accessPolicy: audit",
		"proxyProtocol: gRPC",
		LabelManagedBy + ": " + ManagedBy,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("namespace level for emojivoto lacks %q", want)
		}
	}
	widened := options(LevelNamespace)
	widened.NetworkPrefix = PrefixLengths{IPv4: 24}
	res, err = Synthesize(rec, widened)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	WriteStream(&out, res)
	if !strings.Contains(out.String(), "cidr: 192.0.2.0/24") {
		t.Errorf("--widen-ipv4 24 did not widen the unmeshed client to 192.0.2.0/24")
	}
}

func TestDefaultDenyIsLastAndDirectoryOutput(t *testing.T) {
	rec := recorded.Scenario(t, "shop")
	opts := options(LevelServiceAccount)
	opts.Mode, opts.DefaultDeny = ModeEnforce, true
	res, err := Synthesize(rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	WriteStream(&out, res)
	docs := strings.Split(out.String(), "---\n")
	last := docs[len(docs)-1]
	if !strings.Contains(last, "kind: Namespace") || !strings.Contains(last, AnnotationDefaultInbound+": deny") {
		t.Errorf("last document = %q, want the default-deny Namespace", last)
	}
	if strings.Contains(out.String(), "accessPolicy: audit") {
		t.Errorf("--mode enforce wrote an audit Server")
	}

	dir := t.TempDir()
	stray := filepath.Join(dir, "shop", "gone.yaml")
	handwritten := filepath.Join(dir, "shop", "mine.yaml")
	os.MkdirAll(filepath.Dir(stray), 0o755)
	os.WriteFile(stray, []byte("metadata:\n  labels:\n    "+LabelManagedBy+": "+ManagedBy+"\n"), 0o644)
	os.WriteFile(handwritten, []byte("kind: ConfigMap\n"), 0o644)
	written, removed, err := WriteDir(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != len(res.Units)+len(res.DefaultDeny)+1 || len(removed) != 1 || removed[0] != "shop/gone.yaml" {
		t.Errorf("written %v, removed %v; want every file and the stale cinch file removed", written, removed)
	}
	if _, err := os.Stat(handwritten); err != nil {
		t.Errorf("a file cinch did not write was removed: %v", err)
	}
	kust, _ := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if !strings.Contains(string(kust), "shop/namespace.yaml") || strings.Index(string(kust), "namespace.yaml") < strings.LastIndex(string(kust), "/web") {
		t.Errorf("kustomization.yaml = %s, want every file with namespace annotations last", kust)
	}
	written, removed, err = WriteDir(dir, res)
	if err != nil || len(written) != 0 || len(removed) != 0 {
		t.Errorf("second write: written %v, removed %v, err %v; want nothing to do", written, removed, err)
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := options(LevelRoute)
	for _, tc := range []struct {
		mutate func(*Options)
		want   string
	}{
		{func(o *Options) { o.Level = "pod" }, "--level"},
		{func(o *Options) { o.Mode = "deny" }, "--mode"},
		{func(o *Options) { o.RouteAPI = "x" }, "--route-api"},
		{func(o *Options) { o.NetworkPrefix.IPv4 = 33 }, "--widen-ipv4"},
		{func(o *Options) { o.ProbeNetworks = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")} }, "--probe-networks"},
	} {
		o := ok
		tc.mutate(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want an error naming %s", err, tc.want)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("default options: %v", err)
	}
}

// TestMetricsEdges: a connection-level (TCP) edge gets an opaque Server
// with server-level authorization at every level, and a client whose
// every request was denied is not granted unless asked.
func TestMetricsEdges(t *testing.T) {
	wl := func(name string) recording.Workload {
		return recording.Workload{ID: recording.PeerID("data/" + name), Namespace: "data", Kind: "Deployment", Name: name, ServiceAccount: name, Meshed: true,
			Identity: name + ".data.serviceaccount.identity.linkerd.cluster.local", Labels: map[string]string{"app": name},
			Ports: []recording.ContainerPort{{Port: 5432, Name: "pg", Protocol: "TCP"}}}
	}
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "prometheus:http://prometheus:9090"}}
	rec.Workloads = []recording.Workload{wl("api"), wl("db"), wl("batch")}
	rec.Edges = []recording.Edge{
		{Client: "data/api", Server: "data/db", Port: 5432, Protocol: recording.ProtocolTCP, Requests: 10, TLS: map[string]int64{"true": 10}},
		{Client: "data/batch", Server: "data/db", Port: 5432, Protocol: recording.ProtocolTCP, Denied: 3, TLS: map[string]int64{"true": 3}},
	}
	for _, level := range Levels {
		for _, grant := range []bool{false, true} {
			opts := options(level)
			opts.GrantDenied = grant
			res, err := Synthesize(rec, opts)
			if err != nil {
				t.Fatalf("%s: %v", level, err)
			}
			var out bytes.Buffer
			WriteStream(&out, res)
			s := out.String()
			if !strings.Contains(s, "proxyProtocol: opaque") || strings.Contains(s, "kind: HTTPRoute") || !strings.Contains(s, "name: api") && !strings.Contains(s, "name: data") {
				t.Errorf("%s: want an opaque Server with a server-level grant for api, got:\n%s", level, s)
			}
			if level != LevelNamespace && strings.Contains(s, "name: batch") != grant {
				t.Errorf("%s, grant denied %v: batch granted = %v", level, grant, strings.Contains(s, "name: batch"))
			}
			warned := strings.Contains(strings.Join(res.Warnings, "\n"), "data/batch -> data/db port 5432: all 3 requests were denied")
			if warned == grant {
				t.Errorf("%s, grant denied %v: warnings %q", level, grant, res.Warnings)
			}
		}
	}
}

// TestMinCoverageKeepsThinEvidenceCoarse: a port whose every route was
// seen once has a Good-Turing coverage of 0; with --min-coverage it stays
// at service-account level instead of getting a route list that would
// break the next unseen route.
func TestMinCoverageKeepsThinEvidenceCoarse(t *testing.T) {
	rec := recorded.Upstream(t, "booksapp")
	thin := recording.Edge{Client: "booksapp/webapp", Server: "booksapp/traffic", Port: 9999, Protocol: recording.ProtocolHTTP, Requests: 3,
		TLS: map[string]int64{"true": 3}, Routes: []recording.Route{{Method: "GET", Path: "/a", Requests: 1}, {Method: "GET", Path: "/b", Requests: 1}, {Method: "POST", Path: "/c", Requests: 1}}}
	rec.Edges = append(rec.Edges, thin)
	rec.Normalize()
	opts := options(LevelRoute)
	opts.MinCoverage = 0.5
	res, err := Synthesize(rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	var thinCov, books PortCoverage
	for _, c := range res.Coverage {
		switch {
		case c.Server == "booksapp/traffic" && c.Port == 9999:
			thinCov = c
		case c.Server == "booksapp/books":
			books = c
		}
	}
	if thinCov.Routes != 3 || thinCov.Singletons != 3 || thinCov.Coverage != 0 || !thinCov.Sampled {
		t.Errorf("thin port coverage = %+v, want 3 routes all seen once, coverage 0", thinCov)
	}
	if books.Coverage < 0.99 || books.Routes != 5 {
		t.Errorf("books coverage = %+v, want 5 routes and coverage near 1", books)
	}
	var out bytes.Buffer
	WriteStream(&out, res)
	if strings.Contains(out.String(), "traffic-9999-get-a") || !strings.Contains(out.String(), "name: books-service-routes") {
		t.Errorf("the thin port got routes, or books lost its own")
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "booksapp/traffic port 9999: estimated coverage 0.00 is below --min-coverage 0.50") {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

// TestSelfCheckCatchesMissingGrants: the self-check is what keeps synth
// from writing policy that breaks traffic; without one authorization it
// must refuse and name the traffic.
func TestSelfCheckCatchesMissingGrants(t *testing.T) {
	rec := recorded.Upstream(t, "booksapp")
	res, err := Synthesize(rec, options(LevelServiceAccount))
	if err != nil {
		t.Fatal(err)
	}
	if err := selfCheck(rec, res); err != nil {
		t.Fatalf("the synthesized policy fails its own check: %v", err)
	}
	for i := range res.Units {
		if res.Units[i].Workload == "authors" {
			res.Units[i].Set.AuthorizationPolicies = nil
		}
	}
	err = selfCheck(rec, res)
	if err == nil || !strings.Contains(err.Error(), "booksapp/authors port 7001") || !strings.Contains(err.Error(), "NoAuthorizationMatched") {
		t.Errorf("without authors' authorizations: err = %v, want the denied traffic to authors named", err)
	}
}

// TestMetricsClients: a client metrics know only by identity is granted
// by its service account; unmeshed clients without addresses are not
// granted, and synth says why.
func TestMetricsClients(t *testing.T) {
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "prometheus:http://prometheus:9090"}}
	rec.Workloads = []recording.Workload{{ID: "data/api", Namespace: "data", Kind: "Deployment", Name: "api", ServiceAccount: "api", Meshed: true,
		Identity: "api.data.serviceaccount.identity.linkerd.cluster.local", Labels: map[string]string{"app": "api"}}}
	rec.Peers = []recording.Peer{
		{ID: "identity:batch.jobs.serviceaccount.identity.linkerd.cluster.local", Kind: recording.PeerIdentity},
		{ID: "ip:unknown", Kind: recording.PeerExternal},
	}
	rec.Edges = []recording.Edge{
		{Client: "identity:batch.jobs.serviceaccount.identity.linkerd.cluster.local", Server: "data/api", Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 7, TLS: map[string]int64{"true": 7}},
		{Client: "ip:unknown", Server: "data/api", Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 3, TLS: map[string]int64{"no_tls_from_remote": 3}},
	}
	res, err := Synthesize(rec, options(LevelServiceAccount))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	WriteStream(&out, res)
	if !strings.Contains(out.String(), "name: batch\n    namespace: jobs") || strings.Contains(out.String(), "NetworkAuthentication") {
		t.Errorf("want batch granted by service account and no network grant:\n%s", out.String())
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "ip:unknown -> data/api port 8080: 3 requests without mTLS from addresses the recording does not hold") {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

// TestPackagelessGRPCMethodsGetRoutes: a gRPC service without a package
// (/Greeter/SayHello) is named in a GRPCRoute like any other.
func TestPackagelessGRPCMethodsGetRoutes(t *testing.T) {
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "file:grpc"}}
	rec.Workloads = []recording.Workload{
		{ID: "shop/greeter", Namespace: "shop", Kind: "Deployment", Name: "greeter", ServiceAccount: "greeter", Meshed: true, Labels: map[string]string{"app": "greeter"}},
		{ID: "shop/web", Namespace: "shop", Kind: "Deployment", Name: "web", ServiceAccount: "web", Meshed: true},
	}
	rec.Edges = []recording.Edge{{Client: "shop/web", Server: "shop/greeter", Port: 9090, Protocol: recording.ProtocolGRPC, Requests: 4,
		TLS: map[string]int64{"true": 4}, Routes: []recording.Route{{Method: "POST", Path: "/Greeter/SayHello", Requests: 4}}}}
	res, err := Synthesize(rec, options(LevelRoute))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	WriteStream(&out, res)
	if !strings.Contains(out.String(), "kind: GRPCRoute") || !strings.Contains(out.String(), "service: Greeter") || !strings.Contains(out.String(), "method: SayHello") {
		t.Errorf("want a GRPCRoute for Greeter/SayHello; warnings %q:\n%s", res.Warnings, out.String())
	}
}

// TestDefaultDenySparesNamespacesWithUnselectedServers: default deny on a
// namespace where a server with observed traffic gets no Server would cut
// that server off.
func TestDefaultDenySparesNamespacesWithUnselectedServers(t *testing.T) {
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "file:x"}}
	rec.Workloads = []recording.Workload{
		{ID: "shop/web", Namespace: "shop", Kind: "Deployment", Name: "web", ServiceAccount: "web", Meshed: true, Labels: map[string]string{"app": "web"}},
		{ID: "shop/legacy", Namespace: "shop", Kind: "Deployment", Name: "legacy", ServiceAccount: "legacy", Meshed: true},
		{ID: "pay/api", Namespace: "pay", Kind: "Deployment", Name: "api", ServiceAccount: "api", Meshed: true, Labels: map[string]string{"app": "api"}},
	}
	for _, server := range []recording.PeerID{"shop/web", "shop/legacy", "pay/api"} {
		rec.Edges = append(rec.Edges, recording.Edge{Client: "shop/web", Server: server, Port: 8080, Protocol: recording.ProtocolHTTP,
			Requests: 2, TLS: map[string]int64{"true": 2}})
	}
	opts := options(LevelServiceAccount)
	opts.DefaultDeny = true
	res, err := Synthesize(rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.DefaultDeny, []string{"pay"}) {
		t.Errorf("default deny for %q, want only pay", res.DefaultDeny)
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "namespace shop is left without default deny: shop/legacy had observed traffic") {
		t.Errorf("warnings:\n%s", w)
	}
}

// TestCoverageLeavesOutProbes: the coverage estimate comes from the same
// route templates as the route level, and counts only requests that were
// not kubelet probes, also on a probe path a client calls too.
func TestCoverageLeavesOutProbes(t *testing.T) {
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "file:t", Sampling: recording.Sampling{Sampled: true}}}
	rec.Workloads = []recording.Workload{
		{ID: "shop/web", Namespace: "shop", Kind: "Deployment", Name: "web", ServiceAccount: "web", Meshed: true,
			Identity: "web.shop.serviceaccount.identity.linkerd.cluster.local", Labels: map[string]string{"app": "web"}},
		{ID: "shop/api", Namespace: "shop", Kind: "Deployment", Name: "api", ServiceAccount: "api", Meshed: true,
			Identity: "api.shop.serviceaccount.identity.linkerd.cluster.local", Labels: map[string]string{"app": "api"},
			Probes: []recording.Probe{{Kind: "readiness", Port: 8080, Path: "/ready"}, {Kind: "liveness", Port: 8080, Path: "/live"}}},
	}
	rec.Peers = []recording.Peer{{ID: "node:n1", Kind: recording.PeerNode, IPs: []string{"10.0.0.1"}}}
	rec.Edges = []recording.Edge{
		{Client: "shop/web", Server: "shop/api", Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 101, TLS: map[string]int64{"true": 101},
			Routes: []recording.Route{{Method: "GET", Path: "/books", Requests: 100}, {Method: "GET", Path: "/ready", Requests: 1}}},
		{Client: "node:n1", Server: "shop/api", Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 50, TLS: map[string]int64{"no_tls_from_remote": 50},
			SourceIPs: []recording.SourceIP{{IP: "10.0.0.1", Requests: 50}}, Routes: []recording.Route{{Method: "GET", Path: "/ready", Requests: 50, Probe: true}}},
	}
	rec.Normalize()
	for _, level := range Levels {
		res, err := Synthesize(rec, options(level))
		if err != nil {
			t.Fatal(err)
		}
		want := []PortCoverage{{Server: "shop/api", Port: 8080, Requests: 101, Routes: 2, Singletons: 1, Coverage: 1 - 1.0/101, Sampled: true}}
		if !slices.Equal(res.Coverage, want) {
			t.Errorf("%s: coverage %+v, want %+v", level, res.Coverage, want)
		}
	}
}

// TestDirectoryOutputOrder: files are written workloads first, then the
// default-deny namespace.yaml files, then kustomization.yaml, and stale
// files are removed last, a stale namespace.yaml first; a run cut short by
// a failing write leaves no default deny on disk.
func TestDirectoryOutputOrder(t *testing.T) {
	rec := recorded.Scenario(t, "shop")
	opts := options(LevelServiceAccount)
	opts.DefaultDeny = true
	res, err := Synthesize(rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.DefaultDeny) == 0 || len(res.Units) < 2 {
		t.Fatalf("want a result with default deny and several workloads, got %d units, default deny %v", len(res.Units), res.DefaultDeny)
	}
	dir := t.TempDir()
	stale := []string{"old/api.yaml", "old/namespace.yaml", "old/zed.yaml"}
	for _, name := range stale {
		path := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte("metadata:\n  labels:\n    "+LabelManagedBy+": "+ManagedBy+"\n"), 0o644)
	}
	written, removed, err := WriteDir(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	rank := func(name string) int {
		switch {
		case name == "kustomization.yaml":
			return 2
		case strings.HasSuffix(name, "/namespace.yaml"):
			return 1
		}
		return 0
	}
	if !slices.IsSortedFunc(written, func(a, b string) int { return rank(a) - rank(b) }) || written[len(written)-1] != "kustomization.yaml" {
		t.Errorf("written in the order %q, want workloads, then namespace.yaml files, then kustomization.yaml", written)
	}
	if want := []string{"old/namespace.yaml", "old/api.yaml", "old/zed.yaml"}; !slices.Equal(removed, want) {
		t.Errorf("removed in the order %q, want %q", removed, want)
	}

	// A workload file that cannot be written (a directory in its place)
	// stops the run before any namespace.yaml.
	cut := t.TempDir()
	last := res.Units[len(res.Units)-1]
	os.MkdirAll(filepath.Join(cut, last.Namespace, last.Workload+".yaml", "in-the-way"), 0o755)
	if _, _, err := WriteDir(cut, res); err == nil {
		t.Fatal("writing over a directory succeeded")
	}
	for _, ns := range res.DefaultDeny {
		if _, err := os.Stat(filepath.Join(cut, ns, "namespace.yaml")); err == nil {
			t.Errorf("%s/namespace.yaml is on disk although a workload file before it failed", ns)
		}
	}
	if _, err := os.Stat(filepath.Join(cut, "kustomization.yaml")); err == nil {
		t.Errorf("kustomization.yaml is on disk although a workload file before it failed")
	}
}

// TestOnlyGETProbesRideTheProbeRoute: Linkerd's implicit probe route
// admits GET on the probe paths only, so at server level a kubelet whose
// probe requests were GETs needs no authorization, but one that sent HEAD
// to the same path does.
func TestOnlyGETProbesRideTheProbeRoute(t *testing.T) {
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "file:t"}}
	rec.Workloads = []recording.Workload{{ID: "shop/api", Namespace: "shop", Kind: "Deployment", Name: "api", ServiceAccount: "api", Meshed: true,
		Labels: map[string]string{"app": "api"}, Probes: []recording.Probe{{Kind: "readiness", Port: 8080, Path: "/ready"}}}}
	rec.Peers = []recording.Peer{{ID: "node:n1", Kind: recording.PeerNode, IPs: []string{"10.0.0.1"}}, {ID: "node:n2", Kind: recording.PeerNode, IPs: []string{"10.0.0.2"}}}
	probe := func(node, ip, method string) recording.Edge {
		return recording.Edge{Client: recording.PeerID(node), Server: "shop/api", Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 5,
			TLS: map[string]int64{"no_tls_from_remote": 5}, SourceIPs: []recording.SourceIP{{IP: ip, Requests: 5}},
			Routes: []recording.Route{{Method: method, Path: "/ready", Requests: 5, Probe: true}}}
	}
	rec.Edges = []recording.Edge{probe("node:n1", "10.0.0.1", "HEAD"), probe("node:n2", "10.0.0.2", "GET")}
	rec.Normalize()
	res, err := Synthesize(rec, options(LevelServiceAccount))
	if err != nil {
		t.Fatal(err)
	}
	var networks []string
	for _, u := range res.Units {
		for _, n := range u.Set.NetworkAuthentications {
			for _, net := range n.Spec.Networks {
				networks = append(networks, net.CIDR)
			}
		}
	}
	if !slices.Equal(networks, []string{"10.0.0.1/32"}) {
		t.Errorf("authorized networks %q, want only the HEAD prober's 10.0.0.1/32", networks)
	}
}
