package gitops

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/policy"
	"github.com/cinchmesh/cinch/synth/routes"
	"github.com/cinchmesh/cinch/synth/status"
)

func git1(t *testing.T, repo string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestNext drives pr --next without cobra on a real git checkout: books
// is clean and goes to enforce; shop is blocked by a client only audit
// admitted and gets its grant at its stage; a namespace with nothing to
// do keeps its files as they are.
func TestNext(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	for k, v := range map[string]string{"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"} {
		t.Setenv(k, v)
	}
	end := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	start := end.Add(-21 * 24 * time.Hour)
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "prometheus:http://prom", Start: &start, End: &end}}
	for _, w := range [][2]string{{"shop", "web"}, {"shop", "client"}, {"books", "api"}, {"books", "reader"}, {"quiet", "db"}} {
		rec.Workloads = append(rec.Workloads, recording.Workload{ID: recording.PeerID(w[0] + "/" + w[1]), Namespace: w[0], Kind: "Deployment",
			Name: w[1], ServiceAccount: w[1], Meshed: true, Identity: w[1] + "." + w[0] + ".serviceaccount.identity.linkerd.cluster.local",
			Labels: map[string]string{"app": w[1]}})
	}
	edge := func(client, server recording.PeerID) recording.Edge {
		return recording.Edge{Client: client, Server: server, Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 10, TLS: map[string]int64{"true": 10}}
	}
	rec.Edges = []recording.Edge{edge("shop/client", "shop/web"), edge("books/reader", "books/api"), edge("shop/client", "quiet/db")}
	rec.Normalize()

	repo := t.TempDir()
	git1(t, repo, "init", "-q", "-b", "main")
	opts := synth.Options{Level: synth.LevelServiceAccount, Mode: synth.ModeAudit, RouteAPI: synth.RouteAPIGateway, Routes: routes.DefaultOptions()}
	res, err := synth.Synthesize(rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Propose(Request{Repo: repo, Path: "policy", Branch: "audit", Recording: rec, Result: res,
		Describe: Describe{Level: opts.Level, Mode: opts.Mode, Path: "policy"}}); err != nil {
		t.Fatal(err)
	}
	quietBefore, err := os.ReadFile(filepath.Join(repo, "policy", "quiet", "db.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// The missed client: in the evidence (from the metrics) and as a hit.
	// The metrics also counted books' traffic, and quiet's.
	batch := recording.IdentityPeer("batch.shop.serviceaccount.identity.linkerd.cluster.local")
	metrics := &recording.Recording{APIVersion: recording.APIVersion, Kind: recording.Kind,
		Windows:   []recording.Window{{Source: "prometheus:http://prom", Start: &start, End: &end, Requests: 40}},
		Workloads: rec.Workloads,
		Edges:     []recording.Edge{edge(batch, "shop/web"), edge("books/reader", "books/api"), edge("shop/client", "quiet/db"), edge("books/reader", "quiet/db")},
		Peers:     []recording.Peer{{ID: batch, Kind: recording.PeerIdentity}}}
	evidence := recording.Merge(recording.DefaultLimits, rec, metrics)
	first, last := start.Add(time.Hour), start.Add(72*time.Hour)
	// quiet/db saw a request only audit admitted yesterday from a client
	// its policy grants: nothing to grant, but the clean period restarts.
	denied := end.Add(-24 * time.Hour)
	set, err := policy.ReadPaths([]string{filepath.Join(repo, "policy")}, policy.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := status.Evaluate(status.Input{Policy: set, Evidence: evidence, Window: status.Window{Start: start, End: end}, Hits: []status.Hit{
		{Kind: status.HitAudit, Client: batch, Server: "shop/web", Port: 8080, Requests: 42, First: &first, Last: &last},
		{Kind: status.HitAudit, Client: "shop/client", Server: "quiet/db", Port: 8080, Requests: 1, First: &denied, Last: &denied},
	}}, status.Options{Routes: routes.DefaultOptions()})
	if err != nil {
		t.Fatal(err)
	}
	p, steps, err := Next(NextRequest{Repo: repo, Path: "policy", Branch: "next", Evidence: evidence, Status: rep, Synth: opts,
		Metrics: metrics, Recordings: []string{"tap.yaml"}, Sources: []string{"tap.yaml", "prometheus:http://prom"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range steps {
		names = append(names, s.Namespace+": "+StepName(s))
	}
	if strings.Join(names, "; ") != "books: serviceaccount/audit → serviceaccount/enforce; shop: serviceaccount/audit (grants)" {
		t.Errorf("steps %q", names)
	}
	if p.Commit == "" || git1(t, repo, "rev-parse", "--abbrev-ref", "HEAD") != "next" {
		t.Fatalf("nothing committed on next: %+v", p)
	}
	api := git1(t, repo, "show", "next:policy/books/api.yaml")
	web := git1(t, repo, "show", "next:policy/shop/web.yaml")
	if !strings.Contains(api, "accessPolicy: deny") || !strings.Contains(web, "accessPolicy: audit") || !strings.Contains(web, "batch") {
		t.Errorf("books/api.yaml:\n%s\nshop/web.yaml:\n%s", api, web)
	}
	if quietAfter := git1(t, repo, "show", "next:policy/quiet/db.yaml"); quietAfter != strings.TrimSpace(string(quietBefore)) {
		t.Errorf("quiet/db.yaml changed:\n%s", quietAfter)
	}
	for _, want := range []string{"| books | serviceaccount/audit → serviceaccount/enforce | 21.0 |", "| shop | serviceaccount/audit (grants) |",
		"| identity:batch.shop.serviceaccount.identity.linkerd.cluster.local | shop/web | 8080 | ? | 42 | 2026-10-31 01:00 | 2026-11-03 00:00 |",
		"Roll back:", "--level serviceaccount --mode audit -n books", "prometheus:http://prom", "refused instead of logged"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.Body)
		}
	}

	// Each stepped namespace's share of the metrics is a recording of its
	// own next to the policy, with the metrics window; quiet was not
	// stepped and has none.
	const name = "metrics-20261031T0000Z-20261121T0000Z.yaml"
	if files := git1(t, repo, "ls-tree", "-r", "--name-only", "next", "--", "policy-evidence"); files != "policy-evidence/books/"+name+"\npolicy-evidence/shop/"+name {
		t.Errorf("evidence files on next:\n%s", files)
	}
	shopEvidence, err := recording.Decode([]byte(git1(t, repo, "show", "next:policy-evidence/shop/"+name)))
	if err != nil {
		t.Fatal(err)
	}
	if len(shopEvidence.Windows) != 1 || shopEvidence.Windows[0].Source != "prometheus:http://prom" || !shopEvidence.Windows[0].Start.Equal(start) ||
		!shopEvidence.Windows[0].End.Equal(end) || shopEvidence.Windows[0].Requests != 10 {
		t.Errorf("shop's evidence windows: %+v", shopEvidence.Windows)
	}
	if len(shopEvidence.Edges) != 1 || shopEvidence.Edges[0].Key() != (recording.Key{Client: batch, Server: "shop/web", Port: 8080}) ||
		len(shopEvidence.Peers) != 1 || len(shopEvidence.Workloads) != 1 || shopEvidence.Workloads[0].ID != "shop/web" {
		t.Errorf("shop's evidence holds more or less than batch's calls to shop/web: %+v", shopEvidence)
	}
	for _, want := range []string{"recorded from the metrics in `policy-evidence/shop/" + name + "`",
		"`cinch synth tap.yaml policy-evidence/shop/" + name + " --level serviceaccount --mode audit -n shop -o policy`"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.Body)
		}
	}
	// Synthesizing shop again from the recording and its evidence file
	// gives what was committed.
	again := opts
	again.Namespaces = []string{"shop"}
	web2 := func(rec *recording.Recording) string {
		t.Helper()
		res, err := synth.Synthesize(rec, again)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range res.Units {
			if u.Namespace == "shop" && u.Workload == "web" {
				var buf bytes.Buffer
				if err := policy.Encode(&buf, &u.Set); err != nil {
					t.Fatal(err)
				}
				return strings.TrimSpace(buf.String())
			}
		}
		t.Fatal("no policy for shop/web")
		return ""
	}
	if got := web2(recording.Merge(recording.DefaultLimits, rec, shopEvidence)); got != web {
		t.Errorf("shop/web from the recording and its evidence file:\n%s\ncommitted:\n%s", got, web)
	}
	if web2(rec) == web {
		t.Error("shop/web from the recording alone is what was committed: the evidence file shows nothing")
	}
	if msg := git1(t, repo, "log", "-1", "--format=%B", "next"); !strings.Contains(msg, "evidence policy-evidence/shop/"+name) ||
		!strings.Contains(p.Body, "### Evidence files\n\n- `policy-evidence/books/"+name+"`\n- `policy-evidence/shop/"+name+"`") {
		t.Errorf("the commit message or the body does not list the evidence files:\n%s\n%s", msg, p.Body)
	}
	// The same run again on its branch: nothing to commit.
	if p2, _, err := Next(NextRequest{Repo: repo, Path: "policy", Branch: "next", Evidence: evidence, Status: rep, Synth: opts,
		Metrics: metrics}); err != nil || p2.Commit != "" {
		t.Errorf("re-run on next: %v, %+v", err, p2)
	}
	// A later window on the same branch is other evidence: refused
	// without --update, the checkout left as it was.
	later := *metrics
	laterEnd := end.Add(24 * time.Hour)
	later.Windows = []recording.Window{{Source: "prometheus:http://prom", Start: &start, End: &laterEnd}}
	_, _, err = Next(NextRequest{Repo: repo, Path: "policy", Branch: "next", Evidence: evidence, Status: rep, Synth: opts, Metrics: &later})
	var existing *ExistingBranchError
	if !errors.As(err, &existing) || !strings.Contains(err.Error(), "write policy-evidence/books/metrics-20261031T0000Z-20261122T0000Z.yaml") {
		t.Errorf("a later window on next: %v", err)
	}
	if st := git1(t, repo, "status", "--porcelain"); st != "" {
		t.Errorf("the refused run left the checkout changed:\n%s", st)
	}

	// Nothing ready and nothing to grant: an error that says why.
	if _, _, err := Next(NextRequest{Repo: repo, Path: "policy", Branch: "again", Evidence: evidence, Status: rep, Synth: opts,
		Namespaces: []string{"quiet"}}); err == nil || !strings.Contains(err.Error(), "quiet: recent") {
		t.Errorf("quiet alone: %v", err)
	}
}
