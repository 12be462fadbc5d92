package domainxml

import (
	"errors"
	"strings"
	"testing"
)

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain 'text' (use KiB)": "plain 'text' (use KiB)",
		`back\slash`:             `back\slash`,
		"é, 日本, \uFFFD":          "é, 日本, \uFFFD",
		"a\x1b[31mred\x1b[0m":    `a\x1b[31mred\x1b[0m`,
		"two\nlines\r\n":         `two\nlines\r\n`,
		"tab\there\x00\x7f":      `tab\there\x00\x7f`,
		"c1 \u009b31m csi":       `c1 \u009b31m csi`,
		"bidi \u202eevil":        `bidi \u202eevil`,
		"not utf-8 \xff\xc3":     `not utf-8 \xff\xc3`,
		"":                       "",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// hasControl reports bytes a terminal acts on: C0 controls, DEL, and the
// UTF-8 encoding of C1 controls (U+0080-U+009F).
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r <= 0x9f {
			return true
		}
	}
	return false
}

// TestErrorsEscapeInput: values echoed in errors and warnings come out
// escaped, so a document cannot colour, clear or forge lines of the
// terminal it is defined from. XML forbids ESC itself; C1 controls such as
// U+009B (CSI, which many terminals obey) and newlines are legal in it.
func TestErrorsEscapeInput(t *testing.T) {
	evil := "1\u009b31m\nerror: forged"
	_, _, err := Parse([]byte(trickyHead[:strings.Index(trickyHead, "<memory>")] + "<memory>" + evil + "</memory><os><type>exe</type><init>/i</init></os></domain>"))
	var e *Error
	if !errors.As(err, &e) || e.Value != evil {
		t.Fatalf("got %v, want an *Error keeping the raw value", err)
	}
	if msg := err.Error(); hasControl(msg) || !strings.Contains(msg, `size '1\u009b31m\nerror: forged' is not a whole number`) {
		t.Errorf("message not escaped: %q", msg)
	}

	doc := trickyHead + "<devices><filesystem type='template'><source name='debian'/><target dir='/mnt/\u009b2J\nwarning: forged'/></filesystem></devices></domain>"
	_, warns := mustParse(t, []byte(doc))
	if len(warns) != 1 {
		t.Fatalf("warnings: %v", warns)
	}
	if s := warns[0].String(); hasControl(s) || !strings.Contains(s, `/mnt/\u009b2J\nwarning: forged`) {
		t.Errorf("warning not escaped: %q", s)
	}

	_, err = ParseNetwork([]byte("<network><name>n</name><bridge name='b\u009b31m\nx'/></network>"))
	if err == nil || hasControl(err.Error()) || !strings.Contains(err.Error(), `'b\u009b31m\nx'`) {
		t.Errorf("network error not escaped: %v", err)
	}
}
