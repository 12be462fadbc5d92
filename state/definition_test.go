package state

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
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

// TestStoredXMLSizeLimit: a stored definition over domainxml's 1 MiB limit
// (never written by lxctl) is reported as corrupt, naming the file, its
// size and the way out, and is not read whole.
func TestStoredXMLSizeLimit(t *testing.T) {
	l := testLayout(t)
	if err := l.SaveDefinition("vm1", []byte(strings.Repeat(" ", 1<<20))); err != nil {
		t.Fatal(err)
	}
	if data, err := l.LoadDefinition("vm1"); err != nil || len(data) != 1<<20 {
		t.Fatalf("1 MiB: %d bytes, %v", len(data), err)
	}
	p, _ := l.DefinitionPath("vm1")
	// Sparse: 100 MB that cost nothing to make.
	if err := os.Truncate(p, 100<<20); err != nil {
		t.Fatal(err)
	}
	_, err := l.LoadDefinition("vm1")
	want := "definition file " + p + " is 104857600 bytes; lxctl accepts at most 1 MiB (lxctl never writes one that large: define domain 'vm1' again, or remove the file)"
	if !errors.Is(err, ErrCorrupt) || err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}

	if err := l.SaveNetwork("net1", []byte("<network/>")); err != nil {
		t.Fatal(err)
	}
	np, _ := l.NetworkPath("net1")
	if err := os.Truncate(np, 2<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := l.LoadNetwork("net1"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), np+" is 2097152 bytes; lxctl accepts at most 1 MiB") {
		t.Errorf("network: %v", err)
	}

	// A stream (no size to stat) is cut off after the limit.
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		chunk := make([]byte, 64<<10)
		for i := 0; i < 1600; i++ { // 100 MiB, if it were all read
			if _, err := f.Write(chunk); err != nil {
				return // the reader stopped: what this test wants
			}
		}
	}()
	_, err = ReadXMLFile(fifo, "domain XML "+fifo, "check it")
	if want := "domain XML " + fifo + " is more than 1 MiB; lxctl accepts at most 1 MiB (check it)"; err == nil || err.Error() != want {
		t.Errorf("fifo: got %v\nwant %s", err, want)
	}
}

func TestAutostartFlag(t *testing.T) {
	l := NewLayout(t.TempDir())
	if err := l.SetAutostart("vm1", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("autostart of an undefined domain: %v", err)
	}
	if err := l.SetAutostart("../x", true); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("autostart of a bad name: %v", err)
	}
	if err := l.SaveDefinition("vm1", []byte("<domain/>")); err != nil {
		t.Fatal(err)
	}
	if l.Autostart("vm1") {
		t.Fatal("autostart before it was set")
	}
	if err := l.SetAutostart("vm1", true); err != nil || !l.Autostart("vm1") {
		t.Fatalf("set autostart: %v", err)
	}
	if names, err := l.ListAutostart(); err != nil || len(names) != 1 || names[0] != "vm1" {
		t.Fatalf("ListAutostart = %v, %v", names, err)
	}
	if names, _ := l.ListDefinitions(); len(names) != 1 {
		t.Fatalf("the flag is listed as a definition: %v", names)
	}
	if err := l.SetAutostart("vm1", false); err != nil || l.Autostart("vm1") {
		t.Fatalf("unset autostart: %v", err)
	}
	if err := l.SetAutostart("vm1", false); err != nil {
		t.Fatalf("unset twice: %v", err)
	}
	// undefine takes the flag with it: a later define of the name is not autostarted.
	if err := l.SetAutostart("vm1", true); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveDefinition("vm1"); err != nil {
		t.Fatal(err)
	}
	if err := l.SaveDefinition("vm1", []byte("<domain/>")); err != nil {
		t.Fatal(err)
	}
	if l.Autostart("vm1") {
		t.Fatal("the autostart flag outlived undefine")
	}
	// A symlink planted as the flag does not count.
	p, _ := l.AutostartPath("vm1")
	if err := os.Symlink("/etc/passwd", p); err != nil {
		t.Fatal(err)
	}
	if l.Autostart("vm1") {
		t.Fatal("a symlink counts as the autostart flag")
	}
}
