package container

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/cgroup"
	"github.com/lxctl/lxctl/network"
	"github.com/lxctl/lxctl/state"
)

// Files in a domain's runtime dir.
const (
	LiveXMLFile       = "live.xml"
	ControlSocketFile = "control.sock"
	ConsoleSocketFile = "console.sock"
	libcontainerDir   = "lc"
	hostRootDir       = "root"
)

// killTimeout bounds kill-painfully; a task stuck in D state longer than
// this is reported by pid rather than waited on forever.
const killTimeout = 10 * time.Second

// cgroupPaths returns the recorded per-hierarchy dirs, or recomputes them
// from the cgroup path when the controller died before recording them.
func cgroupPaths(st *state.Status) (map[string]string, error) {
	if len(st.CgroupPaths) > 0 {
		return st.CgroupPaths, nil
	}
	if st.CgroupPath == "" {
		return nil, nil
	}
	return cgroup.Paths(st.CgroupPath)
}

// killCgroups kills every task of the domain and removes its cgroups.
func killCgroups(st *state.Status) error {
	paths, err := cgroupPaths(st)
	if err != nil || len(paths) == 0 {
		return err
	}
	if err := cgroup.KillAll(paths, killTimeout); err != nil {
		return err
	}
	return cgroup.Remove(paths, killTimeout)
}

// Sweep tears a domain down from its status record alone, for when its
// controller is gone (killed -9, OOM) or does not answer: kill the
// controller if it still lives, kill painfully every task of the cgroups,
// remove them and the runtime dir, and record why it stopped. Every step
// runs even if an earlier one failed. The caller holds the domain lock.
func Sweep(l state.Layout, st *state.Status, reason string) error {
	var errs []error
	if state.Alive(st.ControllerPID, st.ControllerStart) {
		errs = append(errs, killProcess(st.ControllerPID, st.ControllerStart))
	}
	errs = append(errs, killCgroups(st))
	errs = append(errs, network.Cleanup(l, st.Name))
	errs = append(errs, finish(l, st.Name, reason, 0, ""))
	return errors.Join(errs...)
}

// killProcess sends SIGKILL through a pidfd, after checking the pid is
// still the recorded process, so a recycled pid is never hit, and waits
// for it to die.
func killProcess(pid int, start uint64) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if !state.Alive(pid, start) {
		return nil
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill controller %d: %w", pid, err)
	}
	return waitPidfd(fd, killTimeout)
}

// waitPidfd waits until the process behind fd has exited.
func waitPidfd(fd int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("process did not exit within %s", timeout)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
}

// finish records how the domain stopped and removes its runtime dir. A
// transient domain (never defined, or undefined while it ran) leaves no
// record: it no longer exists once stopped.
func finish(l state.Layout, name, reason string, code int, signal string) error {
	var errs []error
	persistent := false
	if p, err := l.DefinitionPath(name); err == nil {
		_, statErr := os.Stat(p)
		persistent = statErr == nil
	}
	if persistent {
		errs = append(errs, l.WriteExit(name, &state.ExitRecord{State: "shutoff", Reason: reason, Time: time.Now(), ExitCode: code, Signal: signal}))
	} else {
		if err := l.RemoveExit(name); err != nil && !errors.Is(err, state.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, l.RemoveRunDir(name))
	return errors.Join(errs...)
}

// WaitExit waits until the recorded process has exited, up to timeout, and
// says whether it did. It works on processes that are not our children.
func WaitExit(pid int, start uint64, timeout time.Duration) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	if !state.Alive(pid, start) {
		return true
	}
	return waitPidfd(fd, timeout) == nil
}
