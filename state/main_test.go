package state

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"testing"
	"time"
)

// The test binary doubles as a helper process: with LXCTL_STATE_HELPER=lock
// it takes the lock of LXCTL_STATE_HELPER_NAME under LXCTL_STATE_HELPER_ROOT,
// prints "locked", and holds it until its stdin is closed.
func TestMain(m *testing.M) {
	if os.Getenv("LXCTL_STATE_HELPER") == "lock" {
		os.Exit(lockHelper())
	}
	// A stand-in with a controller's command line (see
	// controller_test.go): it waits until its stdin is closed.
	if len(os.Args) > 1 && os.Args[1] == ControllerCommand {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func lockHelper() int {
	l := NewLayout(os.Getenv("LXCTL_STATE_HELPER_ROOT"))
	lk, err := l.LockDomain(os.Getenv("LXCTL_STATE_HELPER_NAME"), 10*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stdout, "error:", err)
		return 1
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "locked")
	w.Flush()
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := lk.Unlock(); err != nil {
		return 1
	}
	return 0
}

func testLayout(t *testing.T) Layout {
	t.Helper()
	l := NewLayout(t.TempDir())
	if err := l.EnsureDirs(); err != nil {
		t.Fatal(err)
	}
	return l
}
