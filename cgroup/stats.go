package cgroup

import (
	"fmt"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fscommon"
)

// Pids returns the processes (thread-group ids) in every directory of the
// cgroup and in their descendant cgroups, sorted, each once. Zombies are not
// listed: a process leaves its cgroups when it exits, before it is reaped.
func Pids(paths map[string]string) ([]int, error) {
	pids, err := newDirs(paths).pids()
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
	}
	return pids, nil
}

// MemoryUsage returns the memory the cgroup uses in bytes, as libvirt's
// dominfo "Used memory" shows it: memory.usage_in_bytes on v1 (page cache
// included), memory.current on v2.
func MemoryUsage(paths map[string]string) (uint64, error) {
	if dir := paths[string(Memory)]; dir != "" && !cgroups.IsCgroup2UnifiedMode() {
		return readUint(paths, dir, "memory.usage_in_bytes")
	}
	// On a hybrid host the cgroup2 directory has no memory controller, so
	// it is used only on a pure v2 host (or when the map has no v1 entry).
	if dir := paths[string(Unified)]; dir != "" {
		return readUint(paths, dir, "memory.current")
	}
	return 0, fmt.Errorf("cgroup %s: no memory controller among its directories", cgroupName(paths))
}

// CPUTime returns the CPU time the cgroup's processes have used: cpuacct.usage
// on v1, usage_usec of cpu.stat on v2 (present even without the cpu
// controller).
func CPUTime(paths map[string]string) (time.Duration, error) {
	if dir := paths[string(CPUAcct)]; dir != "" && !cgroups.IsCgroup2UnifiedMode() {
		ns, err := readUint(paths, dir, "cpuacct.usage")
		return time.Duration(ns), err
	}
	if dir := paths[string(Unified)]; dir != "" {
		us, err := fscommon.GetValueByKey(dir, "cpu.stat", "usage_usec")
		if err != nil {
			return 0, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
		}
		return time.Duration(us) * time.Microsecond, nil
	}
	return 0, fmt.Errorf("cgroup %s: no cpuacct controller among its directories", cgroupName(paths))
}

func readUint(paths map[string]string, dir, file string) (uint64, error) {
	v, err := fscommon.GetCgroupParamUint(dir, file)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
	}
	return v, nil
}
