package gitops

import (
	"bytes"
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/graphprint"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/diff"
	"github.com/cinchmesh/cinch/synth/policy"
)

// Describe says what a pull request is about.
type Describe struct {
	Level synth.Level
	Mode  synth.Mode
	// Path is the policy directory relative to the repository.
	Path string
	// Reviewed names the policy a report reviews when it is not the
	// synthesized one ("the policy in the cluster").
	Reviewed string
	// Subject replaces the commit's and pull request's subject when a
	// change is not one level and mode (cinch pr --next).
	Subject string
}

// Message is the commit message: a subject line and the counts.
func Message(d Describe, rec *recording.Recording, c *Change) string {
	added, removed, changed := c.Count()
	var b strings.Builder
	subject := fmt.Sprintf("linkerd policy: %s level, %s mode", d.Level, d.Mode)
	if d.Subject != "" {
		subject = d.Subject
	}
	fmt.Fprintf(&b, "%s (%d added, %d changed, %d removed)\n\n", subject, added, changed, removed)
	fmt.Fprintf(&b, "Synthesized by cinch from %s.\n", windows(rec))
	for _, o := range c.Objects {
		fmt.Fprintf(&b, "\n%s %s", o.Change, o.Key)
	}
	for _, f := range c.Files {
		fmt.Fprintf(&b, "\nevidence %s", f)
	}
	b.WriteByte('\n')
	return b.String()
}

// windows summarizes the recording's windows.
func windows(rec *recording.Recording) string {
	var sources []string
	for _, w := range rec.Windows {
		src := w.Source
		if name, ok := strings.CutPrefix(src, "file:"); ok {
			src = "file:" + filepath.Base(name)
		}
		if !slices.Contains(sources, src) {
			sources = append(sources, src)
		}
	}
	return fmt.Sprintf("%d recorded window(s): %s", len(rec.Windows), strings.Join(sources, ", "))
}

// Body writes the pull request description in markdown (GitHub renders
// the Mermaid block as a diagram).
func Body(d Describe, rec *recording.Recording, res *synth.Result, c *Change) (string, error) {
	var b bytes.Buffer
	added, removed, changed := c.Count()
	fmt.Fprintf(&b, "## Linkerd authorization policy: %s level, %s mode\n\n", d.Level, d.Mode)
	fmt.Fprintf(&b, "Synthesized by `cinch` from %s. Every request in the recording is admitted by this policy (checked by evaluating it as the proxy would); everything else is ", windows(rec))
	if d.Mode == synth.ModeAudit {
		b.WriteString("logged as it would be denied (audit mode), not yet refused.\n\n")
	} else {
		b.WriteString("refused.\n\n")
	}
	fmt.Fprintf(&b, "**%d added, %d changed, %d removed** objects under `%s`.\n\n", added, changed, removed, d.Path)

	b.WriteString("### Who may call what\n\n")
	b.WriteString("| namespace | server | routes | clients |\n|---|---|---|---|\n")
	for _, row := range accessRows(res) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.namespace, row.server, row.routes, row.clients)
	}
	b.WriteString("\n")

	if len(c.Breaking) > 0 {
		b.WriteString("### ⚠ Observed traffic this policy denies\n\nWritten with `--allow-breaking`: with the hand-written objects already in the path, this traffic would be refused.\n\n| client | server | port | sample | reason | requests |\n|---|---|---|---|---|---|\n")
		for _, f := range c.Breaking {
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %d |\n", f.Client, f.Server, f.Port, markdownCell(f.Sample), f.Reason, f.Requests)
		}
		b.WriteString("\n")
	}

	writeChanges(&b, c)

	writeCounts(&b, res)
	writeRouteMerges(&b, res)
	writeDefaultDeny(&b, res)
	writeDeclared(&b, rec, res)

	if len(res.Warnings) > 0 {
		b.WriteString("### Warnings\n\n")
		for _, w := range res.Warnings {
			fmt.Fprintf(&b, "- %s\n", w)
		}
		b.WriteString("\n")
	}

	writeCoverage(&b, rec, res)

	b.WriteString("### Observed service graph\n\nGreen: admitted; orange: newly restricted to the clients seen; red, dashed: observed but denied; dotted: reported by the client's proxy only.\n\n```mermaid\n")
	if err := graphprint.MermaidMarked(&b, rec, Marks(rec, res, c, false)); err != nil {
		return "", err
	}
	b.WriteString("```\n\n")

	b.WriteString("### Rollout\n\n")
	fmt.Fprintf(&b, "1. Apply: `kubectl apply -k %s`\n", d.Path)
	if d.Mode == synth.ModeAudit {
		b.WriteString("2. Watch what audit mode would deny: requests no authorization admits are counted as `inbound_http_authz_allow_total{authz_kind=\"default\",authz_name=\"audit\"}` and logged by the proxies. Anything there is traffic the recording missed: record it (`cinch observe ... --append`) and regenerate.\n")
		fmt.Fprintf(&b, "3. Enforce: `cinch pr RECORDING... --repo . --path %s --level %s --mode enforce`, then watch `inbound_http_authz_deny_total`.\n", d.Path, d.Level)
		b.WriteString("4. Close everything else: add `--default-deny` and restart the workloads (`kubectl rollout restart`) so their pods pick up the annotation.\n")
	} else {
		b.WriteString("2. Watch `inbound_http_authz_deny_total`: any increase is traffic this policy refuses.\n")
		b.WriteString("3. Close everything else: add `--default-deny` and restart the workloads so their pods pick up the annotation.\n")
	}
	return b.String(), nil
}

// writeChanges writes the access changes and the changed objects.
func writeChanges(b *bytes.Buffer, c *Change) {
	if len(c.Access.Added)+len(c.Access.Removed) > 0 {
		b.WriteString("### Access changes\n\n")
		for _, g := range c.Access.Added {
			fmt.Fprintf(b, "- granted: %s\n", markdownCell(g))
		}
		for _, g := range c.Access.Removed {
			fmt.Fprintf(b, "- revoked: %s\n", markdownCell(g))
		}
		b.WriteString("\n")
	}
	if len(c.Objects) > 0 {
		b.WriteString("### Changed objects\n\n")
		for _, o := range c.Objects {
			fmt.Fprintf(b, "- %s `%s`\n", o.Change, o.Key)
		}
		b.WriteString("\n")
	}
	if len(c.Files) > 0 {
		b.WriteString("### Evidence files\n\n")
		for _, f := range c.Files {
			fmt.Fprintf(b, "- `%s`\n", f)
		}
		b.WriteString("\n")
	}
}

type accessRow struct{ namespace, server, routes, clients string }

// accessRows lists, per Server, who its authorizations admit and on which
// routes.
func accessRows(res *synth.Result) []accessRow {
	var rows []accessRow
	for i := range res.Units {
		s := &res.Units[i].Set
		meshes := map[string]string{}
		for _, m := range s.MeshTLSAuthentications {
			var who []string
			for _, r := range m.Spec.IdentityRefs {
				if r.Kind == policy.KindNamespace {
					who = append(who, "namespace "+r.Name)
				} else {
					who = append(who, "sa "+r.Namespace+"/"+r.Name)
				}
			}
			who = append(who, m.Spec.Identities...)
			meshes[m.Name] = strings.Join(who, ", ")
		}
		nets := map[string]string{}
		for _, n := range s.NetworkAuthentications {
			var cidrs []string
			for _, x := range n.Spec.Networks {
				cidrs = append(cidrs, x.CIDR)
			}
			nets[n.Name] = strings.Join(cidrs, ", ")
		}
		parent := map[string]string{} // route name -> server name
		routes := map[string]string{}
		for _, r := range s.HTTPRoutes {
			parent[r.Name] = r.Spec.ParentRefs[0].Name
			var ms []string
			for _, rule := range r.Spec.Rules {
				for _, m := range rule.Matches {
					ms = append(ms, strings.TrimSpace(m.Method+" "+m.Path.Value))
				}
			}
			routes[r.Name] = strings.Join(ms, ", ")
		}
		for _, r := range s.GRPCRoutes {
			parent[r.Name] = r.Spec.ParentRefs[0].Name
			var ms []string
			for _, rule := range r.Spec.Rules {
				for _, m := range rule.Matches {
					ms = append(ms, m.Method.Service+"/"+m.Method.Method)
				}
			}
			routes[r.Name] = strings.Join(ms, ", ")
		}
		for _, ap := range s.AuthorizationPolicies {
			server, on := ap.Spec.TargetRef.Name, "all"
			if ap.Spec.TargetRef.Kind != policy.KindServer {
				server, on = parent[ap.Spec.TargetRef.Name], routes[ap.Spec.TargetRef.Name]
			}
			var who []string
			for _, ref := range ap.Spec.RequiredAuthenticationRefs {
				switch ref.Kind {
				case policy.KindMeshTLSAuthentication:
					who = append(who, meshes[ref.Name])
				case policy.KindNetworkAuthentication:
					who = append(who, nets[ref.Name])
				}
			}
			rows = append(rows, accessRow{namespace: ap.Namespace, server: server, routes: markdownCell(on), clients: markdownCell(strings.Join(who, "; "))})
		}
		for _, srv := range s.Servers {
			if !slices.ContainsFunc(rows, func(r accessRow) bool { return r.namespace == srv.Namespace && r.server == srv.Name }) {
				rows = append(rows, accessRow{namespace: srv.Namespace, server: srv.Name, routes: "all", clients: "kubelet probes only"})
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b accessRow) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.server, b.server))
	})
	return rows
}

// writeRouteMerges lists the route matches written for several templates
// because a Server had more than --max-routes-per-server.
func writeRouteMerges(b *bytes.Buffer, res *synth.Result) {
	if len(res.RouteMerges) == 0 {
		return
	}
	b.WriteString("### Merged routes\n\n`--max-routes-per-server` capped the route matches per Server: these routes share one match, which admits every client of any of them (new grants: client, method and observed path triples no route admitted that client before).\n\n| server | port | routes | match | clients | new grants |\n|---|---|---|---|---|---|\n")
	for _, m := range res.RouteMerges {
		match := markdownCell(m.Match)
		if m.Unbounded {
			match += " (also paths never observed)"
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %d |\n", m.Server, m.Port, markdownCell(strings.Join(m.Routes, ", ")), match, strings.Join(m.Clients, ", "), m.NewGrants)
	}
	b.WriteString("\n")
}

// writeCounts writes how many objects of each kind the policy has, per
// namespace and in total: Linkerd's policy controller indexes every one.
func writeCounts(b *bytes.Buffer, res *synth.Result) {
	counts := res.Counts()
	byKind, total := synth.TotalsByKind(counts)
	if total == 0 {
		return
	}
	fmt.Fprintf(b, "### Objects\n\n%d objects for Linkerd's policy controller to index.\n\n| namespace |", total)
	for _, k := range byKind {
		fmt.Fprintf(b, " %s |", k.Kind)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(byKind)) + "\n")
	row := func(name string, of func(kind string) int) {
		fmt.Fprintf(b, "| %s |", name)
		for _, k := range byKind {
			fmt.Fprintf(b, " %d |", of(k.Kind))
		}
		b.WriteString("\n")
	}
	var namespaces []string
	for _, c := range counts {
		if !slices.Contains(namespaces, c.Namespace) {
			namespaces = append(namespaces, c.Namespace)
		}
	}
	for _, ns := range namespaces {
		row(ns, func(kind string) int {
			for _, c := range counts {
				if c.Namespace == ns && c.Kind == kind {
					return c.Count
				}
			}
			return 0
		})
	}
	row("**total**", func(kind string) int {
		for _, k := range byKind {
			if k.Kind == kind {
				return k.Count
			}
		}
		return 0
	})
	b.WriteString("\n")
}

// writeDefaultDeny lists the namespaces closed by default deny and what
// keeps Linkerd's own traffic working in them.
func writeDefaultDeny(b *bytes.Buffer, res *synth.Result) {
	if len(res.DefaultDeny) == 0 {
		return
	}
	b.WriteString("### Default deny\n\n")
	fmt.Fprintf(b, "Namespaces closed to everything no authorization admits (`config.linkerd.io/default-inbound-policy: deny`, applied last; restart their workloads for it to take effect): %s.\n\n", strings.Join(res.DefaultDeny, ", "))
	if len(res.AdminPorts) == 0 {
		writeRareClients(b, res)
		b.WriteString("The proxies' admin port (linkerd-admin, 4191) gets no policy (`--allow-scrapes=false`): Prometheus can no longer scrape the proxies in these namespaces.\n\n")
		return
	}
	writeRareClients(b, res)
	b.WriteString("The proxies' admin port (linkerd-admin, 4191) stays open to what Linkerd itself needs:\n\n| namespace | Server | GET /metrics (scraper) | GET /live, /ready (kubelet) |\n|---|---|---|---|\n")
	for _, a := range res.AdminPorts {
		probes := strings.Join(a.Probes, ", ")
		if probes == "" {
			probes = "Linkerd's own probe route (no route written; the scraper may read every admin path)"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", a.Namespace, a.Server, markdownCell(strings.Join(a.Scrapers, ", ")), markdownCell(probes))
	}
	b.WriteString("\n")
}

// writeDeclared lists the declared grants merged in, with their reasons,
// and says which of them traffic has since shown.
func writeDeclared(b *bytes.Buffer, rec *recording.Recording, res *synth.Result) {
	if len(res.Intents) == 0 {
		return
	}
	b.WriteString("### Declared access\n\nGranted because the intents file declares it, not because it was observed; the objects carry `" + synth.AnnotationDeclared + "`. Seen: requests of it in the recording (those can move to observed).\n\n| client | server | port | routes | reason | seen |\n|---|---|---|---|---|---:|\n")
	uses := diff.DeclaredUses(rec, res.Intents)
	for i, in := range res.Intents {
		routes := "all"
		if len(in.Routes) > 0 {
			var rs []string
			for _, r := range in.Routes {
				rs = append(rs, strings.TrimSpace(r.Method+" "+r.Path))
			}
			routes = strings.Join(rs, ", ")
		}
		fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %d |\n", in.Client, in.Server, in.Port, markdownCell(routes), markdownCell(in.Reason), uses[i].Requests)
	}
	b.WriteString("\n")
}

// writeRareClients lists the meshed workloads of the cluster objects that
// were never observed as clients: default deny denies whatever they call.
func writeRareClients(b *bytes.Buffer, res *synth.Result) {
	if len(res.RareClients) == 0 {
		return
	}
	b.WriteString("**Clients the recording never saw.** These meshed workloads could call servers that default deny closes, but no window observed them; ⚠ marks those no window could have seen. If they need access, declare it in the intents file or record a window that includes them.\n\n| namespace | workload | service account | why it may be missing |\n|---|---|---|---|\n")
	for _, r := range res.RareClients {
		why := "never observed"
		if r.Unseeable != "" {
			why = "⚠ " + r.Unseeable
		}
		fmt.Fprintf(b, "| %s | %s %s | %s | %s |\n", r.Namespace, r.Kind, r.Name, r.ServiceAccount, markdownCell(why))
	}
	b.WriteString("\n")
}

// markdownCell keeps a table cell on one line and its pipes literal.
func markdownCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// lowCoverage flags ports whose recording is likely missing routes.
const lowCoverage = 0.9

// writeCoverage writes how complete the recording is likely to be per
// server port, and advice for the thin ones.
func writeCoverage(b *bytes.Buffer, rec *recording.Recording, res *synth.Result) {
	if len(res.Coverage) == 0 {
		return
	}
	b.WriteString("### Coverage\n\n")
	var span []string
	sampled := false
	for _, w := range rec.Windows {
		sampled = sampled || w.Sampling.Sampled
		if w.Start != nil && w.End != nil {
			span = append(span, fmt.Sprintf("%s to %s", w.Start.UTC().Format("2006-01-02 15:04"), w.End.UTC().Format("2006-01-02 15:04")))
		}
	}
	if len(span) > 0 {
		fmt.Fprintf(b, "Observed %s (UTC). ", strings.Join(span, "; "))
	}
	if sampled {
		b.WriteString("Tap is a sample (at most its maxRps per target), so rare routes are the ones most likely missing. ")
	}
	b.WriteString("Coverage is Good's estimate, 1 - (requests on routes seen once) / requests; 1 - coverage estimates the probability that the next request uses a route not seen yet.\n\n")
	b.WriteString("| server | port | requests | routes | seen once | coverage | P(new route) |\n|---|---|---|---|---|---|---|\n")
	var low []string
	for _, c := range res.Coverage {
		flag := ""
		if c.Coverage < lowCoverage {
			flag = " ⚠"
			low = append(low, fmt.Sprintf("%s:%d", c.Server, c.Port))
		}
		fmt.Fprintf(b, "| %s | %d | %d | %d | %d | %.3f%s | %.3f |\n", c.Server, c.Port, c.Requests, c.Routes, c.Singletons, c.Coverage, flag, c.Unseen())
	}
	if len(low) > 0 {
		fmt.Fprintf(b, "\n⚠ Low coverage (below %.2f): %s. Record longer or merge a metrics recording before tightening these to route level; `--min-coverage %.2f` keeps them at service-account level.\n", lowCoverage, strings.Join(low, ", "), lowCoverage)
	}
	b.WriteString("\n")
}
