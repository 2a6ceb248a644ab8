package synth

import (
	"regexp"
	"strings"
	"testing"
)

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestDNSLabel(t *testing.T) {
	long := strings.Repeat("very-long-workload-name", 4)
	for _, tc := range []struct {
		parts []string
		want  string
	}{
		{[]string{"web", "http"}, "web-http"},
		{[]string{"Web_API", "8080"}, "web-api-8080"},
		{[]string{"--a..b--", "GET /books/{int}.json"}, "a-b-get-books-int-json"},
		{[]string{"", "/"}, "x"},
		{[]string{"héllo", "wörld"}, "h-llo-w-rld"},
	} {
		if got := dnsLabel(tc.parts...); got != tc.want {
			t.Errorf("dnsLabel(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
	a, b := dnsLabel(long, "a"), dnsLabel(long, "b")
	if a == b || len(a) > maxName || len(b) > maxName || !dns1123.MatchString(a) || !dns1123.MatchString(b) {
		t.Errorf("long names %q and %q: want distinct valid labels of at most 63 characters", a, b)
	}
	if dnsLabel(long, "a") != a {
		t.Errorf("dnsLabel is not deterministic")
	}
}

func TestNamerResolvesCollisionsInOrder(t *testing.T) {
	n := newNamer()
	got := []string{
		n.name("Server", "shop", "web", "http"),
		n.name("Server", "shop", "web.http"),
		n.name("Server", "other", "web", "http"),
		n.name("HTTPRoute", "shop", "web", "http"),
		n.name("Server", "shop", "web-http"),
	}
	want := []string{"web-http", "web-http-2", "web-http", "web-http", "web-http-3"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("names = %q, want %q", got, want)
			break
		}
	}
	long := strings.Repeat("x", 70)
	first, second := n.name("Server", "shop", long), n.name("Server", "shop", long)
	if first == second || len(second) > maxName || !dns1123.MatchString(second) {
		t.Errorf("colliding long names %q, %q", first, second)
	}
}
