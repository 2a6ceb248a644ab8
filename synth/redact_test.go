package synth

import (
	"bytes"
	"reflect"
	"regexp"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/recorded"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/routes"
)

// TestRedactKeepsPolicyAndDropsIDs redacts the upstream recordings: no id
// the traffic carried is left, every edge keeps its requests, and the
// route-level policy synthesized from the redacted recording is the same,
// byte for byte, as from the raw one.
func TestRedactKeepsPolicyAndDropsIDs(t *testing.T) {
	ids := regexp.MustCompile(`/[0-9]+(\.json)?(/|$)`)
	for _, app := range []string{"booksapp", "emojivoto"} {
		t.Run(app, func(t *testing.T) {
			raw := recorded.Upstream(t, app)
			red := recorded.Upstream(t, app)
			Redact(red, routes.DefaultOptions())

			routed := 0
			for i, e := range red.Edges {
				if e.Requests != raw.Edges[i].Requests || sumRequests(e.Routes) != sumRequests(raw.Edges[i].Routes) {
					t.Errorf("%s -> %s:%d: %d requests, %d routed after redaction; %d, %d before", e.Client, e.Server, e.Port,
						e.Requests, sumRequests(e.Routes), raw.Edges[i].Requests, sumRequests(raw.Edges[i].Routes))
				}
				for _, r := range e.Routes {
					routed++
					if !r.Template {
						t.Errorf("%s %s: not a template", r.Method, r.Path)
					}
					if ids.MatchString(r.Path) {
						t.Errorf("%s %s: an id is left", r.Method, r.Path)
					}
				}
			}
			if routed == 0 {
				t.Fatal("no routes in the redacted recording")
			}
			for _, w := range red.Windows {
				if !w.Redacted {
					t.Errorf("window %s is not marked redacted", w.Source)
				}
			}

			// Synthesize's self-check also evaluates the redacted
			// recording against the policy: none of it may be denied.
			opts := options(LevelRoute)
			opts.ServiceProfiles = true
			want := synthesizeStream(t, raw, opts)
			got := synthesizeStream(t, red, opts)
			if !bytes.Equal(got, want) {
				t.Errorf("route-level policy from the redacted recording differs from the raw one's:\n%s", firstDiff(string(want), string(got)))
			}

			// Redacting again changes nothing.
			again := recorded.Upstream(t, app)
			Redact(again, routes.DefaultOptions())
			Redact(again, routes.DefaultOptions())
			a, _ := recording.Encode(again, recording.YAML)
			b, _ := recording.Encode(red, recording.YAML)
			if !bytes.Equal(a, b) {
				t.Errorf("redacting twice differs from once:\n%s", firstDiff(string(b), string(a)))
			}
		})
	}
}

func TestRedactDropsInexpressiblePaths(t *testing.T) {
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "file:x"}}
	rec.Edges = []recording.Edge{{Client: "a/x", Server: "a/y", Port: 80, Protocol: recording.ProtocolHTTP, Requests: 5,
		Routes: []recording.Route{{Method: "GET", Path: "/ok", Requests: 2}, {Method: "GET", Path: "/\xff", Requests: 3}}}}
	Redact(rec, routes.DefaultOptions())
	want := []recording.Route{{Method: "GET", Path: "/ok", Requests: 2, Template: true}}
	if got := rec.Edges[0].Routes; !reflect.DeepEqual(got, want) {
		t.Errorf("routes %+v, want %+v", got, want)
	}
	if n := rec.Windows[0].Warnings["redacted-inexpressible-path"]; n != 3 || rec.Edges[0].Requests != 5 {
		t.Errorf("warning counts %d, edge requests %d; want 3 and 5", n, rec.Edges[0].Requests)
	}
}

func synthesizeStream(t *testing.T, rec *recording.Recording, opts Options) []byte {
	t.Helper()
	res, err := Synthesize(rec, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteStream(&out, res); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
