package cmd_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestInitSignalDefaults: the controller ignores SIGHUP and SIGPIPE for
// itself; the container's init must not inherit that (an init waits for
// SIGHUP as a reboot request, shells die on hang-up, pipelines on EPIPE).
func TestInitSignalDefaults(t *testing.T) {
	e := newEnv(t)
	name := e.name("sig")
	e.define(e.guestDomain(name, "", "", "print", "up", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "up")
	st := e.status(name)
	ignored := func(pid int) uint64 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
				n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		t.Fatalf("no SigIgn in /proc/%d/status", pid)
		return 0
	}
	const hup, pipe = 1 << (1 - 1), 1 << (13 - 1)
	if ig := ignored(st.ControllerPID); ig&hup == 0 {
		t.Errorf("the controller does not ignore SIGHUP (SigIgn %x): the test checks nothing", ig)
	}
	if ig := ignored(st.InitPID); ig&(hup|pipe) != 0 {
		t.Errorf("init inherited ignored SIGHUP or SIGPIPE from its controller: SigIgn %x", ig)
	}
}

// TestIdmapRootUnreachable: an <idmap> domain whose root filesystem sits
// under a directory private to the host's root (mktemp -d makes them 0700)
// is refused at start with the directory and the fix, not with
// libcontainer's "remount-propagation ... permission denied".
func TestIdmapRootUnreachable(t *testing.T) {
	e := newEnv(t)
	if err := os.Chmod(e.root, 0o700); err != nil {
		t.Fatal(err)
	}
	name := e.name("unreach")
	idmap := `<idmap><uid start='0' target='100000' count='65536'/><gid start='0' target='100000' count='65536'/></idmap>`
	e.define(e.guestDomain(name, idmap, "", "print", "up", "sleep"))
	msg := e.fails("start", name)
	if !strings.Contains(msg, "cannot be reached from the container's user namespace") || !strings.Contains(msg, "'"+e.root+"' is mode 0700") || !strings.Contains(msg, "chmod o+x") {
		t.Errorf("start of an unreachable idmap root: %s", msg)
	}
	if out := e.ok("domstate", name); !strings.HasPrefix(out, "shut off") {
		t.Errorf("domstate after the refused start: %q", out)
	}
	if dirs := cgroupDirs(name); len(dirs) > 0 {
		t.Errorf("the refused start left cgroups %v", dirs)
	}
}
