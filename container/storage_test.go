package container

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/state"
)

// These run on real loop devices: root only. Each image is the test's own.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: attaches loop devices")
	}
}

func sparse(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDetectFS(t *testing.T) {
	ext4 := sparse(t, 16<<20)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", ext4).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v %s", err, out)
	}
	for file, want := range map[string]string{ext4: "ext4", sparse(t, 1<<20): ""} {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := detectFS(f); got != want {
			t.Errorf("%s: detectFS = %q, want %q", file, got, want)
		}
		f.Close()
	}
	// Synthetic superblocks of the others.
	for want, sb := range map[string]func([]byte){
		"xfs":      func(b []byte) { copy(b, "XFSB") },
		"squashfs": func(b []byte) { copy(b, "hsqs") },
		"btrfs":    func(b []byte) { copy(b[0x10040:], "_BHRfS_M") },
		"iso9660":  func(b []byte) { copy(b[0x8001:], "CD001") },
		"vfat":     func(b []byte) { copy(b[82:], "FAT32"); b[510], b[511] = 0x55, 0xaa },
		"ext2":     func(b []byte) { b[0x438], b[0x439] = 0x53, 0xef },
		"ext3":     func(b []byte) { b[0x438], b[0x439] = 0x53, 0xef; b[0x45c] = 0x4 },
	} {
		b := make([]byte, 0x11000)
		sb(b)
		if got := detectFS(bytes.NewReader(b)); got != want {
			t.Errorf("detectFS = %q, want %q", got, want)
		}
	}
}

// TestLoopMarkAndDetach: a loop device lxctl attaches carries the domain's
// mark, is read-only when asked, and DetachLoops waits until its last user
// has let go before it returns.
func TestLoopMarkAndDetach(t *testing.T) {
	needRoot(t)
	l := state.NewLayout(t.TempDir())
	name := "detach-" + strings.ReplaceAll(t.Name(), "/", "-")
	img, err := os.Open(sparse(t, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	dev, err := attachLoop(img, true, LoopMark(l, name))
	if err != nil {
		t.Fatal(err)
	}
	loop := filepath.Base(dev.Name())
	// A second user, as a mount would be.
	user, err := os.Open(dev.Name())
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	dev.Close()
	if ro, _ := os.ReadFile("/sys/block/" + loop + "/ro"); strings.TrimSpace(string(ro)) != "1" {
		t.Errorf("%s is not read-only", loop)
	}
	if got := markedLoops("lxctl/none/such"); len(got) != 0 {
		t.Errorf("another mark found %v", got)
	}
	done := make(chan error, 1)
	go func() { done <- DetachLoops(l, name) }()
	select {
	case err := <-done:
		user.Close()
		t.Fatalf("DetachLoops returned while the device was in use: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	user.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/sys/block/" + loop + "/loop"); err == nil {
		t.Errorf("%s still attached after DetachLoops", loop)
	}
}

func TestLoopMarkFits(t *testing.T) {
	l := state.NewLayout("/tmp/x")
	long := strings.Repeat("n", 64)
	for _, n := range []string{"vm1", long} {
		if m := LoopMark(l, n); len(m) > unix.LO_NAME_SIZE-1 || !strings.HasPrefix(m, "lxctl/"+l.Key()+"/") {
			t.Errorf("LoopMark(%q) = %q", n, m)
		}
	}
	if LoopMark(l, long) == LoopMark(l, long[1:]) {
		t.Errorf("two long names share a mark")
	}
}
