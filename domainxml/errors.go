package domainxml

import (
	"errors"
	"strconv"
)

// ErrInvalid classifies every parse and validation failure, so callers can
// tell a bad document from an I/O error with errors.Is.
var ErrInvalid = errors.New("invalid domain XML")

// Error is one problem in a domain document. Element is the path of the
// element at fault below <domain> ("memory", "devices/filesystem/target"),
// Value the offending value as written, Line its line (0 when unknown).
// Msg names the value and says what is allowed or how to fix it.
type Error struct {
	Element string
	Value   string
	Line    int
	Msg     string
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Element != "" {
		s = e.Element + ": " + s
	}
	if e.Line > 0 {
		s = "line " + strconv.Itoa(e.Line) + ": " + s
	}
	return s
}

// Unwrap makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Unwrap() error { return ErrInvalid }
