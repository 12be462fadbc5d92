package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSweepStale: the temp files and record-less runtime dirs that a killed
// command leaves are removed, and only those: not while a writer may still
// be at work (lock held, or too young to tell), and nothing that is not
// lxctl's own.
func TestSweepStale(t *testing.T) {
	l := testLayout(t)
	touch := func(p string, age time.Duration) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if age > 0 {
			when := time.Now().Add(-age)
			if err := os.Chtimes(p, when, when); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	exists := func(p string) bool {
		_, err := os.Lstat(p)
		return err == nil
	}
	exitDir := filepath.Join(l.Run, exitDirName)
	gone := []string{
		touch(filepath.Join(l.Domains, ".vm1.xml.tmp-123456"), 0),           // killed define, lock free
		touch(filepath.Join(l.Domains, ".busy.xml.tmp-42"), 2*StaleTempAge), // locked, but far too old
		touch(filepath.Join(exitDir, ".vm1.json.tmp-777"), 2*StaleTempAge),  // old exit record temp
		touch(filepath.Join(l.Run, "orphan", "live.xml"), 0),                // start killed before its controller wrote a record
	}
	kept := []string{
		touch(filepath.Join(l.Domains, ".busy.xml.tmp-43"), 0),            // a define at work holds the lock
		touch(filepath.Join(exitDir, ".vm2.json.tmp-778"), 0),             // a controller may be writing it
		touch(filepath.Join(l.Domains, "vm1.xml"), 0),                     // a definition
		touch(filepath.Join(l.Domains, ".notes.tmp-1"), 2*StaleTempAge),   // not a definition's temp file
		touch(filepath.Join(l.Domains, ".x.xml.tmp-abc"), 2*StaleTempAge), // not CreateTemp's pattern
		touch(filepath.Join(l.Run, "starting", "live.xml"), 0),            // a start holds the lock
		touch(filepath.Join(l.Run, "running", statusFile), 0),             // a record
	}
	busy, err := l.LockDomain("busy", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Unlock()
	starting, err := l.LockDomain("starting", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SweepStale(); err != nil {
		t.Fatal(err)
	}
	for _, p := range gone {
		if exists(p) {
			t.Errorf("%s was not swept", p)
		}
	}
	if exists(filepath.Join(l.Run, "orphan")) {
		t.Errorf("the runtime dir without a record was not swept")
	}
	for _, p := range kept {
		if !exists(p) {
			t.Errorf("%s was swept", p)
		}
	}
	// Once the start is over (here: gave up) its dir goes too.
	starting.Unlock()
	if err := l.SweepStale(); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(l.Run, "starting")) {
		t.Errorf("the runtime dir of a start that gave up was not swept")
	}
}
