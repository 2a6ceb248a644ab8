// Package diff compares what a recording observed with what a policy
// allows, to answer the two questions a team asks before enforcing: which
// observed traffic would the policy deny (it would break production), and
// what does it allow that nobody uses (it is not least privilege). Where
// the recording carries the live proxies' decision labels it also checks
// the evaluator against them (docs/diff.md).
//
// Evaluate evaluates every observed (client, server, port, route) with
// synth/eval and returns a Report; Formats renders one as a table, JSON or
// markdown. ListPolicy reads the policy objects of a live cluster. synth's
// self-check can call Evaluate on the policy it generated: the policy must
// leave Report.Denied and Report.Audit empty.
//
// It imports the standard library, k8s.io/apimachinery and
// k8s.io/client-go (the dynamic client, for ListPolicy), observe/recording,
// synth/eval and synth/policy. It never prints and never imports cobra.
package diff

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/intents"
	"github.com/cinchmesh/cinch/synth/policy"
)

// Cluster answers what the cluster declares about a workload (labels,
// ports, probes, default inbound policy). *cluster.Inventory implements
// it.
type Cluster interface {
	Workload(id recording.PeerID) (recording.Workload, bool)
}

// Options say how to evaluate.
type Options struct {
	// Eval describes the Linkerd installation (default policy, cluster
	// networks, ...). An empty ControlPlaneNamespace or TrustDomain is
	// read from the recording's identities, else Linkerd's default.
	Eval eval.Options
	// Cluster, when set, overrides the recording's workloads: a server it
	// knows is evaluated as the cluster declares it now.
	Cluster Cluster
	// Namespaces limits the evaluation to servers in these namespaces
	// (every namespace when empty).
	Namespaces []string
	// Intents are the declared grants (the intents file): the report says
	// which of them traffic has shown.
	Intents []intents.Intent
	// LiveCheck compares the evaluator's decisions with the decision
	// labels the recording carries. It is meaningful only when the policy
	// given is the one that was live while recording.
	LiveCheck bool
}

// Report is the outcome of a diff. Every slice is sorted, so the same
// inputs give the same report.
type Report struct {
	Summary Summary `json:"summary"`
	// Denied is the observed traffic the policy would deny, most requests
	// first.
	Denied []Finding `json:"wouldBeDenied"`
	// Audit is the observed traffic only audit mode admits (an audit
	// accessPolicy or default policy): allowed now, denied when enforced.
	Audit []Finding `json:"auditOnly"`
	// Unused are the authorizations that admit more than was observed,
	// most open first.
	Unused []Grant `json:"unusedGrants"`
	// Declared says, per declared intent, how many observed requests it
	// covers: those with requests can move to observed.
	Declared []DeclaredUse `json:"declared,omitempty"`
	// Live is the check against the recorded live decisions; nil when not
	// asked for.
	Live *LiveCheck `json:"liveCheck,omitempty"`
	// Warnings are objects Linkerd would ignore and gaps in the recording
	// that make the diff less certain.
	Warnings []string `json:"warnings"`
}

// Summary counts what was evaluated. A tuple is one observed (client
// principal, server, port, method, path); Observed = Admitted + Audit +
// Denied.
type Summary struct {
	Edges    int   `json:"edges"`
	Observed Count `json:"observed"`
	Admitted Count `json:"admitted"`
	Audit    Count `json:"auditOnly"`
	Denied   Count `json:"wouldBeDenied"`
	// NotEvaluated are the observed requests the recording does not
	// describe well enough to evaluate, by reason.
	NotEvaluated   []NotEvaluated `json:"notEvaluated"`
	LeastPrivilege Score          `json:"leastPrivilege"`
}

// Count is a number of tuples and their requests.
type Count struct {
	Tuples   int   `json:"tuples"`
	Requests int64 `json:"requests"`
}

func (c *Count) add(n int64) {
	c.Tuples++
	c.Requests += n
}

// Reasons requests were not evaluated.
const (
	// NotRecordedPaths: requests beyond the recording's per-edge path
	// limit, or of edges known without paths (metrics), to a server whose
	// decision depends on the route.
	NotRecordedPaths = "paths not recorded"
	// NotRecordedAddresses: requests without mTLS from client addresses
	// beyond the recording's per-edge limit.
	NotRecordedAddresses = "client addresses not recorded"
	// UnknownIdentity: mTLS requests from a client whose identity the
	// recording does not know.
	UnknownIdentity = "client identity unknown"
	// NotMeshed: requests to a workload without a proxy, which enforces
	// nothing.
	NotMeshed = "server not meshed"
	// NotAWorkload: requests to a node or another address, where no
	// Linkerd policy applies.
	NotAWorkload = "server is not a workload"
	// DeniedLive: requests the policy in force denied (known from
	// metrics); they are not traffic to keep working.
	DeniedLive = "denied by the policy in force"
)

// NotEvaluated counts requests that were not evaluated, for one reason.
type NotEvaluated struct {
	Reason   string `json:"reason"`
	Requests int64  `json:"requests"`
}

// Score is the least-privilege score: of the (client, server, route)
// combinations the policy's authorizations grant, the share that was
// observed (docs/diff.md). Value is 1 when nothing is granted.
type Score struct {
	Granted int64   `json:"granted"`
	Used    int64   `json:"used"`
	Value   float64 `json:"value"`
}

// Finding is observed traffic of one client principal to one server port
// that got one outcome (denied, or admitted by audit only), aggregated
// over its paths.
type Finding struct {
	Client recording.PeerID `json:"client"`
	// Identity is the client's mTLS identity; SourceIP its address when it
	// called without mTLS (empty when the recording does not know it).
	Identity string           `json:"identity,omitempty"`
	SourceIP string           `json:"sourceIP,omitempty"`
	Server   recording.PeerID `json:"server"`
	Port     uint32           `json:"port"`
	// ServerPolicy is the Server that claims the port, or the default
	// policy, and Route the matched route (empty when none matched), as
	// the proxy labels them.
	ServerPolicy string      `json:"serverPolicy"`
	Route        string      `json:"route,omitempty"`
	Reason       eval.Reason `json:"reason"`
	// Tuples is the number of distinct (method, recorded route) observed:
	// a raw path, or a template standing for all the paths it folded.
	Tuples   int   `json:"tuples"`
	Requests int64 `json:"requests"`
	// Sample is the method and path with the most requests.
	Sample string `json:"sample"`
	// sampleRequests ranks candidate samples.
	sampleRequests int64
}

// Evaluate evaluates every observed request of rec against set (Options
// say how) and reports what would be denied, what only audit admits, what
// the authorizations grant beyond what was observed and, when asked, how
// the evaluator's decisions compare with the live ones.
func Evaluate(rec *recording.Recording, set *policy.Set, opts Options) (*Report, error) {
	cp, td := meshNaming(rec)
	opts.Eval.ControlPlaneNamespace = cmp.Or(opts.Eval.ControlPlaneNamespace, cp)
	opts.Eval.TrustDomain = cmp.Or(opts.Eval.TrustDomain, td)
	workloads := clusterWorkloads(rec, opts.Cluster)
	ev, err := eval.New(set, eval.Cluster{Workloads: workloads}, opts.Eval)
	if err != nil {
		return nil, err
	}
	r := newRun(rec, ev, workloads, &opts)
	for i := range rec.Edges {
		r.edge(&rec.Edges[i])
	}
	rep := r.report()
	rep.Unused, rep.Summary.LeastPrivilege = grants(ev.Grants(), set, r.usage, r.hit, nodeAddresses(rec))
	for _, w := range ev.Warnings() {
		rep.Warnings = append(rep.Warnings, w.String())
	}
	rep.Declared = DeclaredUses(rec, opts.Intents)
	return rep, nil
}

// clusterWorkloads are the workloads to evaluate against: the recording's,
// each replaced by what c declares about it when c knows it.
func clusterWorkloads(rec *recording.Recording, c Cluster) []recording.Workload {
	out := slices.Clone(rec.Workloads)
	if c == nil {
		return out
	}
	for i := range out {
		if w, ok := c.Workload(out[i].ID); ok {
			w.Identity = cmp.Or(out[i].Identity, w.Identity)
			out[i] = w
		}
	}
	return out
}

// ServerNamespaces lists the namespaces of the workloads that rec saw as
// servers: where policy objects and cluster objects matter; only those of
// them in only when it names any.
func ServerNamespaces(rec *recording.Recording, only ...string) []string {
	ns := map[recording.PeerID]string{}
	for _, w := range rec.Workloads {
		ns[w.ID] = w.Namespace
	}
	var out []string
	for _, e := range rec.Edges {
		if n, ok := ns[e.Server]; ok && (len(only) == 0 || slices.Contains(only, n)) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// meshNaming reads the control plane namespace and trust domain from the
// recorded identities (<sa>.<ns>.serviceaccount.identity.<cp>.<td>), so
// that ServiceAccount refs evaluate to the identities the clients had.
func meshNaming(rec *recording.Recording) (cp, td string) {
	for _, w := range rec.Workloads {
		if id, ok := recording.ParseIdentity(w.Identity); ok {
			return id.ControlPlane, id.TrustDomain
		}
	}
	return "", ""
}

// shortIdentity writes a service account identity as "namespace/name",
// any other identity as it is.
func shortIdentity(id string) string {
	if sa, ok := recording.ParseIdentity(id); ok {
		return sa.Namespace + "/" + sa.ServiceAccount
	}
	return id
}

func (f *Finding) source() string {
	switch {
	case f.Identity != "":
		return shortIdentity(f.Identity)
	case f.SourceIP != "":
		return f.SourceIP
	}
	return "unknown address"
}

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Server, b.Server), cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.Client, b.Client), cmp.Compare(a.Identity, b.Identity), cmp.Compare(a.SourceIP, b.SourceIP),
			cmp.Compare(a.Route, b.Route), cmp.Compare(a.Reason, b.Reason))
	})
}

func (c Count) String() string {
	return fmt.Sprintf("%d tuples (%d requests)", c.Tuples, c.Requests)
}

// nodeAddresses names the recording's nodes by their addresses.
func nodeAddresses(rec *recording.Recording) map[netip.Addr]recording.PeerID {
	out := map[netip.Addr]recording.PeerID{}
	for _, p := range rec.Peers {
		if p.Kind != recording.PeerNode {
			continue
		}
		for _, s := range p.IPs {
			if ip, err := netip.ParseAddr(s); err == nil {
				out[ip] = p.ID
			}
		}
	}
	return out
}
