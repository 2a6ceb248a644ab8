package recording

import (
	"strings"
	"testing"
)

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Identity
		ok   bool
	}{
		{"web.emojivoto.serviceaccount.identity.linkerd.cluster.local", Identity{"web", "emojivoto", "linkerd", "cluster.local"}, true},
		{"*.emojivoto.serviceaccount.identity.linkerd.cluster.local", Identity{"*", "emojivoto", "linkerd", "cluster.local"}, true},
		{"my.sa.shop.serviceaccount.identity.l5d.example.org", Identity{"my.sa", "shop", "l5d", "example.org"}, true},
		// A service account named like the marker: the last valid split wins.
		{"a.serviceaccount.identity.b.ns.serviceaccount.identity.linkerd.cluster.local", Identity{"a.serviceaccount.identity.b", "ns", "linkerd", "cluster.local"}, true},
		// The last occurrence leaves no trust domain, so the one before it is used.
		{"sa.ns.serviceaccount.identity.linkerd.serviceaccount.identity.", Identity{"sa", "ns", "linkerd", "serviceaccount.identity."}, true},
		{"spiffe://cluster.local/ns/web/sa/web", Identity{}, false},
		{"spiffe://web.ns.serviceaccount.identity.linkerd.cluster.local", Identity{}, false},
		{"web.emojivoto.svc.cluster.local", Identity{}, false},
		{"emojivoto.serviceaccount.identity.linkerd.cluster.local", Identity{}, false},
		{".emojivoto.serviceaccount.identity.linkerd.cluster.local", Identity{}, false},
		{"web..serviceaccount.identity.linkerd.cluster.local", Identity{}, false},
		{"web.emojivoto.serviceaccount.identity.linkerd", Identity{}, false},
		{"web.emojivoto.serviceaccount.identity..cluster.local", Identity{}, false},
		{"web.emojivoto.serviceaccount.identity.linkerd.", Identity{}, false},
		{"", Identity{}, false},
	} {
		got, ok := ParseIdentity(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseIdentity(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok && got.String() != tc.in {
			t.Errorf("ParseIdentity(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestServiceAccountIdentityDefaults(t *testing.T) {
	if got, want := ServiceAccountIdentity("web", "shop", "", "").String(), "web.shop.serviceaccount.identity.linkerd.cluster.local"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := ServiceAccountIdentity("web", "shop", "l5d", "example.org").String(), "web.shop.serviceaccount.identity.l5d.example.org"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMatchIdentity(t *testing.T) {
	const web = "web.shop.serviceaccount.identity.linkerd.cluster.local"
	for _, tc := range []struct {
		pattern, identity string
		want              bool
	}{
		{web, web, true},
		{web, "api.shop.serviceaccount.identity.linkerd.cluster.local", false},
		{"*", web, true},
		{"*", "", false},
		{"*.shop.serviceaccount.identity.linkerd.cluster.local", web, true},
		{"*.shop.serviceaccount.identity.linkerd.cluster.local", "a.b.shop.serviceaccount.identity.linkerd.cluster.local", true},
		// Suffixes match whole labels.
		{"*.shop.serviceaccount.identity.linkerd.cluster.local", "web.myshop.serviceaccount.identity.linkerd.cluster.local", false},
		{"*.shop.serviceaccount.identity.linkerd.cluster.local", "shop.serviceaccount.identity.linkerd.cluster.local", false},
		// A suffix anchors at the end: an identity that only contains it does not match.
		{"*.shop.serviceaccount.identity.linkerd.cluster.local", "web.shop.serviceaccount.identity.linkerd.cluster.local.evil.org", false},
		{"*.cluster.local", web, true},
		// SPIFFE IDs match exactly only.
		{"*", "spiffe://cluster.local/ns/shop/sa/web", false},
		{"*.local/ns/shop/sa/web", "spiffe://cluster.local/ns/shop/sa/web", false},
		{"spiffe://cluster.local/ns/shop/sa/web", "spiffe://cluster.local/ns/shop/sa/web", true},
		// "*" only leads a wildcard as a whole label.
		{"*shop.serviceaccount.identity.linkerd.cluster.local", web, false},
	} {
		if got := MatchIdentity(tc.pattern, tc.identity); got != tc.want {
			t.Errorf("MatchIdentity(%q, %q) = %v, want %v", tc.pattern, tc.identity, got, tc.want)
		}
	}
}

func TestIdentityPeer(t *testing.T) {
	const web = "web.shop.serviceaccount.identity.linkerd.cluster.local"
	p := IdentityPeer(web)
	if p != "identity:"+web {
		t.Errorf("IdentityPeer = %q", p)
	}
	if got, ok := p.Identity(); !ok || got != web {
		t.Errorf("Identity() = %q, %v", got, ok)
	}
	if got, ok := PeerID("shop/web").Identity(); ok {
		t.Errorf("a workload ID named identity %q", got)
	}
}

// FuzzParseIdentity: whatever parses writes back as it was read, its
// namespace and control plane namespace are single labels, and the
// wildcard for its namespace admits it.
func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{
		"web.emojivoto.serviceaccount.identity.linkerd.cluster.local",
		"*.ns.serviceaccount.identity.linkerd.cluster.local",
		"a.serviceaccount.identity.b.ns.serviceaccount.identity.linkerd.cluster.local",
		"sa.ns.serviceaccount.identity.linkerd.serviceaccount.identity.",
		"spiffe://td/ns/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseIdentity(s)
		if !ok {
			return
		}
		if id.String() != s {
			t.Fatalf("ParseIdentity(%q).String() = %q", s, id.String())
		}
		if id.ServiceAccount == "" || id.Namespace == "" || id.ControlPlane == "" || id.TrustDomain == "" ||
			strings.Contains(id.Namespace, ".") || strings.Contains(id.ControlPlane, ".") {
			t.Fatalf("ParseIdentity(%q) = %+v", s, id)
		}
		all := Identity{ServiceAccount: "*", Namespace: id.Namespace, ControlPlane: id.ControlPlane, TrustDomain: id.TrustDomain}
		if !MatchIdentity(all.String(), s) {
			t.Fatalf("%s does not admit %s", all, s)
		}
	})
}
