package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckTrusted(t *testing.T) {
	root := filepath.Join(t.TempDir(), "r")
	l := NewLayout(root)
	if err := l.CheckTrusted(); err != nil {
		t.Fatalf("a root not made yet: %v", err)
	}
	if err := l.EnsureDirs(); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckTrusted(); err != nil {
		t.Fatalf("a root lxctl made: %v", err)
	}
	for _, d := range []string{l.Root, l.Run} {
		if err := os.Chmod(d, 0o775); err != nil {
			t.Fatal(err)
		}
		if err := l.CheckTrusted(); err == nil || !strings.Contains(err.Error(), d) || !strings.Contains(err.Error(), "chmod go-w") {
			t.Errorf("%s group-writable: %v", d, err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(l.Log, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := l.CheckTrusted(); err == nil || !strings.Contains(err.Error(), l.Log) || !strings.Contains(err.Error(), "chown root") {
			t.Errorf("log/ owned by nobody: %v", err)
		}
		if err := os.Chown(l.Log, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	// A parent others may write (and not sticky, as /tmp is) could have
	// the root renamed away and replaced.
	parent := filepath.Dir(l.Root)
	if err := os.Chmod(parent, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckTrusted(); err == nil || !strings.Contains(err.Error(), parent) || !strings.Contains(err.Error(), "not sticky") {
		t.Errorf("parent 0777: %v", err)
	}
	if err := os.Chmod(parent, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckTrusted(); err != nil {
		t.Errorf("parent 1777 (as /tmp): %v", err)
	}
	if err := os.Chmod(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(l.Domains); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), l.Domains); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckTrusted(); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("domains/ a symlink: %v", err)
	}
}

// Nothing under the root is read or written through a symlink, in any
// component of the path.
func TestNoSymlinksUnderRoot(t *testing.T) {
	l := NewLayout(t.TempDir())
	if err := l.EnsureDirs(); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	if err := os.WriteFile(filepath.Join(elsewhere, "status.json"), []byte(`{"name":"vm1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	dir, _ := l.RunDir("vm1")
	if err := os.Symlink(elsewhere, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReadStatus("vm1"); err == nil || !errors.Is(err, unix.ELOOP) {
		t.Errorf("status read through a symlinked run dir: %v", err)
	}
	if err := l.WriteStatus(&Status{Name: "vm1"}); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("status written through a symlinked run dir: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(elsewhere, "status.json")); string(data) != `{"name":"vm1"}` {
		t.Errorf("the symlink's target was written: %q", data)
	}
	ents, _ := os.ReadDir(elsewhere)
	if len(ents) != 1 {
		t.Errorf("files were made in the symlink's target: %v", ents)
	}
}
