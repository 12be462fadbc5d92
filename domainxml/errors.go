package domainxml

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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
	return Printable(s)
}

// Printable returns s with everything a terminal would not show as text
// escaped, Go style: control characters (\x1b, \n, \r, \t), other
// non-printable runes such as C1 controls and bidi overrides (\u009b,
// \u202e), and bytes that are not UTF-8 (\xff). Error messages echo what a
// user wrote; printed raw, an escape sequence in a value could recolour or
// rewrite the terminal, and a newline could forge a line of output.
// Printable text is returned unchanged, backslashes included.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\n', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Unwrap() error { return ErrInvalid }
