package console

import "fmt"

// DefaultEscape is ^] (Ctrl + ]), virsh's escape character.
const DefaultEscape byte = 0x1d

// ParseEscape reads an escape character in virsh's syntax: "^X" for
// Ctrl+X (letters in either case, and @ [ \ ] ^ _ ?), or one literal
// character. "" and "none" disable the escape (0).
func ParseEscape(s string) (byte, error) {
	switch {
	case s == "" || s == "none":
		return 0, nil
	case len(s) == 2 && s[0] == '^':
		c := s[1]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c == '?' {
			return 0x7f, nil
		}
		if c >= '@' && c <= '_' {
			return c ^ 0x40, nil
		}
	case len(s) == 1 && s[0] >= 0x20 && s[0] < 0x7f:
		return s[0], nil
	}
	return 0, fmt.Errorf("invalid escape character '%s' (use ^X for Ctrl+X, a single character, or none)", s)
}

// EscapeName names an escape character the way ParseEscape reads it: "^]"
// for 0x1d, "x" for a literal x, "none" for 0.
func EscapeName(b byte) string {
	switch {
	case b == 0:
		return "none"
	case b < 0x20:
		return "^" + string(rune(b^0x40))
	case b == 0x7f:
		return "^?"
	}
	return string(rune(b))
}

// EscapeHint is virsh's wording after "Escape character is ": "^] (Ctrl + ])"
// for a control character, the character alone otherwise, "" when there is
// no escape.
func EscapeHint(b byte) string {
	n := EscapeName(b)
	switch {
	case b == 0:
		return ""
	case len(n) == 2 && n[0] == '^':
		return fmt.Sprintf("%s (Ctrl + %c)", n, n[1])
	}
	return n
}
