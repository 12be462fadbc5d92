package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fscommon"
)

// Live tuning: the limits libvirt's memtune, setmem, schedinfo and blkiotune
// change on a running domain, read and written in whichever hierarchy the
// host has. Values are in libvirt's terms whatever the hierarchy: memory in
// bytes with Unlimited for no limit, swap as the limit of memory plus swap
// (libvirt's swap_hard_limit, v1's memsw), CPU shares as v1 shares.

// Unlimited is a memory limit that is no limit.
const Unlimited int64 = -1

// unlimitedAbove: the kernel shows "no limit" on v1 as the page counter's
// maximum (9223372036854771712 on 4 KiB pages); anything this large is it.
const unlimitedAbove = 1 << 62

// MemoryLimits are a cgroup's memory limits in bytes.
type MemoryLimits struct {
	Hard, Soft, Swap int64 // Unlimited for none; Swap is memory+swap
}

// ErrNoSwapAccounting is returned when a swap limit is read or set on a
// host whose kernel does not account swap (no memory.memsw.* files).
var ErrNoSwapAccounting = errors.New("the kernel does not account swap on this host (boot it with swapaccount=1 to set swap_hard_limit)")

func memDir(paths map[string]string) (dir string, v2 bool, err error) {
	if d := paths[string(Memory)]; d != "" && !cgroups.IsCgroup2UnifiedMode() {
		return d, false, nil
	}
	if d := paths[string(Unified)]; d != "" && cgroups.IsCgroup2UnifiedMode() {
		return d, true, nil
	}
	return "", false, fmt.Errorf("cgroup %s: no memory controller among its directories", cgroupName(paths))
}

func readLimit(dir, file string) (int64, error) {
	s, err := fscommon.GetCgroupParamString(dir, file)
	if err != nil {
		return 0, err
	}
	if s == "max" {
		return Unlimited, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Join(dir, file), err)
	}
	if v >= unlimitedAbove {
		return Unlimited, nil
	}
	return int64(v), nil
}

func limitString(v int64, v2 bool) string {
	if v == Unlimited {
		if v2 {
			return "max"
		}
		return "-1"
	}
	return strconv.FormatInt(v, 10)
}

// GetMemoryLimits reads the limits in force. Swap is Unlimited where the
// kernel does not account swap.
func GetMemoryLimits(paths map[string]string) (*MemoryLimits, error) {
	dir, v2, err := memDir(paths)
	if err != nil {
		return nil, err
	}
	m := &MemoryLimits{Swap: Unlimited}
	fail := func(err error) (*MemoryLimits, error) {
		return nil, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
	}
	if !v2 {
		if m.Hard, err = readLimit(dir, "memory.limit_in_bytes"); err != nil {
			return fail(err)
		}
		if m.Soft, err = readLimit(dir, "memory.soft_limit_in_bytes"); err != nil {
			return fail(err)
		}
		if sw, err := readLimit(dir, "memory.memsw.limit_in_bytes"); err == nil {
			m.Swap = sw
		}
		return m, nil
	}
	if m.Hard, err = readLimit(dir, "memory.max"); err != nil {
		return fail(err)
	}
	if m.Soft, err = readLimit(dir, "memory.low"); err != nil {
		return fail(err)
	}
	if m.Soft == 0 {
		m.Soft = Unlimited // memory.low 0 is "no soft limit"
	}
	if sw, err := readLimit(dir, "memory.swap.max"); err == nil && sw != Unlimited && m.Hard != Unlimited {
		m.Swap = sw + m.Hard // v2 limits swap alone; libvirt's value is memory+swap
	}
	return m, nil
}

// SetMemoryLimits changes the limits given (nil: leave as is), in the order
// the kernel accepts: on v1 memory may never exceed memory+swap, so when
// the memory limit rises the swap limit is raised first, and when it falls
// the memory limit is lowered first.
func SetMemoryLimits(paths map[string]string, hard, soft, swap *int64) error {
	dir, v2, err := memDir(paths)
	if err != nil {
		return err
	}
	cur, err := GetMemoryLimits(paths)
	if err != nil {
		return err
	}
	newHard := cur.Hard
	if hard != nil {
		newHard = *hard
	}
	newSwap := cur.Swap
	if swap != nil {
		newSwap = *swap
	}
	if newSwap != Unlimited && (newHard == Unlimited || newSwap < newHard) {
		return fmt.Errorf("swap_hard_limit %s is below hard_limit %s: the limit of memory plus swap must be at least the memory limit",
			sizeString(newSwap), sizeString(newHard))
	}
	write := func(file, val string) error {
		if err := cgroups.WriteFile(dir, file, val); err != nil {
			return fmt.Errorf("cgroup %s: set %s to %s: %w", cgroupName(paths), file, val, err)
		}
		return nil
	}
	setHard := func() error {
		if hard == nil {
			return nil
		}
		if v2 {
			return write("memory.max", limitString(*hard, true))
		}
		return write("memory.limit_in_bytes", limitString(*hard, false))
	}
	setSwap := func() error {
		if swap == nil {
			return nil
		}
		if v2 {
			v := Unlimited
			if *swap != Unlimited {
				v = *swap - newHard
			}
			return write("memory.swap.max", limitString(v, true))
		}
		if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err != nil {
			return ErrNoSwapAccounting
		}
		return write("memory.memsw.limit_in_bytes", limitString(*swap, false))
	}
	first, second := setHard, setSwap
	if !v2 && (newHard == Unlimited || (cur.Hard != Unlimited && newHard > cur.Hard)) {
		first, second = setSwap, setHard
	}
	if err := first(); err != nil {
		return err
	}
	if err := second(); err != nil {
		return err
	}
	if soft != nil {
		if v2 {
			v := *soft
			if v == Unlimited {
				v = 0
			}
			return write("memory.low", strconv.FormatInt(v, 10))
		}
		return write("memory.soft_limit_in_bytes", limitString(*soft, false))
	}
	return nil
}

func sizeString(v int64) string {
	if v == Unlimited {
		return "unlimited"
	}
	return strconv.FormatInt(v/1024, 10) + " KiB"
}

// CPULimits are the scheduler settings libvirt's schedinfo shows.
type CPULimits struct {
	Shares uint64 // v1 cpu.shares (v2: converted from cpu.weight)
	Period uint64 // µs
	Quota  int64  // µs, -1 for none
}

func cpuDir(paths map[string]string) (string, bool, error) {
	if d := paths["cpu"]; d != "" && !cgroups.IsCgroup2UnifiedMode() {
		return d, false, nil
	}
	if d := paths[string(Unified)]; d != "" && cgroups.IsCgroup2UnifiedMode() {
		return d, true, nil
	}
	return "", false, fmt.Errorf("cgroup %s: no cpu controller among its directories", cgroupName(paths))
}

// GetCPULimits reads the scheduler settings in force.
func GetCPULimits(paths map[string]string) (*CPULimits, error) {
	dir, v2, err := cpuDir(paths)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*CPULimits, error) {
		return nil, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
	}
	c := &CPULimits{}
	if !v2 {
		if c.Shares, err = fscommon.GetCgroupParamUint(dir, "cpu.shares"); err != nil {
			return fail(err)
		}
		if c.Period, err = fscommon.GetCgroupParamUint(dir, "cpu.cfs_period_us"); err != nil {
			return fail(err)
		}
		q, err := fscommon.GetCgroupParamString(dir, "cpu.cfs_quota_us")
		if err != nil {
			return fail(err)
		}
		if c.Quota, err = strconv.ParseInt(q, 10, 64); err != nil {
			return fail(err)
		}
		return c, nil
	}
	w, err := fscommon.GetCgroupParamUint(dir, "cpu.weight")
	if err != nil {
		return fail(err)
	}
	// The inverse of cgroups.ConvertCPUSharesToCgroupV2Value, close enough
	// to show the shares that were set.
	c.Shares = 2 + ((w-1)*262142)/9999
	max, err := fscommon.GetCgroupParamString(dir, "cpu.max")
	if err != nil {
		return fail(err)
	}
	f := strings.Fields(max)
	if len(f) != 2 {
		return fail(fmt.Errorf("cpu.max: unexpected %q", max))
	}
	c.Quota = -1
	if f[0] != "max" {
		if c.Quota, err = strconv.ParseInt(f[0], 10, 64); err != nil {
			return fail(err)
		}
	}
	if c.Period, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return fail(err)
	}
	return c, nil
}

// SetCPULimits changes the settings given (nil: leave as is).
func SetCPULimits(paths map[string]string, shares, period *uint64, quota *int64) error {
	dir, v2, err := cpuDir(paths)
	if err != nil {
		return err
	}
	write := func(file, val string) error {
		if err := cgroups.WriteFile(dir, file, val); err != nil {
			return fmt.Errorf("cgroup %s: set %s to %s: %w", cgroupName(paths), file, val, err)
		}
		return nil
	}
	if !v2 {
		if shares != nil {
			if err := write("cpu.shares", strconv.FormatUint(*shares, 10)); err != nil {
				return err
			}
		}
		if period != nil {
			if err := write("cpu.cfs_period_us", strconv.FormatUint(*period, 10)); err != nil {
				return err
			}
		}
		if quota != nil {
			return write("cpu.cfs_quota_us", strconv.FormatInt(*quota, 10))
		}
		return nil
	}
	if shares != nil {
		if err := write("cpu.weight", strconv.FormatUint(cgroups.ConvertCPUSharesToCgroupV2Value(*shares), 10)); err != nil {
			return err
		}
	}
	if period != nil || quota != nil {
		cur, err := GetCPULimits(paths)
		if err != nil {
			return err
		}
		if period != nil {
			cur.Period = *period
		}
		if quota != nil {
			cur.Quota = *quota
		}
		q := "max"
		if cur.Quota > 0 {
			q = strconv.FormatInt(cur.Quota, 10)
		}
		return write("cpu.max", q+" "+strconv.FormatUint(cur.Period, 10))
	}
	return nil
}

// ErrNoIOWeight is returned where the block I/O controller has no weight
// file: on v1 and v2 it exists only with an I/O scheduler that does
// proportional sharing (BFQ; CFQ on old kernels).
var ErrNoIOWeight = errors.New("the host's block I/O controller has no weight (it needs the BFQ I/O scheduler on the disks, or CFQ on old kernels)")

func ioWeightFile(paths map[string]string) (dir, file string, err error) {
	candidates := []string{"blkio.weight", "blkio.bfq.weight"}
	dir = paths["blkio"]
	if cgroups.IsCgroup2UnifiedMode() || dir == "" {
		dir, candidates = paths[string(Unified)], []string{"io.weight", "io.bfq.weight"}
	}
	if dir == "" {
		return "", "", fmt.Errorf("cgroup %s: no blkio controller among its directories", cgroupName(paths))
	}
	for _, f := range candidates {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return dir, f, nil
		}
	}
	return "", "", ErrNoIOWeight
}

// GetIOWeight reads the block I/O weight (100..1000 on v1's scale).
func GetIOWeight(paths map[string]string) (uint64, error) {
	dir, file, err := ioWeightFile(paths)
	if err != nil {
		return 0, err
	}
	s, err := fscommon.GetCgroupParamString(dir, file)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", cgroupName(paths), err)
	}
	// v2's io.weight reads "default 100".
	f := strings.Fields(s)
	v, err := strconv.ParseUint(f[len(f)-1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %s: %w", cgroupName(paths), file, err)
	}
	return v, nil
}

// SetIOWeight changes the block I/O weight.
func SetIOWeight(paths map[string]string, w uint64) error {
	dir, file, err := ioWeightFile(paths)
	if err != nil {
		return err
	}
	if err := cgroups.WriteFile(dir, file, strconv.FormatUint(w, 10)); err != nil {
		return fmt.Errorf("cgroup %s: set %s to %d: %w", cgroupName(paths), file, w, err)
	}
	return nil
}
