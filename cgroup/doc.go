// Package cgroup does what lxctl needs from a container's cgroups once
// libcontainer has created them: it checks the host has the controllers lxctl
// requires, kills every process of a container ("kill painfully"), freezes and
// thaws it, reads its statistics, and removes the cgroup directories.
//
// Everything works from a paths map, controller name to absolute directory,
// exactly as libcontainer's cgroup manager reports it and as lxctl records it
// in a domain's status file:
//
//	v1:     {"memory": "/sys/fs/cgroup/memory/machine/vm1.lxctl", "cpu": ..., "name=systemd": ...}
//	hybrid: the v1 entries plus {"": "/sys/fs/cgroup/unified/machine/vm1.lxctl"}
//	v2:     {"": "/sys/fs/cgroup/machine/vm1.lxctl"}
//
// No live process is needed: the map alone is enough, so a domain whose
// controller was killed with SIGKILL is torn down the same way. When even the
// map is missing (a start that failed half-way), [Paths] computes it from the
// cgroup path.
//
// Invariants:
//   - Waiting is driven by kernel events (pidfds of the processes being killed,
//     inotify on cgroup.events), never by fixed sleeps. Only where the kernel
//     offers no event (the v1 freezer state, rmdir of a v1 directory) does it
//     re-check with a short exponential backoff.
//   - Every wait is bounded by the caller's timeout, and a failure names what
//     is left: the surviving processes with their state and command, or the
//     directories that could not be removed.
//   - A directory that no longer exists counts as empty and removed, so every
//     function can be called again after a partial teardown.
//
// The package imports nothing of lxctl, never prints and never exits; it
// returns errors that say which cgroup is affected and what is wrong.
//
// The caller must not be inside the cgroup: [KillAll] would kill it and
// [Freeze] would freeze it for good. Both refuse with an error instead, so
// the process that tears a container down (lxctl's controller, or the CLI
// when the controller is gone) must live outside the container's cgroup.
package cgroup
