package standby

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cmdline keeps the memory /proc/<pid>/cmdline points to after SetCmdline
// alive for the life of the process (the Go heap never moves it).
var cmdline []byte

// prctlMMMap is the kernel's struct prctl_mm_map (linux/prctl.h).
type prctlMMMap struct {
	StartCode, EndCode, StartData, EndData uint64
	StartBrk, Brk, StartStack              uint64
	ArgStart, ArgEnd, EnvStart, EnvEnd     uint64
	Auxv                                   uint64
	AuxvSize, ExeFD                        uint32
}

// SetCmdline makes /proc/self/cmdline read argv, as if the process had
// been exec'd with it. A standby controller was exec'd with the start's
// arguments; once it has its domain its command line must be the
// controller's own, which is how lxctl recognises its controllers
// (state.Layout.IsController). It points the kernel's argument area at a
// new buffer with prctl(PR_SET_MM, PR_SET_MM_MAP), which, with the
// executable left alone (exe_fd -1), needs no capability; PR_SET_MM_ARG_*
// would need CAP_SYS_RESOURCE, which containers and VMs often lack.
func SetCmdline(argv []string) error {
	buf := []byte(strings.Join(argv, "\x00") + "\x00")
	f, err := selfStat()
	if err != nil {
		return fmt.Errorf("set the controller's command line: %w", err)
	}
	field := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	brk, _, _ := unix.Syscall(unix.SYS_BRK, 0, 0, 0)
	m := prctlMMMap{
		StartCode: field(26), EndCode: field(27), StartStack: field(28),
		StartData: field(45), EndData: field(46), StartBrk: field(47), Brk: uint64(brk),
		ArgStart: uint64(uintptr(unsafe.Pointer(&buf[0]))),
		EnvStart: field(50), EnvEnd: field(51),
		ExeFD: ^uint32(0),
	}
	m.ArgEnd = m.ArgStart + uint64(len(buf))
	if err := unix.Prctl(unix.PR_SET_MM, unix.PR_SET_MM_MAP, uintptr(unsafe.Pointer(&m)), unsafe.Sizeof(m), 0); err != nil {
		return fmt.Errorf("set the controller's command line: prctl(PR_SET_MM_MAP): %w", err)
	}
	cmdline = buf
	return nil
}

// selfStat returns the fields of /proc/self/stat after the command name:
// element 0 is field 3.
func selfStat() ([]string, error) {
	fd, err := unix.Open("/proc/self/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, err
	}
	s := string(buf[:n])
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/self/stat: no ')' closing the command name")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 49 {
		return nil, fmt.Errorf("/proc/self/stat: only %d fields", len(f)+2)
	}
	return f, nil
}
