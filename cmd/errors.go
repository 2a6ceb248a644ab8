package cmd

import (
	"errors"
	"fmt"
)

// Exit codes, documented in docs/exit-codes.md.
const (
	ExitOK = 0
	// ExitFindings is for results the user must act on (observed traffic
	// a policy would deny).
	ExitFindings = 1
	ExitUsage    = 2
	ExitFailure  = 3
	// ExitInterrupted is for a command Ctrl-C (SIGINT) ended before it
	// finished, as shells report it (128 + 2).
	ExitInterrupted = 130
)

// UsageError is a mistake in the command line: a bad flag value, a missing
// argument. It maps to ExitUsage.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// FindingsError is a result the user must act on: observed traffic a
// policy would deny. It maps to ExitFindings.
type FindingsError struct{ Err error }

func (e *FindingsError) Error() string { return e.Err.Error() }
func (e *FindingsError) Unwrap() error { return e.Err }

// InterruptedError is a command ended early by Ctrl-C that still wrote what
// it had, marked as such. It maps to ExitInterrupted.
type InterruptedError struct{ Err error }

func (e *InterruptedError) Error() string { return e.Err.Error() }
func (e *InterruptedError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	var (
		usage       *UsageError
		findings    *FindingsError
		interrupted *InterruptedError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage):
		return ExitUsage
	case errors.As(err, &findings):
		return ExitFindings
	case errors.As(err, &interrupted):
		return ExitInterrupted
	}
	return ExitFailure
}
