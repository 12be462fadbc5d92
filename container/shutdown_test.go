package container

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInitRequest: the request is sysvinit's struct init_request: 384
// bytes, magic, INIT_CMD_RUNLVL, the runlevel as a character, the rest 0.
func TestInitRequest(t *testing.T) {
	b := initRequest('6')
	if len(b) != 384 {
		t.Fatalf("request is %d bytes, want 384", len(b))
	}
	if m, c, r := binary.NativeEndian.Uint32(b), binary.NativeEndian.Uint32(b[4:]), binary.NativeEndian.Uint32(b[8:]); m != 0x03091969 || c != 1 || r != '6' {
		t.Errorf("magic %#x cmd %d runlevel %d", m, c, r)
	}
	for i, v := range b[12:] {
		if v != 0 {
			t.Fatalf("byte %d is %d, want 0", 12+i, v)
		}
	}
}

// TestSameFile: the host's own FIFO is recognised by device and inode,
// whatever path reached it; another FIFO is not it.
func TestSameFile(t *testing.T) {
	dir := t.TempDir()
	host, other := filepath.Join(dir, "host"), filepath.Join(dir, "other")
	for _, p := range []string{host, other} {
		if err := unix.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, ".", "host"), &st); err != nil {
		t.Fatal(err)
	}
	if !sameFile(st, []string{filepath.Join(dir, "missing"), host}) {
		t.Error("the host's FIFO was not recognised")
	}
	if sameFile(st, []string{other}) {
		t.Error("another FIFO was taken for the host's")
	}
}
