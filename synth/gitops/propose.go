package gitops

import (
	"fmt"
	"path/filepath"

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
	// Body writes the description; nil: Body.
	Body func(d Describe, rec *recording.Recording, res *synth.Result, c *Change) (string, error)
}

// Proposal is the pull request made.
type Proposal struct {
	Change *Change
	// Commit is the new commit's id, empty when nothing changed (and
	// nothing was committed).
	Commit string
	Branch string
	// Subject is the pull request's title, Body its description.
	Subject, Body string
}

// Propose checks the checkout, writes the result into the policy
// directory, and commits it on a new branch with a description: the
// whole of cinch pr after synthesis. Nothing is pushed.
func Propose(req Request) (*Proposal, error) {
	if err := CheckRepo(req.Repo, req.Path, req.Branch); err != nil {
		return nil, err
	}
	change, err := Apply(filepath.Join(req.Repo, req.Path), req.Recording, req.Result, req.AllowBreaking)
	if err != nil {
		return nil, err
	}
	p := &Proposal{Change: change, Branch: req.Branch, Subject: fmt.Sprintf("Linkerd policy: %s level", req.Describe.Level)}
	if req.Describe.Subject != "" {
		p.Subject = req.Describe.Subject
	}
	if change.Empty() {
		return p, nil
	}
	if p.Commit, err = Commit(req.Repo, req.Path, req.Branch, Message(req.Describe, req.Recording, change)); err != nil {
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
