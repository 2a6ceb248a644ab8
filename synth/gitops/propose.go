package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
)

// Request is a pull request to make in a GitOps checkout.
type Request struct {
	// Repo is the checkout, Path the policy directory inside it, Branch
	// the branch to create.
	Repo, Path, Branch string
	// Recording is the evidence the policy is evaluated against; Result
	// the policy the directory is to hold.
	Recording *recording.Recording
	Result    *synth.Result
	Describe  Describe
	// AllowBreaking writes and commits even when the resulting policy
	// would deny observed traffic.
	AllowBreaking bool
	// Update commits on Branch when it exists and holds other policy;
	// without it that is an *ExistingBranchError.
	Update bool
	// Body writes the description; nil: Body.
	Body func(d Describe, rec *recording.Recording, res *synth.Result, c *Change) (string, error)
	// Files are written and committed with the policy, by path relative
	// to Repo, outside Path (pr --next's evidence).
	Files map[string][]byte
}

// Proposal is the pull request made.
type Proposal struct {
	Change *Change
	// Commit is the new commit's id, empty when nothing changed (and
	// nothing was committed).
	Commit string
	Branch string
	// Existing says Branch existed before: a re-run.
	Existing bool
	// Subject is the pull request's title, Body its description.
	Subject, Body string
}

// ExistingBranchError is a pull request whose branch exists and holds
// other policy than the request's: a re-run with other input. Nothing
// was changed.
type ExistingBranchError struct {
	Branch string
	Change *Change
}

func (e *ExistingBranchError) Error() string {
	added, removed, changed := e.Change.Count()
	files := ""
	if len(e.Change.Files) > 0 {
		files = fmt.Sprintf(" and write %s", strings.Join(e.Change.Files, ", "))
	}
	return fmt.Sprintf("branch %s exists and holds other policy (this run would add %d, change %d and remove %d objects on it%s): --update commits the change on it, --branch NAME makes a new branch", e.Branch, added, changed, removed, files)
}

// Propose checks the checkout, writes the result into the policy
// directory, and commits it on a new branch with a description: the
// whole of cinch pr after synthesis. Nothing is pushed.
//
// When the branch exists (a re-run), the change is computed against what
// the branch holds: none commits nothing (Proposal.Commit is empty); a
// change is committed on it with Update, else refused with an
// *ExistingBranchError, the checkout left as it was.
func Propose(req Request) (*Proposal, error) {
	paths := []string{req.Path}
	for _, name := range slices.Sorted(maps.Keys(req.Files)) {
		if !slices.Contains(paths, filepath.Dir(name)) {
			paths = append(paths, filepath.Dir(name))
		}
	}
	if err := CheckRepo(req.Repo, paths...); err != nil {
		return nil, err
	}
	p := &Proposal{Branch: req.Branch, Existing: branchExists(req.Repo, req.Branch), Subject: fmt.Sprintf("Linkerd policy: %s level", req.Describe.Level)}
	if req.Describe.Subject != "" {
		p.Subject = req.Describe.Subject
	}
	back := ""
	if p.Existing {
		var err error
		if back, err = currentBranch(req.Repo); err != nil {
			return nil, err
		}
		if err := switchTo(req.Repo, req.Branch); err != nil {
			return nil, fmt.Errorf("branch %s exists; checking it out to compare: %w", req.Branch, err)
		}
	}
	change, err := Apply(filepath.Join(req.Repo, req.Path), req.Recording, req.Result, req.AllowBreaking)
	if err == nil {
		change.Files, err = writeFiles(req.Repo, req.Files)
	}
	if err == nil && p.Existing && !change.Empty() && !req.Update {
		err = &ExistingBranchError{Branch: req.Branch, Change: change}
		if derr := discard(req.Repo, paths...); derr != nil {
			err = errors.Join(err, derr)
		}
	}
	if err != nil || change.Empty() {
		if back != "" && back != req.Branch {
			if serr := switchTo(req.Repo, back); serr != nil {
				return nil, errors.Join(err, serr)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	p.Change = change
	if change.Empty() {
		return p, nil
	}
	if p.Commit, err = Commit(req.Repo, paths, req.Branch, Message(req.Describe, req.Recording, change), p.Existing); err != nil {
		return nil, err
	}
	body := req.Body
	if body == nil {
		body = Body
	}
	if p.Body, err = body(req.Describe, req.Recording, req.Result, change); err != nil {
		return nil, err
	}
	return p, nil
}

// writeFiles writes the files whose content differs from what is on disk
// and returns their names, sorted.
func writeFiles(repo string, files map[string][]byte) ([]string, error) {
	var written []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(repo, filepath.FromSlash(name))
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return written, err
		}
		if err := recording.WriteAtomic(path, files[name]); err != nil {
			return written, fmt.Errorf("write %s: %w", path, err)
		}
		written = append(written, name)
	}
	return written, nil
}
