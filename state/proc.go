package state

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const procRoot = "/proc"

// procStat holds the fields of /proc/<pid>/stat lxctl needs.
type procStat struct {
	comm  string // field 2, without its parentheses
	state byte   // field 3
	ppid  int    // field 4
	flags uint64 // field 9, the kernel's PF_* flags
	start uint64 // field 22, starttime in clock ticks since boot
}

// pfExiting is PF_EXITING, set once a process has begun to exit. A process
// killed with SIGKILL can take a while to finish exiting (the teardown of
// the last copy of a large mount namespace, a controller's, waits for RCU
// grace periods); it runs nothing any more and is already dead for lxctl.
const pfExiting = 0x4

// dead says whether the process has exited or is exiting: a zombie (Z), dead
// (X), or on its way (PF_EXITING).
func (s procStat) dead() bool {
	return s.state == 'Z' || s.state == 'X' || s.flags&pfExiting != 0
}

func readProcStat(pid int) (procStat, error) {
	if pid <= 0 {
		return procStat{}, fmt.Errorf("process id %d is not valid: it must be positive", pid)
	}
	path := procRoot + "/" + strconv.Itoa(pid) + "/stat"
	data, err := readFile(path)
	if err != nil {
		// A process being reaped can give ESRCH instead of ENOENT.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return procStat{}, newError(ErrNotFound, err, fmt.Sprintf("process %d does not exist", pid))
		}
		return procStat{}, fmt.Errorf("read %s: %w", path, unwrapPath(err))
	}
	st, err := parseProcStat(data)
	if err != nil {
		return procStat{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return st, nil
}

// parseProcStat parses the content of /proc/<pid>/stat:
//
//	pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt
//	majflt cmajflt utime stime cutime cstime priority nice num_threads
//	itrealvalue starttime ...
//
// comm is the raw executable name and may hold spaces, parentheses and any
// byte but NUL, so the fields are found after the LAST ')'.
func parseProcStat(data []byte) (procStat, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, errors.New("no ')' closing the command name")
	}
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	fields := bytes.Fields(data[i+1:])
	if len(fields) < 20 {
		return procStat{}, fmt.Errorf("only %d fields after the command name, want at least 20", len(fields))
	}
	if len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("state field %q is not one letter", fields[0])
	}
	start, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("start time field %q is not a number", fields[19])
	}
	flags, err := strconv.ParseUint(string(fields[6]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("flags field %q is not a number", fields[6])
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return procStat{}, fmt.Errorf("parent pid field %q is not a number", fields[1])
	}
	comm := ""
	if j := bytes.IndexByte(data, '('); j >= 0 && j < i {
		comm = string(data[j+1 : i])
	}
	return procStat{comm: comm, state: fields[0][0], ppid: ppid, flags: flags, start: start}, nil
}

// ProcStartTime returns the start time of pid (field 22 of /proc/<pid>/stat,
// clock ticks since boot). Together with the pid it identifies a process
// across pid reuse. A missing process is an error wrapping ErrNotFound.
func ProcStartTime(pid int) (uint64, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return 0, err
	}
	return st.start, nil
}

// ProcPPID returns the parent pid of pid (field 4 of /proc/<pid>/stat).
// A missing process is an error wrapping ErrNotFound.
func ProcPPID(pid int) (int, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return 0, err
	}
	return st.ppid, nil
}

// ProcState returns the state letter of pid (field 3 of /proc/<pid>/stat):
// R, S, D, T, t, Z, X, I, ... A missing process is an error wrapping
// ErrNotFound.
func ProcState(pid int) (byte, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return 0, err
	}
	return st.state, nil
}

// ProcComm returns the command name of pid (field 2 of /proc/<pid>/stat,
// which an exec changes) and its state letter, from one read. A missing
// process is an error wrapping ErrNotFound.
func ProcComm(pid int) (string, byte, error) {
	st, err := readProcStat(pid)
	if err != nil {
		return "", 0, err
	}
	return st.comm, st.state, nil
}

// Alive reports whether the process recorded as (pid, start) still runs: the
// pid exists, its start time is start (so the pid was not reused) and it is
// neither a zombie (Z) nor dead (X) nor exiting (killed, not yet a zombie).
// kill(pid, 0) is not enough: PID 1 on these hosts never reaps orphans, so a
// controller that exited can stay a zombie forever.
func Alive(pid int, start uint64) bool {
	st, err := readProcStat(pid)
	if err != nil {
		return false
	}
	return st.start == start && !st.dead()
}

// WaitGone waits until the process recorded as pid and start has exited
// (a zombie counts: nothing reaps it here), at most timeout. It waits on a
// pidfd, which becomes readable when the process exits; the start time is
// checked after the pidfd is open, so a reused pid is never waited on.
func WaitGone(pid int, start uint64, timeout time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil // already gone (ESRCH)
	}
	defer unix.Close(fd)
	if !Alive(pid, start) {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("process %d is still running after %s", pid, timeout)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n > 0 {
			return err
		}
	}
}
