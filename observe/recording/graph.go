package recording

import (
	"slices"

	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/multi"
)

// Graph is the in-memory service graph of a recording: one node per peer,
// one line per edge (several lines join two peers when the server has
// several ports). Node IDs follow the sorted order of peers, so iteration
// through Nodes() sorted by ID is deterministic.
type Graph struct {
	*multi.WeightedDirectedGraph
	peers []PeerID
	ids   map[PeerID]int64
}

// Line is a graph edge carrying the recording's edge.
type Line struct {
	F, T graph.Node
	UID  int64
	Edge *Edge
}

func (l Line) From() graph.Node         { return l.F }
func (l Line) To() graph.Node           { return l.T }
func (l Line) ID() int64                { return l.UID }
func (l Line) ReversedLine() graph.Line { return Line{F: l.T, T: l.F, UID: l.UID, Edge: l.Edge} }
func (l Line) Weight() float64          { return float64(l.Edge.Requests) }

var _ graph.WeightedLine = Line{}

// Graph builds the graph view of r (which must be normalized).
func (r *Recording) Graph() *Graph {
	g := &Graph{WeightedDirectedGraph: multi.NewWeightedDirectedGraph(), ids: map[PeerID]int64{}}
	for _, id := range r.PeerIDs() {
		n := g.NewNode()
		g.AddNode(n)
		g.ids[id] = n.ID()
		g.peers = append(g.peers, id)
	}
	for i := range r.Edges {
		e := &r.Edges[i]
		g.SetWeightedLine(Line{F: g.Node(g.ids[e.Client]), T: g.Node(g.ids[e.Server]), UID: int64(i), Edge: e})
	}
	return g
}

// Peer returns the peer of a node.
func (g *Graph) Peer(n graph.Node) PeerID { return g.peers[n.ID()] }

// NodeOf returns the node of a peer, and whether it is in the graph.
func (g *Graph) NodeOf(id PeerID) (graph.Node, bool) {
	n, ok := g.ids[id]
	if !ok {
		return nil, false
	}
	return g.Node(n), true
}

// PeerIDs lists every peer named by the recording's workloads, peers and
// edges, sorted.
func (r *Recording) PeerIDs() []PeerID {
	seen := map[PeerID]bool{}
	var ids []PeerID
	add := func(id PeerID) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, w := range r.Workloads {
		add(w.ID)
	}
	for _, p := range r.Peers {
		add(p.ID)
	}
	for _, e := range r.Edges {
		add(e.Client)
		add(e.Server)
	}
	slices.Sort(ids)
	return ids
}
