package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// killFreezeTimeout bounds the freeze that precedes each kill pass. The
// freeze only stops processes from forking while their pids are read and
// signalled; if it does not complete (a task in uninterruptible sleep cannot
// freeze), the SIGKILLs go out anyway and the next pass catches whatever was
// forked meanwhile.
const killFreezeTimeout = 100 * time.Millisecond

// maxListed caps the survivors named in an error message.
const maxListed = 20

// KillAll kills every process in every directory of the cgroup and in their
// descendant cgroups, and returns once all of them have exited or the timeout
// has passed. It works on a frozen (paused) cgroup just as well, and leaves
// it thawed.
//
// Where a cgroup2 directory offers cgroup.kill (Linux 5.14), one write kills
// its whole subtree, and KillAll waits for cgroup.events to report it
// unpopulated. Otherwise, or if processes remain in v1 directories that the
// cgroup2 one does not cover, it loops: freeze, SIGKILL every process, thaw,
// wait for those processes to exit (pidfds), until the cgroup is empty.
//
// Zombies leave their cgroups when they exit, so an empty cgroup means done
// even if its init is a zombie that a dead controller will never reap.
//
// On timeout the error names the processes left, with their state and
// command, e.g. "cgroup /machine/vm1.lxctl: 2 processes survived SIGKILL
// after 5s: 1234 (D, sleep), 1240 (R, sh)".
func KillAll(paths map[string]string, timeout time.Duration) error {
	return killAll(newDirs(paths), timeout, true)
}

// killAll is KillAll; tests turn off cgroup.kill to run the path taken on
// v1-only hosts and kernels before 5.14.
func killAll(d dirs, timeout time.Duration, useKillFile bool) error {
	deadline := time.Now().Add(timeout)
	if len(d.v1)+len(d.v2) == 0 {
		return nil
	}
	if err := d.checkOutside("kill"); err != nil {
		return err
	}
	if useKillFile && d.canKill() {
		done, err := d.killFast(deadline)
		if err != nil {
			return fmt.Errorf("cgroup %s: kill: %w", d.name(), err)
		}
		if done {
			return nil
		}
	}
	return d.killLoop(deadline, timeout)
}

// canKill reports whether every cgroup2 directory has cgroup.kill.
func (d dirs) canKill() bool {
	if len(d.v2) == 0 {
		return false
	}
	for _, dir := range d.v2 {
		if !exists(dir + "/cgroup.kill") {
			return false
		}
	}
	return true
}

// killFast kills through cgroup.kill. The kernel signals every process of the
// subtree in one go and kills any child forked meanwhile, so no freeze is
// needed. It reports whether the whole cgroup is empty afterwards.
//
// A few processes there before the kill are waited for on pidfds, which
// turn readable as each exits; "populated 0" in cgroup.events, which also
// covers any child forked meanwhile, usually reads true by then, and is
// only waited for (inotify, whose close waits for an SRCU grace period:
// 13-21 ms on a 2-CPU VM) when it does not. Many processes are waited for
// through inotify alone: opening 501 pidfds took 24 ms there.
func (d dirs) killFast(deadline time.Time) (bool, error) {
	// Only what cgroup.kill reaches: the cgroup2 subtree.
	pids, many, err := fewPids(d.v2, maxKillPidfds)
	if err != nil {
		return false, err
	}
	var fds, unwatched []int
	if !many {
		fds, unwatched = openPidfds(pids)
		defer closeAll(fds)
	}
	for _, dir := range d.v2 {
		if err := cgroups.WriteFile(dir, "cgroup.kill", "1"); err != nil && !isGone(err) {
			return false, err
		}
	}
	// A process stopped by the v1 freezer (a paused domain on a v1 or
	// hybrid host) keeps its SIGKILL pending until it is thawed.
	if err := d.thawV1(); err != nil {
		return false, err
	}
	if len(fds) > 0 && len(unwatched) == 0 {
		err := waitExit(fds, deadline)
		if errors.Is(err, errTimeout) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	err = waitEvent(d.v2, "populated", "0", deadline)
	if errors.Is(err, errTimeout) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// The cgroup2 freezer lets SIGKILL through, so it is thawed only now,
	// for a clean state should the directory outlive this call. Thawing
	// earlier would change cgroup.events just before "populated 0", and
	// the kernel delays a notification that follows another within 10 ms.
	if err := d.thawV2(); err != nil {
		return false, err
	}
	// On a hybrid host the cgroup2 tree is a hierarchy of its own: a
	// process placed only into the v1 directories is not in the cgroup2
	// one, and cgroup.kill did not reach it. libcontainer places every
	// process in all of them, but only an empty v1 tree proves it.
	pids, err = d.pids()
	if err != nil {
		return false, err
	}
	return len(pids) == 0, nil
}

// maxKillPidfds is how many processes killFast waits for on pidfds rather
// than through cgroup.events alone.
const maxKillPidfds = 16

// fewPids lists the processes in the subtrees of the cgroup2 dirs, or says
// that there are more than limit (many) without reading the rest: the
// kernel makes cgroup.procs as it is read, and reading and parsing all of
// 501 took 1.3 ms of a stop, on a CPU the dying processes need.
func fewPids(dirs []string, limit int) (pids []int, many bool, _ error) {
	buf := make([]byte, 8*(limit+1))
	for _, top := range dirs {
		err := filepath.WalkDir(top, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				if isGone(err) {
					return nil
				}
				return err
			}
			if !e.IsDir() {
				return nil
			}
			f, err := cgroups.OpenFile(path, "cgroup.procs", unix.O_RDONLY)
			if isGone(err) {
				return nil
			}
			if err != nil {
				return err
			}
			defer f.Close()
			// Small reads: the kernel fills a read only as far as it asks.
			r := bufio.NewReaderSize(f, len(buf))
			for {
				line, err := r.ReadString('\n')
				if line = strings.TrimSpace(line); line != "" {
					pid, perr := strconv.Atoi(line)
					if perr != nil {
						return fmt.Errorf("%s/cgroup.procs: %w", path, perr)
					}
					if pids = append(pids, pid); len(pids) > limit {
						many = true
						return filepath.SkipAll
					}
				}
				if errors.Is(err, io.EOF) || isGone(err) {
					return nil
				}
				if err != nil {
					return err
				}
			}
		})
		if err != nil || many {
			return pids, many, err
		}
	}
	return pids, false, nil
}

// killLoop is the general path: freeze, SIGKILL every process, thaw, wait for
// them to exit; again until the cgroup is empty or the deadline passes.
func (d dirs) killLoop(deadline time.Time, timeout time.Duration) error {
	var b backoff
	canFreeze := d.freezer != "" || len(d.v2) > 0
	for {
		if canFreeze {
			_ = d.freeze(earliest(deadline, time.Now().Add(killFreezeTimeout)))
		}
		pids, err := d.pids()
		switch {
		case err != nil:
			return errors.Join(fmt.Errorf("cgroup %s: %w", d.name(), err), d.thawErr())
		case slices.Contains(pids, os.Getpid()):
			// SIGKILL would reach this process too.
			return errors.Join(errInside(d, "kill"), d.thawErr())
		case len(pids) == 0:
			return d.thawErr()
		}
		fds, unwatched := killPids(pids)
		// Frozen processes act on the SIGKILL only once thawed.
		err = d.thawErr()
		if err == nil {
			err = waitExit(fds, deadline)
		}
		closeAll(fds)
		if err != nil && !errors.Is(err, errTimeout) {
			return fmt.Errorf("cgroup %s: %w", d.name(), err)
		}
		if !time.Now().Before(deadline) {
			left, err := d.pids()
			if err != nil {
				return fmt.Errorf("cgroup %s: %w", d.name(), err)
			}
			if len(left) == 0 {
				return nil
			}
			return survivorsError(d.name(), left, timeout)
		}
		// Processes signalled without a pidfd give no event to wait on.
		if unwatched > 0 {
			b.wait(deadline)
		}
	}
}

func (d dirs) thawErr() error {
	if err := d.thaw(); err != nil {
		return fmt.Errorf("cgroup %s: thaw: %w", d.name(), err)
	}
	return nil
}

// killPids sends SIGKILL to each process through a pidfd and returns the
// pidfds to wait on. A pidfd holds on to the process itself, so neither the
// signal nor the wait can reach another process that reused the pid. A
// process without a pidfd (see openPidfds) gets kill(2) and is counted as
// unwatched.
func killPids(pids []int) (fds []int, unwatched int) {
	fds, rest := openPidfds(pids)
	for _, fd := range fds {
		// ESRCH: it exited since the pidfd was opened.
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	}
	for _, pid := range rest {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	return fds, len(rest)
}

// openPidfds opens a pidfd for each process. A process already gone (ESRCH)
// is skipped; one whose pidfd cannot be opened (out of file descriptors,
// Linux before 5.3) is returned in rest.
func openPidfds(pids []int) (fds, rest []int) {
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		switch {
		case err == nil:
			fds = append(fds, fd)
		case errors.Is(err, unix.ESRCH):
		default:
			rest = append(rest, pid)
		}
	}
	return fds, rest
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// waitExit waits until every process behind the pidfds has exited. A pidfd
// turns readable when its process exits, and by then the process has left
// its cgroups: the kernel detaches a task from its cgroups before it
// notifies anyone of its exit.
func waitExit(fds []int, deadline time.Time) error {
	if len(fds) == 0 {
		return nil
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	defer unix.Close(ep)
	for _, fd := range fds {
		// One-shot: a pidfd stays readable, and each must count once.
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return fmt.Errorf("epoll: %w", err)
		}
	}
	events := make([]unix.EpollEvent, min(len(fds), 128))
	for left := len(fds); left > 0; {
		ms := msUntil(deadline)
		if ms == 0 {
			return errTimeout
		}
		n, err := unix.EpollWait(ep, events, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll: %w", err)
		}
		left -= n
	}
	return nil
}

// checkOutside refuses to act on a cgroup the caller belongs to: cgroup.kill
// would kill the caller along with the container, and the v1 freezer would
// freeze it with no one left to thaw it. Those two are checked here, before
// either is touched; the SIGKILL pass skips nothing, so it checks its pid
// list itself.
func (d dirs) checkOutside(verb string) error {
	if d.freezer != "" {
		// An error means this process sees no freezer hierarchy, so it
		// cannot be in the cgroup's freezer directory either.
		if own, err := cgroups.GetOwnCgroupPath(string(Freezer)); err == nil && within(own, d.freezer) {
			return errInside(d, verb)
		}
	}
	if len(d.v2) == 0 {
		return nil
	}
	own, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		return fmt.Errorf("cannot tell which cgroup this process is in: %w", err)
	}
	rel, ok := own[""]
	if !ok {
		return nil
	}
	mnt := root + "/unified"
	if cgroups.IsCgroup2UnifiedMode() {
		mnt = root
	}
	for _, dir := range d.v2 {
		if within(filepath.Join(mnt, rel), dir) {
			return errInside(d, verb)
		}
	}
	return nil
}

// within reports whether the cgroup directory path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

func errInside(d dirs, verb string) error {
	return fmt.Errorf("cgroup %s: refusing to %s it from inside: this process (pid %d) is one of its members", d.name(), verb, os.Getpid())
}

// survivorsError names the processes left after the deadline.
func survivorsError(name string, pids []int, timeout time.Duration) error {
	var b strings.Builder
	for i, pid := range pids {
		if i == maxListed {
			fmt.Fprintf(&b, ", and %d more", len(pids)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(describeProcess(pid))
	}
	noun := "processes"
	if len(pids) == 1 {
		noun = "process"
	}
	return fmt.Errorf("cgroup %s: %d %s survived SIGKILL after %v: %s", name, len(pids), noun, timeout, b.String())
}

// describeProcess returns "1234 (D, sleep)": the pid, its state letter and
// its command, from /proc/<pid>/stat.
func describeProcess(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return fmt.Sprintf("%d (gone)", pid)
	}
	// "1234 (comm) S ...": comm may itself hold spaces and parentheses,
	// so it ends at the last ')'.
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return strconv.Itoa(pid)
	}
	comm := string(data[open+1 : end])
	state := "?"
	if f := strings.Fields(string(data[end+1:])); len(f) > 0 {
		state = f[0]
	}
	return fmt.Sprintf("%d (%s, %s)", pid, state, comm)
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
