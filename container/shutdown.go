package container

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/state"
)

// Shutdown and reboot modes (lxctl shutdown/reboot --mode), as virsh's
// --mode for containers, plus lxctl's own "hard" reboot.
const (
	// ModeAuto picks what the container's init understands: systemd's
	// signals for systemd, a runlevel request for a sysvinit listening on
	// an initctl FIFO, SIGTERM (reboot: SIGHUP) for anything else.
	ModeAuto = "auto"
	// ModeSignal sends a signal: systemd's for systemd, SIGTERM (reboot:
	// SIGHUP) otherwise, or the one given with --signal.
	ModeSignal = "signal"
	// ModeInitctl writes a runlevel request (0 or 6) to the initctl FIFO.
	ModeInitctl = "initctl"
	// ModeHard (reboot only) kills every process of the container and
	// starts a fresh init in the same controller, whatever init thinks.
	ModeHard = "hard"
)

// systemd's documented signals to its system manager (systemd(1)): glibc's
// SIGRTMIN is 34, the first two real-time signals being its own.
const (
	sigRTMin         = unix.Signal(34)
	systemdHalt      = sigRTMin + 3
	systemdPoweroff  = sigRTMin + 4
	systemdReboot    = sigRTMin + 5
	initctlMagic     = 0x03091969
	initctlCmdRunlvl = 1
	// initRequestSize is sysvinit's struct init_request: four ints and a
	// 368-byte union; init reads exactly this much per request.
	initRequestSize = 384
)

// initctlFIFOs are where sysvinit listens, in the order libvirt tries them
// (Debian's /dev/initctl is a symlink to /run/initctl).
var initctlFIFOs = []string{"/run/initctl", "/dev/initctl", "/etc/.initctl"}

// errNoInitctl: the container has no initctl FIFO, so its init does not
// take runlevel requests.
var errNoInitctl = errors.New("no initctl FIFO (/run/initctl, /dev/initctl, /etc/.initctl) in the container: its init does not take runlevel requests (use --mode signal)")

// errHostFIFO: the container's initctl path is the host's own FIFO (a
// container sharing the host's /run): lxctl never asks the host's init to
// change runlevel.
var errHostFIFO = errors.New("the host's own initctl FIFO (the container shares the host's /run or /dev)")

// askInit asks the container's init to power off (reboot false) or reboot,
// by mode (ModeAuto, ModeSignal, ModeInitctl); sig, if not 0, is the
// signal --signal chose. It returns how it asked, in words for the log.
// It never waits for init: what init does about it arrives as its exit.
func (c *controller) askInit(reboot bool, mode string, sig unix.Signal) (string, error) {
	if c.st.State == "paused" {
		return "", errors.New("domain is paused: resume it first")
	}
	pid := c.st.InitPID
	runlevel, defSig, sdSig := byte('0'), unix.SIGTERM, systemdPoweroff
	if reboot {
		runlevel, defSig, sdSig = '6', unix.SIGHUP, systemdReboot
	}
	if sig != 0 {
		return "signal " + unix.SignalName(sig), c.signalInit(sig)
	}
	switch mode {
	case ModeInitctl:
		p, err := writeInitctl(pid, runlevel)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("initctl runlevel %c on %s", runlevel, p), nil
	case ModeAuto, ModeSignal, "":
	default:
		return "", fmt.Errorf("unknown mode '%s' (use auto, signal or initctl)", mode)
	}
	if isSystemd(pid) {
		return fmt.Sprintf("systemd: signal SIGRTMIN+%d", int(sdSig-sigRTMin)), c.signalInit(sdSig)
	}
	if mode != ModeSignal {
		p, err := writeInitctl(pid, runlevel)
		if err == nil {
			return fmt.Sprintf("initctl runlevel %c on %s", runlevel, p), nil
		}
		// libvirt's default too: initctl when it works, else the signal.
		if !errors.Is(err, errNoInitctl) {
			return "signal " + unix.SignalName(defSig) + " (initctl failed: " + err.Error() + ")", c.signalInit(defSig)
		}
	}
	return "signal " + unix.SignalName(defSig), c.signalInit(defSig)
}

// isSystemd reports whether the process pid runs systemd: its executable
// (resolved by the kernel, so /sbin/init linked to systemd counts) or its
// command name is systemd.
func isSystemd(pid int) bool {
	if exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err == nil {
		if path.Base(strings.TrimSuffix(exe, " (deleted)")) == "systemd" {
			return true
		}
	}
	comm, _, err := state.ProcComm(pid)
	return err == nil && comm == "systemd"
}

// initRequest is sysvinit's struct init_request asking for a runlevel, in
// the machine's byte order.
func initRequest(runlevel byte) []byte {
	b := make([]byte, initRequestSize)
	binary.NativeEndian.PutUint32(b[0:], initctlMagic)
	binary.NativeEndian.PutUint32(b[4:], initctlCmdRunlvl)
	// An int that holds the runlevel's character, '0' or '6'.
	binary.NativeEndian.PutUint32(b[8:], uint32(runlevel))
	return b
}

// writeInitctl sends init (pid) a runlevel request on the first initctl
// FIFO of its root. The container owns its files, so the path is resolved
// inside init's root (/proc/<pid>/root), a symlink never leading out of it;
// the file must be a FIFO, and not one of the host's own (a container that
// shares the host's /run would otherwise reach the host's init); it is
// opened O_WRONLY|O_NONBLOCK, so a FIFO nobody reads fails at once
// (ENXIO) instead of blocking the controller, and one request is far below
// PIPE_BUF, so it is written whole or not at all.
func writeInitctl(pid int, runlevel byte) (string, error) {
	root := "/proc/" + strconv.Itoa(pid) + "/root"
	for _, p := range initctlFIFOs {
		h, err := pathrs.OpenInRoot(root, p)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return p, fmt.Errorf("initctl %s: %w", p, err)
		}
		f, err := openFIFO(h, p)
		h.Close()
		if errors.Is(err, errHostFIFO) {
			continue // the host's: the container may have its own further on
		}
		if err != nil {
			return p, err
		}
		req := initRequest(runlevel)
		n, err := f.Write(req)
		f.Close()
		if err != nil {
			return p, fmt.Errorf("initctl %s: write the runlevel request: %w", p, err)
		}
		if n != len(req) {
			return p, fmt.Errorf("initctl %s: wrote %d of %d bytes", p, n, len(req))
		}
		return p, nil
	}
	return "", errNoInitctl
}

// openFIFO reopens the O_PATH handle h of the container's p for writing,
// once it is known to be a FIFO that is not the host's.
func openFIFO(h *os.File, p string) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return nil, fmt.Errorf("initctl %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil, fmt.Errorf("initctl %s is not a FIFO", p)
	}
	if sameFile(st, hostInitctlFIFOs()) {
		return nil, fmt.Errorf("initctl %s: %w", p, errHostFIFO)
	}
	f, err := pathrs.Reopen(h, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errors.Is(err, unix.ENXIO) {
		return nil, fmt.Errorf("initctl %s: no process reads it", p)
	}
	if err != nil {
		return nil, fmt.Errorf("initctl %s: %w", p, err)
	}
	return f, nil
}

// hostInitctlFIFOs are the host's initctl FIFOs as the host's PID 1 sees
// them (its root, not the controller's mount namespace).
func hostInitctlFIFOs() []string {
	var out []string
	for _, p := range initctlFIFOs {
		out = append(out, "/proc/1/root"+p)
	}
	return out
}

// sameFile reports whether st is the file at one of paths.
func sameFile(st unix.Stat_t, paths []string) bool {
	for _, p := range paths {
		var h unix.Stat_t
		if err := unix.Stat(p, &h); err == nil && h.Dev == st.Dev && h.Ino == st.Ino {
			return true
		}
	}
	return false
}

// checkReqMode says what is wrong with a shutdown or reboot request's mode
// before anything is asked of init.
func checkReqMode(op, mode string) error {
	switch mode {
	case "", ModeAuto, ModeSignal, ModeInitctl:
		return nil
	case ModeHard:
		if op == OpReboot {
			return nil
		}
	}
	return fmt.Errorf("unknown %s mode '%s'", op, mode)
}
