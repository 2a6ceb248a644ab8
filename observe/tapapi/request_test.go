package tapapi

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	fixtures "github.com/cinchmesh/cinch/fixtures/upstream"
)

// TestReproducesUpstreamRequests checks URL and body against requests the
// upstream linkerd CLI code encoded for the same parameters.
func TestReproducesUpstreamRequests(t *testing.T) {
	data := fixtures.Read(t, "tap-requests.json")
	var cases []struct {
		Params struct {
			Resource, Namespace, ToResource, ToNamespace string
			MaxRps                                       float32
			Scheme, Method, Authority, Path              string
			Extract                                      bool
			LabelSelector                                string
		}
		URL        string `json:"url"`
		BodyBase64 string `json:"bodyBase64"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases in tap-requests.json")
	}
	for _, c := range cases {
		t.Run(c.Params.Resource, func(t *testing.T) {
			target, err := ParseTarget(c.Params.Resource)
			if err != nil {
				t.Fatal(err)
			}
			p := Params{
				Target: target, Namespace: c.Params.Namespace, ToNamespace: c.Params.ToNamespace,
				MaxRPS: c.Params.MaxRps, Scheme: c.Params.Scheme, Method: c.Params.Method,
				Authority: c.Params.Authority, Path: c.Params.Path, Extract: c.Params.Extract,
				LabelSelector: c.Params.LabelSelector,
			}
			if c.Params.ToResource != "" {
				to, err := ParseTarget(c.Params.ToResource)
				if err != nil {
					t.Fatal(err)
				}
				p.To = &to
			}
			if got := p.URL(); got != c.URL {
				t.Errorf("URL = %s, want %s", got, c.URL)
			}
			if got := base64.StdEncoding.EncodeToString(p.Body()); got != c.BodyBase64 {
				t.Errorf("body = %s, want %s", got, c.BodyBase64)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]Target{
		"deploy/web":  {"deployment", "web"},
		"ns/shop":     {"namespace", "shop"},
		"sts":         {"statefulset", ""},
		"Pods/web-1":  {"pod", "web-1"},
		"cj/nightly":  {"cronjob", "nightly"},
		"rc/legacy-1": {"replicationcontroller", "legacy-1"},
	} {
		got, err := ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"svc/web", "deploy/a/b", "authority/x"} {
		if _, err := ParseTarget(in); err == nil || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseTarget(%q) error = %v, want one naming the target", in, err)
		}
	}
}

func TestParamsString(t *testing.T) {
	for _, tc := range []struct {
		p    Params
		want string
	}{
		{Params{Target: Target{Kind: "namespace", Name: "shop"}, Namespace: "other"}, "namespace/shop"},
		{Params{Target: Target{Kind: "deployment", Name: "web"}, Namespace: "shop", LabelSelector: "app=x"}, "deployment/web in namespace shop"},
		{Params{Target: Target{Kind: "statefulset"}, Namespace: "shop"}, "statefulsets in namespace shop"},
		{Params{Target: Target{Kind: "deployment"}, Namespace: "shop", LabelSelector: "tier=backend"}, "deployments in namespace shop matching -l tier=backend"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: String() = %q, want %q", tc.p, got, tc.want)
		}
	}
}
