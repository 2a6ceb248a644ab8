package intents

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

const example = `apiVersion: cinch.cinchmesh.io/v1alpha1
kind: Intents
intents:
- client: {serviceAccount: backup/restore}
  server: shop/orders
  port: 8080
  routes:
  - {method: GET, path: "/export/{int}"}
  reason: quarterly disaster-recovery drill
- client: {network: 10.20.0.0/24}
  server: shop/orders
  port: 8080
  reason: the batch network's nightly export
- client: {workload: billing/invoicer}
  server: shop/catalog
  port: 9090
  reason: month-end invoicing
`

func TestParseAndWriteRoundTrip(t *testing.T) {
	f, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Intents) != 3 {
		t.Fatalf("got %d intents, want 3", len(f.Intents))
	}
	if got := f.Intents[1].Line; got != 10 {
		t.Errorf("second intent starts on line %d, want 10", got)
	}
	if got := f.Intents[0].String(); got != "sa backup/restore -> shop/orders:8080" {
		t.Errorf("String() = %q", got)
	}
	var out bytes.Buffer
	if err := Write(&out, f.Intents); err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out.Bytes())
	if err != nil {
		t.Fatalf("written file does not read back: %v\n%s", err, out.String())
	}
	var again bytes.Buffer
	if err := Write(&again, back.Intents); err != nil {
		t.Fatal(err)
	}
	if out.String() != again.String() {
		t.Errorf("write is not stable:\n%s\n---\n%s", out.String(), again.String())
	}
	// Sorted by server, port, client.
	if back.Intents[0].Server != "shop/catalog" || back.Intents[1].Client.Network != "10.20.0.0/24" {
		t.Errorf("written order: %+v", back.Intents)
	}
}

func TestParseErrors(t *testing.T) {
	head := "apiVersion: cinch.cinchmesh.io/v1alpha1\nkind: Intents\nintents:\n"
	for _, tc := range []struct {
		name, body, want string
	}{
		{"no reason", "- {client: {serviceAccount: a/b}, server: s/x, port: 80}\n", "line 4: intent 1: sa a/b -> s/x:80: reason is empty"},
		{"two clients", "- {client: {serviceAccount: a/b, network: 10.0.0.0/8}, server: s/x, port: 80, reason: r}\n", "exactly one of"},
		{"no client", "- {server: s/x, port: 80, reason: r}\n", "exactly one of"},
		{"every address", "- {client: {network: 0.0.0.0/0}, server: s/x, port: 80, reason: r}\n", "grants every address"},
		{"host bits", "- {client: {network: 10.1.2.3/8}, server: s/x, port: 80, reason: r}\n", "write 10.0.0.0/8"},
		{"bad server", "- {client: {serviceAccount: a/b}, server: x, port: 80, reason: r}\n", "want namespace/name"},
		{"bad namespace", "- {client: {serviceAccount: A_B/b}, server: s/x, port: 80, reason: r}\n", "not a namespace name"},
		{"no port", "- {client: {serviceAccount: a/b}, server: s/x, reason: r}\n", "port 0"},
		{"relative path", "- {client: {serviceAccount: a/b}, server: s/x, port: 80, routes: [{path: x}], reason: r}\n", "absolute path"},
		{"query", "- {client: {serviceAccount: a/b}, server: s/x, port: 80, routes: [{path: \"/x?a=1\"}], reason: r}\n", "query string"},
		{"method", "- {client: {serviceAccount: a/b}, server: s/x, port: 80, routes: [{method: get, path: /x}], reason: r}\n", "upper-case"},
		{"typo", "- {client: {serviceAccount: a/b}, server: s/x, port: 80, reasons: r}\n", "field reasons not found"},
		{"twice", "- {client: {serviceAccount: a/b}, server: s/x, port: 80, reason: r}\n- {client: {serviceAccount: a/b}, server: s/x, port: 80, reason: q}\n", "line 5: intent 2: sa a/b -> s/x:80 is declared again (first as intent 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(head + tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := Parse([]byte("apiVersion: v1\nkind: ConfigMap\n")); err == nil || !strings.Contains(err.Error(), "want apiVersion cinch.cinchmesh.io/v1alpha1") {
		t.Errorf("other kind: err = %v", err)
	}
	if _, err := Parse(nil); err == nil || !strings.Contains(err.Error(), "empty file") {
		t.Errorf("empty: err = %v", err)
	}
}

// TestDocumentedExample keeps the example in docs/synth.md valid.
func TestDocumentedExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/synth.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\napiVersion: cinch.cinchmesh.io/v1alpha1\nkind: Intents\n")
	if !ok {
		t.Fatal("docs/synth.md has no intents example")
	}
	body, _, _ := strings.Cut(rest, "```")
	f, err := Parse([]byte("apiVersion: cinch.cinchmesh.io/v1alpha1\nkind: Intents\n" + body))
	if err != nil {
		t.Fatalf("the documented example does not parse: %v", err)
	}
	if len(f.Intents) != 3 || f.Intents[0].Routes[0].Path != "/export/{int}" {
		t.Errorf("documented example read as %+v", f.Intents)
	}
}
