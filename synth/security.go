package synth

import (
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

// plainIdentity says why a client's mesh identity cannot be granted, or
// "" when it can: a recording (edited, or hostile) may name a wildcard
// ("*", "*.ns.serviceaccount...", which Linkerd matches against every
// identity under it) or names no manifest can hold.
func plainIdentity(m *meshIdentity) string {
	if m.Identity == "" && m.ServiceAccount == "" {
		return "its identity is empty"
	}
	if m.Identity != "" {
		if strings.Contains(m.Identity, "*") {
			return fmt.Sprintf("identity %q is a wildcard", m.Identity)
		}
		if err := policy.CheckIdentity(m.Identity); err != nil {
			return err.Error()
		}
	}
	if m.Namespace != "" && len(validation.IsDNS1123Label(m.Namespace)) > 0 {
		return fmt.Sprintf("namespace %q is not a namespace name", m.Namespace)
	}
	if m.ServiceAccount != "" && len(validation.IsDNS1123Subdomain(m.ServiceAccount)) > 0 {
		return fmt.Sprintf("service account %q is not a service account name", m.ServiceAccount)
	}
	if sa, ok := recording.ParseIdentity(m.Identity); m.Identity != "" && m.ServiceAccount != "" && (!ok || sa.ServiceAccount != m.ServiceAccount || sa.Namespace != m.Namespace) {
		return fmt.Sprintf("identity %q is not that of service account %s/%s", m.Identity, m.Namespace, m.ServiceAccount)
	}
	return ""
}

// plainWorkload says why no policy can be written for a server workload,
// or "" when it can: its namespace, name (a file name with -o DIR) and pod
// labels (the Server's selector) must be what Kubernetes allows.
func plainWorkload(w *recording.Workload) string {
	if len(validation.IsDNS1123Label(w.Namespace)) > 0 {
		return fmt.Sprintf("namespace %q is not a namespace name", w.Namespace)
	}
	if len(validation.IsDNS1123Subdomain(w.Name)) > 0 {
		return fmt.Sprintf("name %q is not a workload name", w.Name)
	}
	if errs := metav1validation.ValidateLabels(w.Labels, field.NewPath("labels")); len(errs) > 0 {
		return fmt.Sprintf("its pod labels are not valid labels (%s)", errs[0].ErrorBody())
	}
	return ""
}

// isGRPCCall says whether a request can match a gRPC route, Linkerd's
// default one included: a POST of /service/method.
func isGRPCCall(method, path string) bool {
	rest, ok := strings.CutPrefix(path, "/")
	_, _, two := strings.Cut(rest, "/")
	return method == "POST" && ok && two
}

// refusals are the evidence synth did not grant on purpose: refused
// server workloads, client identities, and gRPC routes no route can match.
// The self-check does not expect them admitted.
type refusals struct {
	servers, identities map[recording.PeerID]bool
	routes              map[recording.Key][]recording.Route
}

func newRefusals() *refusals {
	return &refusals{servers: map[recording.PeerID]bool{}, identities: map[recording.PeerID]bool{}, routes: map[recording.Key][]recording.Route{}}
}

// remove returns a copy of rec without the refused evidence: no edges to
// refused servers, refused clients without an identity, and refused routes
// counted as requests whose paths were not kept.
func (r *refusals) remove(rec *recording.Recording) *recording.Recording {
	if len(r.servers)+len(r.identities)+len(r.routes) == 0 {
		return rec
	}
	out := *rec
	out.Workloads = slices.Clone(rec.Workloads)
	for i := range out.Workloads {
		if w := &out.Workloads[i]; r.identities[w.ID] {
			w.Identity, w.ServiceAccount = "", ""
		}
	}
	out.Edges = nil
	for _, e := range rec.Edges {
		if r.servers[e.Server] {
			continue
		}
		if gone := r.routes[e.Key()]; len(gone) > 0 {
			e.Routes = slices.DeleteFunc(slices.Clone(e.Routes), func(rt recording.Route) bool {
				return slices.ContainsFunc(gone, func(g recording.Route) bool {
					return g.Method == rt.Method && g.Path == rt.Path && g.Template == rt.Template
				})
			})
			e.RoutesOverflow += sumRequests(gone)
		}
		out.Edges = append(out.Edges, e)
	}
	return &out
}

// Networks wider than these are authorized only with a warning.
const (
	wideIPv4Bits = 16
	wideIPv6Bits = 48
)

// checkOpenness refuses output that grants every identity or every
// address, which no recording can justify, and warns about each network
// wider than a /16 (IPv4) or /48 (IPv6), which only --widen-ipv4,
// --widen-ipv6 or --probe-networks can produce.
func checkOpenness(all *policy.Set, opts *Options) (warnings []string, err error) {
	for _, m := range all.MeshTLSAuthentications {
		for _, id := range m.Spec.Identities {
			if strings.Contains(id, "*") {
				return nil, fmt.Errorf("MeshTLSAuthentication %s/%s grants the wildcard identity %q (a cinch bug, please report it)", m.Namespace, m.Name, id)
			}
		}
	}
	seen := map[netip.Prefix]bool{}
	for _, n := range all.NetworkAuthentications {
		for _, net := range n.Spec.Networks {
			p, perr := netip.ParsePrefix(net.CIDR)
			if perr != nil || seen[p] {
				continue
			}
			seen[p] = true
			if p.Bits() == 0 {
				return nil, fmt.Errorf("NetworkAuthentication %s/%s grants every address, %s (a cinch bug, please report it)", n.Namespace, n.Name, p)
			}
			if p.Addr().Is4() && p.Bits() < wideIPv4Bits || p.Addr().Is6() && p.Bits() < wideIPv6Bits {
				var flags []string
				if widen := map[bool]int{true: opts.NetworkPrefix.IPv4, false: opts.NetworkPrefix.IPv6}[p.Addr().Is4()]; widen == p.Bits() {
					flags = append(flags, map[bool]string{true: "--widen-ipv4", false: "--widen-ipv6"}[p.Addr().Is4()])
				}
				if slices.ContainsFunc(opts.ProbeNetworks, func(q netip.Prefix) bool { return q.Masked() == p.Masked() }) {
					flags = append(flags, "--probe-networks")
				}
				flag := strings.Join(flags, " and ")
				size := new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits()))
				warnings = append(warnings, fmt.Sprintf("%s authorizes %s addresses (first in NetworkAuthentication %s/%s): widened by %s", p, size, n.Namespace, n.Name, flag))
			}
		}
	}
	return warnings, nil
}
