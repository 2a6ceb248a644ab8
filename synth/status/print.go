package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats are the renderings of a Report, by -o name.
var Formats = map[string]func(io.Writer, *Report) error{
	"table":    Table,
	"json":     JSON,
	"markdown": Markdown,
}

// JSON writes the report as indented JSON (the schema is docs/status.md).
func JSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// span writes the window, or says it is not known.
func span(w Window, layout string) string {
	if w.End.IsZero() {
		return "without times"
	}
	return fmt.Sprintf("%s to %s (%s)", w.Start.UTC().Format(layout), w.End.UTC().Format(layout), days(w.Length()))
}

func ready(ok bool) string {
	if ok {
		return "ready"
	}
	return "blocked"
}

func next(s *Step) string {
	if s == nil {
		return "-"
	}
	return s.Stage.String()
}

func coverage(c *float64) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *c)
}

func seen(t *time.Time) string {
	if t == nil {
		return "?"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// hitLine writes one hit: client, server, port, route, count, seen.
func hitLine(h *Hit) string {
	route := h.Route
	if route == "" {
		route = "(route unknown)"
	}
	s := fmt.Sprintf("%s -> %s:%d %s: %d requests, first %s, last %s", h.Client, h.Server, h.Port, route, h.Requests, seen(h.First), seen(h.Last))
	if h.Resolved {
		s += " (granted since)"
	}
	return s
}

// Table writes one row per namespace and per server port under it, then
// each blocker with its hits, then the next steps.
func Table(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "evidence %s, clean period %s, minimum route coverage %.2f\n\n", span(r.Window, time.RFC3339),
		days(time.Duration(r.CleanPeriod)), r.MinCoverage)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tSERVER\tPORT\tSTAGE\tREADY\tDAYS CLEAN\tCOVERAGE\tNEXT")
	for _, n := range r.Namespaces {
		fmt.Fprintf(tw, "%s\t\t\t%s\t%s\t%.1f\t%s\t%s\n", n.Name, n.Stage, ready(n.Ready), n.DaysClean, coverage(n.Coverage), next(n.Next))
		for _, p := range n.Ports {
			fmt.Fprintf(tw, "\t%s\t%d\t%s\t%s\t\t%s\t%s\n", p.Server, p.Port, p.Stage, ready(p.Ready), coverage(p.Coverage), next(p.Next))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Namespaces {
		if len(n.Blockers) > 0 {
			fmt.Fprintf(w, "\n%s is blocked:\n", n.Name)
			for _, b := range n.Blockers {
				fmt.Fprintf(w, "  [%s] %s\n", b.Rule, b.Message)
				for i := range b.Hits {
					fmt.Fprintf(w, "      %s\n", hitLine(&b.Hits[i]))
				}
			}
		}
	}
	var steps []string
	for _, n := range r.Namespaces {
		if n.Ready {
			steps = append(steps, fmt.Sprintf("  %s -> %s:  %s", n.Name, n.Next.Stage, n.Next.Command))
		}
	}
	if len(steps) > 0 {
		fmt.Fprintf(w, "\nnext steps (or cinch pr --next):\n%s\n", strings.Join(steps, "\n"))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}

// Markdown writes the report for a pull request comment.
func Markdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## Policy rollout status\n\nEvidence %s; clean period %s; minimum route coverage %.2f.\n\n",
		span(r.Window, "2006-01-02 15:04"), days(time.Duration(r.CleanPeriod)), r.MinCoverage)
	b.WriteString("| namespace | stage | ready | days clean | coverage | next |\n|---|---|---|---|---|---|\n")
	for _, n := range r.Namespaces {
		fmt.Fprintf(&b, "| %s | %s | %s | %.1f | %s | %s |\n", n.Name, n.Stage, ready(n.Ready), n.DaysClean, coverage(n.Coverage), cell(next(n.Next)))
	}
	for _, n := range r.Namespaces {
		fmt.Fprintf(&b, "\n### %s: %s, %s\n\n", n.Name, n.Stage, ready(n.Ready))
		for _, bl := range n.Blockers {
			fmt.Fprintf(&b, "- **%s**: %s\n", bl.Rule, cell(bl.Message))
			for i := range bl.Hits {
				fmt.Fprintf(&b, "  - `%s`\n", strings.ReplaceAll(hitLine(&bl.Hits[i]), "`", "'"))
			}
		}
		if n.Next != nil {
			fmt.Fprintf(&b, "\nNext: `%s`\n", n.Next.Command)
		}
		if len(n.Ports) > 0 {
			b.WriteString("\n| server | port | stage | ready | coverage |\n|---|---|---|---|---|\n")
			for _, p := range n.Ports {
				fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", p.Server, p.Port, p.Stage, ready(p.Ready), coverage(p.Coverage))
			}
		}
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\n### Warnings\n\n")
		for _, warn := range r.Warnings {
			fmt.Fprintf(&b, "- %s\n", cell(warn))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cell keeps a table cell on one line and its pipes literal.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
