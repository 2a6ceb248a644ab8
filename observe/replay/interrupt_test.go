package replay

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const textEvent = "req id=1:1 proxy=in  src=10.0.0.11:4000 dst=10.42.0.2:8080 tls=no_tls_from_remote :method=GET :authority=10.42.0.2:8080 :path=/ping\n"

// TestInterruptMarksTheWindow: a cancelled context ends the replay with the
// window being read marked interrupted (how far it got) and the files not
// started named, and the recording holds what was read.
func TestInterruptMarksTheWindow(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, []byte(textEvent), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Stdin yields five events, then Ctrl-C comes while it blocks as an
	// open pipe does: the replay must not wait for it.
	block := make(chan struct{})
	defer close(block)
	stdin := &stallingReader{data: []byte(strings.Repeat(textEvent, 5)), stall: func() { cancel(); <-block }}
	rec, err := Files(ctx, []string{"-", a, b}, Options{Stdin: stdin})
	var stop *InterruptedError
	if !errors.As(err, &stop) || stop.File != "-" || !slices.Equal(stop.Unread, []string{a, b}) {
		t.Fatalf("error %v, want an interruption while reading - with %s and %s unread", err, a, b)
	}
	if rec == nil || len(rec.Windows) != 1 || rec.Windows[0].Interrupted != "after 5 events, 660 bytes read" || rec.Windows[0].Requests != 5 {
		t.Fatalf("recording %+v, want one window of 5 requests marked interrupted", rec)
	}
}

// stallingReader returns data, then calls stall on the next read.
type stallingReader struct {
	data  []byte
	stall func()
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		s.stall()
		return 0, io.EOF
	}
	n := copy(p, s.data)
	s.data = s.data[n:]
	return n, nil
}
