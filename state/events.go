package state

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The event log: lxctl has no daemon to broadcast events, so whoever causes
// one (a command, a controller, the sweep after a dead controller) appends
// it to one file under the run dir, and `lxctl event` follows that file
// through inotify. One line of JSON per event, appended with O_APPEND in a
// single write, so concurrent writers never interleave within a line, and
// each domain's events are in the order their causes happened. The log is
// bounded: past eventLogMax bytes (1 MiB) it is renamed to log.1 (the previous
// log.1 is dropped) under an exclusive flock that writers take shared, so
// a follower never misses a line written across the rotation (nor across
// two: it reads log.1 when that is not the file it was on). Only a
// follower more than two rotations (2 MiB of events) behind loses events.

// eventLogMax is the size at which the event log is rotated (a variable
// so tests can rotate often).
var eventLogMax int64 = 1 << 20

const (
	eventsDirName = ".events"
	eventsLog     = "log"
	eventsOld     = "log.1"
	eventsLock    = "lock"
)

// Event is one domain event, in libvirt's terms: Type "lifecycle" with
// Event/Detail such as Started/Booted, Stopped/Destroyed, or Type "reboot".
type Event struct {
	Time   time.Time `json:"time"`
	Domain string    `json:"domain"`
	UUID   string    `json:"uuid,omitempty"`
	Type   string    `json:"type"`
	Event  string    `json:"event,omitempty"`
	Detail string    `json:"detail,omitempty"`
	// Reason says more where the kernel told why (a crash on the memory
	// limit); empty otherwise.
	Reason string `json:"reason,omitempty"`
}

// EventsDir is where the event log lives.
func (l Layout) EventsDir() string { return filepath.Join(l.Run, eventsDirName) }

// AppendEvent records e (Time set to now when zero). Events are best
// effort for the caller: the state change they describe has happened
// whether or not the log could be written, so callers report the error
// at most as a warning.
func (l Layout) AppendEvent(e Event) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	dir := l.EventsDir()
	if err := mkdirAll(dir); err != nil {
		return err
	}
	lk, err := openLockFile(filepath.Join(dir, eventsLock))
	if err != nil {
		return err
	}
	defer unix.Close(lk)
	if err := flockRetry(lk, unix.LOCK_SH); err != nil {
		return fmt.Errorf("event log lock: %w", err)
	}
	p := filepath.Join(dir, eventsLog)
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, filePerm)
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil && st.Size+int64(len(line)) > eventLogMax {
		unix.Close(fd)
		// Rotate under the exclusive lock: drop the shared one first, as
		// flock upgrades are not atomic, and re-check after.
		if err := flockRetry(lk, unix.LOCK_EX); err != nil {
			return fmt.Errorf("event log lock: %w", err)
		}
		if err := unix.Stat(p, &st); err == nil && st.Size+int64(len(line)) > eventLogMax {
			if err := os.Rename(p, filepath.Join(dir, eventsOld)); err != nil {
				return err
			}
		}
		if fd, err = unix.Open(p, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, filePerm); err != nil {
			return &os.PathError{Op: "open", Path: p, Err: err}
		}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, line); err != nil {
		return &os.PathError{Op: "write", Path: p, Err: err}
	}
	return nil
}

func openLockFile(p string) (int, error) {
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, filePerm)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return fd, nil
}

func flockRetry(fd, how int) error {
	for {
		if err := unix.Flock(fd, how); err != unix.EINTR {
			return err
		}
	}
}

// EventFollower reads the events appended after it was opened.
type EventFollower struct {
	dir    string
	ino    int // inotify instance
	f      *os.File
	r      *bufio.Reader
	devIno [2]uint64 // identity of the file f is, to notice a rotation
	lock   int
	closed bool
}

// FollowEvents starts following the event log from its current end.
func (l Layout) FollowEvents() (*EventFollower, error) {
	dir := l.EventsDir()
	if err := mkdirAll(dir); err != nil {
		return nil, err
	}
	ino, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	// A watch on the directory reports writes to the log and its rotation.
	if _, err := unix.InotifyAddWatch(ino, dir, unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_MOVED_FROM); err != nil {
		unix.Close(ino)
		return nil, fmt.Errorf("inotify watch %s: %w", dir, err)
	}
	lk, err := openLockFile(filepath.Join(dir, eventsLock))
	if err != nil {
		unix.Close(ino)
		return nil, err
	}
	f := &EventFollower{dir: dir, ino: ino, lock: lk}
	if err := f.open(true); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// open (re)opens the current log; atEnd skips what is already in it.
func (f *EventFollower) open(atEnd bool) error {
	p := filepath.Join(f.dir, eventsLog)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, filePerm)
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	file := os.NewFile(uintptr(fd), p)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		file.Close()
		return err
	}
	if atEnd {
		if _, err := file.Seek(0, io.SeekEnd); err != nil {
			file.Close()
			return err
		}
	}
	if f.f != nil {
		f.f.Close()
	}
	f.f, f.r, f.devIno = file, bufio.NewReader(file), [2]uint64{st.Dev, st.Ino}
	return nil
}

// rotated says whether the log's name now names another file than f's.
func (f *EventFollower) rotated() bool {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(f.dir, eventsLog), &st); err != nil {
		return false
	}
	return [2]uint64{st.Dev, st.Ino} != f.devIno
}

// ErrTimeout is returned by Next when no event came in time.
var ErrTimeout = errors.New("no event in time")

// Next returns the next event, waiting for it until deadline (zero: for
// ever). Lines that do not parse (a torn write after a crash) are skipped.
func (f *EventFollower) Next(deadline time.Time) (*Event, error) {
	var partial string
	for {
		line, err := f.r.ReadString('\n')
		partial += line
		if err == nil {
			var e Event
			if json.Unmarshal([]byte(partial), &e) == nil {
				return &e, nil
			}
			partial = ""
			continue
		}
		if err != io.EOF {
			return nil, err
		}
		// At the end of this file: a rotation means the rest is in the
		// new one. The shared lock waits out a writer that opened the old
		// file before the rename, so nothing written to it is lost.
		if f.rotated() {
			if err := flockRetry(f.lock, unix.LOCK_EX); err != nil {
				return nil, err
			}
			rest, _ := io.ReadAll(f.r)
			// Rotated twice since: what came between is in log.1 now.
			var between []byte
			var st unix.Stat_t
			if unix.Stat(filepath.Join(f.dir, eventsOld), &st) == nil && [2]uint64{st.Dev, st.Ino} != f.devIno {
				between, _ = readFile(filepath.Join(f.dir, eventsOld))
			}
			err := f.open(false)
			_ = unix.Flock(f.lock, unix.LOCK_UN)
			if err != nil {
				return nil, err
			}
			if len(rest)+len(between) > 0 {
				f.r = bufio.NewReader(io.MultiReader(strings.NewReader(partial+string(rest)+string(between)), f.f))
				partial = ""
			}
			continue
		}
		if err := f.wait(deadline); err != nil {
			return nil, err
		}
	}
}

// wait blocks until the directory reports a change or the deadline passes.
func (f *EventFollower) wait(deadline time.Time) error {
	timeout := -1
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return ErrTimeout
		}
		timeout = int(d/time.Millisecond) + 1
	}
	fds := []unix.PollFd{{Fd: int32(f.ino), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll inotify: %w", err)
		}
		if n == 0 {
			return ErrTimeout
		}
		buf := make([]byte, 4096)
		if _, err := unix.Read(f.ino, buf); err != nil && err != unix.EAGAIN {
			return fmt.Errorf("read inotify: %w", err)
		}
		return nil
	}
}

// Close releases the follower.
func (f *EventFollower) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	if f.f != nil {
		f.f.Close()
	}
	unix.Close(f.lock)
	return unix.Close(f.ino)
}
