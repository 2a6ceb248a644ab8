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

	"sigs.k8s.io/yaml"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
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
	// Written and Removed are the files written and removed, relative to
	// the policy directory.
	Written, Removed []string
}

// Empty says whether the change changes nothing.
func (c *Change) Empty() bool {
	return len(c.Objects) == 0 && len(c.Written) == 0 && len(c.Removed) == 0
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

// Reconcile compares res with the policy under dir and, for objects whose
// content did not change, keeps the old "observed" annotation, so that the
// regenerated files are byte-identical and the pull request shows only
// what new evidence changed. It returns the object-level changes.
func Reconcile(dir string, res *synth.Result) ([]ObjectChange, error) {
	old, err := readExisting(dir)
	if err != nil {
		return nil, fmt.Errorf("read the policy in %s: %w", dir, err)
	}
	return reconcile(old, res)
}

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

// Apply reconciles res with the policy under dir, writes it there, and
// says what changed, in objects and in access (evaluated against rec's
// workloads).
func Apply(dir string, rec *recording.Recording, res *synth.Result) (*Change, error) {
	old, err := readExisting(dir)
	if err != nil {
		return nil, fmt.Errorf("read the policy in %s: %w", dir, err)
	}
	objs, err := reconcile(old, res)
	if err != nil {
		return nil, err
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
	return &Change{Objects: objs, Access: access, Written: written, Removed: removed}, nil
}
