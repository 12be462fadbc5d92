package main

// Stand-ins for real inits, to test lxctl shutdown and reboot against what
// systemd and sysvinit do as a container's PID 1, without either installed.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// glibc's SIGRTMIN, which systemd's signal numbers count from.
const sigRTMin = syscall.Signal(34)

// systemdInit behaves as systemd(1) documents its system manager's signals:
// SIGRTMIN+3 halts, +4 powers off, +5 reboots, SIGINT (ctrl-alt-del)
// reboots; SIGTERM (which makes systemd re-execute itself) and SIGHUP
// (reload) change nothing, so a plain SIGTERM never stops it.
func systemdInit() error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, sigRTMin+3, sigRTMin+4, sigRTMin+5)
	fmt.Println("systemd ready")
	for s := range sigs {
		var what string
		var cmd int
		switch s {
		case sigRTMin + 3:
			what, cmd = "halt", syscall.LINUX_REBOOT_CMD_HALT
		case sigRTMin + 4:
			what, cmd = "poweroff", syscall.LINUX_REBOOT_CMD_POWER_OFF
		case sigRTMin + 5, syscall.SIGINT:
			what, cmd = "reboot", syscall.LINUX_REBOOT_CMD_RESTART
		default:
			fmt.Printf("systemd: %v ignored\n", s)
			continue
		}
		fmt.Printf("systemd: %s\n", what)
		syscall.Sync()
		if err := syscall.Reboot(cmd); err != nil {
			return fmt.Errorf("reboot(%s): %w", what, err)
		}
	}
	return nil
}

// initctlInit is sysvinit's side of /dev/initctl: it makes the FIFO at path
// (and a /dev/initctl symlink to it, as Debian has, when path is
// elsewhere), reads struct init_request records (384 bytes) and acts on
// runlevel 0 (power off) and 6 (reboot). SIGTERM is ignored, as by
// sysvinit, so only the request can stop it.
func initctlInit(path string) error {
	signal.Ignore(syscall.SIGTERM, syscall.SIGHUP)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	_ = os.Remove(path)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return err
	}
	if path != "/dev/initctl" {
		_ = os.Remove("/dev/initctl")
		if err := os.Symlink(path, "/dev/initctl"); err != nil {
			return err
		}
	}
	// Read and write, as sysvinit opens it: a writer closing gives no EOF.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	fmt.Println("initctl ready")
	req := make([]byte, 384)
	for {
		if _, err := io.ReadFull(f, req); err != nil {
			return err
		}
		magic := binary.NativeEndian.Uint32(req[0:])
		cmd := binary.NativeEndian.Uint32(req[4:])
		level := binary.NativeEndian.Uint32(req[8:])
		if magic != 0x03091969 || cmd != 1 {
			fmt.Printf("initctl: ignored request magic %#x cmd %d\n", magic, cmd)
			continue
		}
		fmt.Printf("initctl: runlevel %c\n", rune(level))
		switch level {
		case '0':
			syscall.Sync()
			return syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
		case '6':
			syscall.Sync()
			return syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
		}
	}
}

// showFile prints each line of path as "PATH: LINE", so the test reads a
// file as the container sees it (lxcfs answers by who reads: the host
// reading /proc/<pid>/root/proc/meminfo would get its own numbers).
func showFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fmt.Printf("%s: %s\n", path, sc.Text())
	}
	fmt.Printf("%s: end\n", path)
	return sc.Err()
}
