package gitops

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// git runs git in repo and returns its trimmed standard output; a failure
// carries git's own message.
func git(repo string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// CheckRepo makes sure repo is a git work tree whose paths (the policy's,
// and its evidence's) have no uncommitted changes (cinch would mix its
// change with them).
func CheckRepo(repo string, paths ...string) error {
	if _, err := git(repo, "rev-parse", "--is-inside-work-tree"); err != nil {
		return fmt.Errorf("--repo %s is not a git checkout: %w", repo, err)
	}
	status, err := git(repo, append([]string{"status", "--porcelain", "--"}, paths...)...)
	if err != nil {
		return err
	}
	if status != "" {
		return fmt.Errorf("%s has uncommitted changes in %s; commit or stash them first:\n%s", repo, strings.Join(paths, ", "), status)
	}
	return nil
}

// branchExists says whether repo has a local branch of that name.
func branchExists(repo, branch string) bool {
	_, err := git(repo, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch)
	return err == nil
}

// currentBranch is the branch checked out in repo ("HEAD" when detached).
func currentBranch(repo string) (string, error) {
	return git(repo, "rev-parse", "--abbrev-ref", "HEAD")
}

// switchTo checks out branch; a repo already on it is left alone.
func switchTo(repo, branch string) error {
	if cur, err := currentBranch(repo); err == nil && cur == branch {
		return nil
	}
	_, err := git(repo, "checkout", "-q", branch)
	return err
}

// discard puts paths back as the checked-out commit has them.
func discard(repo string, paths ...string) error {
	for _, path := range paths {
		// A path the commit does not hold yet (new evidence) has nothing
		// to check out, only files to clean.
		tracked, err := git(repo, "ls-files", "--", path)
		if err != nil {
			return err
		}
		if tracked != "" {
			if _, err := git(repo, "checkout", "-q", "--", path); err != nil {
				return err
			}
		}
		if _, err := git(repo, "clean", "-q", "-f", "-d", "--", path); err != nil {
			return err
		}
	}
	return nil
}

// Commit commits the working tree's changes under paths with message on
// branch: a new branch from the current HEAD, or, with existing, the
// branch checked out. It returns the new commit's id.
func Commit(repo string, paths []string, branch, message string, existing bool) (string, error) {
	if !existing {
		if _, err := git(repo, "checkout", "-q", "-b", branch); err != nil {
			return "", err
		}
	}
	if _, err := git(repo, append([]string{"add", "-A", "--"}, paths...)...); err != nil {
		return "", err
	}
	if _, err := git(repo, append([]string{"commit", "-q", "-m", message, "--"}, paths...)...); err != nil {
		return "", err
	}
	return git(repo, "rev-parse", "HEAD")
}
