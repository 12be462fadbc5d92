package cgroup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// errTimeout is returned by the waits below when the deadline passes; callers
// turn it into an error that names what is left.
var errTimeout = errors.New("deadline passed")

// readEvent returns a field of a cgroup2 directory's cgroup.events
// ("populated", "frozen").
func readEvent(dir, key string) (string, error) {
	data, err := cgroups.ReadFile(dir, "cgroup.events")
	if err != nil {
		return "", err
	}
	return eventField(dir, data, key)
}

// eventField is the field key of the cgroup.events text data, read from
// dir.
func eventField(dir, data, key string) (string, error) {
	for line := range strings.SplitSeq(data, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s: no %q in cgroup.events", dir, key)
}

// waitEvent waits until the field key of cgroup.events reads want in every
// one of the cgroup2 directories that still exist (a directory that is gone
// has no processes left to wait for).
//
// It sleeps in poll(2) on the open cgroup.events files: kernfs wakes its
// pollers (POLLPRI|POLLERR) at once when the file changes, and a read
// marks the file seen, so a change between a read and the poll is not
// lost. Not inotify: the kernel passes inotify events on from a
// workqueue, late on a busy host, and closing an inotify instance that
// had watches waits for an SRCU grace period (fsnotify's mark reaper):
// 10-20 ms on a 2-CPU VM, paid by every stop that waited.
//
// The kernel rate-limits these notifications to one per 10 ms per file, so
// a change that closely follows another may be seen up to 10 ms late.
func waitEvent(v2 []string, key, want string, deadline time.Time) error {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, dir := range v2 {
		f, err := cgroups.OpenFile(dir, "cgroup.events", unix.O_RDONLY)
		if isGone(err) {
			continue
		}
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	buf := make([]byte, 512)
	fds := make([]unix.PollFd, 0, len(files))
	for {
		fds = fds[:0]
		for _, f := range files {
			v, err := eventOf(f, key, buf)
			if isGone(err) {
				continue
			}
			if err != nil {
				return err
			}
			if v != want {
				fds = append(fds, unix.PollFd{Fd: int32(f.Fd()), Events: unix.POLLPRI})
			}
		}
		if len(fds) == 0 {
			return nil
		}
		ready, err := pollFds(fds, deadline)
		if err != nil {
			return err
		}
		if !ready {
			return errTimeout
		}
	}
}

// eventOf reads the field key of an open cgroup.events from its start,
// which also marks the file seen for poll.
func eventOf(f *os.File, key string, buf []byte) (string, error) {
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return eventField(f.Name(), string(buf[:n]), key)
}

// pollFds waits until one of fds reports an event or the deadline passes.
func pollFds(fds []unix.PollFd, deadline time.Time) (bool, error) {
	for {
		ms := msUntil(deadline)
		if ms == 0 {
			return false, nil
		}
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll: %w", err)
		}
		if n > 0 {
			return true, nil
		}
	}
}

// msUntil is the time left until deadline in whole milliseconds, rounded up
// so that a wait never ends early and then spins.
func msUntil(deadline time.Time) int {
	d := time.Until(deadline)
	if d <= 0 {
		return 0
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// backoff re-checks a condition the kernel offers no event for (the v1
// freezer state, rmdir of a v1 directory): 250µs, then doubling up to 16 ms.
type backoff struct{ next time.Duration }

const (
	backoffStart = 250 * time.Microsecond
	backoffMax   = 16 * time.Millisecond
)

// wait sleeps for the next interval, cut short at the deadline. It returns
// false without sleeping once the deadline has passed.
func (b *backoff) wait(deadline time.Time) bool {
	left := time.Until(deadline)
	if left <= 0 {
		return false
	}
	if b.next == 0 {
		b.next = backoffStart
	}
	time.Sleep(min(b.next, left))
	b.next = min(2*b.next, backoffMax)
	return true
}
