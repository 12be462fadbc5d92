package console

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func readLog(t *testing.T, p string) string {
	t.Helper()
	var b bytes.Buffer
	if err := ReadLog(p, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestLogRotation: written slowly (a flush between writes), the log
// rotates exactly at the limit and keeps everything from the last two
// files, in order.
func TestLogRotation(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	l, err := openCapLog(p, 100)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for i := range 50 {
		line := fmt.Sprintf("line %02d\n", i) // 8 bytes
		all.WriteString(line)
		l.Write([]byte(line))
		l.Flush()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// 400 bytes in files of 100: the last rotation came at exactly 400,
	// so .1 holds bytes 300–399 and the current file is empty.
	if got, want := readLog(t, p), all.String()[300:]; got != want {
		t.Fatalf("log holds %q; want %q", got, want)
	}
	l, _ = openCapLog(p, 100)
	l.Write([]byte("more\n"))
	l.Close()
	if got, want := readLog(t, p), all.String()[300:]+"more\n"; got != want {
		t.Fatalf("log holds %q; want %q", got, want)
	}
	for _, f := range []string{p, p + ".1"} {
		if fi, err := os.Stat(f); err != nil || fi.Size() > 100 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
}

// TestLogBurst: more than the limit between two flushes keeps exactly the
// newest limit bytes, with no older file left to suggest a continuity
// that is not there.
func TestLogBurst(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	os.WriteFile(p+".1", []byte("old old old\n"), 0o600)
	os.WriteFile(p, []byte("older\n"), 0o600)
	l, err := openCapLog(p, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&all, "burst %04d\n", i)
	}
	l.Write(all.Bytes()[:3000])
	l.Write(all.Bytes()[3000:])
	l.Close()
	got := readLog(t, p)
	if want := all.String()[all.Len()-1000:]; got != want {
		t.Fatalf("log after a burst: %d bytes, want the newest 1000", len(got))
	}
}

// TestLogAppends: a new server (a restarted controller) appends to the
// log it finds; replay shows both runs.
func TestLogAppends(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	for _, s := range []string{"first run\n", "second run\n"} {
		l, err := openCapLog(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		l.Write([]byte(s))
		l.Close()
	}
	if got := readLog(t, p); got != "first run\nsecond run\n" {
		t.Fatalf("%q", got)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v", fi.Mode())
	}
}

func TestReadLogMissing(t *testing.T) {
	err := ReadLog(filepath.Join(t.TempDir(), "none.log"), &bytes.Buffer{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%v", err)
	}
}
