package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
		msg  string // substring of the error
	}{
		{"vm1", true, ""},
		{"a.b+c_d-e", true, ""},
		{"A", true, ""},
		{"0", true, ""},
		{"9lives", true, ""},
		{"a..b", true, ""},
		{"a-", true, ""},
		{strings.Repeat("a", 64), true, ""},
		{"", false, "invalid name '': the name is empty"},
		{".", false, "'.' and '..' are not allowed"},
		{"..", false, "'.' and '..' are not allowed"},
		{"a/b", false, "invalid name 'a/b': character '/' is not allowed"},
		{"../etc", false, "character '.' is not allowed at the start"},
		{"a b", false, "invalid name 'a b': character ' ' is not allowed (use letters, digits and _ . + -, starting with a letter or digit, at most 64 bytes)"},
		{strings.Repeat("a", 65), false, "it is 65 bytes long, more than 64"},
		{"-a", false, "character '-' is not allowed at the start"},
		{".a", false, "character '.' is not allowed at the start"},
		{"_a", false, "character '_' is not allowed at the start"},
		{"+a", false, "character '+' is not allowed at the start"},
		{"vm\u00e9", false, "character 'é' is not allowed"},
		{"\u00e9", false, "character 'é' is not allowed at the start"},
		{"a\x00b", false, `invalid name 'a\x00b': character '\x00' is not allowed`},
		{"a\nb", false, `invalid name 'a\nb': character '\n' is not allowed`},
		{"a\xffb", false, "byte 0xff (not valid UTF-8) is not allowed"},
		{"a'b", false, `invalid name 'a\'b': character '\'' is not allowed`},
		{"a:b", false, "character ':' is not allowed"},
		{"a*", false, "character '*' is not allowed"},
		{"a\tb", false, `character '\t' is not allowed`},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if tt.ok {
			if err != nil {
				t.Errorf("ValidateName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateName(%q) = nil, want error", tt.name)
			continue
		}
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, not ErrInvalidName", tt.name, err)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ValidateName(%q) = %q, want it to contain %q", tt.name, err, tt.msg)
		}
		if !strings.HasSuffix(err.Error(), "("+nameRule+")") {
			t.Errorf("ValidateName(%q) = %q, does not end with the rule", tt.name, err)
		}
		if strings.ContainsAny(err.Error(), "\x00\n\t") {
			t.Errorf("ValidateName(%q) = %q: raw control character in message", tt.name, err)
		}
	}
}

func TestValidateNameLongInputShortened(t *testing.T) {
	err := ValidateName(strings.Repeat("x", 10000))
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("message not shortened: %d bytes", len(err.Error()))
	}
	if !strings.Contains(err.Error(), "10000 bytes") {
		t.Errorf("message %q does not give the length", err)
	}
}

func TestPathsValidateFirst(t *testing.T) {
	l := NewLayout("/r")
	for _, f := range []func(string) (string, error){
		l.DefinitionPath, l.RunDir, l.LogPath, l.ConsoleLogPath, l.LockPath, l.ExitPath, l.StatusPath,
	} {
		for _, bad := range []string{"..", "../x", "a/b", "", "/abs"} {
			if p, err := f(bad); !errors.Is(err, ErrInvalidName) || p != "" {
				t.Errorf("path for %q = %q, %v; want \"\", ErrInvalidName", bad, p, err)
			}
		}
	}
	check := func(got string, err error, want string) {
		t.Helper()
		if err != nil || got != want {
			t.Errorf("got %q, %v; want %q", got, err, want)
		}
	}
	p, err := l.DefinitionPath("vm1")
	check(p, err, "/r/domains/vm1.xml")
	p, err = l.RunDir("vm1")
	check(p, err, "/r/run/vm1")
	p, err = l.StatusPath("vm1")
	check(p, err, "/r/run/vm1/status.json")
	p, err = l.LogPath("vm1")
	check(p, err, "/r/log/vm1.log")
	p, err = l.ConsoleLogPath("vm1")
	check(p, err, "/r/log/vm1.console.log")
	p, err = l.LockPath("vm1")
	check(p, err, "/r/run/.locks/vm1.lock")
	p, err = l.ExitPath("vm1")
	check(p, err, "/r/run/.exit/vm1.json")
}

func TestNewLayout(t *testing.T) {
	d := NewLayout("")
	if d != (Layout{"/var/lib/lxctl/domains", "/run/lxctl", "/var/log/lxctl", ""}) {
		t.Errorf("default layout = %+v", d)
	}
	t.Chdir(t.TempDir())
	wd, _ := filepath.Abs(".")
	r := NewLayout("rel/../root")
	want := Layout{
		Domains: filepath.Join(wd, "root", "domains"),
		Run:     filepath.Join(wd, "root", "run"),
		Log:     filepath.Join(wd, "root", "log"),
		Root:    filepath.Join(wd, "root"),
	}
	if r != want {
		t.Errorf("NewLayout(rel) = %+v, want %+v", r, want)
	}
}

// Two roots never share a cgroup name; one root reached through a symlink
// is the same root.
func TestCgroupLeaf(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(a, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	leaf := func(root string) string {
		s, err := NewLayout(root).CgroupLeaf("vm1")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	la, lb, ll, ld := leaf(a), leaf(b), leaf(filepath.Join(dir, "link")), leaf("")
	if la == lb || la == ld || lb == ld {
		t.Errorf("roots share a cgroup name: a %s, b %s, default %s", la, lb, ld)
	}
	if la != ll {
		t.Errorf("root through a symlink: %s, want %s", ll, la)
	}
	// A root not made yet, below a symlink, is named as it will be.
	if got, want := NewLayout(filepath.Join(dir, "link", "new")).Root, filepath.Join(a, "new"); got != want {
		t.Errorf("root not yet made: %s, want %s", got, want)
	}
	if !strings.HasPrefix(la, "vm1.lxctl-") || len(la) != len("vm1.lxctl-")+8 {
		t.Errorf("leaf %q, want vm1.lxctl-<8 hex>", la)
	}
	if _, err := NewLayout(a).CgroupLeaf("../x"); err == nil {
		t.Error("CgroupLeaf accepted ../x")
	}
}

// Whatever the input, an accepted name is one plain path element.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"vm1", "..", "a/b", "a b", "", "-x", "a\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateName(name)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("error %v is not ErrInvalidName", err)
			}
			return
		}
		if p := filepath.Join("/base", name); filepath.Dir(p) != "/base" || filepath.Base(p) != name || name[0] == '.' {
			t.Fatalf("accepted name %q is not a plain path element", name)
		}
	})
}
