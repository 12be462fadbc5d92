package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// testHookBeforeRename, when set by tests, runs after the temp file is
// complete and before it is renamed into place; an error aborts the write.
var testHookBeforeRename func(tmp string) error

// WriteFileAtomic replaces path with data so that readers see either the old
// file or the new one, never a partial write, even across a crash: it writes
// a temp file in the same directory (O_EXCL, close-on-exec, named
// ".<base>.tmp-*" so listings ignore it), fsyncs it, sets perm exactly
// (regardless of umask), renames it over path and fsyncs the directory. On
// failure the temp file is removed and path is untouched. The directory must
// exist. If path is a symlink, the link itself is replaced.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeFileAtomic(path, data, perm, true)
}

// WriteRuntimeFile is WriteFileAtomic without the fsyncs, for runtime
// records (status, live XML, exit records): readers still never see a
// partial file, but nothing is forced to disk, because what these files
// describe (running processes) does not survive the crash an fsync would
// guard against. runc writes its state.json the same way. On this kind of
// machine the two fsyncs cost 1.5-2.5 ms per write, and a start writes
// three such files.
func WriteRuntimeFile(path string, data []byte, perm os.FileMode) error {
	return writeFileAtomic(path, data, perm, false)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode, durable bool) (retErr error) {
	dir, base := filepath.Split(path)
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("write %q: not a file path", path)
	}
	if dir == "" {
		dir = "."
	}
	// Not through a symlink: a link planted for the directory (or one of
	// its parents) must not move lxctl's write elsewhere.
	dfd, err := openNoSymlinks(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return fmt.Errorf("write %s: directory %s is reached through a symlink: lxctl does not write through one", path, dir)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	unix.Close(dfd)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: create temp file: %w", path, unwrapPath(err))
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if retErr != nil {
			if !closed {
				_ = f.Close()
			}
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: set mode %#o: %w", path, perm, unwrapPath(err))
	}
	if durable {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("write %s: fsync: %w", path, unwrapPath(err))
		}
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", path, unwrapPath(err))
	}
	if testHookBeforeRename != nil {
		if err := testHookBeforeRename(tmp); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapRename(err))
	}
	if !durable {
		return nil
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: written, but fsync of directory %s failed: %w", path, dir, err)
	}
	return nil
}

func unwrapRename(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// syncDir makes a rename or removal in dir durable. File systems that cannot
// fsync a directory (EINVAL) are not an error.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return unwrapPath(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return unwrapPath(err)
	}
	return nil
}
