package cmd_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxctl/lxctl/state"
)

// The host is the truth (issue 11): records are hints; what lxctl touches
// is derived from what it owns or verified on the host.

// startGuest defines and starts an idle guest domain and returns its
// controller and init pids.
func (e *env) startGuest(name string, script ...string) (ctl, init int) {
	e.t.Helper()
	e.define(e.guestDomain(name, "", "", script...))
	e.ok("start", name)
	st := e.status(name)
	return st.ControllerPID, st.InitPID
}

// sleeper starts a process that is no part of any lxctl world, and kills
// and reaps it when the test ends.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	c := exec.Command("sleep", "1000")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	return c
}

// TestTwoRootsOneName: two roots may run a domain of the same name; their
// cgroups are distinct, and destroying one leaves the other running.
func TestTwoRootsOneName(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	name := a.name("tworoots")
	b.names = append(b.names, name)
	_, initA := a.startGuest(name)
	_, initB := b.startGuest(name)
	leafA, _ := a.layout().CgroupLeaf(name)
	leafB, _ := b.layout().CgroupLeaf(name)
	if leafA == leafB {
		t.Fatalf("two roots share the cgroup name %s", leafA)
	}
	if got := b.ok("domstate", name); got != "running\n\n" {
		t.Fatalf("root B: domstate %q", got)
	}
	a.ok("destroy", name)
	if alive(initA) {
		t.Errorf("root A's init %d survived its destroy", initA)
	}
	if !alive(initB) {
		t.Fatalf("destroying root A's %s killed root B's init %d", name, initB)
	}
	if got := b.ok("domstate", name); got != "running\n\n" {
		t.Errorf("root B after root A's destroy: domstate %q", got)
	}
	for _, d := range cgroupDirs(leafA) {
		t.Errorf("root A's cgroup %s left behind", d)
	}
	if len(cgroupDirs(leafB)) == 0 {
		t.Errorf("root B's cgroups are gone")
	}
	b.ok("destroy", name)
}

// forge writes a status record for name as an attacker (or a stale copy)
// would: every field is the caller's choice.
func (e *env) forge(name string, st *state.Status) {
	e.t.Helper()
	dir, _ := e.layout().RunDir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		e.t.Fatal(err)
	}
	data, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, "status.json"), data, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// TestForgedRecordDeadController: a record whose controller is dead and
// whose cgroup paths, sockets and veths name things that are not the
// domain's. list sweeps the domain's own leftovers, harms none of those,
// and says the record was not obeyed.
func TestForgedRecordDeadController(t *testing.T) {
	e := newEnv(t)
	name := e.name("forged")
	e.define(e.guestDomain(name, "", ""))

	// Another cgroup with a sleeping process in it, in two hierarchies.
	victim := sleeper(t)
	paths := victimCgroup(t, victim)
	cg := filepath.Base(paths["pids"])
	// An unrelated interface: a veth pair lxctl did not make.
	dummy := "lxtd" + randHex(3)
	if out, err := exec.Command("ip", "link", "add", dummy, "type", "veth", "peer", "name", dummy+"p").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", dummy).Run() })
	outside := t.TempDir()

	e.forge(name, &state.Status{
		Name: name, State: "running", Reason: "booted",
		ControllerPID: 4194000, ControllerStart: 1, // no such process
		InitPID:    victim.Process.Pid,
		CgroupPath: "/" + cg, CgroupPaths: paths,
		ControlSocket: filepath.Join(outside, "control.sock"),
		ConsoleSocket: filepath.Join(outside, "console.sock"),
		Veths:         []string{dummy},
	})
	r := e.run("", "list", "--all")
	if r.code != 0 || !strings.Contains(r.stdout, name) || !strings.Contains(r.stdout, "shut off") {
		t.Fatalf("list --all: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, cg) || !strings.Contains(r.stderr, "not the domain's") {
		t.Errorf("list did not report the record's foreign cgroups: %q", r.stderr)
	}
	if !alive(victim.Process.Pid) {
		t.Fatalf("list killed process %d, which the forged record placed in its cgroups", victim.Process.Pid)
	}
	for _, dir := range paths {
		if !dirExists(dir) {
			t.Errorf("list removed cgroup %s named by the forged record", dir)
		}
	}
	if err := exec.Command("ip", "link", "show", dummy).Run(); err != nil {
		t.Errorf("list deleted interface %s named by the forged record", dummy)
	}
	if got := e.ok("domstate", "--reason", name); got != "shut off (failed)\n\n" {
		t.Errorf("domstate --reason: %q", got)
	}
	// destroy of the same forged record harms nothing either.
	e.forge(name, &state.Status{Name: name, ControllerPID: 4194000, ControllerStart: 1, CgroupPath: "/" + cg, CgroupPaths: paths, Veths: []string{dummy}})
	e.ok("destroy", name)
	if !alive(victim.Process.Pid) || !dirExists(paths["pids"]) {
		t.Errorf("destroy obeyed the forged record")
	}
	if err := exec.Command("ip", "link", "show", dummy).Run(); err != nil {
		t.Errorf("destroy deleted interface %s named by the forged record", dummy)
	}
}

// TestForgedRecordLiveProcess: a record naming a live process that is not
// the domain's controller (right pid, right start time): neither list nor
// destroy signals it.
func TestForgedRecordLiveProcess(t *testing.T) {
	e := newEnv(t)
	name := e.name("forgedlive")
	e.define(e.guestDomain(name, "", ""))
	victim := sleeper(t)
	start, err := state.ProcStartTime(victim.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	e.forge(name, &state.Status{Name: name, State: "running", ControllerPID: victim.Process.Pid, ControllerStart: start, InitPID: victim.Process.Pid, InitStart: start})
	r := e.run("", "list", "--all")
	if r.code != 0 || !strings.Contains(r.stderr, "not signalled") {
		t.Errorf("list: exit %d, stderr %q: want a warning that the record's controller is not the domain's", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, strconv.Itoa(victim.Process.Pid)) {
		t.Errorf("list shows the forged controller's pid as an id:\n%s", r.stdout)
	}
	e.forge(name, &state.Status{Name: name, State: "running", ControllerPID: victim.Process.Pid, ControllerStart: start, InitPID: victim.Process.Pid, InitStart: start})
	r = e.run("", "destroy", name)
	time.Sleep(100 * time.Millisecond)
	if !alive(victim.Process.Pid) {
		t.Fatalf("destroy signalled process %d, which a forged record named as the controller (exit %d, %s)", victim.Process.Pid, r.code, r.stderr)
	}
	if r.code != 0 || !strings.Contains(r.stderr, "not signalled") {
		t.Errorf("destroy: exit %d, stderr %q", r.code, r.stderr)
	}
	if d, _ := e.layout().RunDir(name); dirExists(d) {
		t.Errorf("destroy left the forged runtime dir %s", d)
	}
}

// TestUntrustedRoot: a root that another user owns, or that group or
// others may write, is refused with the path and the fix; nothing is
// created in it.
func TestUntrustedRoot(t *testing.T) {
	e := newEnv(t)
	f := filepath.Join(t.TempDir(), "d.xml")
	if err := os.WriteFile(f, []byte(e.guestDomain(e.name("untrusted"), "", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(what, fix string) {
		t.Helper()
		for _, args := range [][]string{{"list", "--all"}, {"define", f}} {
			r := e.run("", args...)
			if r.code != 1 || !strings.Contains(r.stderr, e.root) || !strings.Contains(r.stderr, fix) {
				t.Errorf("%s: lxctl %s: exit %d, stderr %q: want the path and %q", what, args[0], r.code, r.stderr, fix)
			}
		}
		if d := filepath.Join(e.root, "domains"); dirExists(d) {
			t.Errorf("%s: lxctl created %s", what, d)
		}
	}
	if err := os.Chmod(e.root, 0o777); err != nil {
		t.Fatal(err)
	}
	check("mode 0777", "chmod go-w")
	if err := os.Chmod(e.root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(e.root, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	check("owned by nobody", "chown root")
	if err := os.Chown(e.root, 0, 0); err != nil {
		t.Fatal(err)
	}
	// A subdirectory that is a symlink.
	if err := os.Symlink(t.TempDir(), filepath.Join(e.root, "run")); err != nil {
		t.Fatal(err)
	}
	if r := e.run("", "list"); r.code != 1 || !strings.Contains(r.stderr, "symlink") {
		t.Errorf("run/ a symlink: exit %d, stderr %q", r.code, r.stderr)
	}
	os.Remove(filepath.Join(e.root, "run"))
	e.ok("list", "--all")
}

// lostRecords runs the case of a running domain whose records are gone:
// list still says running (and why it warns), destroy kills init and
// controller and removes every cgroup dir of the domain.
func lostRecords(t *testing.T, paused bool, lose func(e *env, name string)) {
	e := newEnv(t)
	name := e.name("lost")
	ctl, init := e.startGuest(name, "fork", "3", "sleep")
	leaf, _ := e.layout().CgroupLeaf(name)
	want := "running"
	if paused {
		e.ok("suspend", name)
		want = "paused"
	}
	lose(e, name)
	r := e.run("", "list")
	if r.code != 0 || !strings.Contains(r.stdout, name) || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, strconv.Itoa(ctl)) {
		t.Fatalf("list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "status record is missing") {
		t.Errorf("list did not warn that the record is missing: %q", r.stderr)
	}
	if got := e.ok("domid", name); got != strconv.Itoa(ctl)+"\n\n" {
		t.Errorf("domid %q, want %d", got, ctl)
	}
	e.ok("destroy", name)
	waitGone(ctl)
	for _, pid := range []int{ctl, init} {
		if alive(pid) {
			t.Errorf("process %d survived destroy", pid)
		}
	}
	if dirs := cgroupDirs(leaf); len(dirs) > 0 {
		t.Errorf("cgroups left after destroy: %v", dirs)
	}
	if got := e.ok("domstate", name); got != "shut off\n\n" {
		t.Errorf("domstate after destroy: %q", got)
	}
	if r := e.run("", "destroy", name); r.code != 1 || !strings.Contains(r.stderr, "is not running") {
		t.Errorf("second destroy: exit %d, %q", r.code, r.stderr)
	}
}

func TestStatusRecordDeleted(t *testing.T) {
	lostRecords(t, false, func(e *env, name string) {
		p, _ := e.layout().StatusPath(name)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRunDirWiped(t *testing.T) {
	lostRecords(t, false, func(e *env, name string) {
		// As a tmpfs /run after a crash, or rm -rf: everything, locks too.
		if err := os.RemoveAll(e.layout().Run); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDamagedRecords: a garbled status record does not hide the domain,
// and list and dominfo agree; a garbled live config is an error for
// dumpxml, not the inactive definition passed off as the live one.
func TestDamagedRecords(t *testing.T) {
	e := newEnv(t)
	name := e.name("damaged")
	ctl, _ := e.startGuest(name)
	statusPath, _ := e.layout().StatusPath(name)
	if err := os.WriteFile(statusPath, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run("", "list", "--all")
	if r.code != 0 || !strings.Contains(r.stdout, name) || !strings.Contains(r.stdout, "running") {
		t.Errorf("list --all with a damaged record: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "corrupt") {
		t.Errorf("list did not warn about the damaged record: %q", r.stderr)
	}
	r = e.run("", "dominfo", name)
	if r.code != 0 || !strings.Contains(r.stdout, "running") || !strings.Contains(r.stderr, "corrupt") {
		t.Errorf("dominfo with a damaged record: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	runDir, _ := e.layout().RunDir(name)
	if err := os.WriteFile(filepath.Join(runDir, "live.xml"), []byte("<domain"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run("", "dumpxml", name)
	if r.code != 1 || !strings.Contains(r.stderr, "live config") || !strings.Contains(r.stderr, "damaged") || r.stdout != "" {
		t.Errorf("dumpxml with a damaged live config: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	if r := e.run("", "dumpxml", "--inactive", name); r.code != 0 {
		t.Errorf("dumpxml --inactive: exit %d: %s", r.code, r.stderr)
	}
	e.ok("destroy", name)
	waitGone(ctl)

	// Not running, with a damaged record left behind: listed, shut off.
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(statusPath, []byte("\x00\x01"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.run("", "list", "--all")
	if r.code != 0 || !strings.Contains(r.stdout, name) || !strings.Contains(r.stdout, "shut off") || !strings.Contains(r.stderr, "corrupt") {
		t.Errorf("list --all, damaged record of a stopped domain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := e.ok("domstate", name); got != "shut off\n\n" {
		t.Errorf("domstate: %q", got)
	}
}

// TestSymlinkedLogs: a symlink planted at the console log's or the
// controller log's path never makes lxctl write to its target.
func TestSymlinkedLogs(t *testing.T) {
	e := newEnv(t)
	for _, which := range []string{"console", "controller"} {
		name := e.name("symlog")
		e.define(e.guestDomain(name, "", "", "print", "secret-output", "sleep"))
		target := filepath.Join(t.TempDir(), "target")
		if err := os.WriteFile(target, []byte("precious\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		l := e.layout()
		link, _ := l.ConsoleLogPath(name)
		if which == "controller" {
			link, _ = l.LogPath(name)
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		r := e.run("", "start", name)
		t.Logf("%s log a symlink: start: exit %d %s", which, r.code, strings.TrimSpace(r.stderr))
		if r.code == 0 {
			time.Sleep(300 * time.Millisecond) // let output reach a log
			e.ok("destroy", name)
		} else if !strings.Contains(r.stderr, link) || !strings.Contains(r.stderr, "symlink") {
			t.Errorf("%s log a symlink: start failed without naming the log: %s", which, r.stderr)
		}
		if data, _ := os.ReadFile(target); string(data) != "precious\n" {
			t.Errorf("%s log a symlink: its target was written: %q", which, data)
		}
	}
}

// victimCgroup makes a cgroup (freezer and pids) that is no domain's,
// with p in it, removed when the test ends.
func victimCgroup(t *testing.T, p *exec.Cmd) map[string]string {
	t.Helper()
	cg := "lxctl-truth-victim-" + randHex(3)
	paths := map[string]string{}
	for _, ctrl := range []string{"pids", "freezer"} {
		dir := filepath.Join("/sys/fs/cgroup", ctrl, cg)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = p.Process.Kill()
			_ = p.Wait()
			_ = os.Remove(dir)
		})
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(p.Process.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths[ctrl] = dir
	}
	return paths
}

// TestForgedRecordRunning: the record of a running domain rewritten to
// name another cgroup, another init and other sockets. Commands keep
// working on the domain's own (derived, verified) things and report the
// mismatch; suspend, dominfo and destroy never reach the victim.
func TestForgedRecordRunning(t *testing.T) {
	e := newEnv(t)
	name := e.name("forgedrun")
	ctl, init := e.startGuest(name)
	victim := sleeper(t)
	paths := victimCgroup(t, victim)
	vstart, _ := state.ProcStartTime(victim.Process.Pid)
	st := e.status(name)
	st.CgroupPaths, st.CgroupPath = paths, "/"+filepath.Base(paths["pids"])
	st.InitPID, st.InitStart = victim.Process.Pid, vstart
	st.ControlSocket, st.ConsoleSocket = "/nonexistent/control.sock", "/nonexistent/console.sock"
	if err := e.layout().WriteStatus(st); err != nil {
		t.Fatal(err)
	}
	r := e.run("", "list")
	if r.code != 0 || !strings.Contains(r.stdout, strconv.Itoa(ctl)) || !strings.Contains(r.stderr, "not the domain's") {
		t.Errorf("list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := e.ok("dominfo", name); strings.Contains(out, strconv.Itoa(victim.Process.Pid)) {
		t.Errorf("dominfo shows the forged init pid %d:\n%s", victim.Process.Pid, out)
	}
	e.ok("suspend", name)
	if s, _ := os.ReadFile(filepath.Join(paths["freezer"], "freezer.state")); strings.TrimSpace(string(s)) != "THAWED" {
		t.Errorf("suspend froze the cgroup the record named: %s", s)
	}
	if got := e.ok("domstate", name); got != "paused\n\n" {
		t.Errorf("domstate after suspend: %q", got)
	}
	e.ok("resume", name)
	e.ok("destroy", name)
	waitGone(ctl)
	if alive(init) || alive(ctl) {
		t.Errorf("destroy left init %d or controller %d", init, ctl)
	}
	if !alive(victim.Process.Pid) || !dirExists(paths["pids"]) {
		t.Errorf("destroy obeyed the forged record")
	}
}

// A paused domain whose records are gone is still found, and paused: the
// freezer says so.
func TestRunDirWipedPaused(t *testing.T) {
	lostRecords(t, true, func(e *env, name string) {
		if err := os.RemoveAll(e.layout().Run); err != nil {
			t.Fatal(err)
		}
	})
}
