package synth

import (
	"fmt"
	"strings"
	"time"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
)

// RareClient is a meshed workload of the cluster objects that could be a
// client and was never observed as one.
type RareClient struct {
	cluster.Candidate
	// Unseeable says why no window of the recording could have seen it
	// (a CronJob that runs less often than the longest window, a Job, a
	// workload scaled to zero); empty when a window could have.
	Unseeable string
}

// rareClients lists the candidates that no edge of rec has, neither by
// workload nor, as a client, by the identity of their service account: a
// workload seen as a server was running, and its calls could have been
// seen too.
func rareClients(rec *recording.Recording, candidates []cluster.Candidate) []RareClient {
	seen := map[recording.PeerID]bool{}
	for _, e := range rec.Edges {
		seen[e.Client], seen[e.Server] = true, true
	}
	var longest time.Duration
	timed := false
	for _, w := range rec.Windows {
		if w.Start != nil && w.End != nil {
			timed = true
			longest = max(longest, w.End.Sub(*w.Start))
		}
	}
	var out []RareClient
	for _, c := range candidates {
		if seen[c.ID] || seenIdentity(seen, c) {
			continue
		}
		r := RareClient{Candidate: c}
		switch {
		case c.Kind == "CronJob" && c.Suspended:
			r.Unseeable = "a suspended CronJob"
		case c.Kind == "CronJob" && c.Interval > 0 && !timed:
			r.Unseeable = fmt.Sprintf("runs every %s (schedule %q) and the windows carry no times", span(c.Interval), c.Schedule)
		case c.Kind == "CronJob" && c.Interval > longest:
			r.Unseeable = fmt.Sprintf("runs every %s (schedule %q), longer than the longest window (%s)", span(c.Interval), c.Schedule, span(longest))
		case c.Kind == "Job":
			r.Unseeable = "a Job: it runs once or on demand"
		case c.ScaledToZero:
			r.Unseeable = "scaled to zero"
		}
		out = append(out, r)
	}
	return out
}

// seenIdentity says whether metrics saw the candidate's service account
// as a client (a peer known by its identity).
func seenIdentity(seen map[recording.PeerID]bool, c cluster.Candidate) bool {
	for id := range seen {
		if s, ok := id.Identity(); ok {
			if mi, ok := recording.ParseIdentity(s); ok && mi.ServiceAccount == c.ServiceAccount && mi.Namespace == c.Namespace {
				return true
			}
		}
	}
	return false
}

// warnRareClients warns, per client namespace, about the clients never
// observed: under default deny their calls would be denied.
func (b *emitter) warnRareClients(rare []RareClient) {
	for i := 0; i < len(rare); {
		ns := rare[i].Namespace
		var items []string
		unseeable := 0
		for ; i < len(rare) && rare[i].Namespace == ns; i++ {
			r := &rare[i]
			item := fmt.Sprintf("%s %s (sa %s", r.Kind, r.ID, r.ServiceAccount)
			if r.Unseeable != "" {
				unseeable++
				item += "; the window could not have seen it: " + r.Unseeable
			}
			items = append(items, item+")")
		}
		b.warn("namespace %s: %d meshed workloads that could be clients were never observed (%d of them the window could not have seen): %s; if they call servers that default deny closes, declare that access in the intents file (--intents) or record a window that includes them",
			ns, len(items), unseeable, strings.Join(items, ", "))
	}
}

// span writes a duration in days, hours and minutes: "7d", "1d12h", "15m".
func span(d time.Duration) string {
	d = d.Round(time.Minute)
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	var b strings.Builder
	if days > 0 {
		fmt.Fprintf(&b, "%dd", days)
	}
	if h := rest / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m := rest % time.Hour / time.Minute; m > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	return b.String()
}
