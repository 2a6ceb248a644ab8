package stage

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/policy"
)

func TestLadder(t *testing.T) {
	want := []string{"open", "namespace/audit", "namespace/enforce", "serviceaccount/audit", "serviceaccount/enforce",
		"route/audit", "route/enforce", "default-deny"}
	s := Open
	var got []string
	for i := 0; ; i++ {
		got = append(got, s.String())
		if s.Rank() != i {
			t.Errorf("%s: rank %d, want %d", s, s.Rank(), i)
		}
		n, ok := s.Next()
		if !ok {
			break
		}
		s = n
	}
	if !slices.Equal(want, got) {
		t.Errorf("ladder %v, want %v", got, want)
	}
	if !s.Final() {
		t.Errorf("%s is not final", s)
	}
	if _, ok := Custom.Next(); ok || Custom.Rank() >= 0 {
		t.Errorf("custom policy has a next step or ranks on the ladder")
	}
}

func TestDefaultDenyStaysOn(t *testing.T) {
	s := Stage{Level: synth.LevelServiceAccount, Mode: synth.ModeEnforce, DefaultDeny: true}
	n, ok := s.Next()
	if !ok || n.String() != "route/audit+default-deny" {
		t.Errorf("next of %s = %s, %v; want route/audit+default-deny", s, n, ok)
	}
	if s.Rank() != 4 {
		t.Errorf("default deny at service-account level changed the rank: %d", s.Rank())
	}
}

func TestParse(t *testing.T) {
	for _, text := range []string{"open", "custom", "namespace/audit", "route/enforce", "default-deny",
		"serviceaccount/enforce+default-deny", "open+default-deny"} {
		s, err := Parse(text)
		if err != nil || s.String() != text {
			t.Errorf("Parse(%q) = %s, %v", text, s, err)
		}
	}
	for _, bad := range []string{"", "route", "route/allow", "namespace/audit+", "cluster/enforce"} {
		if s, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %s, want an error", bad, s)
		}
	}
	b, err := json.Marshal(struct{ S Stage }{Stage{Level: synth.LevelRoute, Mode: synth.ModeAudit}})
	if err != nil || string(b) != `{"S":"route/audit"}` {
		t.Errorf("json: %s, %v", b, err)
	}
	var back struct{ S Stage }
	if err := json.Unmarshal(b, &back); err != nil || back.S.String() != "route/audit" {
		t.Errorf("json back: %+v, %v", back, err)
	}
}

func server(ns, name string, managed bool, level, access string) policy.Server {
	s := policy.Server{Spec: policy.ServerSpec{Port: intstr.FromString("http"), AccessPolicy: access}}
	s.Namespace, s.Name = ns, name
	if managed {
		s.Labels = map[string]string{synth.LabelManagedBy: synth.ManagedBy}
	}
	if level != "" {
		s.Annotations = map[string]string{synth.AnnotationLevel: level}
	}
	return s
}

func TestOfServer(t *testing.T) {
	for _, c := range []struct {
		srv  policy.Server
		want string
	}{
		{server("a", "s", true, "namespace", "audit"), "namespace/audit"},
		{server("a", "s", true, "serviceaccount", "deny"), "serviceaccount/enforce"},
		{server("a", "s", true, "route", ""), "route/enforce"}, // the CRD default is deny
		{server("a", "s", false, "route", "audit"), "custom"},
		{server("a", "s", true, "", "audit"), "custom"},
		{server("a", "s", true, "cluster", "audit"), "custom"},
		{server("a", "s", true, "route", "all-unauthenticated"), "custom"},
	} {
		if got := OfServer(&c.srv).String(); got != c.want {
			t.Errorf("%+v: %s, want %s", c.srv.ObjectMeta, got, c.want)
		}
	}
}

func TestClassify(t *testing.T) {
	set := &policy.Set{Servers: []policy.Server{
		server("shop", "web", true, "serviceaccount", "deny"),
		server("shop", "db", true, "serviceaccount", "audit"),
		server("books", "api", true, "route", "deny"),
		server("legacy", "db", true, "namespace", "audit"),
		server("legacy", "hand", false, "", "deny"),
	}}
	got := Classify(Input{Policy: set, DefaultDeny: []string{"books", "legacy"}, Namespaces: []string{"fresh", "shop"}})
	summary := map[string]string{}
	for _, n := range got {
		summary[n.Name] = n.Stage.String()
		for _, s := range n.Servers {
			summary[n.Name+"/"+s.Name] = s.Stage.String()
		}
	}
	want := map[string]string{
		"books": "default-deny", "books/api": "default-deny",
		"fresh": "open",
		// Custom policy is never stepped, nor given default deny.
		"legacy": "custom", "legacy/db": "namespace/audit+default-deny", "legacy/hand": "custom",
		// The Server still in audit holds the namespace back.
		"shop": "serviceaccount/audit", "shop/db": "serviceaccount/audit", "shop/web": "serviceaccount/enforce",
	}
	if !maps.Equal(want, summary) {
		t.Errorf("stages %v, want %v", summary, want)
	}
	var names []string
	for _, n := range got {
		names = append(names, n.Name)
	}
	if !slices.Equal([]string{"books", "fresh", "legacy", "shop"}, names) {
		t.Errorf("order %v", names)
	}
}

func TestDefaultDenyNamespaces(t *testing.T) {
	set, err := policy.Read(strings.NewReader(`apiVersion: v1
kind: Namespace
metadata:
  name: shop
  annotations:
    config.linkerd.io/default-inbound-policy: deny
---
apiVersion: v1
kind: Namespace
metadata:
  name: books
  annotations:
    config.linkerd.io/default-inbound-policy: all-authenticated
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: deny
  annotations:
    config.linkerd.io/default-inbound-policy: deny
`), "ns.yaml", policy.ReadOptions{KeepOthers: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DefaultDenyNamespaces(set.Others)
	if err != nil || len(got) != 1 || got[0] != "shop" {
		t.Errorf("got %v, %v; want [shop]", got, err)
	}
}
