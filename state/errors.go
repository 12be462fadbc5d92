package state

import "errors"

// Sentinel errors. Every error of this package that falls into one of these
// classes wraps it; test with errors.Is.
var (
	ErrNotFound    = errors.New("not found")
	ErrInvalidName = errors.New("invalid name")
	ErrLocked      = errors.New("locked")
	ErrCorrupt     = errors.New("corrupt state file")
)

// stateError carries a complete, human-readable message and classifies it
// with a sentinel (kind) without appending the sentinel's text, plus an
// optional underlying cause (an *os.PathError, a json error...).
type stateError struct {
	msg   string
	kind  error
	cause error
}

func (e *stateError) Error() string { return e.msg }

func (e *stateError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

func newError(kind, cause error, msg string) error {
	return &stateError{msg: msg, kind: kind, cause: cause}
}
