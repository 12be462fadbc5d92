package cmd_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Host-side facts for the fault tests: what runs and what exists on the
// host for a domain, found without asking lxctl or reading its records.

// cmdlineArgs returns a process's argv, nil if it is gone.
func cmdlineArgs(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// controllersOf returns the live controller processes of domain name under
// root ("lxctl __controller ... --root ROOT ... NAME"), including standby
// controllers that were handed the domain (they take the controller's
// command line), not those still waiting for a start to decide.
func controllersOf(root, name string) []int {
	return procsOf(root, name, false)
}

// standbysOf returns the standby controllers of starts of name that have
// not (yet) been handed the domain.
func standbysOf(root, name string) []int {
	return procsOf(root, name, true)
}

func procsOf(root, name string, standby bool) []int {
	var found []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		args := cmdlineArgs(pid)
		if len(args) < 2 || args[1] != "__controller" || !slices.Contains(args, root) || !slices.Contains(args, name) {
			continue
		}
		if (len(args) > 2 && args[2] == "--standby") != standby {
			continue
		}
		if alive(pid) {
			found = append(found, pid)
		}
	}
	return found
}

// childrenOf lists pid's child processes.
func childrenOf(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var kids []int
	for _, f := range strings.Fields(string(b)) {
		if k, err := strconv.Atoi(f); err == nil {
			kids = append(kids, k)
		}
	}
	return kids
}

// cgroupTasks returns the pids in the domain's cgroups and the cgroups
// below them (init runs in <name>.lxctl/payload), in any hierarchy.
func cgroupTasks(name string) []int {
	var pids []int
	for _, top := range cgroupDirs(name) {
		_ = filepath.WalkDir(top, func(d string, de os.DirEntry, err error) error {
			if err != nil || !de.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if p, err := strconv.Atoi(f); err == nil && !slices.Contains(pids, p) {
					pids = append(pids, p)
				}
			}
			return nil
		})
	}
	return pids
}

// freezerState is the domain's freezer.state, "" without a freezer cgroup.
func freezerState(name string) string {
	for _, d := range cgroupDirs(name) {
		if strings.HasPrefix(d, "/sys/fs/cgroup/freezer/") {
			b, _ := os.ReadFile(filepath.Join(d, "freezer.state"))
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

// hostView is what the host says about a domain.
type hostView struct {
	controllers []int
	tasks       []int // live processes in its cgroups
	cgroups     []string
	freezer     string
}

func (h hostView) String() string {
	return fmt.Sprintf("controllers %v, tasks %v, cgroups %v, freezer %q", h.controllers, h.tasks, h.cgroups, h.freezer)
}

func (e *env) host(name string) hostView {
	h := hostView{controllers: controllersOf(e.root, name), cgroups: cgroupDirs(name), freezer: freezerState(name)}
	for _, p := range cgroupTasks(name) {
		// A frozen task is alive; a zombie in a cgroup is not.
		if alive(p) {
			h.tasks = append(h.tasks, p)
		}
	}
	return h
}

// hostState is the virsh state the host facts amount to: running (a
// controller and a task in the cgroups), paused (that, frozen), "shut off"
// (no controller, no cgroup), or "" for anything in between.
func (h hostView) state() string {
	switch {
	case len(h.controllers) == 1 && len(h.tasks) > 0 && h.freezer == "FROZEN":
		return "paused"
	case len(h.controllers) == 1 && len(h.tasks) > 0 && h.freezer == "THAWED":
		return "running"
	case len(h.controllers) == 0 && len(h.cgroups) == 0:
		return "shut off"
	}
	return ""
}

// lxctlView is what lxctl says about a domain: list --all's entry (state,
// "" when it lists no such domain) and domstate (state, "" for an unknown
// domain).
type lxctlView struct {
	list, domstate string
	id             int
}

func (e *env) lxctlView(name string) (lxctlView, error) {
	var v lxctlView
	r := e.run("", "list", "--all", "--json")
	if r.code != 0 {
		return v, fmt.Errorf("list --all --json: exit %d: %s", r.code, r.stderr)
	}
	var entries []struct {
		ID    *int   `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		return v, fmt.Errorf("list --all --json: %v: %q", err, r.stdout)
	}
	for _, en := range entries {
		if en.Name == name {
			v.list = en.State
			if en.ID != nil {
				v.id = *en.ID
			}
		}
	}
	r = e.run("", "domstate", name)
	switch {
	case r.code == 0:
		v.domstate = strings.TrimSpace(r.stdout)
	case strings.Contains(r.stderr, "no domain with that name"):
	default:
		return v, fmt.Errorf("domstate %s: exit %d: %s", name, r.code, r.stderr)
	}
	return v, nil
}

// agree checks that lxctl's answers about name match the host, given
// whether name should still be known to lxctl (defined, or running as a
// transient domain). It returns "" when they agree, else what differs.
func (e *env) agree(name string, known bool) string {
	v, err := e.lxctlView(name)
	if err != nil {
		return err.Error()
	}
	h := e.host(name)
	hs := h.state()
	if hs == "" {
		return fmt.Sprintf("host in between: %s (lxctl: list %q, domstate %q)", h, v.list, v.domstate)
	}
	if v.list != v.domstate {
		return fmt.Sprintf("list --all says %q, domstate %q (host: %s)", v.list, v.domstate, h)
	}
	if v.list == "" {
		if hs != "shut off" {
			return fmt.Sprintf("lxctl does not know the domain, the host says %s: %s", hs, h)
		}
		if known {
			return "lxctl does not know a domain that should be defined"
		}
		return ""
	}
	if v.list != hs {
		return fmt.Sprintf("lxctl says %q, the host %q: %s", v.list, hs, h)
	}
	if hs != "shut off" && v.id != h.controllers[0] {
		return fmt.Sprintf("lxctl says id %d, the controller on the host is %d", v.id, h.controllers[0])
	}
	return ""
}

// settle waits (bounded) until lxctl and the host agree about name, and
// returns the last disagreement if they never do. After a kill -9 the host
// needs a moment to get where it is going (an orphaned standby controller
// notices its CLI is gone, a controller's setup that outlived its CLI
// finishes), and lxctl's answers must be right once it has.
func (e *env) settle(name string, known bool) string {
	deadline := time.Now().Add(20 * time.Second)
	for {
		d := e.agree(name, known)
		if d == "" || time.Now().After(deadline) {
			return d
		}
		reapAll()
		time.Sleep(50 * time.Millisecond)
	}
}

// sigkill kills pid if it is still the process with that start time.
func sigkill(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
}
