package synth

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
)

// TestWildcardIdentitiesAreNeverGranted feeds synth a recording whose
// clients claim wildcard or malformed identities: none of them may reach
// a manifest, each is named in a warning, and the honest client beside
// them is still granted.
func TestWildcardIdentitiesAreNeverGranted(t *testing.T) {
	const td = ".serviceaccount.identity.linkerd.cluster.local"
	hostile := []recording.PeerID{"identity:*", "identity:*.shop" + td, "identity:Not An Identity", "shop/star", "shop/bad-sa"}
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "file:hostile"}}
	rec.Workloads = []recording.Workload{
		{ID: "shop/web", Namespace: "shop", Kind: "Deployment", Name: "web", ServiceAccount: "web", Meshed: true, Labels: map[string]string{"app": "web"}},
		{ID: "shop/star", Namespace: "shop", Kind: "Deployment", Name: "star", Meshed: true, Identity: "*"},
		{ID: "shop/bad-sa", Namespace: "shop", Kind: "Deployment", Name: "bad-sa", ServiceAccount: "Bad SA", Meshed: true},
		{ID: "shop/front", Namespace: "shop", Kind: "Deployment", Name: "front", ServiceAccount: "front", Meshed: true},
	}
	for _, id := range hostile {
		if strings.HasPrefix(string(id), "identity:") {
			rec.Peers = append(rec.Peers, recording.Peer{ID: id, Kind: recording.PeerIdentity})
		}
	}
	for _, c := range append(hostile, "shop/front") {
		rec.Edges = append(rec.Edges, recording.Edge{Client: c, Server: "shop/web", Port: 8080, Protocol: recording.ProtocolHTTP,
			Requests: 5, TLS: map[string]int64{"true": 5}, Routes: []recording.Route{{Method: "GET", Path: "/x", Requests: 5}}})
	}
	for _, level := range Levels {
		res, err := Synthesize(rec, options(level))
		if err != nil {
			t.Fatalf("%s: %v", level, err)
		}
		var out bytes.Buffer
		if err := WriteStream(&out, res); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "*") || strings.Contains(out.String(), "Bad SA") || strings.Contains(out.String(), "Not An") {
			t.Errorf("%s: a hostile identity reached the policy:\n%s", level, out.String())
		}
		if level != LevelNamespace && !strings.Contains(out.String(), "name: front") {
			t.Errorf("%s: the honest client is not granted:\n%s", level, out.String())
		}
		warnings := strings.Join(res.Warnings, "\n")
		for _, id := range hostile {
			if !strings.Contains(warnings, string(id)+" -> shop/web port 8080: ") {
				t.Errorf("%s: no warning names %s; warnings:\n%s", level, id, warnings)
			}
		}
	}
}

// TestWideNetworksAreLoud checks that networks wider than a /16 (IPv4)
// or /48 (IPv6), which only the widening and probe flags make, are named
// in warnings with their size and the flags.
func TestWideNetworksAreLoud(t *testing.T) {
	rec := recording.New()
	rec.Windows = []recording.Window{{Source: "file:wide"}}
	rec.Workloads = []recording.Workload{{ID: "shop/web", Namespace: "shop", Kind: "Deployment", Name: "web", ServiceAccount: "web", Meshed: true,
		Labels: map[string]string{"app": "web"}, Probes: []recording.Probe{{Kind: "readiness", Port: 8080, Path: "/ready"}}}}
	rec.Peers = []recording.Peer{{ID: "ip:10.1.2.3", Kind: recording.PeerExternal}, {ID: "ip:fd00::1", Kind: recording.PeerExternal}}
	rec.Edges = []recording.Edge{
		{Client: "ip:10.1.2.3", Server: "shop/web", Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 2, SourceIPs: []recording.SourceIP{{IP: "10.1.2.3", Requests: 2}},
			Routes: []recording.Route{{Method: "GET", Path: "/x", Requests: 2}}},
		{Client: "ip:fd00::1", Server: "shop/web", Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 1, SourceIPs: []recording.SourceIP{{IP: "fd00::1", Requests: 1}},
			Routes: []recording.Route{{Method: "GET", Path: "/x", Requests: 1}}},
	}
	for _, tc := range []struct {
		name string
		set  func(*Options)
		want []string
	}{
		{"single addresses", func(*Options) {}, nil},
		{"a /24 is not wide", func(o *Options) { o.NetworkPrefix.IPv4 = 24 }, nil},
		{"--widen-ipv4 8", func(o *Options) { o.NetworkPrefix.IPv4 = 8 }, []string{"10.0.0.0/8 authorizes 16777216 addresses", "widened by --widen-ipv4\n"}},
		{"--widen-ipv6 32", func(o *Options) { o.NetworkPrefix.IPv6 = 32 }, []string{"fd00::/32 authorizes 79228162514264337593543950336 addresses", "widened by --widen-ipv6\n"}},
		{"--probe-networks 10.0.0.0/12", func(o *Options) { o.ProbeNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/12")} }, []string{"10.0.0.0/12 authorizes 1048576 addresses", "widened by --probe-networks\n"}},
	} {
		opts := options(LevelRoute)
		tc.set(&opts)
		res, err := Synthesize(rec, opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		warnings := strings.Join(res.Warnings, "\n") + "\n"
		if tc.want == nil && strings.Contains(warnings, "authorizes") {
			t.Errorf("%s: unexpected warning:\n%s", tc.name, warnings)
		}
		for _, w := range tc.want {
			if !strings.Contains(warnings, w) {
				t.Errorf("%s: warnings do not say %q:\n%s", tc.name, w, warnings)
			}
		}
	}
}
