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

// CheckRepo makes sure repo is a git work tree whose policy path has no
// uncommitted changes (cinch would mix its change with them) and that
// branch does not exist yet.
func CheckRepo(repo, path, branch string) error {
	if _, err := git(repo, "rev-parse", "--is-inside-work-tree"); err != nil {
		return fmt.Errorf("--repo %s is not a git checkout: %w", repo, err)
	}
	status, err := git(repo, "status", "--porcelain", "--", path)
	if err != nil {
		return err
	}
	if status != "" {
		return fmt.Errorf("%s has uncommitted changes in %s; commit or stash them first:\n%s", repo, path, status)
	}
	if _, err := git(repo, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch); err == nil {
		return fmt.Errorf("branch %s already exists in %s; name another with --branch", branch, repo)
	}
	return nil
}

// Commit creates branch from the current HEAD with the working tree's
// changes under path and commits them with message. It returns the new
// commit's id.
func Commit(repo, path, branch, message string) (string, error) {
	if _, err := git(repo, "checkout", "-q", "-b", branch); err != nil {
		return "", err
	}
	if _, err := git(repo, "add", "-A", "--", path); err != nil {
		return "", err
	}
	if _, err := git(repo, "commit", "-q", "-m", message, "--", path); err != nil {
		return "", err
	}
	return git(repo, "rev-parse", "HEAD")
}
