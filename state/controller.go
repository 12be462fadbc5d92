package state

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ControllerCommand is the hidden command a controller runs as. With the
// root and the domain name it makes up a controller's identity on its
// command line (ControllerArgs), which is how lxctl recognises its own
// controllers in /proc without trusting any record.
const ControllerCommand = "__controller"

// Proc identifies a process across pid reuse: its pid and its start time
// (field 22 of /proc/<pid>/stat).
type Proc struct {
	PID   int
	Start uint64
}

// ControllerArgs is the command line, after argv[0], of name's controller
// in this layout: flags first, then "--root <Root> -- <name>". The tail is
// fixed so that IsController can check it exactly.
func (l Layout) ControllerArgs(name string, flags ...string) []string {
	args := append([]string{ControllerCommand}, flags...)
	return append(args, "--root", l.Root, "--", name)
}

// isControllerCmdline reports whether a NUL-separated /proc/<pid>/cmdline
// is that of name's controller in this layout (see ControllerArgs). A
// standby controller (still waiting for its domain) is nobody's yet.
func (l Layout) isControllerCmdline(cmdline []byte, name string) bool {
	args := bytes.Split(bytes.TrimSuffix(cmdline, []byte{0}), []byte{0})
	n := len(args)
	if n < 6 || string(args[1]) != ControllerCommand {
		return false
	}
	if string(args[n-1]) != name || string(args[n-2]) != "--" ||
		string(args[n-3]) != l.Root || string(args[n-4]) != "--root" {
		return false
	}
	for _, a := range args[2 : n-4] {
		if string(a) == "--standby" || string(a) == "--" {
			return false
		}
	}
	return true
}

// IsController reports whether p is, now, the live controller of domain
// name in this layout: the pid exists with p's start time, is neither a
// zombie nor dead, runs as root (or as the caller), and its command line is ControllerArgs of
// this root and name. Anything less and lxctl must not signal it: a
// recorded pid may have been reused, or the record forged.
func (l Layout) IsController(p Proc, name string) bool {
	if !Alive(p.PID, p.Start) {
		return false
	}
	return l.checkIdentity(p.PID, name)
}

func (l Layout) checkIdentity(pid int, name string) bool {
	if !l.ownedByUs(pid) {
		return false
	}
	cmdline, err := readFile(procRoot + "/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return l.isControllerCmdline(cmdline, name)
}

// ownedByUs says whether pid runs as root or as the caller: lxctl run by a
// user may only ever signal that user's processes anyway.
func (l Layout) ownedByUs(pid int) bool {
	var st unix.Stat_t
	if err := unix.Stat(procRoot+"/"+strconv.Itoa(pid), &st); err != nil {
		return false
	}
	return st.Uid == 0 || int(st.Uid) == os.Geteuid()
}

// FindControllers scans /proc for the live controllers of this layout and
// returns them by domain name. It is how lxctl finds a running domain
// whose records are gone (a deleted status.json, a wiped run dir). When a
// name has several (which lxctl never makes), the oldest wins.
func (l Layout) FindControllers() (map[string]Proc, error) {
	return l.findControllers("")
}

// findControllers scans /proc for the controllers of this layout; with
// only set, for that domain's alone: the other controllers' command lines
// are not parsed and their processes not verified.
func (l Layout) findControllers(only string) (map[string]Proc, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return nil, fmt.Errorf("scan %s for controllers: %w", procRoot, unwrapPath(err))
	}
	defer d.Close()
	ents, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("scan %s for controllers: %w", procRoot, unwrapPath(err))
	}
	found := map[string]Proc{}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e)
		if err != nil || pid == self {
			continue
		}
		cmdline, err := readFile(procRoot + "/" + e + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte("\x00"+ControllerCommand+"\x00")) {
			continue // kernel threads have no command line; gone is gone
		}
		if only != "" && !bytes.HasSuffix(cmdline, []byte("\x00"+only+"\x00")) {
			continue
		}
		args := bytes.Split(bytes.TrimSuffix(cmdline, []byte{0}), []byte{0})
		name := string(args[len(args)-1])
		if ValidateName(name) != nil || !l.isControllerCmdline(cmdline, name) {
			continue
		}
		ps, err := readProcStat(pid)
		if err != nil || ps.dead() || !l.ownedByUs(pid) {
			continue
		}
		if old, ok := found[name]; ok && old.Start <= ps.start {
			continue
		}
		found[name] = Proc{PID: pid, Start: ps.start}
	}
	return found, nil
}

// FindController is FindControllers for one domain: ok is false when no
// controller of name runs in this layout.
func (l Layout) FindController(name string) (p Proc, ok bool, err error) {
	all, err := l.findControllers(name)
	if err != nil {
		return Proc{}, false, err
	}
	p, ok = all[name]
	return p, ok, nil
}
