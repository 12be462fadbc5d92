package state

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
)

// maxRecord bounds what readFile reads: records and definitions are a few
// kB, and a file that keeps growing must not exhaust memory.
const maxRecord = 16 << 20

// readFile is os.ReadFile for the small files lxctl reads on every command:
// status records, definitions, /proc/<pid>/stat. os.ReadFile also fstats
// the file and tries to register it with the netpoller (epoll_ctl, which
// fails for these files, and four fcntls); at 2-3 extra syscalls per file
// and two files per running domain, that was most of what list spent per
// domain. Errors are *fs.PathError, as os.ReadFile's.
func readFile(path string) ([]byte, error) { return readFileMax(path, maxRecord) }

// readFileMax is readFile for files of at most limit bytes: a longer one
// fails with EFBIG once limit+1 bytes are read, whatever its real length.
func readFileMax(path string, limit int) ([]byte, error) {
	fd, err := openRetry(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	// Read into a pooled buffer and return an exact copy: fresh heap pages
	// cost a page fault each on first touch, which on this kind of VM made
	// a 4 KiB buffer per file a good part of list's per-domain time.
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return nil, &fs.PathError{Op: "read", Path: path, Err: unix.EFBIG}
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			out := make([]byte, len(buf))
			copy(out, buf)
			if cap(buf) <= readBufSize {
				*bp = buf
			}
			return out, nil
		}
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, &fs.PathError{Op: "read", Path: path, Err: unix.EFBIG}
		}
	}
}

const readBufSize = 8 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, readBufSize); return &b }}

func openRetry(path string) (int, error) {
	return openNoSymlinks(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

// openat2Missing is set once the kernel said it has no openat2 (before 5.6).
var openat2Missing atomic.Bool

// openNoSymlinks opens path without following a symlink in any of its
// components (openat2 RESOLVE_NO_SYMLINKS; the layout's own directories
// are canonical, see NewLayout), so a link planted anywhere under the root
// can never redirect what lxctl reads or writes. On a kernel without
// openat2 it falls back to O_NOFOLLOW, which guards the last component.
func openNoSymlinks(path string, flags int, mode uint32) (int, error) {
	for {
		var fd int
		var err error
		if !openat2Missing.Load() {
			fd, err = unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
				Flags: uint64(flags), Mode: uint64(mode),
				Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
			})
			if err == unix.ENOSYS {
				openat2Missing.Store(true)
				continue
			}
		} else {
			fd, err = unix.Open(path, flags|unix.O_NOFOLLOW, mode)
		}
		if err != unix.EINTR && err != unix.EAGAIN {
			return fd, err
		}
	}
}

// ReadFile reads a small file lxctl owns (a record, a live config) or a
// /proc file, without following a symlink in any component of its path,
// at most 16 MiB. Errors are *fs.PathError.
func ReadFile(path string) ([]byte, error) { return readFile(path) }

// ReadXMLFile reads the domain or network document at path, refusing one
// over domainxml.MaxDocumentSize after reading at most that much. what
// names the document in the error ("domain XML vm1.xml") and fix says what
// to do about it. Errors reading it are *fs.PathError, as os.ReadFile's.
func ReadXMLFile(path, what, fix string) ([]byte, error) {
	data, err := readFileMax(path, domainxml.MaxDocumentSize)
	if errors.Is(err, unix.EFBIG) {
		// Only the error path pays for the stat that gives the size.
		size := int64(-1)
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().IsRegular() && fi.Size() > domainxml.MaxDocumentSize {
			size = fi.Size()
		}
		return nil, domainxml.TooLarge(what, size, fix)
	}
	return data, err
}
