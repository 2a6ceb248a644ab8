package synth

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/judge"
	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
)

// referee decides requests with fixtures/judge, which shares no code with
// synth or synth/eval, over the YAML stream `cinch synth` writes and the
// cluster's pods: the independent checker of generated policy.
type referee struct {
	j    *judge.Judge
	pods map[recording.PeerID][]judge.Pod
	// disagreements counts the requests the evaluator decided otherwise.
	disagreements int
}

// newReferee writes res as `cinch synth` does and reads it, with pods.
func newReferee(t *testing.T, res *Result, pods map[recording.PeerID][]judge.Pod) *referee {
	t.Helper()
	var stream bytes.Buffer
	if err := WriteStream(&stream, res); err != nil {
		t.Fatal(err)
	}
	return newRefereeYAML(t, stream.Bytes(), pods)
}

// newRefereeYAML reads manifests with Linkerd's defaults (the cluster
// default policy all-unauthenticated, probes from every address), as the
// evaluator's tests are configured.
func newRefereeYAML(t *testing.T, manifests []byte, pods map[recording.PeerID][]judge.Pod) *referee {
	t.Helper()
	j, err := judge.New(manifests, judge.Options{})
	if err != nil {
		t.Fatalf("the judge cannot read the generated policy: %v", err)
	}
	return &referee{j: j, pods: pods}
}

// clusterPods reads the pods of cluster objects, by workload
// (namespace/owner name).
func clusterPods(t *testing.T, cluster []byte) map[recording.PeerID][]judge.Pod {
	t.Helper()
	pods, err := judge.ReadPods(cluster)
	if err != nil {
		t.Fatal(err)
	}
	out := map[recording.PeerID][]judge.Pod{}
	for id, ps := range judge.ByWorkload(pods) {
		out[recording.PeerID(id)] = ps
	}
	return out
}

// recordingPods are the pods of a recording's workloads, for recordings
// made without cluster objects: one pod per workload with its labels,
// container ports, httpGet probes and default policy annotation, and,
// when meshed, what the proxy injector adds to every pod (the
// linkerd-admin port with its /live and /ready probes).
func recordingPods(rec *recording.Recording) map[recording.PeerID][]judge.Pod {
	pods := map[recording.PeerID][]judge.Pod{}
	for _, w := range rec.Workloads {
		p := judge.Pod{Namespace: w.Namespace, Name: w.Name + "-0", Owner: w.Kind + "/" + w.Name, Labels: w.Labels}
		if w.DefaultInboundPolicy != "" {
			p.Annotations = map[string]string{judge.AnnotationDefaultPolicy: w.DefaultInboundPolicy}
		}
		for _, cp := range w.Ports {
			p.Ports = append(p.Ports, judge.Port{Name: cp.Name, Number: cp.Port, Protocol: cp.Protocol})
		}
		for _, pr := range w.Probes {
			if pr.Handler == "" {
				path, _, _ := strings.Cut(pr.Path, "?")
				p.Probes = append(p.Probes, judge.Probe{Port: pr.Port, Path: cmp.Or(path, "/")})
			}
		}
		if w.Meshed {
			p.Ports = append(p.Ports, judge.Port{Name: "linkerd-admin", Number: 4191, Protocol: "TCP"})
			p.Probes = append(p.Probes, judge.Probe{Port: 4191, Path: "/live"}, judge.Probe{Port: 4191, Path: "/ready"})
		}
		pods[w.ID] = []judge.Pod{p}
	}
	return pods
}

// inCluster is the address of a client whose address the request does not
// give and whose pod the referee does not know: some pod's, in the
// cluster networks and in no network a test grants.
var inCluster = netip.MustParseAddr("10.255.255.1")

// source is the address r comes from: its own, its client's first pod's,
// or inCluster.
func (rf *referee) source(r request) netip.Addr {
	if r.ip.IsValid() {
		return r.ip
	}
	if ps := rf.pods[r.client]; len(ps) > 0 && ps[0].IP.IsValid() {
		return ps[0].IP
	}
	return inCluster
}

// decide is the judge's verdict on r at every pod of its destination,
// which must all agree.
func (rf *referee) decide(r request) (judge.Verdict, error) {
	pods := rf.pods[r.server]
	if len(pods) == 0 {
		return judge.Verdict{}, fmt.Errorf("no pods of %s in the cluster objects", r.server)
	}
	src := rf.source(r)
	var first judge.Verdict
	for i := range pods {
		v, err := rf.j.Decide(&pods[i], judge.Request{Port: int32(r.port), Identity: r.identity, Source: src, Method: r.method, Path: r.path})
		if err != nil {
			return v, err
		}
		if i == 0 {
			first = v
		} else if v.Allowed != first.Allowed || v.Enforced() != first.Enforced() {
			return v, fmt.Errorf("pods %s and %s of %s decide %s %s differently: %s, %s", pods[0].Name, pods[i].Name, r.server, r.method, r.path, first, v)
		}
	}
	return first, nil
}

// admitted says whether a generated Server admits r through an
// authorization (not a default policy, not audit), with the verdict.
func (rf *referee) admitted(r request) (bool, judge.Verdict, error) {
	v, err := rf.decide(r)
	return v.Enforced(), v, err
}

// judge decides r with rf, fails t when the evaluator (through
// c.admitted, which also asks c's own referee) decides otherwise, and
// returns rf's answer.
func (c *checker) judge(t *testing.T, rf *referee, r request, what string) bool {
	t.Helper()
	ok, v, err := rf.admitted(r)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if evalOK, d := c.admitted(r); evalOK != ok {
		rf.disagree(t, what, r, v, evalOK, d)
	}
	return ok
}

// disagree counts and reports a request the judge and the evaluator decide
// differently.
func (rf *referee) disagree(t *testing.T, what string, r request, v judge.Verdict, evalOK bool, d eval.Decision) {
	t.Helper()
	rf.disagreements++
	t.Errorf("%s: %s: the judge says admitted %v (%s), the evaluator %v (%s; server %s, route %s, authorization %s)",
		what, r, v.Enforced(), v, evalOK, d.Reason, d.Server.Name, d.Route.Name, d.Authorization.Name)
}

func (r request) String() string {
	as := r.identity
	if as == "" {
		as = r.ip.String()
	}
	return fmt.Sprintf("%s %s from %s (%s) to %s:%d", r.method, r.path, r.client, as, r.server, r.port)
}

// TestJudgeCatchesBrokenPolicy shows the judge can fail: route-level
// policy of the scenarios with typed ids, broken the ways a synth bug
// would break it, either loses recall or precision on the fresh requests
// and near-misses of TestRouteLevelFreshIDs, or is refused by the judge.
func TestJudgeCatchesBrokenPolicy(t *testing.T) {
	breakages := []struct {
		name, from, to string
		// refused is the judge's error; empty: it reads the policy.
		refused string
	}{
		{name: "regex widened to any segment", from: `\[0-9\]\+`, to: `[^/]+`},
		{name: "regex admits a tail", from: `(type: RegularExpression\n\s+value: )(.*)`, to: `$1$2(/.*)?`},
		{name: "typed route widened to a PathPrefix of its first segment", from: `type: RegularExpression\n(\s+)value: (/[^/\n]+)/.*`, to: "type: PathPrefix\n${1}value: $2"},
		{name: "method dropped", from: `- method: [A-Z]+\n\s+path:`, to: `- path:`},
		{name: "identities dropped", from: `(kind: ServiceAccount\n\s+name: ).*`, to: `${1}someone-else`},
		{name: "identities widened to *", from: `identityRefs:\n(\s+- kind: ServiceAccount\n\s+name: .*\n\s+namespace: .*\n)+`, to: "identities: ['*']\n"},
		{name: "route detached from its Server", from: `(parentRefs:\n\s+- group: policy.linkerd.io\n\s+kind: Server\n\s+name: ).*`, to: `${1}elsewhere`, refused: "parent Server elsewhere does not exist"},
		{name: "a header match", from: `- method: ([A-Z]+)\n`, to: "- method: $1\n      headers: [{name: x, value: y}]\n", refused: `unknown field "headers"`},
	}
	for _, name := range []string{"rest", "shop"} {
		sc := recorded.Load(t, name)
		rec := recorded.Scenario(t, name)
		opts := options(LevelRoute)
		opts.Mode = ModeEnforce
		res, err := Synthesize(rec, opts)
		if err != nil {
			t.Fatal(err)
		}
		var stream, cluster bytes.Buffer
		if err := WriteStream(&stream, res); err != nil {
			t.Fatal(err)
		}
		if err := sc.WriteCluster(&cluster); err != nil {
			t.Fatal(err)
		}
		fresh, nearMisses := freshRequests(t, sc, rec)
		for _, b := range breakages {
			broken := regexp.MustCompile(b.from).ReplaceAll(stream.Bytes(), []byte(b.to))
			if bytes.Equal(broken, stream.Bytes()) {
				t.Errorf("%s, %s: the breakage changes nothing", name, b.name)
				continue
			}
			if b.refused != "" {
				if _, err := judge.New(broken, judge.Options{}); err == nil || !strings.Contains(err.Error(), b.refused) {
					t.Errorf("%s, %s: the judge's error is %v, want one saying %q", name, b.name, err, b.refused)
				}
				continue
			}
			rf := newRefereeYAML(t, broken, clusterPods(t, cluster.Bytes()))
			count := func(rs []judged) (admitted int) {
				for _, r := range rs {
					ok, _, err := rf.admitted(r.request)
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						admitted++
					}
				}
				return admitted
			}
			recall := float64(count(fresh)) / float64(len(fresh))
			precision := 1 - float64(count(nearMisses))/float64(len(nearMisses))
			t.Logf("%s, %s: recall %.4f, precision %.4f", name, b.name, recall, precision)
			if recall == 1 && precision >= 0.99 {
				t.Errorf("%s, %s: the judge finds nothing wrong (recall %.4f, precision %.4f)", name, b.name, recall, precision)
			}
		}
	}
}
