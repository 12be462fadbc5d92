package domainxml

import (
	"errors"
	"strings"
	"testing"
)

func withMetadata(md string) string {
	return with("<memory unit='KiB'>", "<metadata>\n    "+md+"\n  </metadata>\n  <memory unit='KiB'>")
}

func TestSecurityMetadata(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"absent", goodDoc, ""},
		{"other-app", withMetadata(`<app:x xmlns:app="https://example.org/app" seccomp="unconfined"/>`), ""},
		{"unconfined", withMetadata(`<lxctl:security xmlns:lxctl="https://lxctl.dev/xmlns/security/1" seccomp="unconfined"/>`), SeccompUnconfined},
		{"default", withMetadata(`<lxctl:security xmlns:lxctl="https://lxctl.dev/xmlns/security/1" seccomp="default"/>`), SeccompDefault},
		{"any-prefix", withMetadata(`<sec:security xmlns:sec="https://lxctl.dev/xmlns/security/1" seccomp=" unconfined "/>`), SeccompUnconfined},
		{"default-namespace", withMetadata(`<security xmlns="https://lxctl.dev/xmlns/security/1" seccomp="unconfined"/>`), SeccompUnconfined},
		{"prefix-on-domain", strings.Replace(withMetadata(`<lxctl:security seccomp="unconfined"/>`), "<domain type='lxc'>",
			`<domain type='lxc' xmlns:lxctl="https://lxctl.dev/xmlns/security/1">`, 1), SeccompUnconfined},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _, err := Parse([]byte(c.doc))
			if err != nil {
				t.Fatal(err)
			}
			if d.Security.Seccomp != c.want {
				t.Fatalf("seccomp = %q, want %q", d.Security.Seccomp, c.want)
			}
			// The element stays in <metadata>, verbatim.
			out, err := d.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			d2, _, err := Parse(out)
			if err != nil {
				t.Fatalf("reparse: %v\n%s", err, out)
			}
			if d2.Security != d.Security {
				t.Fatalf("after a round trip: %+v, want %+v\n%s", d2.Security, d.Security, out)
			}
			if d.Clone().Security != d.Security {
				t.Fatal("Clone loses Security")
			}
		})
	}
}

func TestSecurityMetadataBad(t *testing.T) {
	const ns = `xmlns:lxctl="https://lxctl.dev/xmlns/security/1"`
	cases := []struct {
		name, md, want string
	}{
		{"bad-profile", `<lxctl:security ` + ns + ` seccomp="off"/>`, "line 4: metadata/lxctl:security/@seccomp: unknown seccomp profile 'off' (use default or unconfined)"},
		{"empty-profile", `<lxctl:security ` + ns + ` seccomp=""/>`, "unknown seccomp profile '' (use default or unconfined)"},
		{"bad-attr", `<lxctl:security ` + ns + ` apparmor="x"/>`, "metadata/lxctl:security: unknown attribute 'apparmor'"},
		{"bad-element", `<lxctl:seccomp ` + ns + `/>`, "unknown element <lxctl:seccomp> in lxctl's namespace"},
		{"twice", `<lxctl:security ` + ns + ` seccomp="default"/><lxctl:security ` + ns + ` seccomp="unconfined"/>`, "more than one <lxctl:security>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Parse([]byte(withMetadata(c.md)))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}
