package cmd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// domainLog returns the domain's controller log so far.
func (e *env) domainLog(name string) string {
	p, _ := e.layout().LogPath(name)
	data, _ := os.ReadFile(p)
	return string(data)
}

// waitStopped waits until the domain is shut off and returns its reason.
// By then its cgroups, the controller's own included, are gone: the stop
// is recorded last.
func (e *env) waitStopped(name string) string {
	e.t.Helper()
	var got string
	e.waitFor(name+" to shut off", func() bool {
		got = e.run("", "domstate", "--reason", name).stdout
		return strings.HasPrefix(got, "shut off")
	})
	if dirs := cgroupDirs(name); len(dirs) > 0 {
		e.t.Errorf("%s is shut off, but its cgroups are still there: %v", name, dirs)
	}
	return strings.TrimSpace(got)
}

// TestShutdownSystemd: an init that is systemd (here a stand-in at
// /lib/systemd/systemd, started as /sbin/init, that acts on signals as
// systemd does and ignores SIGTERM) gets systemd's signals: reboot sends
// SIGRTMIN+5 and its reboot goes through on_reboot (a fresh init), shutdown
// sends SIGRTMIN+4 and it powers off. --signal still overrides.
func TestShutdownSystemd(t *testing.T) {
	e := newEnv(t)
	root := e.privateRoot()
	if err := os.MkdirAll(filepath.Join(root, "lib/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(guestBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "lib/systemd/systemd"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(filepath.Join(root, "sbin"), 0o755)
	if err := os.Symlink("../lib/systemd/systemd", filepath.Join(root, "sbin/init")); err != nil {
		t.Fatal(err)
	}
	name := e.name("sd")
	e.define(strings.Replace(e.guestDomain(name, "", "", "systemd"), "<init>/guest</init>", "<init>/sbin/init</init>", 1))
	e.ok("start", name)
	e.waitConsole(name, "systemd ready")
	first := e.status(name)

	// --signal overrides: systemd ignores SIGTERM.
	e.ok("shutdown", "--signal", "SIGTERM", name)
	e.waitConsole(name, "systemd: terminated ignored")
	if got := e.ok("domstate", name); got != "running\n\n" {
		t.Fatalf("after SIGTERM to systemd, domstate = %q", got)
	}

	if out := e.ok("reboot", name); out != "Domain '"+name+"' is being rebooted\n\n" {
		t.Errorf("reboot printed %q", out)
	}
	e.waitConsole(name, "systemd: reboot")
	e.waitFor("the rebooted systemd", func() bool { return strings.Count(e.consoleLog(name), "systemd ready") >= 2 })
	st := e.status(name)
	if st.InitPID == first.InitPID || st.ControllerPID != first.ControllerPID {
		t.Errorf("after reboot: init %d (was %d), controller %d (was %d)", st.InitPID, first.InitPID, st.ControllerPID, first.ControllerPID)
	}
	if log := e.domainLog(name); !strings.Contains(log, "reboot: asked init by systemd: signal SIGRTMIN+5") {
		t.Errorf("domain log does not say SIGRTMIN+5 was sent:\n%s", log)
	}

	if out := e.ok("shutdown", name); out != "Domain '"+name+"' is being shutdown\n\n" {
		t.Errorf("shutdown printed %q", out)
	}
	e.waitConsole(name, "systemd: poweroff")
	if got := e.waitStopped(name); got != "shut off (shutdown)" {
		t.Errorf("after shutdown of systemd: %q", got)
	}
	if log := e.domainLog(name); !strings.Contains(log, "shutdown: asked init by systemd: signal SIGRTMIN+4") {
		t.Errorf("domain log does not say SIGRTMIN+4 was sent:\n%s", log)
	}
}

// TestShutdownInitctl: a sysvinit-like init listening on an initctl FIFO
// (at /run/sysv/initctl, reached through the /dev/initctl symlink inside
// the container, and ignoring SIGTERM) gets runlevel requests: 6 on
// reboot, 0 on shutdown (by default and with --mode initctl).
func TestShutdownInitctl(t *testing.T) {
	e := newEnv(t)
	name := e.name("ictl")
	e.define(e.guestDomain(name, "", "", "initctl", "/run/sysv/initctl"))
	e.ok("start", name)
	e.waitConsole(name, "initctl ready")
	first := e.status(name)

	e.ok("reboot", name)
	e.waitConsole(name, "initctl: runlevel 6")
	e.waitFor("the rebooted init", func() bool { return strings.Count(e.consoleLog(name), "initctl ready") >= 2 })
	if st := e.status(name); st.InitPID == first.InitPID || st.ControllerPID != first.ControllerPID {
		t.Errorf("after reboot: init %d (was %d), controller %d (was %d)", st.InitPID, first.InitPID, st.ControllerPID, first.ControllerPID)
	}
	if log := e.domainLog(name); !strings.Contains(log, "reboot: asked init by initctl runlevel 6 on /dev/initctl") {
		t.Errorf("domain log does not show the runlevel 6 request:\n%s", log)
	}
	// --mode signal sends SIGTERM, which this init ignores.
	e.ok("shutdown", "--mode", "signal", name)
	if got := e.ok("domstate", name); got != "running\n\n" {
		t.Fatalf("after SIGTERM to a sysvinit, domstate = %q", got)
	}
	e.ok("shutdown", "--mode", "initctl", name)
	e.waitConsole(name, "initctl: runlevel 0")
	if got := e.waitStopped(name); got != "shut off (shutdown)" {
		t.Errorf("after shutdown --mode initctl: %q", got)
	}
}

// TestShutdownPlainInit: an init that is neither systemd nor listens on
// initctl gets SIGTERM (shutdown) and SIGHUP (reboot); a Go init dies of
// SIGHUP with status 2, which after a reboot request is the reboot, so
// on_reboot restarts it. --mode initctl without a FIFO is an error that
// changes nothing, and a /dev/initctl symlink pointing at a FIFO on the
// host is resolved inside the container's root, never followed out.
func TestShutdownPlainInit(t *testing.T) {
	e := newEnv(t)
	name := e.name("plain")
	e.define(e.guestDomain(name, "", "", "print", "booted", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "booted")
	first := e.status(name)

	// A FIFO on the host, held open for reading, and a link to it in the
	// container's /dev.
	hostFifo := filepath.Join(e.root, "hostfifo")
	if err := unix.Mkfifo(hostFifo, 0o600); err != nil {
		t.Fatal(err)
	}
	rd, err := os.OpenFile(hostFifo, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if err := os.Symlink(hostFifo, "/proc/"+strconv.Itoa(first.InitPID)+"/root/dev/initctl"); err != nil {
		t.Fatal(err)
	}
	msg := e.fails("shutdown", "--mode", "initctl", name)
	if !strings.Contains(msg, "no initctl FIFO") || !strings.Contains(msg, "--mode signal") {
		t.Errorf("shutdown --mode initctl without a FIFO: %q", msg)
	}
	buf := make([]byte, 512)
	if n, _ := rd.Read(buf); n > 0 {
		t.Errorf("the host's FIFO got %d bytes through the container's symlink", n)
	}
	if st := e.status(name); st.InitPID != first.InitPID || !alive(first.InitPID) {
		t.Fatalf("a failed shutdown changed the domain: init %d (was %d)", st.InitPID, first.InitPID)
	}

	e.ok("reboot", name)
	e.waitFor("the rebooted init", func() bool { return strings.Count(e.consoleLog(name), "booted") >= 2 })
	if st := e.status(name); st.InitPID == first.InitPID || st.ControllerPID != first.ControllerPID {
		t.Errorf("after reboot: init %d (was %d), controller %d (was %d)", st.InitPID, first.InitPID, st.ControllerPID, first.ControllerPID)
	}
	if log := e.domainLog(name); !strings.Contains(log, "reboot: asked init by signal SIGHUP") {
		t.Errorf("domain log does not say SIGHUP was sent:\n%s", log)
	}
	e.ok("shutdown", name)
	if got := e.waitStopped(name); got != "shut off (shutdown)" {
		t.Errorf("after shutdown: %q", got)
	}
	if log := e.domainLog(name); !strings.Contains(log, "shutdown: asked init by signal SIGTERM") {
		t.Errorf("domain log does not say SIGTERM was sent:\n%s", log)
	}
}

// TestShutdownBadMode: a bad --mode (or --signal with a mode that sends
// none) is refused before the domain is touched, naming the modes.
func TestShutdownBadMode(t *testing.T) {
	e := newEnv(t)
	name := e.name("badmode")
	e.define(e.guestDomain(name, "", "", "sleep"))
	e.ok("start", name)
	init := e.status(name).InitPID
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"shutdown", "--mode", "bogus", name}, "unknown --mode 'bogus' (use auto, signal or initctl)"},
		{[]string{"shutdown", "--mode", "hard", name}, "--mode hard is for reboot only"},
		{[]string{"reboot", "--mode", "acpi", name}, "--mode acpi is not supported for containers (use auto, signal, initctl or hard)"},
		{[]string{"shutdown", "--mode", "initctl", "--signal", "SIGTERM", name}, "--signal does not go with --mode initctl"},
		{[]string{"reboot", "--mode", "hard", "--signal", "SIGHUP", name}, "--signal does not go with --mode hard"},
	} {
		if msg := e.fails(c.args...); !strings.Contains(msg, c.want) {
			t.Errorf("lxctl %s: %q, want %q", strings.Join(c.args, " "), msg, c.want)
		}
	}
	if st := e.status(name); st.InitPID != init || !alive(init) {
		t.Errorf("a refused request changed the domain: init %d (was %d)", st.InitPID, init)
	}
}

// TestShutdownRealSystemd: the host's systemd booted as a container's init
// reboots on lxctl reboot (SIGRTMIN+5: reboot.target, then reboot(2),
// which on_reboot turns into a fresh boot in the same controller) and
// powers off on lxctl shutdown (SIGRTMIN+4).
func TestShutdownRealSystemd(t *testing.T) {
	e := newEnv(t)
	name := e.name("realsd")
	e.define(e.systemdDomain(name, "--unit=basic.target"))
	e.ok("start", name)
	booted := func(pid int) {
		t.Helper()
		e.waitFor("systemd's private socket", func() bool {
			_, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/root/run/systemd/private")
			return err == nil
		})
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-a", "systemctl", "is-system-running", "--wait").CombinedOutput()
		if s := strings.TrimSpace(string(out)); s != "running" && s != "degraded" {
			t.Fatalf("systemd in the container: %q (%v)\nconsole:\n%s", out, err, e.consoleLog(name))
		}
	}
	first := e.status(name)
	booted(first.InitPID)

	e.ok("reboot", name)
	var st = first
	e.waitFor("systemd to reboot", func() bool {
		s, err := e.layout().ReadStatus(name)
		if err == nil && s.InitPID != first.InitPID && s.InitPID != 0 && s.State == "running" {
			st = s
			return true
		}
		return false
	})
	if st.ControllerPID != first.ControllerPID {
		t.Errorf("reboot changed the controller: %d (was %d)", st.ControllerPID, first.ControllerPID)
	}
	booted(st.InitPID)
	if log := e.domainLog(name); !strings.Contains(log, "reboot: asked init by systemd: signal SIGRTMIN+5") || !strings.Contains(log, "killed by signal SIGHUP (reboot)") {
		t.Errorf("the domain log does not show systemd's reboot:\n%s", log)
	}

	e.ok("shutdown", name)
	if got := e.waitStopped(name); got != "shut off (shutdown)" {
		t.Errorf("after shutdown of systemd: %q\nconsole:\n%s", got, e.consoleLog(name))
	}
	if log := e.domainLog(name); !strings.Contains(log, "shutdown: asked init by systemd: signal SIGRTMIN+4") {
		t.Errorf("the domain log does not show SIGRTMIN+4:\n%s", log)
	}
}
