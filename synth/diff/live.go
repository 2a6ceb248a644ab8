package diff

import (
	"cmp"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
)

// Labels are a policy decision as the proxy labels it: server, route and
// authorization, each "kind[.group]/name" (an empty Authz: denied).
type Labels struct {
	Server string `json:"server"`
	Route  string `json:"route,omitempty"`
	Authz  string `json:"authz,omitempty"`
}

func (l Labels) equal(o Labels) bool {
	return strings.EqualFold(l.Server, o.Server) && strings.EqualFold(l.Route, o.Route) && strings.EqualFold(l.Authz, o.Authz)
}

func (l Labels) String() string {
	authz := l.Authz
	if authz == "" {
		authz = "denied"
	}
	return "srv " + l.Server + ", route " + cmp.Or(l.Route, "none") + ", authz " + authz
}

// LiveCheck compares, edge by edge, the decisions the evaluator made with
// the ones the live proxies labelled the same requests with. Requests
// counts the requests compared (evaluated and labelled), Agree those whose
// labels the evaluator reproduced, Disagree the others.
type LiveCheck struct {
	Edges         int            `json:"edges"`
	Requests      int64          `json:"requests"`
	Agree         int64          `json:"agree"`
	Disagree      int64          `json:"disagree"`
	Disagreements []Disagreement `json:"disagreements"`
}

// Disagreement is requests of one edge for which the evaluator decided
// Ours, while the live proxy labelled the edge's other requests Live.
type Disagreement struct {
	Client   recording.PeerID `json:"client"`
	Server   recording.PeerID `json:"server"`
	Port     uint32           `json:"port"`
	Ours     Labels           `json:"ours"`
	Live     []Labels         `json:"live"`
	Requests int64            `json:"requests"`
}

// compare matches the evaluator's decisions on one edge (ours, by labels)
// with the recorded ones: each of our requests agrees as long as the live
// proxy gave as many requests the same labels. Only as many requests as
// carry live labels are compared: requests whose paths were not recorded
// are not in ours, and requests the proxy did not label are not in live.
func (l *LiveCheck) compare(e *recording.Edge, ours map[decisionKey]int64) {
	l.Edges++
	live := make([]Labels, len(e.Decisions))
	left := make([]int64, len(e.Decisions))
	for i, d := range e.Decisions {
		live[i], left[i] = Labels{Server: d.Server, Route: d.Route, Authz: d.Authz}, d.Requests
	}
	keys := make([]Labels, 0, len(ours))
	counts := make(map[Labels]int64, len(ours))
	for k, n := range ours {
		lb := Labels{Server: k.server.String(), Route: k.route.String(), Authz: k.authz.String()}
		keys = append(keys, lb)
		counts[lb] = n
	}
	slices.SortFunc(keys, compareLabels)
	unmatched := make([]int64, len(keys))
	for j, k := range keys {
		n := counts[k]
		for i := range live {
			if n > 0 && left[i] > 0 && live[i].equal(k) {
				m := min(n, left[i])
				n, left[i] = n-m, left[i]-m
				l.Agree += m
				l.Requests += m
			}
		}
		unmatched[j] = n
	}
	rest := []Labels{}
	var budget int64
	for i := range live {
		if left[i] > 0 {
			rest = append(rest, live[i])
			budget += left[i]
		}
	}
	for j, k := range keys {
		n := min(unmatched[j], budget)
		if n <= 0 {
			continue
		}
		budget -= n
		l.Disagree += n
		l.Requests += n
		l.Disagreements = append(l.Disagreements, Disagreement{Client: e.Client, Server: e.Server, Port: e.Port,
			Ours: k, Live: rest, Requests: n})
	}
}

func (l *LiveCheck) finish() {
	if l.Disagreements == nil {
		l.Disagreements = []Disagreement{}
	}
	slices.SortFunc(l.Disagreements, func(a, b Disagreement) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Server, b.Server), cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.Client, b.Client), compareLabels(a.Ours, b.Ours))
	})
}

func compareLabels(a, b Labels) int {
	return cmp.Or(cmp.Compare(a.Server, b.Server), cmp.Compare(a.Route, b.Route), cmp.Compare(a.Authz, b.Authz))
}
