package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Lock is a held per-domain lock: an exclusive flock(2) on
// Run/.locks/<name>.lock. flock locks belong to the open file description,
// so a second LockDomain in the same process conflicts just like one in
// another process. The fd is close-on-exec: a child process holds the lock
// only if it is handed File() explicitly (e.g. in exec.Cmd.ExtraFiles).
type Lock struct {
	mu   sync.Mutex
	f    *os.File
	name string
}

const (
	lockBackoffMin = time.Millisecond
	lockBackoffMax = 20 * time.Millisecond
)

// LockDomain takes the domain's lock, waiting up to wait for another holder
// to release it (wait <= 0 tries once). When the lock stays busy it returns
// an error wrapping ErrLocked. The lock file is created if needed and is
// never renamed or removed, so every command locks the same inode.
func (l Layout) LockDomain(name string, wait time.Duration) (*Lock, error) {
	path, err := l.LockPath(name)
	if err != nil {
		return nil, err
	}
	if err := mkdirAll(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("lock domain '%s': %w", name, err)
	}
	deadline := time.Now().Add(wait)
	backoff := lockBackoffMin
	for {
		f, err := tryLock(path)
		if err != nil {
			return nil, fmt.Errorf("lock domain '%s': %w", name, err)
		}
		if f != nil {
			return &Lock{f: f, name: name}, nil
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, newError(ErrLocked, nil,
				fmt.Sprintf("domain '%s' is busy: another lxctl command holds its lock", name))
		}
		time.Sleep(min(backoff, remaining))
		backoff = min(2*backoff, lockBackoffMax)
	}
}

// tryLock opens path and tries a non-blocking exclusive flock. It returns the
// locked file, or (nil, nil) when someone else holds the lock.
func tryLock(path string) (*os.File, error) {
	for {
		fd, err := openNoSymlinks(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, filePerm)
		if err != nil {
			return nil, fmt.Errorf("open lock file %s: %w", path, err)
		}
		f := os.NewFile(uintptr(fd), path)
		for {
			err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
			if err != unix.EINTR {
				break
			}
		}
		if errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, nil
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", path, err)
		}
		// The file we locked must still be the one at path. Nothing in lxctl
		// removes lock files, but if someone did (rm -rf of the run dir), a
		// lock on the unlinked inode would exclude nobody: start over.
		same, err := sameFile(fd, path)
		if err != nil {
			f.Close()
			return nil, err
		}
		if same {
			return f, nil
		}
		f.Close()
	}
}

func sameFile(fd int, path string) (bool, error) {
	var held, cur unix.Stat_t
	if err := unix.Fstat(fd, &held); err != nil {
		return false, fmt.Errorf("stat lock file %s: %w", path, err)
	}
	if err := unix.Lstat(path, &cur); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("stat lock file %s: %w", path, err)
	}
	return held.Dev == cur.Dev && held.Ino == cur.Ino, nil
}

// Name is the domain this lock is for.
func (lk *Lock) Name() string { return lk.name }

// File is the locked file, for handing the lock to a child process
// explicitly (exec.Cmd.ExtraFiles). The lock lasts while any process keeps
// a descriptor of it open.
func (lk *Lock) File() *os.File {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	return lk.f
}

// Unlock releases the lock by closing this process's descriptor. If the file
// was handed to a child (File), the child keeps holding the lock until it
// closes its copy too; Unlock does not take it away from the child. Unlock is
// safe to call more than once and on a nil *Lock.
func (lk *Lock) Unlock() error {
	if lk == nil {
		return nil
	}
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if lk.f == nil {
		return nil
	}
	err := lk.f.Close()
	lk.f = nil
	if err != nil {
		return fmt.Errorf("unlock domain '%s': %w", lk.name, unwrapPath(err))
	}
	return nil
}
