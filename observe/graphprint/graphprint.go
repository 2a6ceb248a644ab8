// Package graphprint renders a recording for people and programs: a table,
// the stable JSON view, Graphviz DOT and Mermaid. Every output is
// deterministic for a given recording.
//
// It imports observe/recording and gonum.
package graphprint

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/gonum/graph"

	"github.com/cinchmesh/cinch/observe/recording"
)

// Formats maps the names accepted by `graph show -o` to printers.
var Formats = map[string]func(io.Writer, *recording.Recording) error{
	"table": Table,
	"json":  JSON,
}

// Table writes workloads and edges as aligned text.
func Table(w io.Writer, r *recording.Recording) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var events, requests int64
	for _, win := range r.Windows {
		events += win.Events
		requests += win.Requests
	}
	fmt.Fprintf(tw, "%d window(s), %d events, %d request events\n\n", len(r.Windows), events, requests)
	fmt.Fprintln(tw, "WORKLOAD\tKIND\tSERVICE ACCOUNT\tMESHED\tPORTS\tSERVICES")
	for _, wl := range r.Workloads {
		var ports []string
		for _, p := range wl.Ports {
			ports = append(ports, portString(p))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", wl.ID, wl.Kind, dash(wl.ServiceAccount), wl.Meshed,
			dash(strings.Join(ports, ",")), dash(strings.Join(wl.Services, ",")))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "CLIENT\tSERVER\tPORT\tPROTOCOL\tREQUESTS\tROUTES\tP50\tP99\tNOTES")
	for _, e := range r.Edges {
		routes := len(e.Routes)
		var notes []string
		if e.OutboundOnly {
			notes = append(notes, "outbound only")
		}
		if e.Denied > 0 {
			notes = append(notes, fmt.Sprintf("%d denied by policy", e.Denied))
		}
		if e.RoutesOverflow > 0 {
			notes = append(notes, fmt.Sprintf("%d requests beyond the route limit", e.RoutesOverflow))
		}
		if e.Resets > 0 {
			notes = append(notes, fmt.Sprintf("%d streams reset before a response end", e.Resets))
		}
		if probes := probeRequests(e); probes > 0 {
			notes = append(notes, fmt.Sprintf("%d probe requests", probes))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\n", e.Client, e.Server, e.Port, e.Protocol, e.Requests, routes,
			micros(e.Latency.Quantile(0.5)), micros(e.Latency.Quantile(0.99)), dash(strings.Join(notes, "; ")))
	}
	return tw.Flush()
}

func probeRequests(e recording.Edge) int64 {
	var n int64
	for _, rt := range e.Routes {
		if rt.Probe {
			n += rt.Requests
		}
	}
	return n
}

func portString(p recording.ContainerPort) string {
	if p.Name == "" {
		return fmt.Sprint(p.Port)
	}
	return fmt.Sprintf("%d/%s", p.Port, p.Name)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func micros(us int64) string {
	switch {
	case us == 0:
		return "-"
	case us < 1000:
		return fmt.Sprintf("%dµs", us)
	case us < 1_000_000:
		return fmt.Sprintf("%.1fms", float64(us)/1000)
	}
	return fmt.Sprintf("%.2fs", float64(us)/1e6)
}

// View is the stable machine-readable form of `graph show -o json`.
// Fields are only ever added, never renamed or removed, within one
// apiVersion of the recording.
type View struct {
	Windows   []recording.Window   `json:"windows"`
	Workloads []recording.Workload `json:"workloads"`
	Peers     []recording.Peer     `json:"peers"`
	Edges     []ViewEdge           `json:"edges"`
}

// ViewEdge is one edge of the view.
type ViewEdge struct {
	Client         recording.PeerID   `json:"client"`
	Server         recording.PeerID   `json:"server"`
	Port           uint32             `json:"port"`
	Protocol       recording.Protocol `json:"protocol"`
	Requests       int64              `json:"requests"`
	Denied         int64              `json:"denied"`
	OutboundOnly   bool               `json:"outboundOnly"`
	Routes         []ViewRoute        `json:"routes"`
	RoutesOverflow int64              `json:"routesOverflow"`
	// Resets counts streams reset before a response end.
	Resets     int64 `json:"resets"`
	LatencyP50 int64 `json:"latencyP50Micros"`
	LatencyP99 int64 `json:"latencyP99Micros"`
}

// ViewRoute is an observed method and path.
type ViewRoute struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	Requests int64  `json:"requests"`
	Probe    bool   `json:"probe"`
	Template bool   `json:"template"`
	// Examples are raw paths of a template the recorder folded.
	Examples []string `json:"examples,omitempty"`
}

// NewView builds the view of r.
func NewView(r *recording.Recording) View {
	v := View{
		Windows:   nonNil(r.Windows),
		Workloads: nonNil(r.Workloads),
		Peers:     nonNil(r.Peers),
		Edges:     []ViewEdge{},
	}
	for _, e := range r.Edges {
		ve := ViewEdge{
			Client: e.Client, Server: e.Server, Port: e.Port, Protocol: e.Protocol,
			Requests: e.Requests, Denied: e.Denied, OutboundOnly: e.OutboundOnly, Routes: []ViewRoute{},
			RoutesOverflow: e.RoutesOverflow, Resets: e.Resets,
			LatencyP50: e.Latency.Quantile(0.5), LatencyP99: e.Latency.Quantile(0.99),
		}
		for _, rt := range e.Routes {
			ve.Routes = append(ve.Routes, ViewRoute{Method: rt.Method, Path: rt.Path, Requests: rt.Requests, Probe: rt.Probe, Template: rt.Template, Examples: rt.Examples})
		}
		v.Edges = append(v.Edges, ve)
	}
	return v
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// JSON writes the View.
func JSON(w io.Writer, r *recording.Recording) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(NewView(r))
}

// DOT writes the graph in Graphviz syntax: one node per peer, one arrow per
// edge labelled with port, protocol and requests.
func DOT(w io.Writer, r *recording.Recording) error {
	g := r.Graph()
	var b strings.Builder
	b.WriteString("digraph cinch {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n")
	for _, id := range r.PeerIDs() {
		shape := ""
		if !isWorkload(id) {
			shape = ", shape=ellipse, style=dashed"
		}
		fmt.Fprintf(&b, "  %q [label=%q%s];\n", id, id, shape)
	}
	eachLine(g, func(l recording.Line) {
		e := l.Edge
		style := ""
		if e.OutboundOnly {
			style = ", style=dashed"
		}
		fmt.Fprintf(&b, "  %q -> %q [label=%q%s];\n", e.Client, e.Server, fmt.Sprintf("%d %s %d req", e.Port, e.Protocol, e.Requests), style)
	})
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Mermaid writes a flowchart that GitHub renders in markdown.
func Mermaid(w io.Writer, r *recording.Recording) error { return MermaidMarked(w, r, nil) }

// mermaidGroupAbove is the number of peers above which a flowchart groups
// workloads by namespace, so that a large graph stays readable.
const mermaidGroupAbove = 12

// MermaidMarked writes the flowchart with edges styled by marks (see SVG):
// admitted green, newly restricted orange, denied red and dashed. Graphs
// of more than a dozen peers group workloads by namespace.
func MermaidMarked(w io.Writer, r *recording.Recording, marks map[recording.Key]string) error {
	g := r.Graph()
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	ids := r.PeerIDs()
	node := func(i int, id recording.PeerID) string {
		if isWorkload(id) {
			return fmt.Sprintf("n%d[\"%s\"]", i, mermaidText(string(id)))
		}
		return fmt.Sprintf("n%d([\"%s\"])", i, mermaidText(string(id)))
	}
	if len(ids) > mermaidGroupAbove {
		groups := map[string][]int{}
		var namespaces []string
		for i, id := range ids {
			ns := namespaceOf(id)
			if ns == "~" {
				fmt.Fprintf(&b, "  %s\n", node(i, id))
				continue
			}
			if groups[ns] == nil {
				namespaces = append(namespaces, ns)
			}
			groups[ns] = append(groups[ns], i)
		}
		for gi, ns := range namespaces {
			fmt.Fprintf(&b, "  subgraph g%d[\"%s\"]\n", gi, mermaidText(ns))
			for _, i := range groups[ns] {
				fmt.Fprintf(&b, "    %s\n", node(i, ids[i]))
			}
			b.WriteString("  end\n")
		}
	} else {
		for i, id := range ids {
			fmt.Fprintf(&b, "  %s\n", node(i, id))
		}
	}
	var styles []string
	n := 0
	eachLine(g, func(l recording.Line) {
		e := l.Edge
		arrow := "-->"
		if e.OutboundOnly {
			arrow = "-.->"
		}
		fmt.Fprintf(&b, "  n%d %s|\"%d %s %d req\"| n%d\n", l.F.ID(), arrow, e.Port, e.Protocol, e.Requests, l.T.ID())
		switch marks[e.Key()] {
		case MarkAdmitted:
			styles = append(styles, fmt.Sprintf("  linkStyle %d stroke:#2e7d32", n))
		case MarkRestricted:
			styles = append(styles, fmt.Sprintf("  linkStyle %d stroke:#ef6c00", n))
		case MarkDenied:
			styles = append(styles, fmt.Sprintf("  linkStyle %d stroke:#c62828,stroke-dasharray:5 3", n))
		}
		n++
	})
	for _, st := range styles {
		b.WriteString(st + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// eachLine walks the graph from every node to its successors and visits
// the lines in the recording's edge order.
func eachLine(g *recording.Graph, f func(recording.Line)) {
	var lines []recording.Line
	for _, u := range graph.NodesOf(g.Nodes()) {
		for _, v := range graph.NodesOf(g.From(u.ID())) {
			for _, l := range graph.LinesOf(g.Lines(u.ID(), v.ID())) {
				lines = append(lines, l.(recording.Line))
			}
		}
	}
	slices.SortFunc(lines, func(a, b recording.Line) int { return cmp.Compare(a.UID, b.UID) })
	for _, l := range lines {
		f(l)
	}
}

func isWorkload(id recording.PeerID) bool {
	return !strings.HasPrefix(string(id), "node:") && !strings.HasPrefix(string(id), "ip:")
}

// mermaidText escapes what would end a quoted Mermaid label.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(s)
}
