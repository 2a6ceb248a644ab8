package gitops

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

// AccessChange is a change in who may call what, independent of object
// names: a grant of the new policy the old one did not make, or the
// reverse.
type AccessChange struct {
	Added, Removed []string
}

// accessOf describes each grant of set as "namespace server[ route]: who".
func accessOf(set *policy.Set, rec *recording.Recording) ([]string, error) {
	ev, err := eval.New(set, eval.Cluster{Workloads: rec.Workloads}, eval.Options{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, g := range ev.Grants() {
		where := g.Namespace + " " + strings.Join(g.Servers, ",")
		if g.Route.Name != "" {
			where += " route " + g.Route.Name
		}
		var who []string
		switch g.Authentication {
		case eval.AuthenticationIdentities:
			who = append(who, g.Identities...)
		case eval.AuthenticationTLS:
			who = append(who, "any TLS client")
		}
		switch {
		case anyAddress(g.Networks) && len(who) == 0:
			who = append(who, "any client from any address")
		case anyAddress(g.Networks):
			// Every address: the identity alone decides.
		default:
			for _, n := range g.Networks {
				s := n.CIDR
				if len(n.Except) > 0 {
					s += " except " + strings.Join(n.Except, ",")
				}
				who = append(who, "from "+s)
			}
		}
		if len(who) == 0 {
			who = append(who, "any client")
		}
		out = append(out, fmt.Sprintf("%s: %s", where, strings.Join(who, ", ")))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// anyAddress says networks admit every address, IPv4 and IPv6 (what an
// authorization that names no networks is given): no restriction, to be
// written as such rather than as 0.0.0.0/0, which reads as a new
// internet-wide grant.
func anyAddress(networks []policy.Network) bool {
	var v4, v6 bool
	for _, n := range networks {
		if len(n.Except) > 0 {
			continue
		}
		v4 = v4 || n.CIDR == "0.0.0.0/0"
		v6 = v6 || n.CIDR == "::/0"
	}
	return v4 && v6
}

// accessChange compares the grants of two policy sets.
func accessChange(before, after *policy.Set, rec *recording.Recording) (AccessChange, error) {
	old, err := accessOf(before, rec)
	if err != nil {
		return AccessChange{}, err
	}
	now, err := accessOf(after, rec)
	if err != nil {
		return AccessChange{}, err
	}
	var c AccessChange
	for _, g := range now {
		if _, found := slices.BinarySearch(old, g); !found {
			c.Added = append(c.Added, g)
		}
	}
	for _, g := range old {
		if _, found := slices.BinarySearch(now, g); !found {
			c.Removed = append(c.Removed, g)
		}
	}
	return c, nil
}
