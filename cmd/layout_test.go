package cmd

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
)

// TestLayoutMatchesGoList checks the README's layout and import rules
// against `go list`: every observe and synth package is in the layout
// table, observe never imports synth, no domain package depends on cobra,
// nothing imports cmd, and there is no util package.
func TestLayoutMatchesGoList(t *testing.T) {
	const module = "github.com/cinchmesh/cinch/"
	out, err := exec.Command("go", "list", "-json=ImportPath,Deps", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, module)
		if path.Base(name) == "util" {
			t.Errorf("%s: no util packages", name)
		}
		domain := strings.HasPrefix(name, "observe") || strings.HasPrefix(name, "synth")
		if domain && !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("%s is not in the README's layout table", name)
		}
		for _, d := range p.Deps {
			dep := strings.TrimPrefix(d, module)
			switch {
			case strings.HasPrefix(name, "observe") && strings.HasPrefix(dep, "synth"):
				t.Errorf("%s imports %s: observe never imports synth", name, dep)
			case domain && strings.HasPrefix(d, "github.com/spf13/cobra"):
				t.Errorf("%s depends on cobra: only cmd may", name)
			case !strings.HasPrefix(name, "cmd") && (dep == "cmd" || strings.HasPrefix(dep, "cmd/")):
				t.Errorf("%s imports %s: nothing imports cmd", name, dep)
			}
		}
	}
}

// TestTopLevelIsTheDesignCard holds the repository's top level to the
// design card: the code lives in observe, synth and cmd, everything the
// tests and the demo read in fixtures, prose in docs; beside them only the
// module files and the build, CI and release recipes.
func TestTopLevelIsTheDesignCard(t *testing.T) {
	out, err := exec.Command("git", "-C", "..", "ls-files").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	allowed := map[string]bool{
		"observe": true, "synth": true, "cmd": true, "fixtures": true, "docs": true,
		"go.mod": true, "go.sum": true, "README.md": true, "Makefile": true,
		".ci": true, ".gitignore": true, ".goreleaser.yaml": true, ".krew.yaml": true,
	}
	seen := map[string]bool{}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		top, _, _ := strings.Cut(f, "/")
		if !allowed[top] && !seen[top] {
			seen[top] = true
			t.Errorf("%s is at the top level: the design card puts code in observe/, synth/ or cmd/, test and demo data in fixtures/, prose in docs/", top)
		}
	}
}
