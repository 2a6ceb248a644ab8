package synth

import (
	"fmt"
	"math/big"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cinchmesh/cinch/synth/policy"
)

// plainIdentity says why a client's mesh identity cannot be granted, or
// "" when it can: a recording (edited, or hostile) may name a wildcard
// ("*", "*.ns.serviceaccount...", which Linkerd matches against every
// identity under it) or names no manifest can hold.
func plainIdentity(m *meshIdentity) string {
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
	return ""
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
func checkOpenness(all *policy.Set) (warnings []string, err error) {
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
				flag := "--widen-ipv4 or --probe-networks"
				if p.Addr().Is6() {
					flag = "--widen-ipv6 or --probe-networks"
				}
				size := new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits()))
				warnings = append(warnings, fmt.Sprintf("%s authorizes %s addresses (first in NetworkAuthentication %s/%s): widened by %s", p, size, n.Namespace, n.Name, flag))
			}
		}
	}
	return warnings, nil
}
