package cgroup

import (
	"errors"
	"os"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// Controller is a key of a paths map: a cgroup v1 controller ("memory"), a
// named v1 hierarchy ("name=systemd"), or Unified for the cgroup2 hierarchy.
type Controller string

const (
	// Unified is the key of the cgroup2 directory: the only key on a pure v2
	// host, and the cgroup2 mounted at /sys/fs/cgroup/unified on a hybrid one.
	Unified Controller = ""
	CPUAcct Controller = "cpuacct"
	Memory  Controller = "memory"
	Devices Controller = "devices"
	Freezer Controller = "freezer"
)

// Required lists the controllers a container needs, as libvirt's LXC driver
// does: cpuacct for CPU time, memory for the limit and usage, devices for the
// device allow-list.
var Required = []string{string(CPUAcct), string(Memory), string(Devices)}

// dirs is a paths map sorted out by hierarchy version. A directory shared by
// several controllers (co-mounted "cpu,cpuacct") appears once.
type dirs struct {
	paths   map[string]string
	v1      []string // v1 directories (controllers and named hierarchies)
	v2      []string // cgroup2 directories
	freezer string   // the v1 freezer directory, "" without one
}

func newDirs(paths map[string]string) dirs {
	d := dirs{paths: paths}
	unified := cgroups.IsCgroup2UnifiedMode()
	seen := make(map[string]bool)
	for key, dir := range paths {
		if dir == "" || seen[dir] {
			continue
		}
		seen[dir] = true
		if key == string(Unified) || unified {
			d.v2 = append(d.v2, dir)
		} else {
			d.v1 = append(d.v1, dir)
		}
	}
	sort.Strings(d.v1)
	sort.Strings(d.v2)
	if !unified {
		d.freezer = paths[string(Freezer)]
	}
	return d
}

func (d dirs) all() []string {
	return append(append([]string(nil), d.v1...), d.v2...)
}

// pids returns the union of the processes in every directory and their
// descendant cgroups, sorted. A directory that is gone has no processes.
func (d dirs) pids() ([]int, error) {
	seen := make(map[int]bool)
	var out []int
	for _, dir := range d.all() {
		pids, err := cgroups.GetAllPids(dir)
		if err != nil {
			if isGone(err) {
				continue
			}
			return nil, err
		}
		for _, pid := range pids {
			if !seen[pid] {
				seen[pid] = true
				out = append(out, pid)
			}
		}
	}
	sort.Ints(out)
	return out, nil
}

// name is the cgroup path shared by all directories ("/machine/vm1.lxctl"),
// for error messages. It is worked out from the mount table, so it is only
// computed when an error is reported.
func (d dirs) name() string {
	return cgroupName(d.paths)
}

func cgroupName(paths map[string]string) string {
	var dir string
	for _, key := range sortedKeys(paths) {
		if paths[key] != "" {
			dir = paths[key]
			break
		}
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return dir
	}
	best := ""
	for _, m := range mounts {
		if (dir == m.Mountpoint || strings.HasPrefix(dir, m.Mountpoint+"/")) && len(m.Mountpoint) > len(best) {
			best = m.Mountpoint
		}
	}
	if best == "" {
		return dir
	}
	if rel := strings.TrimPrefix(dir, best); rel != "" {
		return rel
	}
	return "/"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isGone reports whether err means the cgroup directory no longer exists.
// A removed cgroup whose files are still open reports ENODEV.
func isGone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV)
}

// exists reports whether a cgroup file or directory exists.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
