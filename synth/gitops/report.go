package gitops

import (
	"bytes"
	"html/template"
	"io"
	"strings"

	"github.com/cinchmesh/cinch/observe/graphprint"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/diff"
	"github.com/cinchmesh/cinch/synth/policy"
)

// Marks says how the policy treats each observed edge, for the drawing:
// denied when no client request was admitted (denied by the policy in
// force and not granted), restricted when its server gets its first
// cinch Server in this change, admitted otherwise. Edges to servers
// without a Server are left unmarked.
func Marks(rec *recording.Recording, res *synth.Result, c *Change, grantDenied bool) map[recording.Key]string {
	servers := map[string]bool{} // namespace/workload with a Server
	for _, u := range res.Units {
		if len(u.Set.Servers) > 0 {
			servers[u.Namespace+"/"+u.Workload] = true
		}
	}
	added := map[string]bool{}
	if c != nil {
		for _, o := range c.Objects {
			if o.Change == "added" && o.Key.Kind == policy.KindServer {
				added[o.Key.Namespace] = true
			}
		}
	}
	marks := map[recording.Key]string{}
	for _, e := range rec.Edges {
		ns, _, _ := strings.Cut(string(e.Server), "/")
		switch {
		case e.Requests == 0 && e.Denied > 0 && !grantDenied:
			marks[e.Key()] = graphprint.MarkDenied
		case !servers[string(e.Server)]:
		case added[ns] && serverAdded(c, e.Server):
			marks[e.Key()] = graphprint.MarkRestricted
		default:
			marks[e.Key()] = graphprint.MarkAdmitted
		}
	}
	return marks
}

// serverAdded says whether the change adds a Server for the workload
// (Server names start with the workload's name).
func serverAdded(c *Change, workload recording.PeerID) bool {
	ns, name, _ := strings.Cut(string(workload), "/")
	for _, o := range c.Objects {
		if o.Change == "added" && o.Key.Kind == policy.KindServer && o.Key.Namespace == ns && strings.HasPrefix(o.Key.Name, name) {
			return true
		}
	}
	return false
}

// MarksFromDiff marks edges by what a diff found: denied when some of the
// edge's traffic would be denied, restricted when some is admitted only by
// audit, admitted otherwise.
func MarksFromDiff(rec *recording.Recording, rep *diff.Report) map[recording.Key]string {
	marks := map[recording.Key]string{}
	for _, e := range rec.Edges {
		marks[e.Key()] = graphprint.MarkAdmitted
	}
	for _, f := range rep.Audit {
		marks[recording.Key{Client: f.Client, Server: f.Server, Port: f.Port}] = graphprint.MarkRestricted
	}
	for _, f := range rep.Denied {
		marks[recording.Key{Client: f.Client, Server: f.Server, Port: f.Port}] = graphprint.MarkDenied
	}
	return marks
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cinch: {{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #263238; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; } th, td { border: 1px solid #cfd8dc; padding: 4px 8px; text-align: left; font-size: 13px; vertical-align: top; }
th { background: #eceff1; } code { background: #eceff1; padding: 1px 4px; }
.graph { overflow: auto; border: 1px solid #cfd8dc; padding: 8px; }
.legend span { margin-right: 1.5em; } .ok { color: #2e7d32; } .new { color: #ef6c00; } .bad { color: #c62828; } .low { color: #c62828; font-weight: bold; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Intro}}</p>
<h2>Observed service graph</h2>
<p class="legend"><span class="ok">━ admitted</span><span class="new">━ newly restricted to the clients seen</span><span class="bad">┅ observed but denied</span><span>┈ reported by the client only</span></p>
<div class="graph">{{.Graph}}</div>
<h2>Who may call what</h2>
<table><tr><th>namespace</th><th>server</th><th>routes</th><th>clients</th></tr>
{{range .Access}}<tr><td>{{.Namespace}}</td><td>{{.Server}}</td><td>{{.Routes}}</td><td>{{.Clients}}</td></tr>
{{end}}</table>
{{if .Changes}}<h2>Changed objects</h2><ul>{{range .Changes}}<li>{{.Change}} <code>{{.Key}}</code></li>{{end}}</ul>{{end}}
<h2>Coverage</h2>
<p>Good's estimate: coverage = 1 - (requests on routes seen once) / requests; 1 - coverage is the probability that the next request uses a route not seen yet.{{if .Sampled}} Tap is a sample, so rare routes are the likeliest to be missing.{{end}}</p>
<table><tr><th>server</th><th>port</th><th>requests</th><th>routes</th><th>seen once</th><th>coverage</th></tr>
{{range .Coverage}}<tr><td>{{.Server}}</td><td>{{.Port}}</td><td>{{.Requests}}</td><td>{{.Routes}}</td><td>{{.Singletons}}</td><td{{if .Low}} class="low"{{end}}>{{printf "%.3f" .Coverage}}</td></tr>
{{end}}</table>
{{if .Warnings}}<h2>Warnings</h2><ul>{{range .Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>Rollout</h2>
<ol>
<li>Apply in audit mode: <code>cinch synth RECORDING --level {{.Level}} --mode audit -o policy/ &amp;&amp; kubectl apply -k policy/</code></li>
<li>Watch what audit would deny: <code>inbound_http_authz_allow_total{authz_name="audit"}</code> and the proxies' audit log lines; record what was missed (<code>cinch observe ... --append</code>) and regenerate.</li>
<li>Enforce: <code>--mode enforce</code>, then watch <code>inbound_http_authz_deny_total</code>.</li>
<li>Default deny: <code>--default-deny</code>, then restart the workloads so their pods pick up the annotation.</li>
</ol>
</body>
</html>
`))

type reportRow struct{ Namespace, Server, Routes, Clients string }

type reportCoverage struct {
	synth.PortCoverage
	Low bool
}

// Report writes the review as one self-contained HTML page: the graph as
// inline SVG, no scripts, no fetches.
func Report(w io.Writer, d Describe, rec *recording.Recording, res *synth.Result, c *Change, marks map[recording.Key]string) error {
	var svg bytes.Buffer
	if err := graphprint.SVG(&svg, rec, marks); err != nil {
		return err
	}
	data := struct {
		Title, Intro string
		Level        synth.Level
		Graph        template.HTML
		Access       []reportRow
		Changes      []ObjectChange
		Coverage     []reportCoverage
		Sampled      bool
		Warnings     []string
	}{
		Title: "Linkerd authorization policy: " + string(d.Level) + " level, " + string(d.Mode) + " mode",
		Intro: "Synthesized by cinch from " + windows(rec) + ". Every request in the recording is admitted by this policy, checked by evaluating it as the proxy would.",
		Level: d.Level,
	}
	if d.Reviewed != "" {
		data.Title = "Linkerd authorization policy under review"
		data.Intro = "Review of " + d.Reviewed + " against " + windows(rec) + ", evaluated as the proxy would: edges drawn red carry traffic it would deny, orange traffic only audit mode admits."
	}
	data.Graph = template.HTML(svg.String()) // generated by SVG, which escapes every name
	data.Warnings = res.Warnings
	for _, r := range accessRows(res) {
		data.Access = append(data.Access, reportRow{r.namespace, r.server, strings.ReplaceAll(r.routes, `\|`, "|"), strings.ReplaceAll(r.clients, `\|`, "|")})
	}
	if c != nil {
		data.Changes = c.Objects
	}
	for _, cv := range res.Coverage {
		data.Coverage = append(data.Coverage, reportCoverage{cv, cv.Coverage < lowCoverage})
		data.Sampled = data.Sampled || cv.Sampled
	}
	return reportTemplate.Execute(w, data)
}
