package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// RunFile is a file of the domain's runtime dir (LiveXMLFile,
// ControlSocketFile, ConsoleSocketFile): derived from the layout, never
// taken from a record.
func RunFile(l state.Layout, name, file string) (string, error) {
	dir, err := l.RunDir(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, file), nil
}

// CgroupDirs are a domain's cgroup directories in every hierarchy, for a
// partition: <partition>/<layout's leaf for name>. What lxctl kills and
// removes comes from here, never from a record's cgroup_paths.
func CgroupDirs(l state.Layout, name, partition string) (map[string]string, error) {
	leaf, err := l.CgroupLeaf(name)
	if err != nil {
		return nil, err
	}
	return cgroup.Paths(filepath.Join(partition, leaf))
}

// ControllerCgroupDirs are the cgroup dirs the domain's controller runs
// in, beside the domain's: <partition>/<layout's controller leaf>.
func ControllerCgroupDirs(l state.Layout, name, partition string) (map[string]string, error) {
	leaf, err := l.ControllerCgroupLeaf(name)
	if err != nil {
		return nil, err
	}
	return cgroup.Paths(filepath.Join(partition, leaf))
}

// FinishDestroyed ends a destroy whose controller left the last steps to
// the caller (Request.CallerFinishes) and has exited: its own cgroup in
// partition, empty now, is removed, then the stop is recorded and the
// runtime dir removed. Both steps run even if the first fails. The caller
// holds the domain lock.
func FinishDestroyed(l state.Layout, name, partition string) error {
	var errs []error
	if dirs, err := ControllerCgroupDirs(l, name, partition); err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, cgroup.Remove(dirs, ctlCgroupTimeout))
	}
	errs = append(errs, finish(l, name, "destroyed", "", 0, "SIGKILL"))
	return errors.Join(errs...)
}

// ctlCgroupTimeout bounds the removal of a dead controller's cgroup: it
// is empty once the controller has exited; anything still in it after
// this is reported, not waited for.
const ctlCgroupTimeout = 2 * time.Second

// killCgroups kills every task of the domain and removes its cgroups.
// dead, if not nil, is called once every task is dead, before the removal.
func killCgroups(paths map[string]string, dead func()) error {
	if len(paths) == 0 {
		return nil
	}
	if err := cgroup.KillAll(paths, killTimeout); err != nil {
		return err
	}
	step("cgroups: every task dead")
	if dead != nil {
		dead()
	}
	return cgroup.Remove(paths, killTimeout)
}

// Target is what Sweep tears down: everything is lxctl's own, derived from
// the layout and the name, or verified on the host.
type Target struct {
	Name string
	// Partitions are where the domain's cgroups may be (the live config's,
	// the definition's, the default); each is swept if it exists.
	Partitions []string
	// Controller is a verified controller of the domain (IsController), or
	// nil. Sweep checks it again before it signals.
	Controller *state.Proc
}

// Sweep tears a domain down when its controller is gone (killed -9, OOM)
// or does not answer: kill the controller if it still lives and is
// verifiably the domain's, kill painfully every task of the domain's
// cgroups, remove them and the runtime dir, and record why it stopped.
// Every step runs even if an earlier one failed. The caller holds the
// domain lock.
func Sweep(l state.Layout, t Target, reason string) error {
	var errs []error
	if t.Controller != nil && l.IsController(*t.Controller, t.Name) {
		errs = append(errs, killProcess(t.Controller.PID, t.Controller.Start))
	}
	seen := map[string]bool{}
	for _, p := range t.Partitions {
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		paths, err := CgroupDirs(l, t.Name, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, killCgroups(paths, nil))
		// The controller's own cgroup: empty now that it is dead.
		if ctl, err := ControllerCgroupDirs(l, t.Name, p); err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, cgroup.Remove(ctl, ctlCgroupTimeout))
		}
	}
	// Only veths marked for the domain (package network).
	errs = append(errs, network.Cleanup(l, t.Name))
	// The image mounts went with the dead controller's and container's
	// mount namespaces; the loop devices marked for the domain are
	// detached (autoclear) once the kernel has released the mounts.
	errs = append(errs, DetachLoops(l, t.Name))
	errs = append(errs, finish(l, t.Name, reason, "", 0, ""))
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
func finish(l state.Layout, name, reason, detail string, code int, signal string) error {
	var errs []error
	persistent := false
	if p, err := l.DefinitionPath(name); err == nil {
		_, statErr := os.Stat(p)
		persistent = statErr == nil
	}
	if persistent {
		errs = append(errs, l.WriteExit(name, &state.ExitRecord{State: "shutoff", Reason: reason, Detail: detail, Time: time.Now(), ExitCode: code, Signal: signal}))
	} else {
		if err := l.RemoveExit(name); err != nil && !errors.Is(err, state.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, l.RemoveRunDir(name))
	emit(l, state.Event{Domain: name, Type: "lifecycle", Event: "Stopped", Detail: stoppedDetail(reason), Reason: detail})
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
