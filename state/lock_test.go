package state

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestLockSameProcess(t *testing.T) {
	l := testLayout(t)
	lk, err := l.LockDomain("vm1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if lk.Name() != "vm1" {
		t.Errorf("Name() = %q", lk.Name())
	}
	begin := time.Now()
	_, err = l.LockDomain("vm1", 100*time.Millisecond)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock = %v, want ErrLocked", err)
	}
	if waited := time.Since(begin); waited < 100*time.Millisecond {
		t.Errorf("gave up after %v, before the 100ms wait", waited)
	}
	if want := "domain 'vm1' is busy: another lxctl command holds its lock"; err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
	if _, err := l.LockDomain("vm1", 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("try-once lock = %v, want ErrLocked", err)
	}
	other, err := l.LockDomain("vm2", 0)
	if err != nil {
		t.Fatalf("another domain's lock: %v", err)
	}
	_ = other.Unlock()

	if err := lk.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := lk.Unlock(); err != nil {
		t.Errorf("second Unlock = %v", err)
	}
	var nilLock *Lock
	if err := nilLock.Unlock(); err != nil {
		t.Errorf("nil Unlock = %v", err)
	}
	lk2, err := l.LockDomain("vm1", 0)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	_ = lk2.Unlock()

	p, _ := l.LockPath("vm1")
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file %s: %v, %v", p, fi, err)
	}
	if _, err := l.LockDomain("../x", time.Second); !errors.Is(err, ErrInvalidName) {
		t.Errorf("lock ../x = %v", err)
	}
}

func TestLockWaitsForRelease(t *testing.T) {
	l := testLayout(t)
	lk, err := l.LockDomain("vm1", 0)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(150*time.Millisecond, func() { _ = lk.Unlock() })
	begin := time.Now()
	lk2, err := l.LockDomain("vm1", 10*time.Second)
	if err != nil {
		t.Fatalf("waiting lock: %v", err)
	}
	defer lk2.Unlock()
	if waited := time.Since(begin); waited < 100*time.Millisecond || waited > 5*time.Second {
		t.Errorf("waited %v for a lock released after 150ms", waited)
	}
}

// startLockHelper re-executes the test binary as a process that holds the
// lock of name until its stdin is closed.
func startLockHelper(t *testing.T, l Layout, name string) (*exec.Cmd, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"LXCTL_STATE_HELPER=lock",
		"LXCTL_STATE_HELPER_ROOT="+filepath.Dir(l.Run),
		"LXCTL_STATE_HELPER_NAME="+name)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	release := func() { _ = stdin.Close() }
	t.Cleanup(func() {
		release()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, release
}

func TestLockHeldByChildProcess(t *testing.T) {
	l := testLayout(t)
	cmd, release := startLockHelper(t, l, "vm1")
	if _, err := l.LockDomain("vm1", 50*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock held by child: %v, want ErrLocked", err)
	}
	release()
	lk, err := l.LockDomain("vm1", 10*time.Second)
	if err != nil {
		t.Fatalf("lock after child released it: %v", err)
	}
	defer lk.Unlock()
	if err := cmd.Wait(); err != nil {
		t.Errorf("helper: %v", err)
	}
}

func TestLockReleasedWhenHolderKilled(t *testing.T) {
	l := testLayout(t)
	cmd, _ := startLockHelper(t, l, "vm1")
	if _, err := l.LockDomain("vm1", 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock held by child: %v", err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	lk, err := l.LockDomain("vm1", 10*time.Second)
	if err != nil {
		t.Fatalf("lock after holder was killed: %v", err)
	}
	_ = lk.Unlock()
}

// The lock fd is close-on-exec: a child started while the lock is held does
// not hold it, unless the file is handed over explicitly.
func TestLockNotInherited(t *testing.T) {
	l := testLayout(t)
	lk, err := l.LockDomain("vm1", 0)
	if err != nil {
		t.Fatal(err)
	}
	flags, err := unix.FcntlInt(lk.File().Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("F_GETFD = %#x, %v: lock fd is not close-on-exec", flags, err)
	}
	lockPath, _ := l.LockPath("vm1")

	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	waitExec(t, child.Process.Pid, "sleep")
	fds, _ := filepath.Glob("/proc/" + strconv.Itoa(child.Process.Pid) + "/fd/*")
	for _, fd := range fds {
		if target, _ := os.Readlink(fd); target == lockPath {
			t.Errorf("child inherited the lock fd %s", fd)
		}
	}
	if err := lk.Unlock(); err != nil {
		t.Fatal(err)
	}
	lk2, err := l.LockDomain("vm1", 0)
	if err != nil {
		t.Fatalf("lock after unlock with a child running: %v", err)
	}

	// Handed over explicitly, the child keeps the lock after we let go.
	heir := exec.Command("sleep", "30")
	heir.ExtraFiles = []*os.File{lk2.File()}
	if err := heir.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = heir.Process.Kill(); _ = heir.Wait() }()
	if err := lk2.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.LockDomain("vm1", 50*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock handed to a child: %v, want ErrLocked", err)
	}
	_ = heir.Process.Kill()
	_ = heir.Wait()
	lk3, err := l.LockDomain("vm1", 5*time.Second)
	if err != nil {
		t.Fatalf("lock after heir exited: %v", err)
	}
	_ = lk3.Unlock()
}

// waitExec waits until pid runs the program named comm.
func waitExec(t *testing.T, pid int, comm string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if strings.TrimSuffix(string(b), "\n") == comm {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not exec %q (comm %q)", pid, comm, b)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLockCounter(t *testing.T) {
	l := testLayout(t)
	counter := filepath.Join(t.TempDir(), "counter")
	if err := WriteFileAtomic(counter, []byte("0"), 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			lk, err := l.LockDomain("vm1", 30*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer lk.Unlock()
			b, err := os.ReadFile(counter)
			if err != nil {
				t.Error(err)
				return
			}
			n, err := strconv.Atoi(string(b))
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(100 * time.Microsecond) // widen the window a race would need
			if err := WriteFileAtomic(counter, []byte(strconv.Itoa(n+1)), 0o600); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if b, _ := os.ReadFile(counter); string(b) != "50" {
		t.Fatalf("counter = %s, want 50", b)
	}
}
