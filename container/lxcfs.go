package container

import (
	"os"
	"path/filepath"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// lxcfsFiles are the files of an lxcfs mount that LXC binds over a
// container's own, so that free, top and nproc inside see the container's
// memory limit, CPU time, uptime and CPUs instead of the host's. libcontainer
// allows exactly these under /proc for that reason.
var lxcfsFiles = []string{
	"proc/cpuinfo",
	"proc/diskstats",
	"proc/loadavg",
	"proc/meminfo",
	"proc/stat",
	"proc/swaps",
	"proc/uptime",
	"sys/devices/system/cpu/online",
}

// findLXCFS returns where a working lxcfs is mounted in the controller's
// mount namespace (a fuse.lxcfs mount, /var/lib/lxcfs as Debian's package
// has it, or anywhere else), or "" when there is none. It is asked at every
// start of init: lxcfs may have come or gone since the last. A mount whose
// lxcfs has died answers ENOTCONN and does not count.
func findLXCFS() string {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("fuse.lxcfs"))
	if err != nil {
		return ""
	}
	for _, m := range mounts {
		if fi, err := os.Stat(filepath.Join(m.Mountpoint, "proc/meminfo")); err == nil && fi.Mode().IsRegular() {
			return m.Mountpoint
		}
	}
	return ""
}

// lxcfsMounts are the binds of lxcfs's files (mounted at dir; none when
// dir is "") over the container's, each only if lxcfs provides it. They
// come after the container's /proc and /sys, which libcontainer mounts in
// order.
func lxcfsMounts(dir string) []*configs.Mount {
	if dir == "" {
		return nil
	}
	var out []*configs.Mount
	for _, f := range lxcfsFiles {
		src := filepath.Join(dir, f)
		if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, &configs.Mount{
			Source:      src,
			Destination: "/" + f,
			Device:      "bind",
			Flags:       unix.MS_BIND,
		})
	}
	return out
}
