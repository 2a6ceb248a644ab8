package diff

import (
	"path/filepath"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

// readWalkthrough reads policy manifests of testdata/walkthrough.
func readWalkthrough(t testing.TB, names ...string) *policy.Set {
	t.Helper()
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join("testdata", "walkthrough", n+".yaml"))
	}
	set, err := policy.ReadPaths(paths, policy.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

type walkthroughStep struct {
	name     string
	policy   []string
	denied   []string
	unused   []string // Opens and Authorization of each unused grant
	observed Count
}

// Linkerd's walk-throughs applied, step by step, to the real recordings of
// their apps (the upstream tap streams recorded with the apps' cluster
// objects). The expected findings come from the recordings' own counts
// (cinch graph show): books called authors 300 times (218 GET, 82 HEAD of
// /authors/{id}.json), webapp 700 times (265 GET /authors.json, 261 GET,
// 94 DELETE of /authors/{id}.json, 80 POST /authors.json), node-2's
// kubelet probed GET /ping 20 times. The recorder folds the ids into
// /authors/{int}.json, so a tuple is one recorded route: 24 of them on
// the app's 8 edges (the ROUTES column of graph show), where the raw
// paths made 1652.
func TestBooksappWalkthrough(t *testing.T) {
	rec := recorded.Upstream(t, "booksapp")
	const (
		webapp = "booksapp/webapp as booksapp/webapp -> booksapp/authors:7001 "
		books  = "booksapp/books as booksapp/books -> booksapp/authors:7001 "
		probe  = "node:node-2 as 10.0.0.12 -> booksapp/authors:7001 "
		ap     = "authorizationpolicy.policy.linkerd.io/"
	)
	all := Count{24, 3000}
	runWalkthrough(t, rec, []walkthroughStep{
		{name: "before any policy: the cluster default admits everything",
			unused:   []string{"any client default/all-unauthenticated"},
			observed: all},
		{name: "authors-server: every call to authors is unauthorized, probes still pass",
			policy: []string{"booksapp-1-authors-server"},
			denied: []string{
				webapp + "default/default NoAuthorizationMatched: 700 requests, 4 paths (GET /authors.json)",
				books + "default/default NoAuthorizationMatched: 300 requests, 2 paths (GET /authors/{int}.json)",
			},
			unused:   []string{"any client default/all-unauthenticated"},
			observed: all},
		{name: "authors-get-route: reads pass; writes, HEAD and the probes find no route",
			policy: []string{"booksapp-1-authors-server", "booksapp-2-authors-get-route"},
			denied: []string{
				webapp + "- NoRouteMatched: 174 requests, 2 paths (DELETE /authors/{int}.json)",
				books + "- NoRouteMatched: 82 requests, 1 paths (HEAD /authors/{int}.json)",
				probe + "- NoRouteMatched: 20 requests, 1 paths (GET /ping)",
			},
			unused:   []string{"any client default/all-unauthenticated"},
			observed: all},
		{name: "authors-probe-route: the probes pass again",
			policy: []string{"booksapp-1-authors-server", "booksapp-2-authors-get-route", "booksapp-3-authors-probe-route"},
			denied: []string{
				webapp + "- NoRouteMatched: 174 requests, 2 paths (DELETE /authors/{int}.json)",
				books + "- NoRouteMatched: 82 requests, 1 paths (HEAD /authors/{int}.json)",
			},
			unused:   []string{"any client default/all-unauthenticated", "any client " + ap + "authors-probe-policy"},
			observed: all},
		{name: "authors-modify-route: writes find their route, without authorization",
			policy: []string{"booksapp-1-authors-server", "booksapp-2-authors-get-route", "booksapp-3-authors-probe-route",
				"booksapp-4-authors-modify-route"},
			denied: []string{
				webapp + "HTTPRoute.policy.linkerd.io/authors-modify-route NoAuthorizationMatched: 174 requests, 2 paths (DELETE /authors/{int}.json)",
				books + "- NoRouteMatched: 82 requests, 1 paths (HEAD /authors/{int}.json)",
			},
			unused:   []string{"any client default/all-unauthenticated", "any client " + ap + "authors-probe-policy"},
			observed: all},
		{name: "authors-modify-policy: only books' HEAD requests, which no route has, are denied",
			policy: []string{"booksapp-1-authors-server", "booksapp-2-authors-get-route", "booksapp-3-authors-probe-route",
				"booksapp-4-authors-modify-route", "booksapp-5-authors-modify-policy"},
			denied: []string{
				books + "- NoRouteMatched: 82 requests, 1 paths (HEAD /authors/{int}.json)",
			},
			unused:   []string{"any client default/all-unauthenticated", "any client " + ap + "authors-probe-policy"},
			observed: all},
	})
}

// emojivoto: web called voting 500 times on 13 gRPC methods (131 of them
// Results), emoji 500 times; vote-bot (service account default) called
// web 600 times, an unmeshed client at 192.0.2.10 40 times.
func TestEmojivotoWalkthrough(t *testing.T) {
	rec := recorded.Upstream(t, "emojivoto")
	all := Count{21, 1640}
	runWalkthrough(t, rec, []walkthroughStep{
		{name: "before any policy",
			unused: []string{"any client default/all-unauthenticated"}, observed: all},
		{name: "voting-grpc Server: no clients are authorized",
			policy: []string{"emojivoto-1-voting-server"},
			denied: []string{"emojivoto/web as emojivoto/web -> emojivoto/voting:8080 default/default NoAuthorizationMatched: " +
				"500 requests, 13 paths (POST /emojivoto.v1.VotingService/Results)"},
			unused: []string{"any client default/all-unauthenticated"}, observed: all},
		{name: "web's service account is authorized by an AuthorizationPolicy",
			policy: []string{"emojivoto-1-voting-server", "emojivoto-2-voting-policy"},
			// Exactly web, which used it: only its routes are open.
			unused:   []string{"any client default/all-unauthenticated", "every route authorizationpolicy.policy.linkerd.io/voting-grpc"},
			observed: all},
		{name: "or by the task's ServerAuthorization",
			policy:   []string{"emojivoto-1-voting-server", "emojivoto-2-voting-serverauthorization"},
			unused:   []string{"any client default/all-unauthenticated", "every route serverauthorization.policy.linkerd.io/voting-grpc"},
			observed: all},
	})
}

func runWalkthrough(t *testing.T, rec *recording.Recording, steps []walkthroughStep) {
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			rep := evaluate(t, rec, readWalkthrough(t, st.policy...), Options{})
			equalLines(t, "denied", describe(rep.Denied), orEmpty(st.denied))
			equalLines(t, "audit only", describe(rep.Audit), []string{})
			var unused []string
			for _, g := range rep.Unused {
				unused = append(unused, string(g.Opens)+" "+g.Authorization)
			}
			equalLines(t, "unused grants", unused, st.unused)
			equalLines(t, "not evaluated", describeSkipped(rep.Summary.NotEvaluated), []string{})
			if rep.Summary.Observed != st.observed {
				t.Errorf("observed %v, want %v", rep.Summary.Observed, st.observed)
			}
		})
	}
}

// The upstream recordings were made under the default all-unauthenticated
// policy, without policy objects: evaluated against an empty set, every
// decision must be the one the live proxy labelled the request with
// (server default/all-unauthenticated; route default/default, or
// default/probe for the kubelet; authorization all-unauthenticated or
// probe).
func TestUpstreamLiveDecisions(t *testing.T) {
	for _, tc := range []struct {
		app             string
		edges, requests int
	}{
		{"booksapp", 8, 3000},
		{"emojivoto", 4, 1640},
	} {
		t.Run(tc.app, func(t *testing.T) {
			rep := evaluate(t, recorded.Upstream(t, tc.app), &policy.Set{}, Options{LiveCheck: true})
			l := rep.Live
			t.Logf("%s: %d edges, %d of %d requests agree, %d disagree", tc.app, l.Edges, l.Agree, l.Requests, l.Disagree)
			if l.Edges != tc.edges || l.Requests != int64(tc.requests) || l.Agree != l.Requests || l.Disagree != 0 {
				t.Errorf("live check: %s, want all %d requests on %d edges to agree", describeLive(l), tc.requests, tc.edges)
			}
		})
	}
}
