package state

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestDefinitions(t *testing.T) {
	l := testLayout(t)
	if names, err := l.ListDefinitions(); err != nil || len(names) != 0 {
		t.Fatalf("empty list = %v, %v", names, err)
	}
	_, err := l.LoadDefinition("vm1")
	if !errors.Is(err, ErrNotFound) || err.Error() != "domain 'vm1' is not defined" {
		t.Fatalf("load missing = %v", err)
	}
	if err := l.RemoveDefinition("vm1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove missing = %v", err)
	}

	for _, n := range []string{"vm1", "a", "a-b", "b.c", "Z"} {
		if err := l.SaveDefinition(n, []byte("<domain>"+n+"</domain>")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SaveDefinition("vm1", []byte("<domain>v2</domain>")); err != nil {
		t.Fatal(err)
	}
	got, err := l.LoadDefinition("vm1")
	if err != nil || string(got) != "<domain>v2</domain>" {
		t.Fatalf("load = %q, %v", got, err)
	}
	p, _ := l.DefinitionPath("vm1")
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("definition mode = %v", fi.Mode().Perm())
	}

	// Junk that must not be listed.
	junk := map[string]string{
		".vm1.xml.tmp-123":               "file", // an interrupted atomic write
		".hidden.xml":                    "file",
		"notes.txt":                      "file",
		"noext":                          "file",
		"bad name.xml":                   "file",
		"-x.xml":                         "file",
		".xml":                           "file",
		"dir.xml":                        "dir",
		"link.xml":                       "symlink",
		strings.Repeat("a", 65) + ".xml": "file",
	}
	for n, kind := range junk {
		jp := filepath.Join(l.Domains, n)
		switch kind {
		case "file":
			err = os.WriteFile(jp, []byte("junk"), 0o600)
		case "dir":
			err = os.Mkdir(jp, 0o700)
		case "symlink":
			err = os.Symlink(p, jp)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	names, err := l.ListDefinitions()
	if want := []string{"Z", "a", "a-b", "b.c", "vm1"}; err != nil || !reflect.DeepEqual(names, want) {
		t.Fatalf("list = %v, %v; want %v", names, err, want)
	}

	if err := l.RemoveDefinition("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.LoadDefinition("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("load removed = %v", err)
	}
	names, _ = l.ListDefinitions()
	if want := []string{"Z", "a-b", "b.c", "vm1"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("list after remove = %v", names)
	}

	if err := l.SaveDefinition("../evil", []byte("x")); !errors.Is(err, ErrInvalidName) {
		t.Errorf("save ../evil = %v", err)
	}
	if _, err := l.LoadDefinition("a/b"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("load a/b = %v", err)
	}
	if err := l.RemoveDefinition(".."); !errors.Is(err, ErrInvalidName) {
		t.Errorf("remove .. = %v", err)
	}
}

func TestLoadDefinitionEmpty(t *testing.T) {
	l := testLayout(t)
	p, _ := l.DefinitionPath("vm1")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := l.LoadDefinition("vm1")
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
		t.Fatalf("load empty = %v", err)
	}
}

func TestListMissingDirs(t *testing.T) {
	l := NewLayout(filepath.Join(t.TempDir(), "nothing"))
	if n, err := l.ListDefinitions(); err != nil || n != nil {
		t.Errorf("ListDefinitions = %v, %v", n, err)
	}
	if n, err := l.ListRunDirs(); err != nil || n != nil {
		t.Errorf("ListRunDirs = %v, %v", n, err)
	}
}

// SaveDefinition creates the domains dir itself (0700) and so does every
// writer, so a fresh --root works without EnsureDirs.
func TestSaveCreatesDirs(t *testing.T) {
	l := NewLayout(filepath.Join(t.TempDir(), "fresh"))
	if err := l.SaveDefinition("vm1", []byte("<domain/>")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(l.Domains); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("domains dir: %v, %v", fi, err)
	}
}

func TestEnsureDirs(t *testing.T) {
	l := NewLayout(filepath.Join(t.TempDir(), "r"))
	if err := l.EnsureDirs(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{l.Domains, l.Run, l.Log} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v", d, fi, err)
		}
	}
	if err := l.EnsureDirs(); err != nil {
		t.Errorf("second EnsureDirs: %v", err)
	}
	if err := (Layout{}).EnsureDirs(); err == nil {
		t.Errorf("zero Layout: EnsureDirs succeeded")
	}
}

// 50 concurrent saves of distinct names all land; 50 of one name leave one
// complete definition (one of the written versions, never a mix).
func TestConcurrentSaves(t *testing.T) {
	l := testLayout(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			n := "d" + string(rune('A'+i%26)) + string(rune('a'+i/26))
			if err := l.SaveDefinition(n, []byte(n)); err != nil {
				t.Error(err)
			}
			body := strings.Repeat(string(rune('a'+i%26)), 4096+i)
			if err := l.SaveDefinition("same", []byte(body)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	names, _ := l.ListDefinitions()
	if len(names) != 51 {
		t.Errorf("%d definitions, want 51", len(names))
	}
	b, err := l.LoadDefinition("same")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 4096 || strings.Count(string(b), string(b[0])) != len(b) {
		t.Errorf("definition is a mix of writes (%d bytes)", len(b))
	}
	if ents := onlyFiles(t, l.Domains); len(ents) != 51 {
		t.Errorf("temp files left: %d entries", len(ents))
	}
}
