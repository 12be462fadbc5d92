package main

// The isolation actions: what a root process inside a container tries in
// order to reach the host. Each prints what it found, one line per finding,
// "<action> <what> <result>", so the tests can check every step.
//
//	guest syscalls      try each syscall the default seccomp filter refuses, with
//	                    arguments that cannot change anything, print "syscall NAME ERRNO|ok"
//	guest seccomp       print "seccomp N" from /proc/self/status (0 none, 2 filter)
//	guest cgroups       print /proc/self/cgroup and the cgroup dirs visible at /sys/fs/cgroup
//	guest devattack     mount the devices cgroup, try to widen it and to leave it, then
//	                    mount devtmpfs and try to open each of the host's block devices
//	guest procattack    mount a new proc and try to open its sys/kernel/core_pattern for
//	                    writing (never writes); try remounting /proc/sys read-write
//	guest keysattack    unmount the mask on /proc/keys and try to read it
//	guest touch PATH    create an empty file, print "touch PATH ok|ERRNO"

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

func errnoName(err error) string {
	if err == nil {
		return "ok"
	}
	if e, ok := err.(unix.Errno); ok {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
		return "errno" + strconv.Itoa(int(e))
	}
	return strings.ReplaceAll(err.Error(), " ", "_")
}

func cstr(s string) uintptr {
	b := append([]byte(s), 0)
	return uintptr(unsafe.Pointer(&b[0]))
}

// probes call each refused syscall so that, unfiltered, it fails (or does
// nothing) on its own checks: a bad flag, a bad fd, a NULL pointer, a name
// that does not exist. None of them may load, unload or change anything on
// the host if the filter were missing.
var probes = []struct {
	name string
	call func() error
}{
	{"init_module", func() error { return sys(unix.SYS_INIT_MODULE, 0, 0, 0) }},
	{"finit_module", func() error { return sys(unix.SYS_FINIT_MODULE, ^uintptr(0), 0, 0) }},
	{"delete_module", func() error { return sys(unix.SYS_DELETE_MODULE, cstr("lxctl_no_such_module"), unix.O_NONBLOCK, 0) }},
	// 1000 segments is over KEXEC_SEGMENT_MAX: EINVAL before anything loads.
	{"kexec_load", func() error { return sys(unix.SYS_KEXEC_LOAD, 0, 1000, 0) }},
	// An unknown flag: EINVAL before the fds are looked at (no unload).
	{"kexec_file_load", func() error { return sys6(unix.SYS_KEXEC_FILE_LOAD, ^uintptr(0), ^uintptr(0), 0, 0, 1<<31, 0) }},
	{"open_by_handle_at", func() error { return sys(unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0), 0, 0) }},
	{"bpf", func() error { return sys(unix.SYS_BPF, 0xffff, 0, 0) }},
	{"perf_event_open", func() error { return sys6(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0, 0) }},
	// KEYCTL_GET_KEYRING_ID of the thread keyring, without creating it.
	{"keyctl", func() error { return sys(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, ^uintptr(0), 0) }},
	{"add_key", func() error { return sys6(unix.SYS_ADD_KEY, 0, 0, 0, 0, 0, 0) }},
	{"request_key", func() error { return sys6(unix.SYS_REQUEST_KEY, 0, 0, 0, 0, 0, 0) }},
	{"swapon", func() error { return sys(unix.SYS_SWAPON, 0, 0, 0) }},
	{"swapoff", func() error { return sys(unix.SYS_SWAPOFF, 0, 0, 0) }},
	{"acct", func() error { return sys(unix.SYS_ACCT, cstr("/lxctl-no-such-file"), 0, 0) }},
	// SYSLOG_ACTION_SIZE_BUFFER only reads the size.
	{"syslog", func() error { return sys(unix.SYS_SYSLOG, 10, 0, 0) }},
	{"userfaultfd", func() error { return sys(unix.SYS_USERFAULTFD, 0xffffffff, 0, 0) }},
}

func sys(nr, a, b, c uintptr) error {
	r, _, e := unix.Syscall(nr, a, b, c)
	if e != 0 {
		return e
	}
	if nr == unix.SYS_USERFAULTFD || nr == unix.SYS_BPF || nr == unix.SYS_PERF_EVENT_OPEN {
		unix.Close(int(r))
	}
	return nil
}

func sys6(nr, a, b, c, d, e, f uintptr) error {
	r, _, en := unix.Syscall6(nr, a, b, c, d, e, f)
	if en != 0 {
		return en
	}
	if nr == unix.SYS_PERF_EVENT_OPEN {
		unix.Close(int(r))
	}
	return nil
}

func attack(args []string) (rest []string, ok bool, err error) {
	switch args[0] {
	case "syscalls":
		for _, p := range probes {
			fmt.Printf("syscall %s %s\n", p.name, errnoName(p.call()))
		}
	case "seccomp":
		fmt.Printf("seccomp %s\n", statusField("Seccomp"))
	case "cgroups":
		data, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return nil, true, err
		}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			fmt.Printf("cgroups self %s\n", l)
		}
		for _, d := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/devices", "/sys/fs/cgroup/memory"} {
			fmt.Printf("cgroups ls %s %s\n", d, strings.Join(subdirs(d), ","))
		}
	case "devattack":
		devAttack()
	case "procattack":
		procAttack()
	case "touch":
		if len(args) < 2 {
			return nil, true, fmt.Errorf("touch needs a path")
		}
		err := os.WriteFile(args[1], nil, 0o644)
		fmt.Printf("touch %s %s\n", args[1], errnoName(unwrap(err)))
		return args[2:], true, nil
	case "keysattack":
		err := unix.Unmount("/proc/keys", unix.MNT_DETACH)
		fmt.Printf("keysattack umount %s\n", errnoName(err))
		data, err := os.ReadFile("/proc/keys")
		fmt.Printf("keysattack read %s %d\n", errnoName(unwrap(err)), len(data))
	default:
		return nil, false, nil
	}
	fmt.Printf("%s done\n", args[0])
	return args[1:], true, nil
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	if se, ok := err.(*os.SyscallError); ok {
		return se.Err
	}
	return err
}

func statusField(key string) string {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// subdirs lists the directories under dir ("-" when there are none).
func subdirs(dir string) []string {
	es, err := os.ReadDir(dir)
	if err != nil {
		return []string{errnoName(unwrap(err))}
	}
	var ds []string
	for _, e := range es {
		if e.IsDir() {
			ds = append(ds, e.Name())
		}
	}
	if len(ds) == 0 {
		return []string{"-"}
	}
	sort.Strings(ds)
	return ds
}

// devAttack is the classic escape of a privileged container on cgroup v1:
// mount the devices hierarchy, get into a cgroup that allows every device
// (the root, by writing to its cgroup.procs) or make one's own allow
// everything, then open the host's disks through a devtmpfs.
func devAttack() {
	const cg, dev = "/tmp/devattack-cg", "/tmp/devattack-dev"
	_ = os.MkdirAll(cg, 0o700)
	_ = os.MkdirAll(dev, 0o700)
	err := unix.Mount("cgroup", cg, "cgroup", 0, "devices")
	fmt.Printf("devattack mount-cgroup %s\n", errnoName(err))
	if err == nil {
		fmt.Printf("devattack cgroup-dirs %s\n", strings.Join(subdirs(cg), ","))
		list, _ := os.ReadFile(filepath.Join(cg, "devices.list"))
		fmt.Printf("devattack list-before %s\n", strings.Join(strings.Fields(strings.ReplaceAll(string(list), " ", "_")), ","))
		// Every cgroup the mount shows whose list allows everything
		// would do; with a cgroup namespace there is only our own.
		_ = filepath.WalkDir(cg, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() || p == cg {
				return nil
			}
			l, _ := os.ReadFile(filepath.Join(p, "devices.list"))
			if strings.HasPrefix(string(l), "a *:* rwm") {
				werr := os.WriteFile(filepath.Join(p, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0)
				fmt.Printf("devattack join %s %s\n", strings.TrimPrefix(p, cg), errnoName(unwrap(werr)))
				if werr == nil {
					return filepath.SkipAll
				}
			}
			return nil
		})
		werr := os.WriteFile(filepath.Join(cg, "devices.allow"), []byte("a"), 0)
		fmt.Printf("devattack allow-all %s\n", errnoName(unwrap(werr)))
		werr = os.WriteFile(filepath.Join(cg, "devices.allow"), []byte("b *:* rwm"), 0)
		fmt.Printf("devattack allow-block %s\n", errnoName(unwrap(werr)))
		list, _ = os.ReadFile(filepath.Join(cg, "devices.list"))
		fmt.Printf("devattack list-after %s\n", strings.Join(strings.Fields(strings.ReplaceAll(string(list), " ", "_")), ","))
	}
	err = unix.Mount("devtmpfs", dev, "devtmpfs", 0, "")
	fmt.Printf("devattack mount-devtmpfs %s\n", errnoName(err))
	// Every block device of the host, as sysfs lists them: a sandbox may
	// refuse some even to the host's root, so one that opens is enough.
	es, _ := os.ReadDir("/sys/block")
	for _, e := range es {
		f, err := os.Open(filepath.Join(dev, e.Name()))
		if err == nil {
			f.Close()
		}
		fmt.Printf("devattack open-block %s %s\n", e.Name(), errnoName(unwrap(err)))
	}
}

// procAttack: the host's kernel.core_pattern runs a program as root on the
// host when a process dumps core; a container that can write it escapes.
// It never writes: opening for writing is proof enough.
func procAttack() {
	try := func(what, path string) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			f.Close()
		}
		fmt.Printf("procattack %s %s\n", what, errnoName(unwrap(err)))
	}
	try("own-proc-core-pattern", "/proc/sys/kernel/core_pattern")
	const p = "/tmp/procattack"
	_ = os.MkdirAll(p, 0o700)
	err := unix.Mount("proc", p, "proc", 0, "")
	fmt.Printf("procattack mount-proc %s\n", errnoName(err))
	if err == nil {
		try("new-proc-core-pattern", p+"/sys/kernel/core_pattern")
		_ = unix.Unmount(p, unix.MNT_DETACH)
	}
	err = unix.Mount("", "/proc/sys", "", unix.MS_REMOUNT|unix.MS_BIND, "")
	fmt.Printf("procattack remount-proc-sys %s\n", errnoName(err))
	if err == nil {
		try("remounted-core-pattern", "/proc/sys/kernel/core_pattern")
		_ = unix.Mount("", "/proc/sys", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, "")
	}
}
