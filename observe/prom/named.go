package prom

import (
	"context"
	"errors"
	"slices"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
)

// Naming says where the cluster objects that name a recording's clients
// come from. Metrics know a meshed client only by its identity and a
// workload only by its metric labels; the cluster objects give the
// workload that runs with an identity, and labels, ports and probes.
type Naming struct {
	// Objects are cluster objects already read (a --cluster-file): they
	// are used as they are, whatever namespaces the recording names.
	Objects *cluster.Objects
	// List reads the cluster objects of the given namespaces (every
	// namespace when empty), as cluster.List does, and says with a
	// *cluster.NamespaceNotFoundError when one does not exist. Used when
	// Objects is nil; with neither, the recording keeps its identities.
	List func(ctx context.Context, namespaces []string) (*cluster.Objects, error)
	// AllNamespaces lists every namespace instead of those of the
	// recording's servers and clients.
	AllNamespaces bool
	// TrustDomain of the mesh identities, and Limits of the recording
	// (Enrich merges edges that come to share a key).
	TrustDomain string
	Limits      recording.Limits
}

// RecordNamed records like Record, then names the recording's clients
// and fills in its workloads from the cluster objects naming gives.
func RecordNamed(ctx context.Context, c *Client, opts Options, naming Naming) (*recording.Recording, error) {
	rec, _, err := Record(ctx, c, opts)
	if err != nil {
		return nil, err
	}
	objs, err := naming.objects(ctx, rec)
	if err != nil || objs == nil {
		return rec, err
	}
	return cluster.NewInventory(objs, cluster.Options{TrustDomain: naming.TrustDomain}).Enrich(rec, naming.Limits), nil
}

// objects returns the cluster objects for rec: those given, or those
// listed for the namespaces of its servers and clients (every namespace
// with AllNamespaces). A namespace that sent traffic during the window
// may be gone since: it is left out and the others are listed again. Nil
// when there is nothing to list.
func (n *Naming) objects(ctx context.Context, rec *recording.Recording) (*cluster.Objects, error) {
	if n.Objects != nil || n.List == nil {
		return n.Objects, nil
	}
	var namespaces []string
	if !n.AllNamespaces {
		namespaces = recordedNamespaces(rec)
		if len(namespaces) == 0 {
			return nil, nil
		}
	}
	for {
		objs, err := n.List(ctx, namespaces)
		var nf *cluster.NamespaceNotFoundError
		if !errors.As(err, &nf) || !slices.Contains(namespaces, nf.Namespace) {
			return objs, err
		}
		namespaces = slices.DeleteFunc(namespaces, func(ns string) bool { return ns == nf.Namespace })
		if len(namespaces) == 0 {
			return nil, nil
		}
	}
}

// recordedNamespaces lists the namespaces of a recording's workloads and
// of its clients known by service account identity, in first-seen order.
func recordedNamespaces(rec *recording.Recording) []string {
	var out []string
	add := func(ns string) {
		if ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	for _, w := range rec.Workloads {
		add(w.Namespace)
	}
	for _, p := range rec.Peers {
		if ident, ok := p.ID.Identity(); ok && p.Kind == recording.PeerIdentity {
			if id, ok := recording.ParseIdentity(ident); ok {
				add(id.Namespace)
			}
		}
	}
	return out
}
