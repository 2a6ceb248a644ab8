package gitops

import (
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
	batch := recording.IdentityPeer("batch.shop.serviceaccount.identity.linkerd.cluster.local")
	evidence := recording.Merge(recording.DefaultLimits, rec, &recording.Recording{Edges: []recording.Edge{edge(batch, "shop/web")},
		Peers: []recording.Peer{{ID: batch, Kind: recording.PeerIdentity}}})
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
		Sources: []string{"prometheus:http://prom"}})
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

	// Nothing ready and nothing to grant: an error that says why.
	if _, _, err := Next(NextRequest{Repo: repo, Path: "policy", Branch: "again", Evidence: evidence, Status: rep, Synth: opts,
		Namespaces: []string{"quiet"}}); err == nil || !strings.Contains(err.Error(), "quiet: recent") {
		t.Errorf("quiet alone: %v", err)
	}
}
