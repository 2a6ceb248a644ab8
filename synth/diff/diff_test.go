package diff

import (
	"slices"
	"testing"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

var _ Cluster = (*cluster.Inventory)(nil)

// fakeCluster declares workloads by ID.
type fakeCluster map[recording.PeerID]recording.Workload

func (f fakeCluster) Workload(id recording.PeerID) (recording.Workload, bool) {
	w, ok := f[id]
	return w, ok
}

var (
	web, api, batch = meshed("shop", "web"), meshed("shop", "api"), meshed("jobs", "batch")
	db              = func() recording.Workload {
		w := meshed("shop", "db")
		w.Ports, w.Probes = []recording.ContainerPort{{Port: 5432, Name: "pg", Protocol: "TCP"}}, nil
		return w
	}()
	legacy = func() recording.Workload {
		w := meshed("shop", "legacy")
		w.Meshed, w.Identity = false, ""
		return w
	}()
	workloads = []recording.Workload{web, api, batch, db, legacy}

	// webToAPI is web reading two items from api, probe is the kubelet
	// probing api.
	webToAPI = mtls("shop/web", "shop/api", 8080, get("/v1/items/1", 3), get("/v1/items/2", 2))
	probe    = func() recording.Edge {
		e := plain("node:node-1", "shop/api", 8080, "10.0.0.1", get("/ready", 4))
		e.Routes[0].Probe = true
		return e
	}()
)

const (
	dbServer = `
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {namespace: shop, name: db}
spec:
  podSelector: {matchLabels: {app: db}}
  port: 5432
  proxyProtocol: opaque`
	dbClients = `
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: db}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: db}
  requiredAuthenticationRefs:
  - {group: policy.linkerd.io, kind: MeshTLSAuthentication, name: db-clients}
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata: {namespace: shop, name: db-clients}
spec:
  identities: ["api.shop.serviceaccount.identity.linkerd.cluster.local"]`
)

func TestEvaluate(t *testing.T) {
	mixed := mtls("shop/web", "shop/api", 8080, get("/a", 5), get("/b", 5))
	mixed.TLS = map[string]int64{"true": 6, "no_tls_from_remote": 4}
	mixed.SourceIPs = []recording.SourceIP{{IP: "10.42.0.5", Requests: 4}}

	overflow := mtls("shop/web", "shop/api", 8080, get("/x", 3))
	overflow.Requests, overflow.RoutesOverflow, overflow.TLS["true"] = 10, 7, 10

	conn := recording.Edge{Client: "shop/api", Server: "shop/db", Port: 5432, Protocol: recording.ProtocolTCP,
		Requests: 30, TLS: map[string]int64{"true": 30}}

	noIdentity := mtls("ip:203.0.113.9", "shop/api", 8080, get("/v1/items/3", 3))
	manyAddrs := plain("ip:10.1.1.1", "shop/api", 8080, "10.1.1.1", get("/v1/items/4", 7))
	manyAddrs.SourceIPs[0].Requests, manyAddrs.SourceIPsOverflow = 2, 5
	deniedLive := recording.Edge{Client: "shop/web", Server: "shop/api", Port: 9000, Denied: 8}

	unlabelled := api
	unlabelled.Labels = nil

	for _, tc := range []struct {
		name      string
		rec       *recording.Recording
		manifests []string
		opts      Options
		// Expected findings (see describe), what was not evaluated, and
		// how much was observed.
		denied, audit, skipped []string
		observed               Count
	}{
		{name: "no policy: the cluster default admits everything, probes included",
			rec:      newRecording(workloads, webToAPI, probe),
			observed: Count{3, 9}},
		{name: "default policy deny: only the probes pass, on the default policy's probe route",
			rec: newRecording(workloads, webToAPI, probe), opts: Options{Eval: eval.Options{DefaultPolicy: policy.Deny}},
			denied:   []string{"shop/web as shop/web -> shop/api:8080 default/default DefaultDeny: 5 requests, 2 paths (GET /v1/items/1)"},
			observed: Count{3, 9}},
		{name: "a Server without authorizations denies all but probes",
			rec: newRecording(workloads, webToAPI, probe), manifests: []string{apiServer},
			denied:   []string{"shop/web as shop/web -> shop/api:8080 default/default NoAuthorizationMatched: 5 requests, 2 paths (GET /v1/items/1)"},
			observed: Count{3, 9}},
		{name: "a Server in audit mode admits, but only by audit",
			rec: newRecording(workloads, webToAPI, probe), manifests: []string{apiServer + "\n  accessPolicy: audit"},
			audit:    []string{"shop/web as shop/web -> shop/api:8080 default/default Audit: 5 requests, 2 paths (GET /v1/items/1)"},
			observed: Count{3, 9}},
		{name: "web's service account is admitted, the unauthenticated client is not",
			rec:       newRecording(workloads, webToAPI, plain("ip:192.0.2.7", "shop/api", 8080, "192.0.2.7", get("/v1/items/9", 2))),
			manifests: []string{apiServer, webOnly},
			denied:    []string{"ip:192.0.2.7 as 192.0.2.7 -> shop/api:8080 default/default NoAuthorizationMatched: 2 requests, 1 paths (GET /v1/items/9)"},
			observed:  Count{3, 7}},
		{name: "an edge with and without mTLS: every route for both, its requests split 6:4",
			rec: newRecording(workloads, mixed), manifests: []string{apiServer, webOnly},
			denied:   []string{"shop/web as 10.42.0.5 -> shop/api:8080 default/default NoAuthorizationMatched: 4 requests, 2 paths (GET /a)"},
			observed: Count{4, 10}},
		{name: "paths beyond the recording's limit are not evaluated on an HTTP server",
			rec: newRecording(workloads, overflow), manifests: []string{apiServer},
			denied:   []string{"shop/web as shop/web -> shop/api:8080 default/default NoAuthorizationMatched: 3 requests, 1 paths (GET /x)"},
			skipped:  []string{"paths not recorded: 7"},
			observed: Count{1, 3}},
		{name: "connections to an opaque Server are evaluated without paths",
			rec: newRecording(workloads, conn), manifests: []string{dbServer},
			denied:   []string{"shop/api as shop/api -> shop/db:5432 - NoAuthorizationMatched: 30 requests, 1 paths ((connection))"},
			observed: Count{1, 30}},
		{name: "the opaque Server's authorization admits them",
			rec: newRecording(workloads, conn), manifests: []string{dbServer, dbClients},
			observed: Count{1, 30}},
		{name: "connections to an HTTP server are not evaluated: the route decides",
			rec:     newRecording(workloads, recording.Edge{Client: "shop/web", Server: "shop/api", Port: 8080, Protocol: recording.ProtocolTCP, Requests: 5, TLS: map[string]int64{"true": 5}}),
			skipped: []string{"paths not recorded: 5"}},
		{name: "what the recording does not describe is not evaluated",
			rec: newRecording(workloads, noIdentity, manyAddrs, deniedLive,
				mtls("shop/web", "shop/legacy", 8080, get("/", 4)), mtls("shop/web", "ip:198.51.100.1", 443, get("/", 6))),
			skipped: []string{"denied by the policy in force: 8", "server is not a workload: 6", "client addresses not recorded: 5",
				"server not meshed: 4", "client identity unknown: 3"},
			observed: Count{1, 2}},
		{name: "Namespaces limits the servers evaluated",
			rec:       newRecording(workloads, webToAPI, mtls("shop/web", "jobs/batch", 8080, get("/run", 1))),
			manifests: []string{apiServer}, opts: Options{Namespaces: []string{"jobs"}},
			observed: Count{1, 1}},
		{name: "without labels in the recording no Server selects the server",
			rec: newRecording([]recording.Workload{web, unlabelled}, webToAPI), manifests: []string{apiServer},
			observed: Count{2, 5}},
		{name: "the cluster's labels replace the recording's",
			rec: newRecording([]recording.Workload{web, unlabelled}, webToAPI), manifests: []string{apiServer},
			opts:     Options{Cluster: fakeCluster{"shop/api": api}},
			denied:   []string{"shop/web as shop/web -> shop/api:8080 default/default NoAuthorizationMatched: 5 requests, 2 paths (GET /v1/items/1)"},
			observed: Count{2, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := evaluate(t, tc.rec, readSet(t, tc.manifests...), tc.opts)
			equalLines(t, "denied", describe(rep.Denied), orEmpty(tc.denied))
			equalLines(t, "audit only", describe(rep.Audit), orEmpty(tc.audit))
			equalLines(t, "not evaluated", describeSkipped(rep.Summary.NotEvaluated), orEmpty(tc.skipped))
			s := rep.Summary
			if s.Observed != tc.observed {
				t.Errorf("observed %v, want %v", s.Observed, tc.observed)
			}
			if sum := (Count{s.Admitted.Tuples + s.Audit.Tuples + s.Denied.Tuples, s.Admitted.Requests + s.Audit.Requests + s.Denied.Requests}); sum != s.Observed {
				t.Errorf("admitted %v + audit %v + denied %v != observed %v", s.Admitted, s.Audit, s.Denied, s.Observed)
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestEvaluateWarnsAboutGaps(t *testing.T) {
	unlabelled := api
	unlabelled.Labels = nil
	rec := newRecording([]recording.Workload{web, unlabelled}, webToAPI, mtls("ip:203.0.113.9", "shop/api", 8080, get("/", 1)))
	rep := evaluate(t, rec, readSet(t, apiServer, webOnly, `
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata: {namespace: shop, name: ghost}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: ghost}
  requiredAuthenticationRefs: []`), Options{})
	equalLines(t, "warnings", rep.Warnings, []string{
		"shop/api: the recording has no labels for it, so no Server selects it: record with cluster objects, or give them with --cluster-file",
		"ip:203.0.113.9 called shop/api over mTLS but its identity is unknown: record with cluster objects",
		`AuthorizationPolicy shop/ghost: targets Server "ghost", which does not exist: no effect`,
	})
}

// The recording's identities name the control plane namespace and trust
// domain that ServiceAccount references evaluate to.
func TestMeshNamingFromTheRecording(t *testing.T) {
	w, a := web, api
	w.Identity = "web.shop.serviceaccount.identity.linkerd-prod.example.org"
	a.Identity = "api.shop.serviceaccount.identity.linkerd-prod.example.org"
	rec := newRecording([]recording.Workload{w, a}, webToAPI)
	rep := evaluate(t, rec, readSet(t, apiServer, webOnly), Options{})
	equalLines(t, "denied with the recording's naming", describe(rep.Denied), []string{})
	rep = evaluate(t, rec, readSet(t, apiServer, webOnly), Options{Eval: eval.Options{TrustDomain: "cluster.local", ControlPlaneNamespace: "linkerd"}})
	if len(rep.Denied) != 1 {
		t.Errorf("with other naming given, web's identity should not match: denied %v", describe(rep.Denied))
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		n       int64
		weights []int64
		want    []int64
	}{
		{5, []int64{6, 4}, []int64{3, 2}},
		{1, []int64{6, 4}, []int64{1, 0}},
		{1, []int64{4, 6}, []int64{0, 1}},
		{10, []int64{1, 1, 1}, []int64{4, 3, 3}},
		{7, []int64{7}, []int64{7}},
		{3, []int64{1 << 40, 1 << 40, 1 << 41}, []int64{1, 1, 1}},               // 0.75, 0.75, 1.5: largest remainders
		{1 << 40, []int64{1 << 40, 1 << 41}, []int64{1 << 40 / 3, 1<<41/3 + 1}}, // products beyond 64 bits
	} {
		r := &run{}
		for _, w := range tc.weights {
			r.principals = append(r.principals, principal{weight: w})
		}
		r.split(tc.n)
		if !slices.Equal(r.shares, tc.want) {
			t.Errorf("split(%d, %v) = %v, want %v", tc.n, tc.weights, r.shares, tc.want)
		}
	}
}
