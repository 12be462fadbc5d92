package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/sys/mountinfo"
)

// root is where the cgroup hierarchies are mounted on every host lxctl
// supports: a tmpfs with one directory per v1 hierarchy (plus "unified" on a
// hybrid host), or the cgroup2 itself.
const root = "/sys/fs/cgroup"

// CheckRequired checks that this host can give a container every controller
// in [Required]. On a v1 or hybrid host each one must be mounted as a v1
// hierarchy, because that is where libcontainer puts the limits (a controller
// enabled on a hybrid host's cgroup2 is not used). On a pure v2 host memory
// must be available at the root; devices is an eBPF program there, and CPU
// time comes from cpu.stat, which every cgroup2 directory has.
func CheckRequired() error {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return fmt.Errorf("cannot read the mount table to find the cgroup controllers: %w", err)
	}
	return checkRequiredIn(mounts, root)
}

// checkRequiredIn is CheckRequired over the given cgroup mounts, with the
// hierarchies expected under top (a fake mount table and a temporary root
// in tests).
func checkRequiredIn(mounts []*mountinfo.Info, top string) error {
	hs := parseHierarchies(mounts)
	if len(hs) == 0 {
		return fmt.Errorf("no cgroup filesystem is mounted (mount one: mount -t cgroup2 none %s)", top)
	}
	if isUnifiedLayout(hs, top) {
		data, err := os.ReadFile(filepath.Join(top, "cgroup.controllers"))
		if err != nil {
			return fmt.Errorf("cannot read the cgroup v2 controllers: %w", err)
		}
		if !slices.Contains(strings.Fields(string(data)), string(Memory)) {
			return fmt.Errorf("the cgroup controller 'memory' is required but not available in the cgroup v2 hierarchy at %s "+
				"(is it disabled with cgroup_disable=memory on the kernel command line, or bound to a cgroup v1 hierarchy?)", top)
		}
		return nil
	}
	for _, c := range Required {
		if !slices.ContainsFunc(hs, func(h hierarchy) bool { return slices.Contains(h.controllers, c) }) {
			return fmt.Errorf("the cgroup controller '%s' is required but not mounted "+
				"(mount it: mount -t cgroup -o %s cgroup %s, or boot with cgroup v2)", c, c, filepath.Join(top, c))
		}
	}
	return nil
}

// Paths computes, for a cgroup path such as "/machine/vm1.lxctl", its
// directory in every mounted hierarchy, keyed as libcontainer keys them: each
// v1 controller and named hierarchy, plus [Unified] for the cgroup2 of a
// hybrid host; only Unified on a pure v2 host. It is for when libcontainer's
// own map is not at hand, such as cleaning up after a start that failed
// half-way. The directories need not exist.
func Paths(rel string) (map[string]string, error) {
	if !filepath.IsAbs(rel) {
		return nil, fmt.Errorf("cgroup path %q is not absolute (it should look like /machine/vm1.lxctl)", rel)
	}
	rel = filepath.Clean(rel)
	hs, err := mountedHierarchies()
	if err != nil {
		return nil, err
	}
	if len(hs) == 0 {
		return nil, errors.New("no cgroup filesystem is mounted")
	}
	paths := make(map[string]string)
	if isUnifiedLayout(hs, root) {
		paths[string(Unified)] = filepath.Join(root, rel)
		return paths, nil
	}
	for _, h := range hs {
		if h.v2 {
			// The cgroup2 of a hybrid host: the first one mounted
			// (normally /sys/fs/cgroup/unified), as libcontainer does.
			if _, ok := paths[string(Unified)]; !ok {
				paths[string(Unified)] = filepath.Join(h.mountpoint, rel)
			}
			continue
		}
		for _, c := range h.controllers {
			if _, ok := paths[c]; !ok {
				paths[c] = filepath.Join(h.mountpoint, rel)
			}
		}
	}
	return paths, nil
}

// hierCache holds the hierarchies mountedHierarchies read last. Reading
// and parsing the mount table costs about a millisecond here, and a
// command such as list derives the cgroup dirs of every domain it shows;
// the table is read again once the copy is a second old, so the
// long-lived controller still sees a remount.
var hierCache struct {
	sync.Mutex
	hs []hierarchy
	at time.Time
}

const hierCacheTTL = time.Second

func mountedHierarchies() ([]hierarchy, error) {
	hierCache.Lock()
	defer hierCache.Unlock()
	if hierCache.hs != nil && time.Since(hierCache.at) < hierCacheTTL {
		return hierCache.hs, nil
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, fmt.Errorf("cannot read the mount table to find the cgroup hierarchies: %w", err)
	}
	hierCache.hs, hierCache.at = parseHierarchies(mounts), time.Now()
	return hierCache.hs, nil
}

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	mountpoint  string
	controllers []string // v1 only: "cpu", "cpuacct", "name=systemd", ...
	v2          bool
}

// v1Options are the super-block options of a v1 cgroup mount that are not
// controllers (see cgroup1_show_options in the kernel).
var v1Options = []string{"rw", "ro", "noprefix", "xattr", "clone_children", "cpuset_v2_mode", "favordynmods", "nofavordynmods"}

// parseHierarchies lists the cgroup hierarchies in a mount table, in mount
// order. A v1 mount's controllers are in its super-block options
// ("rw,cpu,cpuacct", "rw,xattr,name=systemd").
func parseHierarchies(mounts []*mountinfo.Info) []hierarchy {
	var hs []hierarchy
	for _, m := range mounts {
		switch m.FSType {
		case "cgroup2":
			hs = append(hs, hierarchy{mountpoint: m.Mountpoint, v2: true})
		case "cgroup":
			h := hierarchy{mountpoint: m.Mountpoint}
			for opt := range strings.SplitSeq(m.VFSOptions, ",") {
				if opt == "" || slices.Contains(v1Options, opt) ||
					(strings.Contains(opt, "=") && !strings.HasPrefix(opt, "name=")) {
					continue
				}
				h.controllers = append(h.controllers, opt)
			}
			hs = append(hs, h)
		}
	}
	return hs
}

// isUnifiedLayout reports whether the cgroup2 itself is mounted at top, as
// on a pure v2 host.
func isUnifiedLayout(hs []hierarchy, top string) bool {
	return slices.ContainsFunc(hs, func(h hierarchy) bool { return h.v2 && h.mountpoint == top })
}
