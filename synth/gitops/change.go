// Package gitops turns a synthesis into a reviewable change of a GitOps
// checkout: it compares the new policy with the policy already at the
// path (written by an earlier run or by hand), keeps what did not change
// byte for byte, writes the rest, and commits it on a branch with the
// real git, ready to push as a pull request. It never pushes.
//
// It imports synth, synth/policy and observe/recording; it runs git.
package gitops

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/diff"
	"github.com/cinchmesh/cinch/synth/policy"
)

// ObjectChange is how one object differs between the policy in the
// checkout and the new one.
type ObjectChange struct {
	Key policy.Key
	// Kind of change: "added", "removed" or "changed".
	Change string
}

// Change is what a new synthesis changes in a checkout.
type Change struct {
	Objects []ObjectChange
	// Access is the change in who may call what.
	Access AccessChange
	// Breaking is the observed traffic the resulting policy denies (only
	// when allowed to break).
	Breaking []diff.Finding
	// Written and Removed are the files written and removed, relative to
	// the policy directory.
	Written, Removed []string
	// Files are the other files written (Request.Files), relative to the
	// repository.
	Files []string
}

// Empty says whether the change changes nothing.
func (c *Change) Empty() bool {
	return len(c.Objects) == 0 && len(c.Written) == 0 && len(c.Removed) == 0 && len(c.Files) == 0
}

// Count returns how many objects were added, removed and changed.
func (c *Change) Count() (added, removed, changed int) {
	for _, o := range c.Objects {
		switch o.Change {
		case "added":
			added++
		case "removed":
			removed++
		default:
			changed++
		}
	}
	return added, removed, changed
}

// readExisting reads the policy objects under dir; a missing dir holds
// none.
func readExisting(dir string) (*policy.Set, error) {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return &policy.Set{}, nil
	}
	return policy.ReadPaths([]string{dir}, policy.ReadOptions{})
}

// canonical is an object's bytes without the annotation that only says
// which traffic justified it, so that a new window with the same evidence
// does not count as a change.
func canonical(o policy.Object) ([]byte, error) {
	m := o.Meta()
	saved := m.Annotations
	m.Annotations = maps.Clone(saved)
	delete(m.Annotations, synth.AnnotationObserved)
	defer func() { m.Annotations = saved }()
	return yaml.Marshal(o)
}

// reconcile compares res with the policy old and, for objects whose
// content did not change, keeps the old "observed" annotation, so that the
// regenerated files are byte-identical and the pull request shows only
// what new evidence changed. It returns the object-level changes.
func reconcile(old *policy.Set, res *synth.Result) ([]ObjectChange, error) {
	old.Normalize()
	before := map[policy.Key]policy.Object{}
	for _, o := range old.Objects() {
		before[policy.KeyOf(o)] = o
	}
	var out []ObjectChange
	seen := map[policy.Key]bool{}
	for i := range res.Units {
		res.Units[i].Set.Normalize()
		for _, o := range res.Units[i].Set.Objects() {
			k := policy.KeyOf(o)
			seen[k] = true
			prev, ok := before[k]
			if !ok {
				out = append(out, ObjectChange{k, "added"})
				continue
			}
			a, err := canonical(prev)
			if err != nil {
				return nil, err
			}
			b, err := canonical(o)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(a, b) {
				out = append(out, ObjectChange{k, "changed"})
				continue
			}
			if v, ok := prev.Meta().Annotations[synth.AnnotationObserved]; ok {
				o.Meta().Annotations[synth.AnnotationObserved] = v
			}
		}
	}
	for k, o := range before {
		if !seen[k] && o.Meta().Labels[synth.LabelManagedBy] == synth.ManagedBy {
			out = append(out, ObjectChange{k, "removed"})
		}
	}
	slices.SortFunc(out, func(a, b ObjectChange) int {
		return cmp.Or(compareKeys(a.Key, b.Key), cmp.Compare(a.Change, b.Change))
	})
	return out, nil
}

func compareKeys(a, b policy.Key) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
}

// BreakingError says the policy the checkout would hold denies observed
// traffic: hand-written objects next to cinch's can take precedence (an
// older Server claiming the port, say). Nothing was written.
type BreakingError struct {
	Denied []diff.Finding
}

func (e *BreakingError) Error() string {
	var lines []string
	for _, f := range e.Denied[:min(len(e.Denied), 10)] {
		lines = append(lines, fmt.Sprintf("%s -> %s port %d %s: %s (%d requests)", f.Client, f.Server, f.Port, f.Sample, f.Reason, f.Requests))
	}
	return fmt.Sprintf("the policy the checkout would hold denies observed traffic (%d findings); nothing was written (--allow-breaking writes it anyway):\n  %s",
		len(e.Denied), strings.Join(lines, "\n  "))
}

// Apply reconciles res with the policy under dir, writes it there, and
// says what changed, in objects and in access (evaluated against rec's
// workloads). It first evaluates the policy the directory would hold (the
// new objects plus the hand-written ones already there) against rec and
// refuses with a *BreakingError, writing nothing, when observed traffic
// would be denied, unless allowBreaking; the findings are then kept in
// the change.
func Apply(dir string, rec *recording.Recording, res *synth.Result, allowBreaking bool) (*Change, error) {
	old, err := readExisting(dir)
	if err != nil {
		return nil, fmt.Errorf("read the policy in %s: %w", dir, err)
	}
	objs, err := reconcile(old, res)
	if err != nil {
		return nil, err
	}
	breaking, err := wouldDeny(old, rec, res)
	if err != nil {
		return nil, err
	}
	if len(breaking) > 0 && !allowBreaking {
		return nil, &BreakingError{Denied: breaking}
	}
	written, removed, err := synth.WriteDir(dir, res)
	if err != nil {
		return nil, err
	}
	for i := range removed {
		removed[i] = filepath.ToSlash(removed[i])
	}
	after, err := readExisting(dir)
	if err != nil {
		return nil, fmt.Errorf("read the written policy in %s: %w", dir, err)
	}
	access, err := accessChange(old, after, rec)
	if err != nil {
		return nil, err
	}
	return &Change{Objects: objs, Access: access, Breaking: breaking, Written: written, Removed: removed}, nil
}

// wouldDeny evaluates, as enforced, the policy the directory would hold:
// res's objects and the objects of old that cinch did not write.
func wouldDeny(old *policy.Set, rec *recording.Recording, res *synth.Result) ([]diff.Finding, error) {
	var set policy.Set
	for i := range res.Units {
		set.Add(&res.Units[i].Set)
	}
	set.Add(&policy.Set{
		Servers:                handWritten(old.Servers),
		ServerAuthorizations:   handWritten(old.ServerAuthorizations),
		HTTPRoutes:             handWritten(old.HTTPRoutes),
		GRPCRoutes:             handWritten(old.GRPCRoutes),
		MeshTLSAuthentications: handWritten(old.MeshTLSAuthentications),
		NetworkAuthentications: handWritten(old.NetworkAuthentications),
		AuthorizationPolicies:  handWritten(old.AuthorizationPolicies),
	})
	rep, err := diff.Evaluate(rec, &set, diff.Options{})
	if err != nil {
		return nil, err
	}
	return append(rep.Denied, rep.Audit...), nil
}

// handWritten keeps the objects cinch did not write.
func handWritten[T any, PT interface {
	*T
	policy.Object
}](objs []T) []T {
	var out []T
	for i := range objs {
		if PT(&objs[i]).Meta().Labels[synth.LabelManagedBy] != synth.ManagedBy {
			out = append(out, objs[i])
		}
	}
	return out
}
