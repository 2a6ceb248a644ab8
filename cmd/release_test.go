package cmd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"
)

// goreleaser is the part of .goreleaser.yaml the release depends on.
type goreleaser struct {
	Version int `json:"version"`
	Builds  []struct {
		ID      string   `json:"id"`
		Main    string   `json:"main"`
		Binary  string   `json:"binary"`
		Ldflags []string `json:"ldflags"`
		Goos    []string `json:"goos"`
		Goarch  []string `json:"goarch"`
	} `json:"builds"`
	Archives []struct {
		IDs             []string `json:"ids"`
		NameTemplate    string   `json:"name_template"`
		Formats         []string `json:"formats"`
		FormatOverrides []struct {
			Goos    string   `json:"goos"`
			Formats []string `json:"formats"`
		} `json:"format_overrides"`
	} `json:"archives"`
}

// krewPlugin is krew's v1alpha2 Plugin manifest.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// TestReleaseRecipe checks the release recipe offline: .goreleaser.yaml
// builds cmd/cinch for the platforms, stamps cmd.Version, names archives
// the way .krew.yaml's URIs expect; .krew.yaml, rendered as
// krew-release-bot renders it, is a valid krew manifest with one platform
// per archive, each running the binary the archive holds.
func TestReleaseRecipe(t *testing.T) {
	data, err := os.ReadFile("../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var gr goreleaser
	if err := yaml.Unmarshal(data, &gr); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	if gr.Version != 2 || len(gr.Builds) != 1 || len(gr.Archives) != 1 {
		t.Fatalf(".goreleaser.yaml: version %d, %d builds, %d archives; want version 2, one of each", gr.Version, len(gr.Builds), len(gr.Archives))
	}
	b, a := gr.Builds[0], gr.Archives[0]
	if main, err := os.ReadFile(filepath.Join("..", b.Main, "main.go")); err != nil || !bytes.Contains(main, []byte("package main")) {
		t.Errorf("build main %q is not cinch's main package: %v", b.Main, err)
	}
	const versionVar = "github.com/cinchmesh/cinch/cmd.Version"
	if !slices.ContainsFunc(b.Ldflags, func(f string) bool { return strings.Contains(f, "-X "+versionVar+"={{ .Version }}") }) {
		t.Errorf("ldflags %q do not stamp %s", b.Ldflags, versionVar)
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Path != "" && info.Main.Path+"/cmd.Version" != versionVar {
		t.Errorf("the module is %s, the ldflags stamp %s", info.Main.Path, versionVar)
	}
	if !slices.Contains(a.IDs, b.ID) {
		t.Errorf("the archive takes builds %v, not %q", a.IDs, b.ID)
	}
	archive := map[string]string{} // "os/arch" -> archive name
	for _, goos := range b.Goos {
		for _, goarch := range b.Goarch {
			format := a.Formats[0]
			for _, o := range a.FormatOverrides {
				if o.Goos == goos {
					format = o.Formats[0]
				}
			}
			name := strings.NewReplacer("{{ .ProjectName }}", "cinch", "{{ .Os }}", goos, "{{ .Arch }}", goarch).Replace(a.NameTemplate)
			if strings.Contains(name, "{{") {
				t.Fatalf("archive name_template %q uses fields this test does not know", a.NameTemplate)
			}
			archive[goos+"/"+goarch] = name + "." + format
		}
	}

	tmpl, err := os.ReadFile("../.krew.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const tag = "v1.2.3"
	rendered := renderKrew(t, string(tmpl), tag)
	var p krewPlugin
	if err := yaml.UnmarshalStrict(rendered, &p); err != nil {
		t.Fatalf(".krew.yaml rendered: %v\n%s", err, rendered)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" || p.Metadata.Name != "cinch" || p.Spec.Version != tag ||
		p.Spec.Homepage == "" || p.Spec.ShortDescription == "" || len(p.Spec.ShortDescription) > 100 || p.Spec.Description == "" {
		t.Errorf(".krew.yaml: %+v", p)
	}
	seen := map[string]bool{}
	for _, pl := range p.Spec.Platforms {
		key := pl.Selector.MatchLabels["os"] + "/" + pl.Selector.MatchLabels["arch"]
		name, ok := archive[key]
		switch {
		case !ok:
			t.Errorf("krew platform %s: goreleaser builds no archive for it", key)
		case pl.URI != "https://github.com/cinchmesh/cinch/releases/download/"+tag+"/"+name:
			t.Errorf("krew platform %s: uri %s, goreleaser's archive is %s", key, pl.URI, name)
		}
		wantBin := b.Binary
		if strings.HasPrefix(key, "windows/") {
			wantBin += ".exe"
		}
		if pl.Bin != wantBin || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(pl.Sha256) {
			t.Errorf("krew platform %s: bin %q sha256 %q, want bin %q and a checksum", key, pl.Bin, pl.Sha256, wantBin)
		}
		seen[key] = true
	}
	for key := range archive {
		if !seen[key] {
			t.Errorf("goreleaser builds %s, which .krew.yaml does not offer", key)
		}
	}
}

// renderKrew renders a krew-release-bot template as the bot does: .TagName
// is the tag, and addURIAndSha renders its URL with the tag and adds the
// archive's checksum (here a fixed one: nothing is downloaded).
func renderKrew(t *testing.T, tmpl, tag string) []byte {
	t.Helper()
	data := map[string]string{"TagName": tag}
	funcs := template.FuncMap{"addURIAndSha": func(url, tag string) (string, error) {
		u, err := template.New("uri").Parse(url)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		if err := u.Execute(&b, data); err != nil {
			return "", err
		}
		return fmt.Sprintf("uri: %s\n    sha256: %s", b.String(), strings.Repeat("ab", 32)), nil
	}}
	tp, err := template.New("krew").Funcs(funcs).Parse(tmpl)
	if err != nil {
		t.Fatalf(".krew.yaml: %v", err)
	}
	var out bytes.Buffer
	if err := tp.Execute(&out, data); err != nil {
		t.Fatalf(".krew.yaml: %v", err)
	}
	return out.Bytes()
}

// TestVersion: version and --version name the version and the revision
// from the build info, and something useful without build info.
func TestVersion(t *testing.T) {
	r := runBin(t, t.TempDir(), "", "version")
	v := runBin(t, t.TempDir(), "", "--version")
	if r.code != 0 || v.code != 0 || r.stdout != v.stdout || !regexp.MustCompile(`^cinch \S+ \((revision [0-9a-f]{12} of \S+(, modified)?, )?go1\.\S+, \w+/\w+\)\n$`).MatchString(r.stdout) {
		t.Errorf("version %q (exit %d), --version %q (exit %d)", r.stdout, r.code, v.stdout, v.code)
	}
	info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/cinchmesh/cinch", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		version string
		info    *debug.BuildInfo
		want    string
	}{
		{"dev", info, "cinch v1.4.0 (revision 0123456789ab of 2026-12-01T10:00:00Z, modified, go"},
		{"v2.0.0", info, "cinch v2.0.0 (revision 0123456789ab"},
		{"dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "cinch dev (go"},
		{"dev", nil, "cinch dev (go"},
	} {
		if got := formatVersion(tc.version, tc.info); !strings.HasPrefix(got, tc.want) {
			t.Errorf("formatVersion(%q) = %q, want it to start %q", tc.version, got, tc.want)
		}
	}
}
