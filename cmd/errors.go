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

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	var (
		usage    *UsageError
		findings *FindingsError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage):
		return ExitUsage
	case errors.As(err, &findings):
		return ExitFindings
	}
	return ExitFailure
}
