package eval

import (
	"testing"

	"github.com/cinchmesh/cinch/fixtures/upstream"
	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
)

// The booksapp walk-through's final policy against the workloads of the
// real booksapp cluster objects (as observe/cluster reads them) and the
// traffic the upstream truth file lists for authors.
func TestBooksappUpstreamWorkloads(t *testing.T) {
	objs, err := cluster.ReadFile(upstream.Path(t, "booksapp.cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inv := cluster.NewInventory(objs, cluster.Options{})
	var workloads []recording.Workload
	for _, id := range []recording.PeerID{"booksapp/authors", "booksapp/books", "booksapp/webapp"} {
		w, ok := inv.Workload(id)
		if !ok {
			t.Fatalf("%s is not in the cluster objects", id)
		}
		workloads = append(workloads, w)
	}
	e := newEvaluator(t, readSet(t, authorsServer, authorsGetRoute, authorsProbeRoute, authorsModifyRoute, authorsModifyPolicy),
		workloads, Options{})
	checkWarnings(t, e)
	books, webapp := id("books", "booksapp"), id("webapp", "booksapp")
	authors := func(from, method, path string) call {
		return call{dst: "booksapp/authors", port: 7001, from: from, ip: "10.244.1.5", method: method, path: path}
	}
	const (
		server   = "server.policy.linkerd.io/authors-server"
		getRoute = "HTTPRoute.policy.linkerd.io/authors-get-route"
		modRoute = "HTTPRoute.policy.linkerd.io/authors-modify-route"
	)
	runDecide(t, e, []decideCase{
		{"books GET /authors/{int}.json", authors(books, "GET", "/authors/12.json"),
			decision(true, ReasonAuthorized, server, getRoute, "authorizationpolicy.policy.linkerd.io/authors-get-policy")},
		{"books HEAD /authors/{int}.json: observed, but the walk-through's routes have no HEAD", authors(books, "HEAD", "/authors/12.json"),
			decision(false, ReasonNoRouteMatched, server, "", "")},
		{"webapp POST /authors.json", authors(webapp, "POST", "/authors.json"),
			decision(true, ReasonAuthorized, server, modRoute, "authorizationpolicy.policy.linkerd.io/authors-modify-policy")},
		{"webapp DELETE /authors/{int}.json", authors(webapp, "DELETE", "/authors/3.json"),
			decision(true, ReasonAuthorized, server, modRoute, "authorizationpolicy.policy.linkerd.io/authors-modify-policy")},
		{"node-2 GET /ping (the kubelet)", call{dst: "booksapp/authors", port: 7001, ip: "192.168.0.12", method: "GET", path: "/ping"},
			decision(true, ReasonAuthorized, server, "HTTPRoute.policy.linkerd.io/authors-probe-route", "authorizationpolicy.policy.linkerd.io/authors-probe-policy")},
		{"books' own port keeps the cluster default and its probe route", call{dst: "booksapp/books", port: 7002, ip: "192.168.0.12", method: "GET", path: "/ping"},
			decision(true, ReasonAuthorized, "default/all-unauthenticated", "default/probe", "default/probe")},
	})
}
