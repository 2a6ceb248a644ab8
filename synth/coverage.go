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

// coverageOf estimates a port's coverage from its route templates. A port
// known only from metrics (no paths) has no estimate: coverage 0.
func coverageOf(sp *serverPort, opts routes.Options, sampled bool) PortCoverage {
	var samples []routes.Sample
	for _, c := range sp.Callers {
		for _, r := range c.Routes {
			if !r.Probe {
				samples = append(samples, routes.Sample{Method: r.Method, Path: r.Path, Requests: r.Requests, Template: r.Template})
			}
		}
	}
	pc := PortCoverage{Server: sp.Server, Port: sp.Port, Sampled: sampled}
	for _, t := range routes.Infer(samples, opts, sp.GRPC) {
		pc.Routes++
		pc.Requests += t.Requests
		if t.Requests == 1 {
			pc.Singletons++
		}
	}
	if pc.Requests > 0 {
		pc.Coverage = 1 - float64(pc.Singletons)/float64(pc.Requests)
	}
	return pc
}
