package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// onlyFiles returns the names in dir, failing the test if it cannot read it.
func onlyFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// writers are the two atomic writers: the same guarantees for readers,
// with and without fsync.
var writers = map[string]func(string, []byte, os.FileMode) error{
	"WriteFileAtomic":  WriteFileAtomic,
	"WriteRuntimeFile": WriteRuntimeFile,
}

func TestWriteFileAtomic(t *testing.T) {
	for name, write := range writers {
		t.Run(name, func(t *testing.T) { testWriteFile(t, write) })
	}
}

func testWriteFile(t *testing.T, write func(string, []byte, os.FileMode) error) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)

	if err := write(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := write(p, []byte("two, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "two, longer" {
		t.Fatalf("content = %q, %v", got, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644 despite umask 077", fi.Mode().Perm())
	}
	if err := write(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(p)
	if fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("after empty write: size %d mode %v", fi.Size(), fi.Mode().Perm())
	}
	if names := onlyFiles(t, dir); len(names) != 1 || names[0] != "f.json" {
		t.Errorf("dir holds %v, want only f.json", names)
	}
}

func TestWriteFileAtomicFailureKeepsOld(t *testing.T) {
	for name, write := range writers {
		t.Run(name, func(t *testing.T) { testWriteFailureKeepsOld(t, write) })
	}
}

func testWriteFailureKeepsOld(t *testing.T, write func(string, []byte, os.FileMode) error) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := write(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	testHookBeforeRename = func(tmp string) error {
		// The temp file is complete, hidden, and not yet in place.
		if b, _ := os.ReadFile(tmp); string(b) != "new" {
			t.Errorf("temp file holds %q", b)
		}
		if !strings.HasPrefix(filepath.Base(tmp), ".f.tmp-") {
			t.Errorf("temp file %s is not a hidden sibling", tmp)
		}
		return errors.New("injected failure")
	}
	defer func() { testHookBeforeRename = nil }()
	err := write(p, []byte("new"), 0o600)
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("content after failed write = %q, want old", b)
	}
	if names := onlyFiles(t, dir); len(names) != 1 {
		t.Errorf("temp file left behind: %v", names)
	}
}

func TestWriteFileAtomicOntoDirectory(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d")
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "keep"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteFileAtomic(p, []byte("x"), 0o600)
	if err == nil {
		t.Fatal("writing over a directory succeeded")
	}
	if !strings.Contains(err.Error(), p) {
		t.Errorf("error %q does not name the path", err)
	}
	if b, _ := os.ReadFile(filepath.Join(p, "keep")); string(b) != "k" {
		t.Errorf("directory content damaged")
	}
	if names := onlyFiles(t, dir); len(names) != 1 {
		t.Errorf("temp file left behind: %v", names)
	}
}

func TestWriteFileAtomicMissingDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope", "f")
	if err := WriteFileAtomic(p, []byte("x"), 0o600); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

// A full file system is a real failure mode (as root, permissions are not):
// a tiny tmpfs makes the write fail with ENOSPC, and the old file survives.
func TestWriteFileAtomicNoSpace(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Fatalf("cannot mount a tmpfs (run the tests as root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	p := filepath.Join(dir, "f")
	if err := WriteFileAtomic(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 1<<20)
	err := WriteFileAtomic(p, big, 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("content after failed write = %.20q, want old", b)
	}
	if names := onlyFiles(t, dir); len(names) != 1 {
		t.Errorf("temp file left behind: %v", names)
	}
}

func TestWriteFileAtomicBadPath(t *testing.T) {
	for _, p := range []string{"", "/", "dir/"} {
		if err := WriteFileAtomic(p, nil, 0o600); err == nil {
			t.Errorf("WriteFileAtomic(%q) succeeded", p)
		}
	}
}
