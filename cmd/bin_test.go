package cmd

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The built binary, for tests of what a user sees: exit codes, signals,
// stdout and stderr of a real process. It is built once per test run, into
// binDir, which TestMain removes.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func cinchBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "cinch-cmd-test-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "cinch")
		out, err := exec.Command("go", "build", "-o", binPath, "./cinch").CombinedOutput()
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
