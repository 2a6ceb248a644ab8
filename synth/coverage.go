package synth

import (
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/routes"
)

// PortCoverage estimates how complete the recording of one server port
// is, from how often each of its routes was seen.
type PortCoverage struct {
	Server recording.PeerID
	Port   uint32
	// Requests are the non-probe requests recorded; Routes the route
	// templates they fall into, Singletons those seen exactly once.
	Requests           int64
	Routes, Singletons int
	// Coverage is Good's estimate of sample coverage, 1 - Singletons /
	// Requests: the share of the port's traffic that goes to routes
	// already seen. Unseen = 1 - Coverage is the Good-Turing estimate of
	// the probability that the next request uses a route not seen yet.
	Coverage float64
	// Sampled says the counts come from tap's sample, not from every
	// request.
	Sampled bool
}

// Unseen is the estimated probability that the next request uses a route
// not seen yet.
func (c PortCoverage) Unseen() float64 { return 1 - c.Coverage }

// coverageOf estimates a port's coverage from its route templates,
// counting the requests that were not kubelet probes. A port known only
// from metrics (no paths) has no estimate: coverage 0.
func coverageOf(sp *serverPort, templates []routes.Template, sampled bool) PortCoverage {
	pc := PortCoverage{Server: sp.Server, Port: sp.Port, Sampled: sampled}
	for _, t := range templates {
		n := t.Requests - t.ProbeRequests
		if n <= 0 {
			continue
		}
		pc.Routes++
		pc.Requests += n
		if n == 1 {
			pc.Singletons++
		}
	}
	if pc.Requests > 0 {
		pc.Coverage = 1 - float64(pc.Singletons)/float64(pc.Requests)
	}
	return pc
}

// EstimateCoverage estimates the coverage of one server port of w from
// the routes recorded on it, grouped into route templates as route level
// groups them: what cinch status compares with its threshold.
func EstimateCoverage(w recording.Workload, port uint32, rs []recording.Route, grpc, sampled bool, opts routes.Options) PortCoverage {
	sp := &serverPort{portKey: portKey{Server: w.ID, Port: port}, Workload: w, GRPC: grpc, Callers: []*caller{{Routes: rs}}}
	return coverageOf(sp, inferTemplates(sp, opts), sampled)
}
