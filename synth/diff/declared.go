package diff

import (
	"net/netip"
	"regexp"
	"slices"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/intents"
	"github.com/cinchmesh/cinch/synth/routes"
)

// DeclaredUse says whether the recording shows the traffic an intent
// declares: a declared grant that traffic has shown can move from the
// intents file to what was observed.
type DeclaredUse struct {
	Intent string `json:"intent"`
	Reason string `json:"reason"`
	// Line is where the intent is in its file (0 when unknown).
	Line int `json:"line,omitempty"`
	// Requests are the observed requests of the intent's client to its
	// server port (on its routes, when it lists routes).
	Requests int64 `json:"requests"`
}

// DeclaredUses checks every intent against rec.
func DeclaredUses(rec *recording.Recording, list []intents.Intent) []DeclaredUse {
	workloads := map[recording.PeerID]*recording.Workload{}
	for i := range rec.Workloads {
		workloads[rec.Workloads[i].ID] = &rec.Workloads[i]
	}
	var out []DeclaredUse
	for i := range list {
		in := &list[i]
		u := DeclaredUse{Intent: in.String(), Reason: in.Reason, Line: in.Line}
		match := routeMatcher(in.Routes)
		for j := range rec.Edges {
			e := &rec.Edges[j]
			if e.Server != in.ServerID() || e.Port != in.Port {
				continue
			}
			n := clientRequests(e, in.Client, workloads)
			if n == 0 {
				continue
			}
			if match == nil {
				u.Requests += n
				continue
			}
			// The client's share of the requests on declared routes.
			var onRoutes int64
			for _, r := range e.Routes {
				if match(r) {
					onRoutes += r.Requests
				}
			}
			if e.Requests > 0 {
				u.Requests += onRoutes * n / e.Requests
			}
		}
		out = append(out, u)
	}
	return out
}

// clientRequests are the requests of e that came from the intent's client.
func clientRequests(e *recording.Edge, c intents.Client, workloads map[recording.PeerID]*recording.Workload) int64 {
	switch {
	case c.Workload != "":
		if string(e.Client) == c.Workload {
			return e.TLS["true"]
		}
	case c.ServiceAccount != "":
		if w := workloads[e.Client]; w != nil && w.Namespace+"/"+w.ServiceAccount == c.ServiceAccount {
			return e.TLS["true"]
		}
		if s, ok := e.Client.Identity(); ok {
			if id, ok := recording.ParseIdentity(s); ok && id.Namespace+"/"+id.ServiceAccount == c.ServiceAccount {
				return e.TLS["true"]
			}
		}
	default:
		p, _ := c.Prefix()
		var n int64
		for _, s := range e.SourceIPs {
			if a, err := netip.ParseAddr(s.IP); err == nil && p.Contains(a.Unmap()) {
				n += s.Requests
			}
		}
		return n
	}
	return 0
}

// routeMatcher matches recorded routes against declared routes: the
// method (when declared) and the path against the declared template.
// Nil when the intent declares no routes (the whole port).
func routeMatcher(declared []intents.Route) func(recording.Route) bool {
	if len(declared) == 0 {
		return nil
	}
	type compiled struct {
		method string
		exact  string
		re     *regexp.Regexp
	}
	var list []compiled
	for _, r := range declared {
		for _, t := range routes.Infer([]routes.Sample{{Method: r.Method, Path: r.Path, Requests: 1, Template: true}}, routes.DefaultOptions(), false) {
			c := compiled{method: r.Method, exact: t.Value}
			if t.Match == routes.MatchRegularExpression {
				c.re = regexp.MustCompile("^(?:" + t.Value + ")$")
			}
			list = append(list, c)
		}
	}
	return func(rt recording.Route) bool {
		path := rt.RequestPath()
		return slices.ContainsFunc(list, func(c compiled) bool {
			if c.method != "" && c.method != rt.Method {
				return false
			}
			if c.re != nil {
				return c.re.MatchString(path)
			}
			return c.exact == path
		})
	}
}
