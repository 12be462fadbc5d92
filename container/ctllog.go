package container

import (
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/state"
)

// ControllerLogLimit caps the controller's log, like ConsoleLogLimit the
// console log: at this size it is renamed to <log>.1 (replacing the older
// one) and a new one begins, so a domain that restarts in a loop for months
// keeps at most about twice this on disk.
const ControllerLogLimit = 1 << 20

// ControllerLogLimitEnv overrides ControllerLogLimit (bytes), for tests
// that want to see rotation without writing a megabyte.
const ControllerLogLimitEnv = "LXCTL_CONTROLLER_LOG_LIMIT"

func controllerLogLimit() int64 {
	if v, err := strconv.ParseInt(os.Getenv(ControllerLogLimitEnv), 10, 64); err == nil && v > 0 {
		return v
	}
	return ControllerLogLimit
}

// rotateFullLog renames a log at or over limit to <log>.1. A symlink is
// left alone (the open that follows refuses it).
func rotateFullLog(path string, limit int64) {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size < limit {
		return
	}
	_ = os.Rename(path, path+".1")
}

// ctlLog is the controller's log: its stdout and stderr (fds 1 and 2) are
// the log file, so that whatever writes there (logrus, libcontainer, a
// panic) lands in it. Writes go to fd 2; when the file has reached the
// limit it is rotated and the new file is put on fds 1 and 2.
type ctlLog struct {
	mu    sync.Mutex
	path  string
	limit int64
}

// openControllerLog sets up the rotation of the controller's log of name
// and rotates it now if an earlier controller left it full.
func openControllerLog(l state.Layout, name string) (*ctlLog, error) {
	path, err := l.LogPath(name)
	if err != nil {
		return nil, err
	}
	w := &ctlLog{path: path, limit: controllerLogLimit()}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rotateIfFull()
	return w, nil
}

// Write writes p to the log; it never blocks on, or fails because of,
// rotation: a log that cannot be rotated keeps growing rather than losing
// what the controller says.
func (w *ctlLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := writeAll(2, p)
	w.rotateIfFull()
	return n, err
}

func writeAll(fd int, p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(fd, p[done:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

func (w *ctlLog) rotateIfFull() {
	var st unix.Stat_t
	if unix.Fstat(2, &st) != nil || st.Size < w.limit || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return
	}
	// Only the file at path is ours to rotate: stderr elsewhere (a
	// controller run by hand) is left alone.
	var cur unix.Stat_t
	if unix.Stat(w.path, &cur) != nil || cur.Dev != st.Dev || cur.Ino != st.Ino {
		return
	}
	if err := w.rotate(); err != nil {
		// Said in the log itself, once per failed attempt; it goes on.
		_, _ = writeAll(2, []byte(fmt.Sprintf("lxctl: rotate controller log %s: %v\n", w.path, err)))
	}
}

func (w *ctlLog) rotate() error {
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return err
	}
	fd, err := unix.Open(w.path, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, to := range []int{1, 2} {
		if err := unix.Dup3(fd, to, 0); err != nil {
			return err
		}
	}
	return nil
}
