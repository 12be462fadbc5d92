package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// Join makes the cgroup rel ("/machine/vm1.lxctl-0123abcd.ctl") in every
// mounted hierarchy (v1 controllers, named ones such as name=systemd, and
// the cgroup2) and moves the process pid, all its threads, into it. A
// process stays in its parent's cgroups otherwise, and whoever owns those
// (logind for an ssh session, systemd for a unit) kills everything in them
// when the session or unit ends. It returns the directories, for Leave.
func Join(rel string, pid int) (map[string]string, error) {
	paths, err := Paths(rel)
	if err != nil {
		return nil, err
	}
	roots, err := Paths("/")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, key := range sortedKeys(paths) {
		dir := paths[key]
		if seen[dir] {
			continue
		}
		seen[dir] = true
		if err := mkdirCgroup(roots[key], dir); err != nil {
			return paths, err
		}
		if err := writePid(dir, pid); err != nil {
			return paths, err
		}
	}
	return paths, nil
}

// mkdirCgroup makes dir and its missing parents below the hierarchy's root.
// A new v1 cpuset cgroup starts with no CPUs and no memory nodes, and a
// process cannot join it (ENOSPC), so each new level gets its parent's;
// so does a level that exists but is still empty: the domain's cgroup
// setup, which runs alongside the controller's join, may have just made
// it (a new partition, say) and not filled it yet.
func mkdirCgroup(root, dir string) error {
	rel, ok := strings.CutPrefix(dir, root+"/")
	if !ok || rel == "" || slices.Contains(strings.Split(rel, "/"), "..") {
		return fmt.Errorf("cgroup %s is not below its hierarchy's root %s", dir, root)
	}
	cur := root
	for _, part := range strings.Split(rel, "/") {
		parent := cur
		cur = filepath.Join(cur, part)
		err := os.Mkdir(cur, 0o755)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("make cgroup %s: %w", cur, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if err := inherit(parent, cur, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// inherit copies the cpuset file f from parent to a new child cgroup when
// the child has one and it is empty.
func inherit(parent, child, f string) error {
	cur, err := os.ReadFile(filepath.Join(child, f))
	if err != nil || len(bytes.TrimSpace(cur)) > 0 {
		return nil // no such file: not a cpuset hierarchy
	}
	v, err := os.ReadFile(filepath.Join(parent, f))
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", parent, err)
	}
	if err := os.WriteFile(filepath.Join(child, f), v, 0); err != nil {
		return fmt.Errorf("cgroup %s: set %s: %w", child, f, err)
	}
	return nil
}

func writePid(dir string, pid int) error {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("move process %d into cgroup %s: %w", pid, dir, err)
	}
	return nil
}

// Leave moves the process pid back to the root of every hierarchy, the one
// place any process may be, and removes the cgroup Join made (paths), so
// that a process leaving its own cgroup before it exits leaves nothing.
// Only an empty cgroup can be removed; anything else still in it is
// reported by Remove after timeout.
func Leave(paths map[string]string, pid int, timeout time.Duration) error {
	return errors.Join(MoveOut(paths, pid), Remove(paths, timeout))
}

// MoveOut is the first half of Leave: it moves the process pid back to the
// root of every hierarchy of paths, leaving the cgroup dirs for Remove.
func MoveOut(paths map[string]string, pid int) error {
	roots, err := Paths("/")
	if err != nil {
		return err
	}
	var errs []error
	seen := map[string]bool{}
	for _, key := range sortedKeys(paths) {
		root, ok := roots[key]
		if !ok || seen[root] {
			continue
		}
		seen[root] = true
		if err := writePid(root, pid); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WarmMoves begins, ahead of time, the wait that the first move of a
// process between cgroups pays after a quiet moment: the kernel takes
// cgroup_threadgroup_rwsem for writing, which first waits for an RCU grace
// period (7-11 ms asleep on a 2-CPU VM); moves made soon after skip it. It
// writes the caller's pid into the cgroup.procs of the cgroup it is
// already in (one hierarchy), which moves nothing. A standby controller
// calls it while the CLI boots, so that the grace period has passed or is
// under way when the controller moves itself (Join) and libcontainer
// moves init. Errors are of no consequence and ignored.
func WarmMoves() {
	roots, err := Paths("/")
	if err != nil {
		return
	}
	own, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		return
	}
	for key, rel := range own {
		if strings.Contains(rel, "..") {
			continue
		}
		if key == "" {
			key = string(Unified)
		}
		if root, ok := roots[key]; ok {
			_ = writePid(filepath.Join(root, rel), os.Getpid())
			return
		}
	}
}

// PartitionOf finds, in /proc/<pid>/cgroup, a cgroup named leaf that the
// process is in (or, with child set, whose child named child it is in)
// and returns its parent, the partition ("/machine"). ok is false when the
// process is in no such cgroup below the root.
func PartitionOf(pid int, leaf, child string) (partition string, ok bool) {
	own, err := cgroups.ParseCgroupFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", false
	}
	for _, rel := range own {
		if child != "" && path.Base(rel) == child {
			rel = path.Dir(rel)
		}
		if path.Base(rel) != leaf {
			continue
		}
		if p := path.Dir(rel); p != "/" && p != "." && !strings.Contains(p, "..") {
			return p, true
		}
	}
	return "", false
}
