package routes

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/fixtures/truth"
	fixtures "github.com/cinchmesh/cinch/fixtures/upstream"
	"github.com/cinchmesh/cinch/observe/pathseg"
	"github.com/cinchmesh/cinch/observe/recording"
)

// covers checks that every sample is matched by exactly one template of
// its method, and by the whole-path semantics Linkerd gives each match.
func covers(t *testing.T, samples []Sample, ts []Template) {
	t.Helper()
	for _, s := range samples {
		if !Expressible(s.Path) {
			continue
		}
		path, _, _ := strings.Cut(s.Path, "?")
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		if s.Template {
			path = pathseg.ExamplePath(s.Path)
		}
		var hits []string
		for _, tm := range ts {
			if tm.Method != s.Method {
				continue
			}
			if tm.Match == MatchExact && tm.Value == path ||
				tm.Match == MatchRegularExpression && regexp.MustCompile("^(?:"+tm.Value+")$").MatchString(path) {
				hits = append(hits, tm.Pattern)
			}
		}
		if len(hits) != 1 {
			t.Errorf("%s %q is matched by %d templates %q, want exactly one", s.Method, s.Path, len(hits), hits)
		}
	}
}

func patterns(ts []Template) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Method+" "+t.Pattern)
	}
	return out
}

func TestInfer(t *testing.T) {
	ids := func(format string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf(format, i))
		}
		return out
	}
	names := func(format string) []string {
		var out []string
		for _, n := range []string{"alice", "bob", "carol", "dave", "eve", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"} {
			out = append(out, fmt.Sprintf(format, n))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		paths []string
		grpc  bool
		want  []string
	}{
		{"integers with a suffix", []string{"/books/1.json", "/books/22.json", "/books.json"}, false,
			[]string{"GET /books.json", "GET /books/{int}.json"}},
		{"uuid, then a literal", []string{"/cart/0b5e8a4e-8f7c-4c1e-9a57-1d2f3e4a5b6c/checkout", "/cart/9f1c2b3a-1111-4a2b-8c3d-4e5f60718293/checkout"}, false,
			[]string{"GET /cart/{uuid}/checkout"}},
		{"hex ids, one all digits", []string{"/entries/5f2a9c0e1b3d4a5f6e7d8c9b", "/entries/123456789012345678901234"}, false,
			[]string{"GET /entries/{hex}"}},
		{"dates", []string{"/reports/2026-11-24", "/reports/2026-01-01"}, false, []string{"GET /reports/{date}"}},
		{"low-cardinality literals stay", []string{"/api/list", "/api/vote", "/api/leaderboard", "/"}, false,
			[]string{"GET /", "GET /api/leaderboard", "GET /api/list", "GET /api/vote"}},
		{"high-cardinality names become one parameter", names("/users/%s/profile"), false,
			[]string{"GET /users/{param}/profile"}},
		{"a shared extension is kept", names("/files/%s.pdf"), false, []string{"GET /files/{param}.pdf"}},
		{"a letter prefix before digits stays literal", ids("/users/user%d/profile", 12), false,
			[]string{"GET /users/user{int}/profile"}},
		{"an int with a literal prefix, on sight", []string{"/orders/ORD-00917", "/invoices/INV-2024-000123"}, false,
			[]string{"GET /invoices/INV-{int}-{int}", "GET /orders/ORD-{int}"}},
		{"typed cores with a prefix and a suffix", []string{"/r/report-2026-11-24.pdf", "/r/report-2026-11-25.pdf", "/b/backup-5f2a9c0e1b3d.tar.gz"}, false,
			[]string{"GET /b/backup-{hex}.tar.gz", "GET /r/report-{date}.pdf"}},
		{"emails are one parameter, whatever the domain", []string{"/users/jane.doe@corp.example.com", "/users/x@y.io/keys"}, false,
			[]string{"GET /users/{email}", "GET /users/{email}/keys"}},
		{"content-hashed assets", append(randomIDs("/assets/styles.%s.css", 12, -8), append(randomIDs("/assets/chunk-%s.js", 12, -8), "/assets/favicon.ico", "/assets/robots.txt")...), false,
			[]string{"GET /assets/chunk-{hex:8}.js", "GET /assets/favicon.ico", "GET /assets/robots.txt", "GET /assets/styles.{hex:8}.css"}},
		{"short hashes in a longer name", randomIDs("/js/main.%s.bundle.js", 12, -4), false, []string{"GET /js/main.{hex:4}.bundle.js"}},
		{"random ids after a literal prefix", randomIDs("/customers/cus_%s", 12, 10), false, []string{"GET /customers/cus_{alnum:10}"}},
		{"a few alphabetic prefixes stay literal", append(randomIDs("/docs/ord_%s", 8, 6), randomIDs("/docs/inv_%s", 8, 6)...), false,
			[]string{"GET /docs/inv_{alnum:6}", "GET /docs/ord_{alnum:6}"}},
		{"hashes that happen to be all digits join the hex ones, at their one length", append(randomIDs("/c/chunk-%s.js", 12, -8), "/c/chunk-12345678.js"), false,
			[]string{"GET /c/chunk-{hex:8}.js"}},
		{"hashes of other lengths join as any length", append(randomIDs("/c/chunk-%s.js", 12, -8), "/c/chunk-123456789.js"), false,
			[]string{"GET /c/chunk-{hex}.js"}},
		{"long hex ids of one length are that long", randomIDs("/blobs/%s", 10, -24), false, []string{"GET /blobs/{hex:24}"}},
		{"long hex ids of several lengths are any length", append(randomIDs("/blobs/%s", 9, -24), randomIDs("/blobs/%s", 1, -40)...), false,
			[]string{"GET /blobs/{hex}"}},
		{"too few long hex ids to fix their length", randomIDs("/blobs/%s", 9, -24), false, []string{"GET /blobs/{hex}"}},
		{"query strings are not part of the path", []string{"/search?q=a", "/search?q=b"}, false, []string{"GET /search"}},
		{"gRPC is never templated", []string{"/pkg.v1.Svc/Get1", "/pkg.v1.Svc/Get2"}, true,
			[]string{"GET /pkg.v1.Svc/Get1", "GET /pkg.v1.Svc/Get2"}},
		{"gRPC shape without the flag", []string{"/emojivoto.v1.EmojiService/ListAll"}, false,
			[]string{"GET /emojivoto.v1.EmojiService/ListAll"}},
		{"trailing slash is its own path", []string{"/a/", "/a"}, false, []string{"GET /a", "GET /a/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var samples []Sample
			for _, p := range tc.paths {
				samples = append(samples, Sample{Method: "GET", Path: p, Requests: 1})
			}
			got := Infer(samples, DefaultOptions(), tc.grpc)
			if !slices.Equal(patterns(got), tc.want) {
				t.Errorf("templates = %q, want %q", patterns(got), tc.want)
			}
			covers(t, samples, got)
		})
	}
}

// randomIDs formats n random alphanumeric ids of length l (hex ids of
// length -l when l < 0), each with a letter and a digit, so none is typed
// on sight.
func randomIDs(format string, n, l int) []string {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(l+100)))
	alphabet, letter := "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", byte('g')
	if l < 0 {
		alphabet, letter, l = "0123456789abcdef", 'e', -l
	}
	var out []string
	for range n {
		b := []byte{letter, '7'}
		for len(b) < l {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		out = append(out, fmt.Sprintf(format, b))
	}
	return out
}

func TestGRPCTemplatesNameServiceAndMethod(t *testing.T) {
	got := Infer([]Sample{{Method: "POST", Path: "/emojivoto.v1.VotingService/VoteJoy", Requests: 3}}, DefaultOptions(), true)
	if len(got) != 1 || got[0].GRPCService != "emojivoto.v1.VotingService" || got[0].GRPCMethod != "VoteJoy" || got[0].Requests != 3 {
		t.Errorf("templates = %+v", got)
	}
	// A service without a package is a gRPC method on a gRPC server, and a
	// two-segment path elsewhere.
	got = Infer([]Sample{{Method: "POST", Path: "/Greeter/SayHello", Requests: 1}}, DefaultOptions(), true)
	if len(got) != 1 || got[0].GRPCService != "Greeter" || got[0].GRPCMethod != "SayHello" {
		t.Errorf("package-less gRPC method: templates = %+v", got)
	}
	got = Infer([]Sample{{Method: "POST", Path: "/Greeter/SayHello", Requests: 1}}, DefaultOptions(), false)
	if len(got) != 1 || got[0].GRPCService != "" {
		t.Errorf("on an HTTP server: templates = %+v", got)
	}
}

func TestProbesStayExactAndMergeWithClients(t *testing.T) {
	got := Infer([]Sample{
		{Method: "GET", Path: "/ping", Requests: 5, Probe: true},
		{Method: "GET", Path: "/ping", Requests: 2},
	}, DefaultOptions(), false)
	if len(got) != 1 || got[0].Match != MatchExact || got[0].Requests != 7 || !got[0].Probe {
		t.Errorf("templates = %+v, want one exact probe route with all 7 requests", got)
	}
}

// TestHostilePathsCannotWidenRules feeds paths full of regular expression
// syntax, percent-encoding, unicode and a 10 KB segment: each must be
// matched by its template and the templates must match nothing that
// differs in a literal.
func TestHostilePathsCannotWidenRules(t *testing.T) {
	paths := []string{"/a.*", "/(x|y)", "/[abc]+", `/back\slash`, "/%2e%2e/etc", "/ünïcode/ß", "/" + strings.Repeat("x", 10_000), "/q$", "/^start", "/{int}"}
	var samples []Sample
	for _, p := range paths {
		samples = append(samples, Sample{Method: "GET", Path: p, Requests: 1})
	}
	got := Infer(samples, DefaultOptions(), false)
	covers(t, samples, got)
	for _, tm := range got {
		if tm.Match != MatchExact {
			continue
		}
		re := regexp.MustCompile("^(?:" + tm.ProfileRegex + ")$")
		if !re.MatchString(tm.Value) || re.MatchString(tm.Value+"x") || (len(tm.Value) > 2 && re.MatchString(tm.Value[:len(tm.Value)-1]+"Z")) {
			t.Errorf("profile regex %q of %q matches more than its path", tm.ProfileRegex, tm.Value)
		}
	}
}

// TestEscapingAroundParameters: literals with regular expression syntax
// next to parameters are escaped in both the route's expression (which
// Linkerd matches against the whole path) and the ServiceProfile's, so
// each template matches its own paths and rejects paths that differ only
// where a metacharacter would have matched something else.
func TestEscapingAroundParameters(t *testing.T) {
	for _, tc := range []struct {
		format     string // one %d for the id
		lookAlikes []string
	}{
		{"/v1.0/items/%d", []string{"/v1x0/items/7", "/v100/items/7"}},
		{"/a+b/%d", []string{"/aab/7", "/aaab/7", "/b/7"}},
		{"/(x|y)/%d", []string{"/x/7", "/y/7"}},
		{"/[abc]/%d", []string{"/a/7", "/c/7"}},
		{"/star*/%d", []string{"/sta/7", "/starr/7"}},
		{"/d$/%d", []string{"/d/7"}},
		{"/^c/%d", []string{"/c/7"}},
		{`/back\d/%d`, []string{"/back5/7", "/backd/7"}},
		{"/{x}/%d", []string{"/x/7", "/{xx}/7"}},
		{"/items/%d.json", []string{"/items/7xjson", "/items/7.jsonx", "/items/7"}},
		{"/items/%d/a.b", []string{"/items/7/axb"}},
		{"/items/%d/(v)+", []string{"/items/7/v", "/items/7/vv"}},
	} {
		var samples []Sample
		for i := range 3 {
			samples = append(samples, Sample{Method: "GET", Path: fmt.Sprintf(tc.format, 100+i), Requests: 1})
		}
		got := Infer(samples, DefaultOptions(), false)
		if len(got) != 1 || got[0].Match != MatchRegularExpression {
			t.Errorf("%s: templates %q, want one with a parameter", tc.format, patterns(got))
			continue
		}
		for name, expr := range map[string]string{"route": got[0].Value, "profile": got[0].ProfileRegex} {
			re := regexp.MustCompile("^(?:" + expr + ")$")
			for _, s := range samples {
				if !re.MatchString(s.Path) {
					t.Errorf("%s: %s expression %q rejects its own path %q", tc.format, name, expr, s.Path)
				}
			}
			for _, p := range tc.lookAlikes {
				if re.MatchString(p) {
					t.Errorf("%s: %s expression %q matches the look-alike %q", tc.format, name, expr, p)
				}
			}
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{MinDistinct: 1, HexMinLength: 12}).Validate(); err == nil || !strings.Contains(err.Error(), "--route-min-distinct") {
		t.Errorf("MinDistinct 1: err = %v", err)
	}
	if err := (Options{MinDistinct: 10, HexMinLength: 2}).Validate(); err == nil || !strings.Contains(err.Error(), "--route-hex-min-length") {
		t.Errorf("HexMinLength 2: err = %v", err)
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Error(err)
	}
}

// truthRoutes reads the .truth.yaml flows as "server port" -> "METHOD
// template" set.
func truthRoutes(t *testing.T, app string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, f := range truth.ReadFile(t, fixtures.Path(t, app+".truth.yaml")) {
		k := fmt.Sprintf("%s %d", f.To, f.Port)
		if r := f.Method + " " + f.Route; !slices.Contains(out[k], r) {
			out[k] = append(out[k], r)
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// TestUpstreamTemplatesEqualTruth records the upstream tap streams and
// checks that the templates recovered for every server port are exactly
// the route templates the traffic was generated from.
func TestUpstreamTemplatesEqualTruth(t *testing.T) {
	for _, app := range []string{"emojivoto", "booksapp"} {
		rec := recorded.Upstream(t, app)
		samples := map[string][]Sample{}
		grpc := map[string]bool{}
		for _, e := range rec.Edges {
			k := fmt.Sprintf("%s %d", e.Server, e.Port)
			grpc[k] = grpc[k] || e.Protocol == recording.ProtocolGRPC
			for _, r := range e.Routes {
				samples[k] = append(samples[k], Sample{Method: r.Method, Path: r.Path, Requests: r.Requests, Probe: r.Probe, Template: r.Template})
			}
		}
		truth := truthRoutes(t, app)
		raw := 0
		for k, want := range truth {
			got := Infer(samples[k], DefaultOptions(), grpc[k])
			covers(t, samples[k], got)
			readsBack(t, got, grpc[k])
			p := patterns(got)
			slices.Sort(p)
			if !slices.Equal(p, want) {
				t.Errorf("%s %s: templates\n  %q\nwant\n  %q", app, k, p, want)
			}
			raw += len(samples[k])
		}
		ours := 0
		for k := range truth {
			ours += len(Infer(samples[k], DefaultOptions(), grpc[k]))
		}
		viz, err := os.ReadFile(fixtures.Path(t, app+".viz-profile-routes.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d distinct (method, path) samples -> %d templates; linkerd viz profile --tap wrote %d routes",
			app, raw, ours, strings.Count(string(viz), "\n  name: "))
	}
}

// redact turns templates into the samples a redacted recording holds.
// streamed folds raw samples into templates as the recorder does below
// its route limit: typed on sight, with the evidence of each parameter.
func streamed(samples []Sample) []Sample {
	var out []Sample
	index := map[[2]string]int{}
	for _, s := range samples {
		if !Expressible(s.Path) {
			continue // as Infer leaves it out
		}
		path, _, _ := strings.Cut(s.Path, "?")
		key := string(pathseg.AppendPath(nil, path, pathseg.DefaultHexMinLength))
		if pathseg.IsLiteral(key) {
			out = append(out, Sample{Method: s.Method, Path: path, Requests: s.Requests})
			continue
		}
		k := [2]string{s.Method, key}
		i, ok := index[k]
		if !ok {
			segs := pathseg.ParsePath(key)
			i = len(out)
			index[k] = i
			out = append(out, Sample{Method: s.Method, Path: key, Template: true, Params: make([]pathseg.Evidence, pathseg.Params(segs))})
		}
		out[i].Requests += s.Requests
		if !pathseg.AddPathValues(pathseg.ParsePath(key), path, out[i].Params) {
			panic(fmt.Sprintf("%q is not a path of its own template %q", path, key))
		}
	}
	return out
}

func redact(ts []Template) []Sample {
	var out []Sample
	for _, tm := range ts {
		out = append(out, Sample{Method: tm.Method, Path: tm.Redacted, Requests: tm.Requests, Probe: tm.Probe, Template: true})
	}
	return out
}

// readsBack checks that templates read back from their redacted form infer
// to themselves, and that each template's Example is matched by it alone.
func readsBack(t *testing.T, ts []Template, grpc bool) {
	t.Helper()
	again := Infer(redact(ts), DefaultOptions(), grpc)
	if a, b := patterns(again), patterns(ts); !slices.Equal(a, b) {
		t.Errorf("read back from the redacted form: templates %q, want %q", a, b)
	}
	for _, tm := range ts {
		ex := Sample{Method: tm.Method, Path: pathseg.ExamplePath(tm.Redacted)}
		var hits []string
		for _, o := range ts {
			if o.Method == tm.Method && (o.Match == MatchExact && o.Value == ex.Path ||
				o.Match == MatchRegularExpression && regexp.MustCompile("^(?:"+o.Value+")$").MatchString(ex.Path)) {
				hits = append(hits, o.Pattern)
			}
		}
		if len(hits) != 1 || hits[0] != tm.Pattern {
			t.Errorf("example %q of %q is matched by %q, want only its template", ex.Path, tm.Pattern, hits)
		}
	}
}

func TestRedactedTemplatesReadBack(t *testing.T) {
	var samples []Sample
	for _, p := range []string{"/books/1.json", "/books/22.json", "/{int}/x", "/{{a}}", "/a/{param}", "/files/report.pdf", "/files/summary.pdf"} {
		samples = append(samples, Sample{Method: "GET", Path: p, Requests: 1})
	}
	for i := range 12 {
		samples = append(samples, Sample{Method: "GET", Path: fmt.Sprintf("/users/u%c/profile", 'a'+i), Requests: 1})
	}
	got := Infer(samples, DefaultOptions(), false)
	readsBack(t, got, false)
	want := []string{"GET /a/{param}", "GET /books/{int}.json", "GET /files/report.pdf", "GET /files/summary.pdf", "GET /users/{param}/profile", "GET /{int}/x", "GET /{{a}}"}
	if p := patterns(got); !slices.Equal(p, want) {
		t.Errorf("templates %q, want %q", p, want)
	}
	// A literal segment that looks like a parameter stays literal when
	// read back: "/{int}/x" matches only itself.
	for _, tm := range got {
		if tm.Pattern == "/{int}/x" && (tm.Match != MatchExact || tm.Redacted != "/{{int}}/x") {
			t.Errorf("literal /{int}/x became %+v", tm)
		}
	}
	// A redacted {param} next to raw literals absorbs them, so no two
	// templates overlap.
	mixed := append(redact(got), Sample{Method: "GET", Path: "/users/new/profile", Requests: 1})
	if p := patterns(Infer(mixed, DefaultOptions(), false)); !slices.Equal(p, want) {
		t.Errorf("redacted plus /users/new/profile: %q, want %q", p, want)
	}
}

func FuzzInfer(f *testing.F) {
	f.Add("/books/1.json\n/books/2.json\n/books.json", false)
	f.Add("/a.*\n/(x|y)\n/%2e", false)
	f.Add("/pkg.Svc/M\n/pkg.Svc/N", true)
	f.Fuzz(func(t *testing.T, paths string, grpc bool) {
		var samples []Sample
		seen := map[string]bool{}
		for _, p := range strings.Split(paths, "\n") {
			key, _, _ := strings.Cut(p, "?")
			if !strings.HasPrefix(key, "/") {
				key = "/" + key
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			samples = append(samples, Sample{Method: "GET", Path: p, Requests: 1})
		}
		got := Infer(samples, DefaultOptions(), grpc)
		covers(t, samples, got)
		readsBack(t, got, grpc)
		// Half the paths redacted, the other half raw (two windows, one
		// recorded with --redact): the same templates as all raw.
		half := len(samples) / 2
		mixed := append(redact(Infer(samples[:half], DefaultOptions(), grpc)), samples[half:]...)
		if a, b := patterns(Infer(mixed, DefaultOptions(), grpc)), patterns(got); !slices.Equal(a, b) {
			t.Errorf("half redacted: templates %q, all raw: %q", a, b)
		}
		// Folded as the recorder folds them as they stream by (evidence
		// and all): the same templates as from the raw paths.
		if !grpc {
			if a, b := inferred(Infer(streamed(samples), DefaultOptions(), false)), inferred(got); !slices.Equal(a, b) {
				t.Errorf("streamed: templates %q, raw: %q", a, b)
			}
		}
		for _, tm := range got {
			if tm.Match == MatchRegularExpression {
				if _, err := regexp.Compile(tm.Value); err != nil {
					t.Errorf("template %q: %v", tm.Value, err)
				}
			}
		}
	})
}

// TestHexMinimumLength: a hex-looking segment of exactly the minimum
// length is an id, one character shorter stays literal.
func TestHexMinimumLength(t *testing.T) {
	for _, tc := range []struct {
		segment string
		want    string
	}{
		{"5f2a9c0e1b3d", "GET /objects/{hex}"},
		{"5f2a9c0e1b3", "GET /objects/5f2a9c0e1b3"},
	} {
		got := Infer([]Sample{{Method: "GET", Path: "/objects/" + tc.segment, Requests: 1}}, Options{MinDistinct: 10, HexMinLength: 12}, false)
		if len(got) != 1 || got[0].Method+" "+got[0].Pattern != tc.want {
			t.Errorf("%s: templates %+v, want %s", tc.segment, got, tc.want)
		}
	}
}
