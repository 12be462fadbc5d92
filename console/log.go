package console

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultLogLimit is the console log cap when ServerConfig.LogLimit is 0.
const DefaultLogLimit = 1 << 20

const (
	// logFlushDelay: buffered bytes reach the disk within this.
	logFlushDelay = 100 * time.Millisecond
	// maxLogRing bounds the memory of the log buffer.
	maxLogRing = 4 << 20
)

// capLog is the console log: appends, capped. When the file reaches limit
// bytes it is renamed to <path>.1 (replacing the previous one) and a new
// file starts, so the newest limit bytes (at least) are on disk and the
// total never exceeds 2×limit.
//
// Bytes go to an in-memory ring first and reach the disk logFlushDelay
// after the first unflushed byte (no ticker: an idle log costs nothing).
// The ring keeps only the newest bytes, so a container printing faster
// than the log is flushed writes to the disk only what the cap would keep:
// rotating files (rename, create, free blocks) at the container's output
// rate costs more than the whole relay. When the ring dropped bytes, the
// files on disk are no longer contiguous with it and start over, so the
// log never has a hole in the middle.
type capLog struct {
	path  string
	limit int64

	mu     sync.Mutex
	f      *os.File
	size   int64
	ring   []byte
	start  int  // index of the oldest pending byte in ring
	n      int  // pending bytes
	lost   bool // pending bytes were dropped: the disk must start over
	timer  *time.Timer
	armed  bool
	closed bool
	err    error // first write error; the relay goes on regardless
}

func openCapLog(path string, limit int64) (*capLog, error) {
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	l := &capLog{path: path, limit: limit, ring: make([]byte, min(limit, maxLogRing))}
	// O_NOFOLLOW: a symlink planted at the log's path must not make the
	// controller (root) append container output to any file it points to.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("console log %s is a symlink: it is not written through one (remove it)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open console log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open console log: %w", err)
	}
	l.f, l.size = f, st.Size()
	if l.size >= l.limit {
		if err := l.rotate(); err != nil {
			if l.f != nil {
				l.f.Close()
			}
			return nil, err
		}
	}
	l.timer = time.AfterFunc(time.Hour, l.timedFlush)
	l.timer.Stop()
	return l, nil
}

// Write buffers p. It never fails: a log that cannot be written must not
// stop the console (the first error is kept for Close).
func (l *capLog) Write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(p) == 0 {
		return
	}
	r := len(l.ring)
	if len(p) >= r {
		l.lost = l.lost || l.n > 0 || len(p) > r
		p = p[len(p)-r:]
		l.start, l.n = 0, 0
	}
	if free := r - l.n; len(p) > free {
		drop := len(p) - free
		l.start = (l.start + drop) % r
		l.n -= drop
		l.lost = true
	}
	end := (l.start + l.n) % r
	c := copy(l.ring[end:], p)
	copy(l.ring, p[c:])
	l.n += len(p)
	if !l.armed {
		l.armed = true
		l.timer.Reset(logFlushDelay)
	}
}

func (l *capLog) timedFlush() {
	l.mu.Lock()
	l.armed = false
	if !l.closed {
		l.flushLocked()
	}
	l.mu.Unlock()
}

// Flush writes the buffered bytes now.
func (l *capLog) Flush() {
	l.mu.Lock()
	l.flushLocked()
	l.mu.Unlock()
}

func (l *capLog) flushLocked() {
	if l.n == 0 {
		return
	}
	if l.lost {
		// What is on disk is older than a gap: start over.
		if l.f != nil {
			if err := l.f.Truncate(0); err != nil {
				l.keep(err)
			}
			l.size = 0
		}
		if err := os.Remove(l.path + ".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.keep(err)
		}
		l.lost = false
	}
	r := len(l.ring)
	if l.start+l.n <= r {
		l.writeLocked(l.ring[l.start : l.start+l.n])
	} else {
		l.writeLocked(l.ring[l.start:])
		l.writeLocked(l.ring[:l.start+l.n-r])
	}
	l.start, l.n = 0, 0
}

// writeLocked writes p, rotating exactly at the limit.
func (l *capLog) writeLocked(p []byte) {
	for len(p) > 0 {
		if l.f == nil { // a failed rotation: try again
			if err := l.rotate(); err != nil {
				return
			}
		}
		room := l.limit - l.size
		chunk := p
		if int64(len(chunk)) > room {
			chunk = chunk[:room]
		}
		n, err := l.f.Write(chunk)
		l.size += int64(n)
		p = p[n:]
		if err != nil {
			l.keep(err)
			return
		}
		if l.size >= l.limit {
			if err := l.rotate(); err != nil {
				return
			}
		}
	}
}

func (l *capLog) rotate() error {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	if err := os.Rename(l.path, l.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		l.keep(err)
		return err
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		l.keep(err)
		return err
	}
	l.f, l.size = f, 0
	return nil
}

func (l *capLog) keep(err error) {
	if l.err == nil {
		l.err = fmt.Errorf("console log %s: %w", l.path, err)
	}
}

// Close flushes and closes the log and returns the first error seen.
func (l *capLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.err
	}
	l.closed = true
	l.timer.Stop()
	l.armed = false
	l.flushLocked()
	if l.f != nil {
		if err := l.f.Close(); err != nil {
			l.keep(err)
		}
		l.f = nil
	}
	return l.err
}

// ReadLog writes what the console log at logPath holds to w, oldest first
// (the rotated part, then the current file). It returns an error wrapping
// os.ErrNotExist when there is no log at all. A rotation while it runs
// costs at most the bytes written meanwhile, never a repeat or a gap.
func ReadLog(logPath string, w io.Writer) error {
	// The current file first: if it is rotated before .1 is opened, both
	// opens name the same file, which is then read once.
	cur, err := os.OpenFile(logPath, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read console log: %w", err)
	}
	if cur != nil {
		defer cur.Close()
	}
	old, err := os.OpenFile(logPath+".1", os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read console log: %w", err)
	}
	if old != nil {
		defer old.Close()
	}
	if cur == nil && old == nil {
		return fmt.Errorf("read console log %s: %w", logPath, os.ErrNotExist)
	}
	if cur != nil && old != nil {
		fc, err1 := cur.Stat()
		fo, err2 := old.Stat()
		if err1 == nil && err2 == nil && os.SameFile(fc, fo) {
			old = nil
		}
	}
	for _, f := range []*os.File{old, cur} {
		if f == nil {
			continue
		}
		if _, err := io.Copy(w, f); err != nil {
			return fmt.Errorf("read console log %s: %w", f.Name(), err)
		}
	}
	return nil
}
