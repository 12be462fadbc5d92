package cgroup

import (
	"errors"
	"fmt"
	"path/filepath"
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
	for line := range strings.SplitSeq(data, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s: no %q in cgroup.events", dir, key)
}

// waitEvent waits until the field key of cgroup.events reads want in every
// one of the cgroup2 directories that still exist (a directory that is gone
// has no processes left to wait for). The kernel signals a change of that file
// as an inotify IN_MODIFY, so this sleeps until something happens. The watch
// is set up before the first read, so no change can slip in between.
//
// The kernel rate-limits these notifications to one per 10 ms per file, so
// a change that closely follows another may be seen up to 10 ms late.
//
// Closing an inotify instance that had watches waits for an SRCU grace
// period (fsnotify's mark reaper): 10-20 ms on a 2-CPU VM. So the state is
// read once before any watch is made, and a wait whose condition already
// holds costs no inotify at all.
func waitEvent(v2 []string, key, want string, deadline time.Time) error {
	if done, err := eventsAre(v2, key, want); err != nil || done {
		return err
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	defer unix.Close(fd)
	for _, dir := range v2 {
		_, err := unix.InotifyAddWatch(fd, filepath.Join(dir, "cgroup.events"), unix.IN_MODIFY)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("inotify on %s/cgroup.events: %w", dir, err)
		}
	}
	buf := make([]byte, 4096)
	for {
		done, err := eventsAre(v2, key, want)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		ready, err := pollIn(fd, deadline)
		if err != nil {
			return err
		}
		if !ready {
			return errTimeout
		}
		// Drain the events: which file changed does not matter, all are re-read.
		for {
			if _, err := unix.Read(fd, buf); err != nil {
				break
			}
		}
	}
}

// eventsAre says whether the field key of cgroup.events reads want in every
// one of the cgroup2 directories that still exist.
func eventsAre(v2 []string, key, want string) (bool, error) {
	for _, dir := range v2 {
		v, err := readEvent(dir, key)
		if isGone(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		if v != want {
			return false, nil
		}
	}
	return true, nil
}

// pollIn waits until fd is readable or the deadline passes.
func pollIn(fd int, deadline time.Time) (bool, error) {
	for {
		ms := msUntil(deadline)
		if ms == 0 {
			return false, nil
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
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
