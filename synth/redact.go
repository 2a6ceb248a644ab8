package synth

import (
	"regexp"
	"slices"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/routes"
)

// Redact replaces the raw paths of rec by the route templates synth would
// infer for them ("/users/{int}"), so the recording no longer holds ids,
// names or tokens that paths carry. Templates are inferred per server port
// from all its clients' paths, as at route level; routes already redacted
// take part and stay as they are. A path no route can match (not UTF-8) is
// dropped: its requests stay on the edge without a path, and the window
// counts them under the warning "redacted-inexpressible-path".
func Redact(rec *recording.Recording, opts routes.Options) {
	type portKey struct {
		server recording.PeerID
		port   uint32
	}
	ports := map[portKey][]int{}
	for i, e := range rec.Edges {
		if len(e.Routes) > 0 {
			k := portKey{e.Server, e.Port}
			ports[k] = append(ports[k], i)
		}
	}
	var dropped int64
	for _, edges := range ports {
		grpc := false
		var samples []routes.Sample
		for _, i := range edges {
			e := &rec.Edges[i]
			grpc = grpc || e.Protocol == recording.ProtocolGRPC
			for _, r := range e.Routes {
				samples = append(samples, routes.Sample{Method: r.Method, Path: r.Path, Requests: r.Requests, Probe: r.Probe, Template: r.Template, Params: r.Params})
			}
		}
		var matchers []*matcher
		for _, t := range routes.Infer(samples, opts, grpc) {
			m := &matcher{Template: t}
			if t.Match == routes.MatchRegularExpression {
				m.re = regexp.MustCompile("^(?:" + t.Value + ")$")
			}
			matchers = append(matchers, m)
		}
		for _, i := range edges {
			e := &rec.Edges[i]
			byTemplate := map[*matcher]*recording.Route{}
			for _, r := range e.Routes {
				i := slices.IndexFunc(matchers, func(m *matcher) bool { return m.matches(r.Method, r.RequestPath()) })
				if i < 0 {
					dropped += r.Requests
					continue
				}
				m := matchers[i]
				t := byTemplate[m]
				if t == nil {
					t = &recording.Route{Method: r.Method, Path: m.Redacted, Template: true}
					byTemplate[m] = t
				}
				t.Requests += r.Requests
				t.Probe = t.Probe || r.Probe
			}
			e.Routes = e.Routes[:0]
			for _, t := range byTemplate {
				e.Routes = append(e.Routes, *t)
			}
		}
	}
	for i := range rec.Windows {
		rec.Windows[i].Redacted = true
	}
	if dropped > 0 && len(rec.Windows) > 0 {
		w := &rec.Windows[len(rec.Windows)-1]
		if w.Warnings == nil {
			w.Warnings = map[string]int64{}
		}
		w.Warnings["redacted-inexpressible-path"] += dropped
	}
	rec.Normalize()
}
