package state

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest domain name accepted, in bytes.
const MaxNameLen = 64

const nameRule = "use letters, digits and _ . + -, starting with a letter or digit, at most 64 bytes"

// ValidateName checks a domain name against lxctl's rule:
// [A-Za-z0-9][A-Za-z0-9_.+-]*, at most 64 bytes, never "." or "..". The error
// names the offending character or the length and restates the rule; it wraps
// ErrInvalidName. Every function of this package that builds a path from a
// name calls it first.
func ValidateName(name string) error {
	bad := func(why string) error {
		return newError(ErrInvalidName, nil,
			fmt.Sprintf("invalid name %s: %s (%s)", quoteName(name), why, nameRule))
	}
	switch {
	case name == "":
		return bad("the name is empty")
	case name == "." || name == "..":
		return bad("'.' and '..' are not allowed")
	case len(name) > MaxNameLen:
		return bad(fmt.Sprintf("it is %d bytes long, more than %d", len(name), MaxNameLen))
	}
	if c := name[0]; !isAlnum(c) {
		return bad(describeAt(name, 0) + " is not allowed at the start")
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if isAlnum(c) || c == '_' || c == '.' || c == '+' || c == '-' {
			continue
		}
		return bad(fmt.Sprintf("%s is not allowed", describeAt(name, i)))
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// describeAt names the character starting at byte i of s for an error
// message: "character ' '", "character '\x00'", "character 'é'" or
// "byte 0xff (not valid UTF-8)".
func describeAt(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte 0x%02x (not valid UTF-8)", s[i])
	}
	return "character '" + escapeRune(r) + "'"
}

// quoteName renders a user-supplied name between single quotes for an error
// message, escaping what a terminal would not show faithfully and shortening
// very long input.
func quoteName(s string) string {
	const show = 80
	suffix := ""
	if len(s) > show {
		s = s[:MaxNameLen]
		suffix = "..."
	}
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
			i++
			continue
		}
		b.WriteString(escapeRune(r))
		i += size
	}
	b.WriteByte('\'')
	b.WriteString(suffix)
	return b.String()
}

func escapeRune(r rune) string {
	if r == '\'' || r == '\\' {
		return `\` + string(r)
	}
	if unicode.IsPrint(r) {
		return string(r)
	}
	q := strconv.QuoteRuneToASCII(r) // e.g. '\x00', '\n', '\u200b'
	return q[1 : len(q)-1]
}
