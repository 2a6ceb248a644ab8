package cmd

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/scenario"
)

// scenarioFiles writes the text tap output and the cluster objects of a
// bundled scenario into dir, as NAME.tap.txt and NAME.cluster.yaml.
func scenarioFiles(t *testing.T, dir, name string) (tap, objects string) {
	t.Helper()
	s, err := scenario.Load(filepath.Join("..", "fixtures", "scenarios", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var txt, objs bytes.Buffer
	if err := scenario.WriteText(&txt, s.Events()); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteCluster(&objs); err != nil {
		t.Fatal(err)
	}
	return write(t, dir, name+".tap.txt", txt.String()), write(t, dir, name+".cluster.yaml", objs.String())
}

// TestClusterFileOfAnotherAppIsRefused: the shop's tap output with the
// tiny scenario's cluster objects names nothing; observe (text and JSON
// tap output) and synth refuse, naming --cluster-file, and leave -o as
// it was.
func TestClusterFileOfAnotherAppIsRefused(t *testing.T) {
	dir := t.TempDir()
	shopTap, _ := scenarioFiles(t, dir, "shop")
	_, tinyObjects := scenarioFiles(t, dir, "tiny")
	write(t, dir, "rec.yaml", "kept\n")
	for _, tap := range []string{shopTap, demoFile("shop.tap.json.gz")} {
		r := runBin(t, dir, "", "observe", "--from-file", tap, "--cluster-file", tinyObjects, "-o", "rec.yaml")
		if r.code != ExitFailure {
			t.Fatalf("observe %s with another app's objects: exit %d, want 3\n%s", filepath.Base(tap), r.code, r.stderr)
		}
		for _, want := range []string{"--cluster-file " + tinyObjects + " fit none of the traffic", "none of its", "(servers: ", "2635 requests", "rec.yaml is left as it was"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("observe %s: stderr lacks %q:\n%s", filepath.Base(tap), want, r.stderr)
			}
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "rec.yaml")); string(got) != "kept\n" {
			t.Errorf("observe %s overwrote -o: %q", filepath.Base(tap), got)
		}
	}

	if r := runBin(t, dir, "", "observe", "--from-file", demoFile("shop.tap.json.gz"), "--cluster-file", demoFile("shop.cluster.yaml"), "-o", "shop.yaml"); r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Fatalf("observe with the shop's own objects: exit %d\n%s", r.code, r.stderr)
	}
	for _, verb := range [][]string{{"synth", "shop.yaml"}, {"diff", "shop.yaml", "--policy", demoFile("shop.cluster.yaml")}} {
		r := runBin(t, dir, "", append(verb, "--cluster-file", tinyObjects)...)
		if r.code != ExitFailure || r.stdout != "" || !strings.Contains(r.stderr, "fit none of the traffic") || !strings.Contains(r.stderr, "--cluster-file FILE") {
			t.Errorf("%s with another app's objects: exit %d, stdout %d bytes, want 3 and nothing written\n%s", verb[0], r.code, len(r.stdout), r.stderr)
		}
	}
}

// TestKubeContextOfAnotherClusterIsRefused: saved tap output replayed
// where the current kube context is another cluster (one that has none
// of its addresses) is refused as a wrong --cluster-file is, and the
// message names the context and both ways out.
func TestKubeContextOfAnotherClusterIsRefused(t *testing.T) {
	dir := t.TempDir()
	srv := fakeAPIServer(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	defer srv.Close()
	kc := kubeconfig(t, srv)
	shopTap, _ := scenarioFiles(t, dir, "shop")
	write(t, dir, "rec.yaml", "kept\n")
	r := runBin(t, dir, "", "observe", "--from-file", shopTap, "--kubeconfig", kc, "-o", "rec.yaml")
	if r.code != ExitFailure {
		t.Fatalf("observe with another cluster's kube context: exit %d, want 3\n%s", r.code, r.stderr)
	}
	for _, want := range []string{`kube context "test" fit none of the traffic`, "--context NAME", "--cluster-file FILE", "rec.yaml is left as it was"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "rec.yaml")); string(got) != "kept\n" {
		t.Errorf("observe overwrote -o: %q", got)
	}
}

// otherApp is an app deployed where the shop was: its pods have two of
// the shop's addresses (web's and catalog's), serve other ports and were
// created after the shop's traffic was recorded.
const otherApp = `apiVersion: v1
kind: Pod
metadata: {name: blog-frontend, namespace: blog, creationTimestamp: "2026-11-30T00:00:00Z"}
spec: {containers: [{name: main, ports: [{containerPort: 3000}]}]}
status: {podIP: 10.42.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: blog-db, namespace: blog, creationTimestamp: "2026-11-30T00:00:00Z"}
spec: {containers: [{name: main, ports: [{containerPort: 5432}]}]}
status: {podIP: 10.42.1.20}
`

// TestClusterFileThatFitsBadlyWarns: objects that name some of the
// addresses, wrongly, are recorded with a warning that counts the
// unknown servers, the undeclared ports and the pods younger than the
// traffic, each with examples.
func TestClusterFileThatFitsBadlyWarns(t *testing.T) {
	dir := t.TempDir()
	shopTap, _ := scenarioFiles(t, dir, "shop")
	objects := write(t, dir, "blog.cluster.yaml", otherApp)
	r := runBin(t, dir, "", "observe", "--from-file", shopTap, "--cluster-file", objects, "--window-end", "2026-11-25T12:00:00Z", "-o", "rec.yaml")
	if r.code != 0 {
		t.Fatalf("observe: exit %d, want 0 (some addresses fit)\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"warning: the cluster objects of --cluster-file " + objects + " may not be those of the traffic",
		"servers (", "are not among the objects: ip:10.42.1.11",
		"requests to 2 server port(s) that no container of the server declares: ",
		"blog/blog-frontend:8080", "declares 3000",
		"workload(s) whose pods were created after the traffic: ", "created 2026-11-30T00:00:00Z, traffic by 2026-11-25T12:00:00Z",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "rec.yaml")); err != nil {
		t.Errorf("a warning still writes the recording: %v", err)
	}
	if strings.Contains(r.stderr, "not checked") {
		t.Errorf("with --window-end the pods' creation is checked:\n%s", r.stderr)
	}
	r = runBin(t, dir, "", "observe", "--from-file", shopTap, "--cluster-file", objects, "-o", "rec.yaml")
	if r.code != 0 || !strings.Contains(r.stderr, "not checked: whether the pods existed when the traffic was recorded (the recording has no times for its traffic: saved output has them with observe --window-end)") || strings.Contains(r.stderr, "created after the traffic") {
		t.Errorf("without --window-end: exit %d, want the creation check said to be skipped:\n%s", r.code, r.stderr)
	}
}
