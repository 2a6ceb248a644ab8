package graphprint

import (
	"cmp"
	"fmt"
	"html"
	"io"
	"slices"
	"strings"

	"gonum.org/v1/gonum/graph/simple"
	"gonum.org/v1/gonum/graph/topo"

	"github.com/cinchmesh/cinch/observe/recording"
)

// Edge marks for SVG: how a policy treats an observed edge.
const (
	MarkAdmitted   = "admitted"
	MarkRestricted = "restricted" // newly restricted to the clients seen
	MarkDenied     = "denied"     // observed, but refused by the policy
)

// SVG geometry.
const (
	svgColumn = 300
	svgRow    = 46
	svgBoxW   = 220
	svgBoxH   = 30
	svgMargin = 20
)

// SVG draws the service graph as a self-contained SVG image: peers in
// layers from callers to callees (cycles share a layer), grouped by
// namespace within a layer, edges labelled with port and request count and
// styled by marks (MarkAdmitted, MarkRestricted, MarkDenied; unmarked
// edges are plain). The same recording and marks give the same bytes.
func SVG(w io.Writer, r *recording.Recording, marks map[recording.Key]string) error {
	ids := r.PeerIDs()
	index := map[recording.PeerID]int64{}
	g := simple.NewDirectedGraph()
	for i, id := range ids {
		index[id] = int64(i)
		g.AddNode(simple.Node(i))
	}
	for _, e := range r.Edges {
		u, v := index[e.Client], index[e.Server]
		if u != v && !g.HasEdgeFromTo(u, v) {
			g.SetEdge(g.NewEdge(simple.Node(u), simple.Node(v)))
		}
	}
	// Strongly connected components come in reverse topological order;
	// a component's layer is one past its deepest caller's.
	sccs := topo.TarjanSCC(g)
	comp := map[int64]int{}
	for i, c := range sccs {
		for _, n := range c {
			comp[n.ID()] = i
		}
	}
	layer := make([]int, len(ids))
	for i := len(sccs) - 1; i >= 0; i-- {
		l := 0
		for _, n := range sccs[i] {
			to := g.To(n.ID())
			for to.Next() {
				if p := to.Node().ID(); comp[p] != i {
					l = max(l, layer[p]+1)
				}
			}
		}
		for _, n := range sccs[i] {
			layer[n.ID()] = l
		}
	}
	type pos struct{ x, y int }
	at := map[recording.PeerID]pos{}
	columns := map[int][]recording.PeerID{}
	maxLayer := 0
	for i, id := range ids {
		columns[layer[i]] = append(columns[layer[i]], id)
		maxLayer = max(maxLayer, layer[i])
	}
	rows := 0
	for l := 0; l <= maxLayer; l++ {
		col := columns[l]
		slices.SortFunc(col, func(a, b recording.PeerID) int {
			return cmp.Or(cmp.Compare(namespaceOf(a), namespaceOf(b)), cmp.Compare(a, b))
		})
		for j, id := range col {
			at[id] = pos{svgMargin + l*svgColumn, svgMargin + 20 + j*svgRow}
		}
		rows = max(rows, len(col))
	}
	width := 2*svgMargin + maxLayer*svgColumn + svgBoxW
	height := 2*svgMargin + 20 + rows*svgRow

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>` + "\n")
	b.WriteString(`<style>.edge{fill:none;stroke:#888;stroke-width:1.5}.admitted{stroke:#2e7d32}.restricted{stroke:#ef6c00}.denied{stroke:#c62828;stroke-dasharray:5 3}.outbound{stroke-dasharray:2 3}.node rect{fill:#f5f7fa;stroke:#37474f}.peer rect{fill:#fff;stroke:#90a4ae;stroke-dasharray:3 2}.label{fill:#37474f;font-size:10px}</style>` + "\n")
	for _, e := range r.Edges {
		from, to := at[e.Client], at[e.Server]
		x1, y1 := from.x+svgBoxW, from.y+svgBoxH/2
		x2, y2 := to.x, to.y+svgBoxH/2
		class := "edge"
		if m := marks[e.Key()]; m != "" {
			class += " " + m
		}
		if e.OutboundOnly {
			class += " outbound"
		}
		var d string
		if x2 > x1 {
			mid := (x1 + x2) / 2
			d = fmt.Sprintf("M %d %d C %d %d, %d %d, %d %d", x1, y1, mid, y1, mid, y2, x2, y2)
		} else {
			// Same layer or backwards: loop around the right.
			x2 = to.x + svgBoxW
			bend := max(x1, x2) + 40
			d = fmt.Sprintf("M %d %d C %d %d, %d %d, %d %d", x1, y1, bend, y1, bend, y2, x2, y2)
		}
		fmt.Fprintf(&b, `<path class="%s" d="%s" marker-end="url(#arrow)"><title>%s</title></path>`+"\n", class, d,
			html.EscapeString(fmt.Sprintf("%s -> %s:%d %s, %d requests", e.Client, e.Server, e.Port, e.Protocol, e.Requests)))
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d">%d · %d req</text>`+"\n", (x1+x2)/2-20, (y1+y2)/2-3, e.Port, e.Requests)
	}
	for _, id := range ids {
		p := at[id]
		class := "node"
		if !isWorkload(id) {
			class = "peer"
		}
		fmt.Fprintf(&b, `<g class="%s"><rect x="%d" y="%d" width="%d" height="%d" rx="4"/><text x="%d" y="%d">%s</text></g>`+"\n",
			class, p.x, p.y, svgBoxW, svgBoxH, p.x+8, p.y+19, html.EscapeString(truncate(string(id), 32)))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func namespaceOf(id recording.PeerID) string {
	ns, _, ok := strings.Cut(string(id), "/")
	if !ok || !isWorkload(id) {
		return "~" // peers after workloads
	}
	return ns
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
