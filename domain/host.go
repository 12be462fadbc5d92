package domain

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lxctl/lxctl/cgroup"
	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/state"
)

// ControlTimeout bounds a control request. Destroy kills painfully, which
// is itself bounded, so this only trips on a wedged controller.
const ControlTimeout = 30 * time.Second

// stopGrace is how long a command that finds a controller no longer
// answering waits for it to exit before it calls it wedged: a teardown
// (kill painfully, remove cgroups) takes well under a second on an idle
// host, several on a loaded one.
const stopGrace = 5 * time.Second

// Call sends one request to a running domain's controller, on the control
// socket derived from the layout. A controller that went away meanwhile
// (the domain stopped) is the error "domain 'x' is not running".
func (h *Host) Call(d *Domain, req container.Request) (*container.Response, error) {
	if !d.Active() {
		return nil, ErrNotRunning(d.Name)
	}
	sock, err := container.RunFile(h.L, d.Name, container.ControlSocketFile)
	if err != nil {
		return nil, err
	}
	resp, err := container.Call(sock, req, ControlTimeout)
	if errors.Is(err, container.ErrNoController) {
		// A controller that is stopping closes its socket before it
		// exits: give it a moment, then say what happened.
		_ = state.WaitGone(d.Controller.PID, d.Controller.Start, stopGrace)
		if !h.L.IsController(*d.Controller, d.Name) {
			return nil, ErrNotRunning(d.Name)
		}
	}
	return resp, err
}

// Destroy stops a domain now; the caller holds its lock. It asks the
// controller to tear the domain down and waits until it has exited; when
// the controller does not answer (killed, wedged, its socket deleted), or
// there is none, it tears down from what the host shows: the verified
// controller is killed, the domain's own cgroups killed and removed, the
// runtime dir removed. warnings say where the records disagreed. A domain
// with nothing on the host is "not running".
func (h *Host) Destroy(name string) (warnings []string, err error) {
	l := h.L
	d := &Domain{Name: name}
	rec, recErr := l.ReadStatus(name)
	if recErr != nil && !errors.Is(recErr, state.ErrNotFound) && !errors.Is(recErr, state.ErrCorrupt) {
		return nil, recErr
	}
	if errors.Is(recErr, state.ErrCorrupt) {
		d.warn("%v", recErr)
	}
	ctl, err := h.controllerOf(d, rec, recErr, Opts{})
	if err != nil {
		return d.Warnings, err
	}
	d.Controller = ctl
	if rec != nil {
		h.checkCgroups(d, rec)
	}
	t := h.target(d, rec, ctl)
	if ctl == nil && rec == nil && !errors.Is(recErr, state.ErrCorrupt) && !h.hasLeftovers(t) {
		return d.Warnings, ErrNotRunning(name)
	}
	if ctl != nil {
		sock, err := container.RunFile(l, name, container.ControlSocketFile)
		if err != nil {
			return d.Warnings, err
		}
		// The controller's own cgroup, as the host shows it while the
		// controller lives (the layout's leaf, in the partition it is
		// in): with it known, the controller leaves that cgroup and the
		// record of the stop to this command (Request.CallerFinishes).
		ctlPart, finishes := controllerPartition(ctl.PID, l, name)
		resp, err := container.Call(sock, container.Request{Op: container.OpDestroy, CallerFinishes: finishes}, ControlTimeout)
		switch {
		case err == nil || finishes && resp != nil:
			// The controller answers once everything is torn down (or
			// with what of it failed) and then exits; destroy returns when
			// it has, so that nothing of the domain runs when the user
			// gets the prompt back. One that answered an error and does
			// not exit refused the request.
			wait := ControlTimeout
			if err != nil {
				wait = stopGrace
			}
			if werr := state.WaitGone(ctl.PID, ctl.Start, wait); werr != nil {
				return d.Warnings, errors.Join(err, werr)
			}
			// A controller that does not know CallerFinishes removed the
			// runtime dir itself, as its last step.
			if dir, derr := l.RunDir(name); finishes && derr == nil && exists(dir) {
				err = errors.Join(err, container.FinishDestroyed(l, name, ctlPart))
			}
			return d.Warnings, err
		case !errors.Is(err, container.ErrNoController) && h.L.IsController(*ctl, name):
			return d.Warnings, err
		default:
			// No answer. A controller that is stopping on its own closes
			// its socket, removes the cgroups, then the runtime dir with
			// the socket, then exits: while the runtime dir is there
			// (its removal may be under way, the socket already gone),
			// or once nothing is left, give it a moment rather than kill
			// it in the middle of its teardown. (A wiped runtime dir with
			// the container's cgroups still there is no teardown: no
			// wait.)
			runDir, _ := l.RunDir(name)
			if exists(sock) || exists(runDir) || !h.hasLeftovers(t) {
				_ = state.WaitGone(ctl.PID, ctl.Start, stopGrace)
			}
			if !h.L.IsController(*ctl, name) && !h.hasLeftovers(t) {
				return d.Warnings, ErrNotRunning(name)
			}
		}
	}
	return d.Warnings, container.Sweep(l, t, "destroyed")
}

// hasLeftovers says whether anything of the domain is on the host: its
// runtime dir or a cgroup dir of it in one of the target's partitions.
func (h *Host) hasLeftovers(t container.Target) bool {
	if dir, err := h.L.RunDir(t.Name); err == nil && exists(dir) {
		return true
	}
	for _, p := range t.Partitions {
		for _, derive := range []func(state.Layout, string, string) (map[string]string, error){container.CgroupDirs, container.ControllerCgroupDirs} {
			dirs, err := derive(h.L, t.Name, p)
			if err != nil {
				continue
			}
			for _, dir := range dirs {
				if exists(dir) {
					return true
				}
			}
		}
	}
	return false
}

// CgroupDirs are the cgroup dirs of a running domain, derived (never the
// record's), for statistics.
func (h *Host) CgroupDirs(d *Domain) (map[string]string, error) {
	return container.CgroupDirs(h.L, d.Name, d.Partition())
}

// ConsoleSocket is the console socket of a domain, derived from the layout.
func (h *Host) ConsoleSocket(d *Domain) (string, error) {
	return container.RunFile(h.L, d.Name, container.ConsoleSocketFile)
}

// childPartitions finds the partitions of the cgroups named leaf that the
// children of pid (a controller's init) are in, from /proc: the truth when
// the live config is gone and the definition changed since the start.
func childPartitions(pid int, leaf string) []string {
	taskDir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(taskDir)
	if err != nil {
		return nil
	}
	for _, t := range tasks {
		data, err := state.ReadFile(taskDir + "/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, c := range strings.Fields(string(data)) {
			child, err := strconv.Atoi(c)
			if err != nil {
				continue
			}
			// init runs one level below the domain's cgroup.
			if p, ok := cgroup.PartitionOf(child, leaf, container.PayloadCgroup); ok {
				return []string{p}
			}
		}
	}
	return nil
}

// controllerPartition finds the partition of the controller's own cgroup
// from /proc/<pid>/cgroup: the cgroup named the layout's controller leaf
// for name. ok is false when there is none (a controller that runs
// elsewhere); its cgroup is then its own business.
func controllerPartition(pid int, l state.Layout, name string) (partition string, ok bool) {
	leaf, err := l.ControllerCgroupLeaf(name)
	if err != nil {
		return "", false
	}
	return cgroup.PartitionOf(pid, leaf, "")
}

// Warn formats warnings for stderr.
func Warn(ws []string) string {
	var b strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}
