package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Remove removes every directory of the cgroup and every cgroup below them,
// deepest first. rmdir fails with EBUSY while the cgroup still has a process,
// which is normal right after a kill: the processes are still exiting. Remove
// retries until the timeout, woken when the cgroup2 directory reports itself
// unpopulated (inotify on cgroup.events) or, where only v1 directories are
// busy, when their processes exit (pidfds). A directory that is already gone
// counts as removed. On timeout the error names the directories left and the
// processes still in them.
func Remove(paths map[string]string, timeout time.Duration) error {
	d := newDirs(paths)
	deadline := time.Now().Add(timeout)
	var b backoff
	for {
		busy, err := d.rmdirAll()
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", d.name(), err)
		}
		if len(busy) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			return d.busyError(busy, timeout)
		}
		if err := d.waitEmpty(deadline, &b); err != nil {
			return fmt.Errorf("cgroup %s: %w", d.name(), err)
		}
	}
}

// waitEmpty waits for what keeps the directories busy to go: until the
// cgroup2 directory reports itself unpopulated, or else until the processes
// listed in the v1 directories have exited (pidfds). Only when neither
// gives an event to wait on does it fall back to a short backoff.
func (d dirs) waitEmpty(deadline time.Time, b *backoff) error {
	if d.populatedV2() {
		// A process is in one cgroup of every hierarchy at once, so
		// the cgroup2 directory empties when the v1 ones do (unless a
		// process was put in the v1 ones only, which the next round
		// finds out).
		err := waitEvent(d.v2, "populated", "0", deadline)
		if errors.Is(err, errTimeout) {
			return nil
		}
		return err
	}
	pids, err := d.pids()
	if err != nil {
		return err
	}
	fds, rest := openPidfds(pids)
	defer closeAll(fds)
	if len(fds) == 0 || len(rest) > 0 {
		b.wait(deadline)
		return nil
	}
	if err := waitExit(fds, deadline); err != nil && !errors.Is(err, errTimeout) {
		return err
	}
	return nil
}

// rmdirAll tries once to remove every directory and its descendants, deepest
// first, and returns those that are still busy.
func (d dirs) rmdirAll() (busy []string, _ error) {
	var all []string
	for _, top := range d.all() {
		// A cgroup's only subdirectories are its child cgroups, and
		// kernfs counts them in the directory's link count (2 + the
		// children): a leaf needs no reading (open, getdents, close).
		var st unix.Stat_t
		err := unix.Lstat(top, &st)
		switch {
		case isGone(err):
			continue
		case err == nil && st.Nlink == 2:
			all = append(all, top)
			continue
		}
		err = filepath.WalkDir(top, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				if isGone(err) {
					return nil
				}
				return err
			}
			if e.IsDir() {
				all = append(all, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		return strings.Count(all[i], "/") > strings.Count(all[j], "/")
	})
	for _, dir := range all {
		err := unix.Rmdir(dir)
		for errors.Is(err, unix.EINTR) {
			err = unix.Rmdir(dir)
		}
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
		case errors.Is(err, unix.EBUSY):
			busy = append(busy, dir)
		default:
			return nil, fmt.Errorf("rmdir %s: %w", dir, err)
		}
	}
	return busy, nil
}

// populatedV2 reports whether any cgroup2 directory still has processes.
func (d dirs) populatedV2() bool {
	for _, dir := range d.v2 {
		if v, err := readEvent(dir, "populated"); err == nil && v == "1" {
			return true
		}
	}
	return false
}

func (d dirs) busyError(busy []string, timeout time.Duration) error {
	noun := "directories"
	if len(busy) == 1 {
		noun = "directory"
	}
	msg := fmt.Sprintf("cgroup %s: %d %s still busy after %v: %s", d.name(), len(busy), noun, timeout, strings.Join(busy, ", "))
	if pids, err := d.pids(); err == nil && len(pids) > 0 {
		var names []string
		for i, pid := range pids {
			if i == maxListed {
				names = append(names, fmt.Sprintf("and %d more", len(pids)-i))
				break
			}
			names = append(names, describeProcess(pid))
		}
		msg += "; processes still in it: " + strings.Join(names, ", ") + " (kill them first)"
	}
	return errors.New(msg)
}
