package cmd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The built binary, for tests of what a user sees: exit codes, signals,
// stdout and stderr of a real process. It is built once per test run,
// stripped as the release build is (-s -w: no symbol table and no DWARF,
// which is most of the link), into a directory of the temporary directory
// kept per checkout: go build does not link again a binary that is up to
// date, so a run after one that changed nothing the binary is built from
// (its Go sources, the commit it is stamped with) reuses it.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func cinchBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		module, err := filepath.Abs("..")
		if err != nil {
			binErr = err
			return
		}
		sum := sha256.Sum256([]byte(module))
		dir := filepath.Join(os.TempDir(), "cinch-test-bin-"+hex.EncodeToString(sum[:6]))
		if binErr = os.MkdirAll(dir, 0o755); binErr != nil {
			return
		}
		binPath = filepath.Join(dir, "cinch")
		out, err := exec.Command("go", "build", "-ldflags=-s -w", "-o", binPath, "./cinch").CombinedOutput()
		if err != nil {
			binErr = errors.New("go build ./cmd/cinch: " + err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type binResult struct {
	stdout, stderr string
	code           int
}

// runBin runs the built binary in dir with the test's environment (whose
// KUBECONFIG names no file, see TestMain).
func runBin(t *testing.T, dir, stdin string, args ...string) binResult {
	t.Helper()
	cmd := exec.Command(cinchBinary(t), args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run cinch %v: %v", args, err)
	}
	return binResult{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// demoFile is a file of the bundled demo data.
func demoFile(name string) string {
	p, _ := filepath.Abs(filepath.Join("..", "fixtures", "demo", name))
	return p
}
