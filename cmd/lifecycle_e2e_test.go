package cmd_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// procStatusField reads one field of /proc/<pid>/status.
func procStatusField(t *testing.T, pid int, field string) string {
	t.Helper()
	v, ok := readStatusField(pid, field)
	if !ok {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	return v
}

// readStatusField is procStatusField for processes that may be gone.
func readStatusField(pid int, field string) (string, bool) {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func nsOf(t *testing.T, pid int, ns string) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// hostnameOf reads a process's hostname from its UTS namespace.
func hostnameOf(t *testing.T, pid int) string {
	t.Helper()
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-u", "hostname").Output()
	if err != nil {
		t.Fatalf("nsenter -u hostname: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func mountsOf(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// mountOpts returns the mount options of the mount at target, from mountinfo.
func mountOpts(mountinfo, target string) string {
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == target {
			return f[5]
		}
	}
	return ""
}

// TestPrivateRootContainer starts a container whose root is a directory of
// its own and checks what a user would: it runs, it is its own pid 1 with
// the domain's hostname, its own /proc, read-only /sys, libvirt's dropped
// capabilities and environment, its cgroups; destroy leaves nothing.
func TestPrivateRootContainer(t *testing.T) {
	e := newEnv(t)
	name := e.name("priv")
	e.define(e.guestDomain(name, "", "", "info", "print", "booted", "sleep"))
	if out := e.ok("start", name); out != fmt.Sprintf("Domain '%s' started\n\n", name) {
		t.Fatalf("start printed %q", out)
	}
	st := e.status(name)
	e.waitConsole(name, "booted")
	log := e.consoleLog(name)
	for _, want := range []string{"hostname=" + name, "pid=1", "env container=lxc-libvirt", "env LIBVIRT_LXC_NAME=" + name, "env LIBVIRT_LXC_UUID=" + st.UUID, "env PATH=/bin:/sbin"} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q:\n%s", want, log)
		}
	}
	if h := hostnameOf(t, st.InitPID); h != name {
		t.Errorf("hostname %q, want %q", h, name)
	}
	for _, ns := range []string{"pid", "mnt", "uts", "ipc"} {
		if nsOf(t, st.InitPID, ns) == nsOf(t, os.Getpid(), ns) {
			t.Errorf("container shares the host's %s namespace", ns)
		}
	}
	if nsOf(t, st.InitPID, "net") != nsOf(t, os.Getpid(), "net") {
		t.Errorf("a domain without interfaces or privnet should use the host network (libvirt's rule)")
	}
	mi := mountsOf(t, st.InitPID)
	if o := mountOpts(mi, "/sys"); !strings.HasPrefix(o, "ro") {
		t.Errorf("/sys mounted %q, want read-only", o)
	}
	if o := mountOpts(mi, "/proc/sys"); !strings.HasPrefix(o, "ro") {
		t.Errorf("/proc/sys mounted %q, want read-only", o)
	}
	if l, err := os.Readlink(fmt.Sprintf("/proc/%d/root/dev/tty1", st.InitPID)); err != nil || l != "console" {
		t.Errorf("/dev/tty1 -> %q (%v), want a link to the console", l, err)
	}
	if mountOpts(mi, "/dev/console") == "" {
		t.Errorf("/dev/console is not the container's pty:\n%s", mi)
	}
	if mountOpts(mi, "/proc") == "" || mountOpts(mi, "/dev/pts") == "" {
		t.Errorf("container lacks its own /proc or /dev/pts:\n%s", mi)
	}
	capBnd, _ := strconv.ParseUint(procStatusField(t, st.InitPID, "CapBnd"), 16, 64)
	for _, c := range []uint{unix.CAP_SYS_MODULE, unix.CAP_SYS_TIME, unix.CAP_MKNOD, unix.CAP_AUDIT_CONTROL, unix.CAP_MAC_ADMIN} {
		if capBnd&(1<<c) != 0 {
			t.Errorf("capability %d should be dropped from the bounding set (CapBnd %x)", c, capBnd)
		}
	}
	if capBnd&(1<<unix.CAP_SYS_ADMIN) == 0 {
		t.Errorf("libvirt's default policy keeps sys_admin (CapBnd %x)", capBnd)
	}
	// Cgroups: the memory limit of the domain, init inside, the device list.
	mem := st.CgroupPaths["memory"]
	leaf, _ := e.layout().CgroupLeaf(name)
	if !strings.HasSuffix(mem, "/machine/"+leaf) || !strings.HasPrefix(leaf, name+".lxctl-") {
		t.Fatalf("memory cgroup %q, want .../machine/%s.lxctl-<key of the root>", mem, name)
	}
	if lim, _ := os.ReadFile(filepath.Join(mem, "memory.limit_in_bytes")); strings.TrimSpace(string(lim)) != strconv.Itoa(256<<20) {
		t.Errorf("memory.limit_in_bytes = %s, want %d", lim, 256<<20)
	}
	// init runs in the payload cgroup below the domain's (container/cgroupns.go).
	if procs, _ := os.ReadFile(filepath.Join(mem, "payload", "cgroup.procs")); !strings.Contains(string(procs), strconv.Itoa(st.InitPID)) {
		t.Errorf("init %d not in its memory cgroup: %s", st.InitPID, procs)
	}
	if devs, _ := os.ReadFile(filepath.Join(st.CgroupPaths["devices"], "devices.list")); strings.Contains(string(devs), "a *:* rwm") || !strings.Contains(string(devs), "c 1:3 rwm") {
		t.Errorf("devices.list is not libvirt's allow-list:\n%s", devs)
	}
	if pl, _ := os.ReadFile(filepath.Join(st.CgroupPaths["pids"], "pids.max")); strings.TrimSpace(string(pl)) == "max" {
		t.Errorf("pids.max not set: a fork bomb would be unbounded")
	}
	// list and dominfo show it running with the controller's pid as Id.
	list := e.ok("list")
	if !strings.Contains(list, fmt.Sprintf(" %d ", st.ControllerPID)) || !strings.Contains(list, "running") {
		t.Errorf("list:\n%s", list)
	}
	if id := strings.TrimSpace(e.ok("domid", name)); id != strconv.Itoa(st.ControllerPID) {
		t.Errorf("domid %q, want %d", id, st.ControllerPID)
	}
	info := e.ok("dominfo", name)
	for _, want := range []string{"State:          running", "Max memory:     262144 KiB", fmt.Sprintf("Init PID:       %d", st.InitPID)} {
		if !strings.Contains(info, want) {
			t.Errorf("dominfo lacks %q:\n%s", want, info)
		}
	}
	if got := e.ok("domstate", "--reason", name); got != "running (booted)\n\n" {
		t.Errorf("domstate --reason = %q", got)
	}

	if out := e.ok("destroy", name); out != fmt.Sprintf("Domain '%s' destroyed\n\n", name) {
		t.Errorf("destroy printed %q", out)
	}
	if alive(st.InitPID) {
		t.Errorf("init %d survived destroy", st.InitPID)
	}
	if d := cgroupDirs(name); len(d) > 0 {
		t.Errorf("cgroups left after destroy: %v", d)
	}
	if got := e.ok("domstate", "--reason", name); got != "shut off (destroyed)\n\n" {
		t.Errorf("after destroy, domstate --reason = %q", got)
	}
}

// TestHostRootContainer is the first example of libvirt's LXC driver doc
// (without its interface): no root filesystem, so the container sees the
// host's files through its own /proc, /sys and /dev, with /bin/sh as init.
func TestHostRootContainer(t *testing.T) {
	e := newEnv(t)
	name := e.name("vm1")
	e.define(fmt.Sprintf(`<domain type='lxc'>
  <name>%s</name>
  <memory>500000</memory>
  <os>
    <type>exe</type>
    <init>/bin/sh</init>
  </os>
  <vcpu>1</vcpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/libexec/libvirt_lxc</emulator>
    <console type='pty'/>
  </devices>
</domain>`, name))
	e.ok("start", name)
	st := e.status(name)
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", st.InitPID)); !strings.Contains(string(comm), "sh") {
		t.Errorf("init is %q, want sh", comm)
	}
	if h := hostnameOf(t, st.InitPID); h != name {
		t.Errorf("hostname %q, want %q", h, name)
	}
	if nsOf(t, st.InitPID, "pid") == nsOf(t, os.Getpid(), "pid") {
		t.Errorf("host-root container shares the host pid namespace")
	}
	// Its own /proc shows its own pid namespace: pid 1 is its sh, and the
	// host's processes (this test) are not there.
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/proc/1/comm", st.InitPID)); err != nil || strings.TrimSpace(string(comm)) != "sh" {
		t.Errorf("container /proc/1/comm: %q %v, want sh", comm, err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/proc/%d", st.InitPID, os.Getpid())); err == nil {
		t.Errorf("container /proc shows host pid %d", os.Getpid())
	}
	mi := mountsOf(t, st.InitPID)
	if o := mountOpts(mi, "/sys"); !strings.HasPrefix(o, "ro") {
		t.Errorf("/sys mounted %q, want read-only", o)
	}
	// The host root reaches the container through a bind that lives only
	// in the controller's mount namespace: the host's table never shows it.
	if hostMI, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(hostMI), e.root) {
		t.Errorf("host mount table shows the container's root bind")
	}
	e.ok("destroy", name)
	if alive(st.InitPID) {
		t.Errorf("init survived destroy")
	}
}

// TestDestroyManyProcesses: 500 processes, some ignoring SIGTERM, some
// double-forked into sessions of their own; none survives destroy and the
// cgroups are gone.
func TestDestroyManyProcesses(t *testing.T) {
	e := newEnv(t)
	name := e.name("many")
	// 500 small Go processes need more than the usual 256 MiB.
	xml := strings.Replace(e.guestDomain(name, "", "", "fork", "200", "forkterm", "200", "daemon", "100", "print", "ready", "sleep"), "<memory unit='MiB'>256</memory>", "<memory unit='GiB'>4</memory>", 1)
	e.define(xml)
	e.ok("start", name)
	e.waitConsole(name, "ready")
	st := e.status(name)
	procs, err := os.ReadFile(filepath.Join(st.CgroupPaths["pids"], "payload", "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	pids := strings.Fields(string(procs))
	if len(pids) < 500 {
		t.Fatalf("only %d processes in the container", len(pids))
	}
	e.ok("destroy", name)
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		if alive(pid) {
			t.Errorf("process %d survived destroy", pid)
		}
	}
	if d := cgroupDirs(name); len(d) > 0 {
		t.Errorf("cgroups left: %v", d)
	}
}

// TestDestroyPaused: libvirt leaks the cgroups of a suspended domain on
// destroy; lxctl kills and removes them just the same.
func TestDestroyPaused(t *testing.T) {
	e := newEnv(t)
	name := e.name("paused")
	e.define(e.guestDomain(name, "", "", "fork", "20", "print", "ready", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "ready")
	if out := e.ok("suspend", name); !strings.Contains(out, "suspended") {
		t.Errorf("suspend printed %q", out)
	}
	if got := e.ok("domstate", "--reason", name); got != "paused (user)\n\n" {
		t.Errorf("domstate = %q", got)
	}
	st := e.status(name)
	if s, _ := os.ReadFile(filepath.Join(st.CgroupPaths["freezer"], "freezer.state")); strings.TrimSpace(string(s)) != "FROZEN" {
		t.Errorf("freezer.state = %s", s)
	}
	e.ok("destroy", name)
	if alive(st.InitPID) {
		t.Errorf("init survived")
	}
	if d := cgroupDirs(name); len(d) > 0 {
		t.Errorf("cgroups left: %v", d)
	}
}

// TestConsoleReopen: an init that closes its console and opens it again is
// still running (a HUP on the pty is not death) and its later output lands.
func TestConsoleReopen(t *testing.T) {
	e := newEnv(t)
	name := e.name("reopen")
	e.define(e.guestDomain(name, "", "", "print", "before", "reopen", "1", "print", "after", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "after")
	if got := e.ok("domstate", name); got != "running\n\n" {
		t.Errorf("domstate after reopen = %q", got)
	}
	if !strings.Contains(e.consoleLog(name), "console reopened") {
		t.Errorf("console log lacks the output after the reopen")
	}
}

// TestLifecycleActions checks on_reboot, on_poweroff and on_crash, which
// libvirt's LXC driver ignores and lxctl honours.
func TestLifecycleActions(t *testing.T) {
	cases := []struct {
		name, actions string
		script        []string
		wantRestart   bool
		wantReason    string
	}{
		{"reboot-restart", "<on_reboot>restart</on_reboot>", []string{"print", "up", "sleep", "0.3", "reboot"}, true, ""},
		{"reboot-destroy", "<on_reboot>destroy</on_reboot>", []string{"print", "up", "sleep", "0.3", "reboot"}, false, "shutdown"},
		{"poweroff", "", []string{"print", "up", "sleep", "0.3", "poweroff"}, false, "shutdown"},
		{"exit0", "", []string{"print", "up", "sleep", "0.3", "exit", "0"}, false, "shutdown"},
		{"crash-destroy", "<on_crash>destroy</on_crash>", []string{"print", "up", "sleep", "0.3", "exit", "3"}, false, "crashed"},
		{"crash-restart", "<on_crash>restart</on_crash>", []string{"print", "up", "sleep", "0.3", "exit", "3"}, true, ""},
		{"poweroff-restart", "<on_poweroff>restart</on_poweroff>", []string{"print", "up", "sleep", "0.3", "poweroff"}, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			name := e.name(c.name)
			e.define(e.guestDomain(name, c.actions, "", c.script...))
			e.ok("start", name)
			first := e.status(name)
			if c.wantRestart {
				e.waitFor("a new init", func() bool {
					st, err := e.layout().ReadStatus(name)
					return err == nil && st.InitPID != first.InitPID && st.State == "running"
				})
				if st := e.status(name); st.ControllerPID != first.ControllerPID {
					t.Errorf("restart replaced the controller (%d -> %d); it should keep it and the console", first.ControllerPID, st.ControllerPID)
				}
				if got := e.ok("domstate", name); got != "running\n\n" {
					t.Errorf("domstate = %q", got)
				}
				return
			}
			e.waitFor("the domain to stop", func() bool { return !alive(first.ControllerPID) })
			if got := e.ok("domstate", "--reason", name); got != "shut off ("+c.wantReason+")\n\n" {
				t.Errorf("domstate --reason = %q, want shut off (%s)", got, c.wantReason)
			}
		})
	}
}

// TestControllerKilled: kill -9 of the controller takes the container with
// it; the next command reports "shut off (failed)" and cleans up, and the
// domain starts again. destroy after the kill also cleans up.
func TestControllerKilled(t *testing.T) {
	e := newEnv(t)
	name := e.name("kill9")
	e.define(e.guestDomain(name, "", "", "fork", "10", "print", "ready", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "ready")
	st := e.status(name)
	if err := unix.Kill(st.ControllerPID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(st.ControllerPID)
	e.waitFor("init to die with its controller", func() bool { return !alive(st.InitPID) })
	if got := e.ok("domstate", "--reason", name); got != "shut off (failed)\n\n" {
		t.Errorf("domstate --reason = %q, want shut off (failed)", got)
	}
	if d := cgroupDirs(name); len(d) > 0 {
		t.Errorf("cgroups left after the sweep: %v", d)
	}
	reapAll()

	e.ok("start", name)
	st2 := e.status(name)
	e.waitConsole(name, "ready")
	if err := unix.Kill(st2.ControllerPID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(st2.ControllerPID)
	if out := e.ok("destroy", name); !strings.Contains(out, "destroyed") {
		t.Errorf("destroy after kill -9 printed %q", out)
	}
	if d := cgroupDirs(name); len(d) > 0 {
		t.Errorf("cgroups left after destroy: %v", d)
	}
}

// TestConcurrentStarts: of 10 simultaneous starts, exactly one wins and the
// others say the domain is already running.
func TestConcurrentStarts(t *testing.T) {
	e := newEnv(t)
	name := e.name("race")
	e.define(e.guestDomain(name, "", "", "sleep"))
	var wg sync.WaitGroup
	results := make([]result, 10)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.run("", "start", name)
		}()
	}
	wg.Wait()
	started := 0
	for _, r := range results {
		switch {
		case r.code == 0:
			started++
		case r.code == 1 && strings.Contains(r.stderr, "is already running"):
		default:
			t.Errorf("unexpected result: exit %d, %q", r.code, r.stderr)
		}
	}
	if started != 1 {
		t.Errorf("%d starts succeeded, want exactly 1", started)
	}
}

// TestStartErrors: failures are reported with their cause, exit 1, and leave
// nothing behind; state errors are clear.
func TestStartErrors(t *testing.T) {
	e := newEnv(t)
	noinit := e.name("noinit")
	e.define(strings.Replace(e.guestDomain(noinit, "", "", "sleep"), "<init>/guest</init>", "<init>/nonexistent/init</init>", 1))
	msg := e.fails("start", noinit)
	if !strings.Contains(msg, "/nonexistent/init") || !strings.Contains(msg, "no such file") {
		t.Errorf("missing init: %q", msg)
	}

	notexec := e.name("notexec")
	if err := os.WriteFile(filepath.Join(e.privateRoot(), "etc", "hostname"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.define(strings.Replace(e.guestDomain(notexec, "", "", "sleep"), "<init>/guest</init>", "<init>/etc/hostname</init>", 1))
	if msg := e.fails("start", notexec); !strings.Contains(msg, "/etc/hostname") || !strings.Contains(msg, "not executable") {
		t.Errorf("non-executable init: %q", msg)
	}

	// An init built for another machine: the guest with its ELF e_machine
	// changed to aarch64 (183).
	arch := e.name("arch")
	guest, _ := os.ReadFile(guestBin)
	foreign := append([]byte{}, guest...)
	foreign[18], foreign[19] = 183, 0
	if err := os.WriteFile(filepath.Join(e.privateRoot(), "foreign"), foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	e.define(strings.Replace(e.guestDomain(arch, "", "", "sleep"), "<init>/guest</init>", "<init>/foreign</init>", 1))
	if msg := e.fails("start", arch); !strings.Contains(msg, "/foreign") || !strings.Contains(msg, "exec format error") {
		t.Errorf("foreign init: %q", msg)
	}

	nosrc := e.name("nosrc")
	e.define(e.guestDomain(nosrc, "", "<filesystem type='mount'><source dir='/nonexistent/src'/><target dir='/data'/></filesystem>", "sleep"))
	if msg := e.fails("start", nosrc); !strings.Contains(msg, "/nonexistent/src") {
		t.Errorf("missing source: %q", msg)
	}

	for _, n := range []string{noinit, notexec, arch, nosrc} {
		if got := e.ok("domstate", n); got != "shut off\n\n" {
			t.Errorf("%s after a failed start: %q", n, got)
		}
		if d := cgroupDirs(n); len(d) > 0 {
			t.Errorf("%s: cgroups left after a failed start: %v", n, d)
		}
		if d, _ := e.layout().RunDir(n); dirExists(d) {
			t.Errorf("%s: runtime dir left after a failed start", n)
		}
	}

	ok := e.name("ok")
	e.define(e.guestDomain(ok, "", "", "sleep"))
	if msg := e.fails("destroy", ok); !strings.Contains(msg, "not running") {
		t.Errorf("destroy of a stopped domain: %q", msg)
	}
	e.ok("start", ok)
	if msg := e.fails("start", ok); !strings.Contains(msg, "already running") {
		t.Errorf("start of a running domain: %q", msg)
	}
	if msg := e.fails("start", "nosuch-"+ok); !strings.Contains(msg, "failed to get domain") {
		t.Errorf("unknown name: %q", msg)
	}
	if msg := e.fails("resume", ok); !strings.Contains(msg, "already running") {
		t.Errorf("resume of a running domain: %q", msg)
	}
}

// TestRebootCommand: lxctl reboot --mode hard brings a new init up in the same
// controller, which a shell init would ignore under libvirt.
func TestRebootCommand(t *testing.T) {
	e := newEnv(t)
	name := e.name("reboot")
	e.define(e.guestDomain(name, "", "", "print", "up", "sleep"))
	e.ok("start", name)
	first := e.status(name)
	if out := e.ok("reboot", "--mode", "hard", name); !strings.Contains(out, "is being rebooted") {
		t.Errorf("reboot printed %q", out)
	}
	st := e.status(name)
	if st.InitPID == first.InitPID || alive(first.InitPID) {
		t.Errorf("reboot kept the old init %d (now %d)", first.InitPID, st.InitPID)
	}
	if !alive(st.InitPID) || st.ControllerPID != first.ControllerPID {
		t.Errorf("after reboot: init %d alive=%v, controller %d (was %d)", st.InitPID, alive(st.InitPID), st.ControllerPID, first.ControllerPID)
	}
}

// TestShutdown: SIGTERM to init; with --timeout, an init that ignores it is
// destroyed when the time is up.
func TestShutdown(t *testing.T) {
	e := newEnv(t)
	name := e.name("shut")
	e.define(e.guestDomain(name, "", "", "ignoreterm", "print", "up", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "up")
	st := e.status(name)
	// This init ignores SIGTERM, as a shell does.
	out := e.ok("shutdown", name, "--timeout", "300ms")
	if !strings.Contains(out, "is being shutdown") || !strings.Contains(out, "destroyed") {
		t.Errorf("shutdown --timeout printed %q", out)
	}
	if alive(st.InitPID) {
		t.Errorf("init survived shutdown --timeout")
	}
	if got := e.ok("domstate", "--reason", name); got != "shut off (destroyed)\n\n" {
		t.Errorf("after shutdown --timeout, domstate --reason = %q", got)
	}
	// An init that dies of the signal shutdown sent has shut down as asked.
	other := e.name("shut2")
	e.define(e.guestDomain(other, "", "", "print", "up", "sleep"))
	e.ok("start", other)
	e.waitConsole(other, "up")
	st = e.status(other)
	if out := e.ok("shutdown", other, "--timeout", "10s"); !strings.Contains(out, "is shut off") {
		t.Errorf("shutdown printed %q", out)
	}
	if alive(st.InitPID) {
		t.Errorf("init survived SIGTERM")
	}
	if got := e.ok("domstate", "--reason", other); got != "shut off (shutdown)\n\n" {
		t.Errorf("after shutdown, domstate --reason = %q", got)
	}
}

// TestTransient: undefining a running domain keeps it running as transient;
// it disappears once stopped. create starts one without defining it.
func TestTransient(t *testing.T) {
	e := newEnv(t)
	name := e.name("trans")
	e.define(e.guestDomain(name, "", "", "sleep"))
	e.ok("start", name)
	if out := e.ok("undefine", name); out != fmt.Sprintf("Domain '%s' has been undefined\n", name) {
		t.Errorf("undefine printed %q", out)
	}
	if !strings.Contains(e.ok("list", "--all"), name) {
		t.Errorf("undefined running domain vanished from list --all")
	}
	if !strings.Contains(e.ok("dominfo", name), "Persistent:     no") {
		t.Errorf("undefined running domain should be transient")
	}
	e.ok("destroy", name)
	if strings.Contains(e.ok("list", "--all"), name) {
		t.Errorf("transient domain still listed after destroy")
	}

	cname := e.name("created")
	f := filepath.Join(e.root, "c.xml")
	if err := os.WriteFile(f, []byte(e.guestDomain(cname, "", "", "sleep")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := e.ok("create", f); !strings.Contains(out, fmt.Sprintf("Domain '%s' created from %s", cname, f)) {
		t.Errorf("create printed %q", out)
	}
	if !strings.Contains(e.ok("list"), cname) {
		t.Errorf("created domain not running")
	}
	e.ok("destroy", cname)
	if strings.Contains(e.ok("list", "--all"), cname) {
		t.Errorf("created domain still listed after destroy")
	}
	if _, err := os.Stat(filepath.Join(e.root, "domains", cname+".xml")); err == nil {
		t.Errorf("create stored a definition")
	}
}

// TestDomainSettings: what the XML asks for reaches the container —
// filesystems (read-only bind, tmpfs of the given size), the cgroup
// tunables, initdir, inituser/initgroup, initenv, privnet.
func TestDomainSettings(t *testing.T) {
	e := newEnv(t)
	name := e.name("set")
	shared := filepath.Join(e.root, "shared")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "scratch", "work"} {
		if err := os.MkdirAll(filepath.Join(e.privateRoot(), d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	extra := `<memtune><hard_limit unit='MiB'>200</hard_limit><soft_limit unit='MiB'>100</soft_limit></memtune>
  <vcpu cpuset='0'>2</vcpu>
  <cputune><shares>512</shares><period>100000</period><quota>50000</quota></cputune>
  <blkiotune><weight>300</weight></blkiotune>
  <features><privnet/></features>`
	devices := fmt.Sprintf(`<filesystem type='mount'><source dir='%s'/><target dir='/data'/><readonly/></filesystem>
    <filesystem type='ram'><source usage='16' units='MiB'/><target dir='/scratch'/></filesystem>`, shared)
	xml := e.guestDomain(name, extra, devices, "info", "print", "ready", "sleep")
	xml = strings.Replace(xml, "</os>", "<initdir>/work</initdir><inituser>1234</inituser><initgroup>4321</initgroup><initenv name='GREETING'>hello world</initenv></os>", 1)
	e.define(xml)
	e.ok("start", name)
	e.waitConsole(name, "ready")
	log := e.consoleLog(name)
	for _, want := range []string{"uid=1234", "gid=4321", "cwd=/work", "env GREETING=hello world"} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q:\n%s", want, log)
		}
	}
	st := e.status(name)
	mi := mountsOf(t, st.InitPID)
	if o := mountOpts(mi, "/data"); !strings.HasPrefix(o, "ro") {
		t.Errorf("/data mounted %q, want read-only", o)
	}
	if !strings.Contains(mi, "/scratch") || !strings.Contains(mi, "size=16384k") {
		t.Errorf("/scratch is not a 16 MiB tmpfs:\n%s", mi)
	}
	if nsOf(t, st.InitPID, "net") == nsOf(t, os.Getpid(), "net") {
		t.Errorf("privnet: the container shares the host network namespace")
	}
	if links, err := os.ReadDir(fmt.Sprintf("/proc/%d/root/sys/class/net", st.InitPID)); err != nil || len(links) != 1 || links[0].Name() != "lo" {
		t.Errorf("privnet: want only lo, got %v %v", links, err)
	}
	read := func(ctrl, file string) string {
		data, _ := os.ReadFile(filepath.Join(st.CgroupPaths[ctrl], file))
		return strings.TrimSpace(string(data))
	}
	for _, c := range []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", strconv.Itoa(200 << 20)},
		{"memory", "memory.soft_limit_in_bytes", strconv.Itoa(100 << 20)},
		{"cpu", "cpu.shares", "512"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpuset", "cpuset.cpus", "0"},
		{"blkio", "blkio.bfq.weight", "300"},
	} {
		if got := read(c.ctrl, c.file); got != c.want && !(c.file == "blkio.bfq.weight" && strings.HasPrefix(got, "default 300")) {
			t.Errorf("%s = %q, want %q", c.file, got, c.want)
		}
	}
	if got := strings.TrimSpace(e.ok("dominfo", name)); !strings.Contains(got, "CPU(s):         2") {
		t.Errorf("dominfo:\n%s", got)
	}
}

// TestIDMap: <idmap> puts the container in a user namespace with the maps.
func TestIDMap(t *testing.T) {
	e := newEnv(t)
	name := e.name("idmap")
	// The mapped root must reach the root filesystem.
	if err := os.Chmod(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	xml := e.guestDomain(name, `<idmap><uid start='0' target='200000' count='65536'/><gid start='0' target='200000' count='65536'/></idmap>`, "", "info", "print", "ready", "sleep")
	e.define(xml)
	e.ok("start", name)
	e.waitConsole(name, "ready")
	st := e.status(name)
	if nsOf(t, st.InitPID, "user") == nsOf(t, os.Getpid(), "user") {
		t.Fatalf("no user namespace")
	}
	m, _ := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", st.InitPID))
	if f := strings.Fields(string(m)); len(f) != 3 || f[0] != "0" || f[1] != "200000" || f[2] != "65536" {
		t.Errorf("uid_map = %q", m)
	}
	if uid := procStatusField(t, st.InitPID, "Uid"); !strings.HasPrefix(uid, "200000") {
		t.Errorf("init's host uid = %q, want 200000", uid)
	}
	if !strings.Contains(e.consoleLog(name), "uid=0") {
		t.Errorf("init is not root inside its namespace")
	}
}

// TestStandbyController: lxctl start hands the domain to the controller its
// C constructor booted alongside the CLI; a start that is refused kills and
// reaps that controller; with LXCTL_NO_STANDBY the controller is exec'd
// after the checks, as before. Both controllers run the domain the same way.
func TestStandbyController(t *testing.T) {
	e := newEnv(t)
	name := e.name("standby")
	e.define(e.guestDomain(name, "", "", "sleep"))
	cmdline := func(pid int) string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return strings.ReplaceAll(string(b), "\x00", " ")
	}
	// standbys lists the live standby controllers of this test's root.
	standbys := func() []string {
		var found []string
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			pid, _ := strconv.Atoi(filepath.Base(d))
			if c := cmdline(pid); alive(pid) && strings.Contains(c, "__controller --standby") && strings.Contains(c, e.root) {
				found = append(found, c)
			}
		}
		return found
	}
	// zombies lists this (subreaper) test process's unreaped children.
	zombies := func() []int {
		var found []int
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			pid, _ := strconv.Atoi(filepath.Base(d))
			ppid, _ := readStatusField(pid, "PPid")
			st, _ := readStatusField(pid, "State")
			if ppid == strconv.Itoa(os.Getpid()) && strings.HasPrefix(st, "Z") {
				found = append(found, pid)
			}
		}
		return found
	}

	e.ok("start", name)
	ctl, _ := strconv.Atoi(strings.TrimSpace(e.ok("domid", name)))
	// The standby controller, once it has the domain, shows the
	// controller's command line (its identity), set by moving its
	// argument area off the one exec gave it (arg_end != env_start).
	if c := cmdline(ctl); c != "lxctl __controller --pids-limit 16384 --root "+e.root+" -- "+name+" " {
		t.Errorf("controller %d runs %q, want the controller's command line", ctl, c)
	}
	if argEnd, envStart := procStatField(t, ctl, 49), procStatField(t, ctl, 50); argEnd == envStart {
		t.Errorf("controller %d has the argument area exec gave it: not the standby controller", ctl)
	}
	if nsOf(t, ctl, "mnt") == nsOf(t, os.Getpid(), "mnt") {
		t.Errorf("the standby controller shares the host's mount namespace")
	}
	if sid := procStatField(t, ctl, 6); sid != strconv.Itoa(ctl) {
		t.Errorf("the standby controller is not in a session of its own (sid %s)", sid)
	}
	if got := e.ok("domstate", name); got != "running\n\n" {
		t.Errorf("domstate %q", got)
	}

	reapAll()
	if msg := e.fails("start", name); !strings.Contains(msg, "already running") {
		t.Errorf("start of a running domain: %q", msg)
	}
	if s := standbys(); len(s) != 0 {
		t.Errorf("after a refused start, want no standby controller waiting, found %q", s)
	}
	if z := zombies(); len(z) > 0 {
		t.Errorf("the refused start left its standby controller unreaped: %v", z)
	}
	e.ok("destroy", name)
	// destroy returns once the controller itself has exited.
	if alive(ctl) {
		t.Errorf("controller %d still runs after destroy returned", ctl)
	}

	// The exec'd controller, for a start with the standby turned off.
	c := exec.Command(lxctlBin, "--root", e.root, "start", name)
	c.Env = append(os.Environ(), "LXCTL_NO_STANDBY=1")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("start with LXCTL_NO_STANDBY: %v\n%s", err, out)
	}
	ctl, _ = strconv.Atoi(strings.TrimSpace(e.ok("domid", name)))
	if c := cmdline(ctl); c != "lxctl __controller --pids-limit 16384 --root "+e.root+" -- "+name+" " {
		t.Errorf("controller %d runs %q, want an exec'd controller", ctl, c)
	}
	if argEnd, envStart := procStatField(t, ctl, 49), procStatField(t, ctl, 50); argEnd != envStart {
		t.Errorf("controller %d had its argument area moved: not an exec'd controller", ctl)
	}
	if got := e.ok("domstate", name); got != "running\n\n" {
		t.Errorf("domstate %q", got)
	}
	e.ok("destroy", name)
}

// procStatField returns field n of /proc/<pid>/stat, numbered as in proc(5)
// (3 is the state, 6 the session).
func procStatField(t *testing.T, pid, n int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if n < 3 || n-3 >= len(f) {
		t.Fatalf("/proc/%d/stat has no field %d", pid, n)
	}
	return f[n-3]
}
