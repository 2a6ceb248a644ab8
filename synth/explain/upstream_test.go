package explain

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/fixtures/upstream"
	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/tapstream"
	"github.com/cinchmesh/cinch/synth/eval"
)

// Every inbound request of the real Linkerd tap streams, explained against
// the policy that was live (none: the cluster default), must get the
// verdict and the srv/route/authz names the proxy labelled it with.
func TestUpstreamLiveLabels(t *testing.T) {
	for _, tc := range []struct {
		app            string
		requests, sets int
	}{{"booksapp", 3000, 2}, {"emojivoto", 1640, 1}} {
		app := tc.app
		t.Run(app, func(t *testing.T) {
			objs, err := cluster.ReadFile(upstream.Path(t, app+".cluster.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			inv := cluster.NewInventory(objs, cluster.Options{})
			x, err := New(Input{Workloads: inv.Workloads(nil), NamespacePolicies: objs.NamespacePolicies()})
			if err != nil {
				t.Fatal(err)
			}
			dec := tapstream.NewRawDecoder(bytes.NewReader(upstream.Read(t, app+".tap.bin.gz")), event.NewInterner(0))
			var ev event.Event
			checked, seen := 0, map[string]int{}
			for {
				ev.Reset()
				err := dec.Next(&ev)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if ev.Direction != event.Inbound || ev.Kind != event.RequestInit || ev.Policy.IsZero() {
					continue
				}
				pod, ok := inv.Pod(ev.Destination.IP)
				if !ok {
					t.Fatalf("destination %s is not a pod of the cluster objects", ev.Destination.IP)
				}
				q := Query{From: Client{Address: ev.Source.IP}, To: pod.Workload, Port: ev.Destination.Port,
					Method: ev.Method, Path: string(ev.Path)}
				if ev.Source.TLS == "true" {
					q.From.Identity = ev.Source.Identity
				}
				ex, err := x.Explain(q)
				if err != nil {
					t.Fatal(err)
				}
				p := ev.Policy
				want := eval.Decision{Allowed: true, Reason: eval.ReasonAuthorized,
					Server:        eval.Ref{Group: p.ServerGroup, Kind: p.ServerKind, Name: p.ServerName},
					Route:         eval.Ref{Group: p.RouteGroup, Kind: p.RouteKind, Name: p.RouteName},
					Authorization: eval.Ref{Group: p.AuthzGroup, Kind: p.AuthzKind, Name: p.AuthzName}}
				if got := ex.Trace.Decision; got != want {
					t.Fatalf("%s -> %s:%d %s %s: explained %+v, the proxy labelled %+v", ev.Source.IP, pod.Workload, q.Port, q.Method, q.Path, got, want)
				}
				var out strings.Builder
				if err := Text(&out, ex); err != nil {
					t.Fatal(err)
				}
				for _, l := range []string{labels("srv", want.Server), labels("route", want.Route), labels("authz", want.Authorization), "verdict   ALLOWED"} {
					if !strings.Contains(out.String(), l) {
						t.Fatalf("the explanation does not say %q:\n%s", l, out.String())
					}
				}
				checked++
				seen[want.Server.String()+" "+want.Route.String()+" "+want.Authorization.String()]++
			}
			t.Logf("%s: %d requests agree: %v", app, checked, seen)
			if checked != tc.requests || len(seen) != tc.sets {
				t.Fatalf("%d requests with %d label sets, want %d with %d (booksapp's kubelet probes get the probe route)", checked, len(seen), tc.requests, tc.sets)
			}
		})
	}
}
