package diff

import (
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/intents"
)

// TestDeclaredUses: an intent's requests are its client's, on its server
// port, on its routes when it lists routes.
func TestDeclaredUses(t *testing.T) {
	rec := recording.New()
	rec.Workloads = []recording.Workload{
		{ID: "batch/worker", Namespace: "batch", Name: "worker", ServiceAccount: "worker", Meshed: true},
		{ID: "batch/api", Namespace: "batch", Name: "api", Meshed: true},
	}
	rec.Edges = []recording.Edge{
		{Client: "batch/worker", Server: "batch/api", Port: 8080, Requests: 10, TLS: map[string]int64{"true": 10},
			Routes: []recording.Route{{Method: "GET", Path: "/jobs/7", Requests: 6}, {Method: "POST", Path: "/jobs", Requests: 4}}},
		{Client: recording.IdentityPeer("restore.batch.serviceaccount.identity.linkerd.cluster.local"), Server: "batch/api", Port: 8080, Requests: 3, TLS: map[string]int64{"true": 3}},
		{Client: "ip:10.20.0.7", Server: "batch/api", Port: 8080, Requests: 5, SourceIPs: []recording.SourceIP{{IP: "10.20.0.7", Requests: 5}},
			Routes: []recording.Route{{Method: "POST", Path: "/jobs", Requests: 5}}},
	}
	list := []intents.Intent{
		{Client: intents.Client{Workload: "batch/worker"}, Server: "batch/api", Port: 8080, Routes: []intents.Route{{Method: "GET", Path: "/jobs/{int}"}}, Reason: "a"},
		{Client: intents.Client{ServiceAccount: "batch/worker"}, Server: "batch/api", Port: 8080, Reason: "b"},
		{Client: intents.Client{ServiceAccount: "batch/restore"}, Server: "batch/api", Port: 8080, Reason: "c"},
		{Client: intents.Client{Network: "10.20.0.0/24"}, Server: "batch/api", Port: 8080, Routes: []intents.Route{{Path: "/jobs"}}, Reason: "d"},
		{Client: intents.Client{Network: "10.21.0.0/24"}, Server: "batch/api", Port: 8080, Reason: "e"},
		{Client: intents.Client{ServiceAccount: "batch/worker"}, Server: "batch/api", Port: 9090, Reason: "f"},
		{Client: intents.Client{Workload: "batch/worker"}, Server: "batch/api", Port: 8080, Routes: []intents.Route{{Method: "DELETE", Path: "/jobs/{int}"}}, Reason: "g"},
	}
	want := []int64{6, 10, 3, 5, 0, 0, 0}
	got := DeclaredUses(rec, list)
	for i := range want {
		if got[i].Requests != want[i] {
			t.Errorf("%s (%s): %d requests seen, want %d", got[i].Intent, got[i].Reason, got[i].Requests, want[i])
		}
	}
}
