package diff

import (
	"fmt"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
)

func describeLive(l *LiveCheck) []string {
	out := []string{fmt.Sprintf("%d edges: %d of %d agree, %d disagree", l.Edges, l.Agree, l.Requests, l.Disagree)}
	for _, d := range l.Disagreements {
		out = append(out, fmt.Sprintf("%s -> %s:%d %d: ours %s; live %s", d.Client, d.Server, d.Port, d.Requests, d.Ours, liveLabels(d.Live)))
	}
	return out
}

func TestLiveCheck(t *testing.T) {
	labelled := func(e recording.Edge, n int64) recording.Edge {
		e.Decisions = []recording.Decision{{Server: "default/all-unauthenticated", Route: "default/default",
			Authz: "default/all-unauthenticated", Requests: n}}
		return e
	}
	probed := probe
	probed.Decisions = []recording.Decision{{Server: "default/all-unauthenticated", Route: "default/probe", Authz: "default/probe", Requests: 4}}
	overflow := mtls("shop/web", "shop/api", 8080, get("/x", 3))
	overflow.Requests, overflow.RoutesOverflow, overflow.TLS["true"] = 10, 7, 10
	for _, tc := range []struct {
		name      string
		rec       *recording.Recording
		manifests []string
		want      []string
	}{
		{"the policy that was live: every decision agrees, probes included",
			newRecording(workloads, labelled(webToAPI, 5), probed, webToAPI2()), nil,
			[]string{"2 edges: 9 of 9 agree, 0 disagree"}},
		{"another policy: the Server, and the authorization, differ",
			newRecording(workloads, labelled(webToAPI, 5), probed), []string{apiServer, webOnly},
			[]string{"2 edges: 0 of 9 agree, 9 disagree",
				"shop/web -> shop/api:8080 5: ours srv server.policy.linkerd.io/api-http, route default/default, authz authorizationpolicy.policy.linkerd.io/api-web; " +
					"live srv default/all-unauthenticated, route default/default, authz default/all-unauthenticated",
				"node:node-1 -> shop/api:8080 4: ours srv server.policy.linkerd.io/api-http, route default/probe, authz default/probe; " +
					"live srv default/all-unauthenticated, route default/probe, authz default/probe"}},
		{"a denial is a disagreement: tap sees only allowed requests",
			newRecording(workloads, labelled(webToAPI, 5)), []string{apiServer},
			[]string{"1 edges: 0 of 5 agree, 5 disagree",
				"shop/web -> shop/api:8080 5: ours srv server.policy.linkerd.io/api-http, route default/default, authz denied; " +
					"live srv default/all-unauthenticated, route default/default, authz default/all-unauthenticated"}},
		{"requests whose paths were not recorded are not compared",
			newRecording(workloads, labelled(overflow, 10)), nil,
			[]string{"1 edges: 3 of 3 agree, 0 disagree"}},
		{"requests the proxy did not label are not compared",
			newRecording(workloads, labelled(webToAPI, 2)), []string{apiServer},
			[]string{"1 edges: 0 of 2 agree, 2 disagree",
				"shop/web -> shop/api:8080 2: ours srv server.policy.linkerd.io/api-http, route default/default, authz denied; " +
					"live srv default/all-unauthenticated, route default/default, authz default/all-unauthenticated"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := evaluate(t, tc.rec, readSet(t, tc.manifests...), Options{LiveCheck: true})
			equalLines(t, "live check", describeLive(rep.Live), tc.want)
		})
	}
	if rep := evaluate(t, newRecording(workloads, webToAPI), readSet(t), Options{}); rep.Live != nil {
		t.Errorf("live check without LiveCheck: %+v", rep.Live)
	}
}

// webToAPI2 is traffic without live labels (the server's proxy was not
// tapped): it has nothing to compare with.
func webToAPI2() recording.Edge {
	e := mtls("shop/web", "shop/api", 9090, get("/other", 2))
	e.OutboundOnly = true
	return e
}
