package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
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

// userHZ is the unit of cpuacct.stat: USER_HZ, 100 on every Linux ABI.
const userHZ = 100

// CPUSplit returns the user and system CPU time of the cgroup's processes:
// cpuacct.stat on v1 (in USER_HZ ticks), user_usec and system_usec of
// cpu.stat on v2.
func CPUSplit(paths map[string]string) (user, system time.Duration, err error) {
	if dir := paths[string(CPUAcct)]; dir != "" && !cgroups.IsCgroup2UnifiedMode() {
		u, err1 := fscommon.GetValueByKey(dir, "cpuacct.stat", "user")
		s, err2 := fscommon.GetValueByKey(dir, "cpuacct.stat", "system")
		if err := errors.Join(err1, err2); err != nil {
			return 0, 0, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
		}
		tick := time.Second / userHZ
		return time.Duration(u) * tick, time.Duration(s) * tick, nil
	}
	if dir := paths[string(Unified)]; dir != "" {
		u, err1 := fscommon.GetValueByKey(dir, "cpu.stat", "user_usec")
		s, err2 := fscommon.GetValueByKey(dir, "cpu.stat", "system_usec")
		if err := errors.Join(err1, err2); err != nil {
			return 0, 0, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
		}
		return time.Duration(u) * time.Microsecond, time.Duration(s) * time.Microsecond, nil
	}
	return 0, 0, fmt.Errorf("cgroup %s: no cpuacct controller among its directories", cgroupName(paths))
}

// ErrNoPerCPU is returned by PerCPUTime where the kernel keeps no per-CPU
// accounting for the cgroup (cgroup v2 has none).
var ErrNoPerCPU = errors.New("the kernel keeps no per-CPU time for this cgroup (cgroup v2)")

// PerCPUTime returns the CPU time the cgroup used on each host CPU,
// indexed by CPU number (cpuacct.usage_percpu, v1 only).
func PerCPUTime(paths map[string]string) ([]time.Duration, error) {
	dir := paths[string(CPUAcct)]
	if dir == "" || cgroups.IsCgroup2UnifiedMode() {
		return nil, ErrNoPerCPU
	}
	s, err := fscommon.GetCgroupParamString(dir, "cpuacct.usage_percpu")
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
	}
	var out []time.Duration
	for _, f := range strings.Fields(s) {
		ns, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: cpuacct.usage_percpu: %w", cgroupName(paths), err)
		}
		out = append(out, time.Duration(ns))
	}
	return out, nil
}

// MemoryStats is what the memory controller says about a cgroup, in bytes.
type MemoryStats struct {
	Usage uint64 // what MemoryUsage returns
	RSS   uint64 // anonymous memory (v1 total_rss, v2 anon)
	Swap  uint64 // swap in use (v1 memsw usage minus usage; v2 memory.swap.current); 0 when not accounted
	Limit uint64 // the limit (v1 memory.limit_in_bytes, v2 memory.max); math.MaxUint64 when unlimited
}

// MemoryStat returns the cgroup's memory statistics.
func MemoryStat(paths map[string]string) (*MemoryStats, error) {
	usage, err := MemoryUsage(paths)
	if err != nil {
		return nil, err
	}
	m := &MemoryStats{Usage: usage}
	fail := func(err error) (*MemoryStats, error) {
		return nil, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
	}
	dir, v2, err := memDir(paths)
	if err != nil {
		return nil, err
	}
	if !v2 {
		if m.RSS, err = fscommon.GetValueByKey(dir, "memory.stat", "total_rss"); err != nil {
			return fail(err)
		}
		if m.Limit, err = fscommon.GetCgroupParamUint(dir, "memory.limit_in_bytes"); err != nil {
			return fail(err)
		}
		// memsw exists only with swap accounting on (swapaccount=1).
		if memsw, err := fscommon.GetCgroupParamUint(dir, "memory.memsw.usage_in_bytes"); err == nil && memsw > usage {
			m.Swap = memsw - usage
		}
		return m, nil
	}
	if m.RSS, err = fscommon.GetValueByKey(dir, "memory.stat", "anon"); err != nil {
		return fail(err)
	}
	if m.Limit, err = fscommon.GetCgroupParamUint(dir, "memory.max"); err != nil {
		return fail(err)
	}
	if sw, err := fscommon.GetCgroupParamUint(dir, "memory.swap.current"); err == nil {
		m.Swap = sw
	}
	return m, nil
}

// OOMKills returns how many processes of the cgroup the kernel killed for
// hitting its memory limit: oom_kill of memory.events on v2, which counts
// the whole subtree; on v1 (kernel 4.13 and later) memory.oom_control counts
// only the cgroup the victim was in, so the cgroup's descendants (init's
// payload cgroup, a systemd's own cgroups inside) are added up.
func OOMKills(paths map[string]string) (uint64, error) {
	dir, v2, err := memDir(paths)
	if err != nil {
		return 0, err
	}
	if v2 {
		n, err := fscommon.GetValueByKey(dir, "memory.events", "oom_kill")
		if err != nil {
			return 0, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
		}
		return n, nil
	}
	var total uint64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && isGone(err) {
				return nil // a child cgroup removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		n, err := fscommon.GetValueByKey(p, "memory.oom_control", "oom_kill")
		if err != nil {
			if p != dir && isGone(err) {
				return nil
			}
			return err
		}
		total += n
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
	}
	return total, nil
}
