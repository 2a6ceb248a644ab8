package diff

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Formats maps the names `cinch diff -o` accepts to printers.
var Formats = map[string]func(io.Writer, *Report) error{
	"table":    Table,
	"json":     JSON,
	"markdown": Markdown,
}

// JSON writes the report as indented JSON: the stable, machine-readable
// form.
func JSON(w io.Writer, r *Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

func (s *Summary) notEvaluated() string {
	if len(s.NotEvaluated) == 0 {
		return "none"
	}
	parts := make([]string, len(s.NotEvaluated))
	for i, n := range s.NotEvaluated {
		parts[i] = fmt.Sprintf("%s (%d requests)", n.Reason, n.Requests)
	}
	return strings.Join(parts, ", ")
}

func (s Score) String() string {
	return fmt.Sprintf("%.1f%% (%d of %d granted client, server and route combinations observed)", 100*s.Value, s.Used, s.Granted)
}

func (f *Finding) route() string {
	if f.Route == "" {
		return "-"
	}
	return f.Route
}

func (l *LiveCheck) headline() string {
	return fmt.Sprintf("%d of %d requests on %d edges agree, %d disagree", l.Agree, l.Requests, l.Edges, l.Disagree)
}

func liveLabels(ls []Labels) string {
	if len(ls) == 0 {
		return "(none left)"
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.String()
	}
	return strings.Join(parts, " | ")
}

// Table writes the report as aligned text sections.
func Table(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	s := &r.Summary
	fmt.Fprintf(tw, "observed\t%s on %d edges\n", s.Observed, s.Edges)
	fmt.Fprintf(tw, "admitted\t%s\n", s.Admitted)
	fmt.Fprintf(tw, "admitted only by audit\t%s\n", s.Audit)
	fmt.Fprintf(tw, "would be denied\t%s\n", s.Denied)
	fmt.Fprintf(tw, "not evaluated\t%s\n", s.notEvaluated())
	fmt.Fprintf(tw, "least privilege\t%s\n", s.LeastPrivilege)
	findingsTable(tw, "WOULD BE DENIED", r.Denied)
	findingsTable(tw, "ADMITTED ONLY BY AUDIT (denied when enforced)", r.Audit)
	if len(r.Unused) == 0 {
		fmt.Fprint(tw, "\nUNUSED GRANTS: none\n")
	} else {
		fmt.Fprint(tw, "\nUNUSED GRANTS (most open first)\nOPENS\tNAMESPACE\tAUTHORIZATION\tTARGET\tUSED\tREQUESTS\tBEYOND WHAT WAS OBSERVED\n")
		for _, g := range r.Unused {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%d\t%s\n", g.Opens, g.Namespace, g.Authorization, g.Target, g.Used, g.Granted, g.Requests, g.Beyond[0])
			if g.Declared != "" {
				fmt.Fprintf(tw, "\t\t\t\t\t\tdeclared: %s\n", g.Declared)
			}
			for _, b := range g.Beyond[1:] {
				fmt.Fprintf(tw, "\t\t\t\t\t\t%s\n", b)
			}
		}
	}
	if len(r.Declared) > 0 {
		fmt.Fprint(tw, "\nDECLARED GRANTS (intents file; seen: traffic has shown them, they can move to observed)\nINTENT\tREQUESTS SEEN\tREASON\n")
		for _, d := range r.Declared {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", d.Intent, d.Requests, d.Reason)
		}
	}
	if l := r.Live; l != nil {
		fmt.Fprintf(tw, "\nLIVE DECISIONS: %s\n", l.headline())
		if len(l.Disagreements) > 0 {
			fmt.Fprint(tw, "CLIENT\tSERVER\tPORT\tREQUESTS\tOURS\tLIVE\n")
			for _, d := range l.Disagreements {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", d.Client, d.Server, d.Port, d.Requests, d.Ours, liveLabels(d.Live))
			}
		}
	}
	return tw.Flush()
}

func findingsTable(tw io.Writer, title string, fs []Finding) {
	if len(fs) == 0 {
		fmt.Fprintf(tw, "\n%s: none\n", title)
		return
	}
	fmt.Fprintf(tw, "\n%s\nCLIENT\tAS\tSERVER\tPORT\tPOLICY\tROUTE\tREASON\tREQUESTS\tPATHS\tSAMPLE\n", title)
	for _, f := range fs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%d\t%d\t%s\n", f.Client, f.source(), f.Server, f.Port,
			f.ServerPolicy, f.route(), f.Reason, f.Requests, f.Tuples, f.Sample)
	}
}

// Markdown writes the report for a pull request comment.
func Markdown(w io.Writer, r *Report) error {
	var b strings.Builder
	s := &r.Summary
	b.WriteString("## cinch diff\n\n| | tuples | requests |\n|---|---:|---:|\n")
	for _, row := range []struct {
		name string
		c    Count
	}{{"observed", s.Observed}, {"admitted", s.Admitted}, {"admitted only by audit", s.Audit}, {"**would be denied**", s.Denied}} {
		fmt.Fprintf(&b, "| %s | %d | %d |\n", row.name, row.c.Tuples, row.c.Requests)
	}
	fmt.Fprintf(&b, "\n%d edges evaluated. Not evaluated: %s.\n\n**Least privilege:** %s.\n",
		s.Edges, s.notEvaluated(), s.LeastPrivilege)
	findingsMarkdown(&b, "Would be denied", r.Denied)
	findingsMarkdown(&b, "Admitted only by audit (denied when enforced)", r.Audit)
	b.WriteString("\n### Unused grants\n\n")
	if len(r.Unused) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| opens | namespace | authorization | target | used | requests | beyond what was observed |\n|---|---|---|---|---:|---:|---|\n")
		for _, g := range r.Unused {
			beyond := make([]string, len(g.Beyond))
			for i, x := range g.Beyond {
				beyond[i] = cell(x)
			}
			if g.Declared != "" {
				beyond = append(beyond, "declared: "+cell(g.Declared))
			}
			fmt.Fprintf(&b, "| %s | %s | `%s` | `%s` | %d/%d | %d | %s |\n", g.Opens, cell(g.Namespace), cell(g.Authorization),
				cell(g.Target), g.Used, g.Granted, g.Requests, strings.Join(beyond, "<br>"))
		}
	}
	if len(r.Declared) > 0 {
		b.WriteString("\n### Declared grants\n\nFrom the intents file. Those traffic has shown can move to what was observed.\n\n| intent | requests seen | reason |\n|---|---:|---|\n")
		for _, d := range r.Declared {
			fmt.Fprintf(&b, "| %s | %d | %s |\n", cell(d.Intent), d.Requests, cell(d.Reason))
		}
	}
	if l := r.Live; l != nil {
		fmt.Fprintf(&b, "\n### Live decisions\n\n%s.\n", l.headline())
		if len(l.Disagreements) > 0 {
			b.WriteString("\n| client | server | port | requests | ours | live |\n|---|---|---:|---:|---|---|\n")
			for _, d := range l.Disagreements {
				fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s |\n", cell(string(d.Client)), cell(string(d.Server)), d.Port,
					d.Requests, cell(d.Ours.String()), cell(liveLabels(d.Live)))
			}
		}
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\n### Warnings\n\n")
		for _, x := range r.Warnings {
			fmt.Fprintf(&b, "- %s\n", cell(x))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func findingsMarkdown(b *strings.Builder, title string, fs []Finding) {
	fmt.Fprintf(b, "\n### %s\n\n", title)
	if len(fs) == 0 {
		b.WriteString("None.\n")
		return
	}
	b.WriteString("| client | as | server | port | policy | route | reason | requests | paths | sample |\n|---|---|---|---:|---|---|---|---:|---:|---|\n")
	for _, f := range fs {
		fmt.Fprintf(b, "| %s | %s | %s | %d | `%s` | `%s` | %s | %d | %d | %s |\n", cell(string(f.Client)), cell(f.source()),
			cell(string(f.Server)), f.Port, cell(f.ServerPolicy), cell(f.route()), f.Reason, f.Requests, f.Tuples, code(f.Sample))
	}
}

// code writes s as inline code: a raw path may hold markdown.
func code(s string) string {
	if strings.Contains(s, "`") {
		return "`` " + cell(s) + " ``"
	}
	return "`" + cell(s) + "`"
}

// cell escapes what would break a markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}
