package cmd_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The syscalls lxctl's default seccomp filter refuses (container/security.go).
var seccompRefused = []string{
	"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
	"open_by_handle_at", "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
	"swapon", "swapoff", "acct", "syslog", "userfaultfd",
}

// guestLines returns what the guest printed for one action: the console
// lines starting with "<action> ", without that prefix.
func guestLines(log, action string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), action+" "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// guestResults maps "<what>" to "<result>" for lines "<action> <what> <result>".
func guestResults(log, action string) map[string]string {
	m := map[string]string{}
	for _, l := range guestLines(log, action) {
		if what, res, ok := strings.Cut(l, " "); ok {
			m[what] = res
		}
	}
	return m
}

// TestIsolationDefault: a privileged container (no <idmap>) attacks the host
// from inside, as root with CAP_SYS_ADMIN, and what lxctl closes stays closed:
// every syscall of the seccomp filter fails with EPERM; the cgroup namespace
// shows only the container's own cgroups; widening its device allow-list and
// opening the host's block devices fail. What stays open is logged (README,
// "Isolation").
func TestIsolationDefault(t *testing.T) {
	e := newEnv(t)
	name := e.name("iso")
	e.define(e.guestDomain(name, "", "", "seccomp", "syscalls", "cgroups", "devattack", "procattack", "keysattack", "print", "attacks-done", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "attacks-done")
	log := e.consoleLog(name)
	st := e.status(name)

	if s := procStatusField(t, st.InitPID, "Seccomp"); s != "2" {
		t.Errorf("init's Seccomp: %s, want 2 (a filter)", s)
	}
	sys := guestResults(log, "syscall")
	for _, n := range seccompRefused {
		if sys[n] != "EPERM" {
			t.Errorf("%s from inside: %q, want EPERM", n, sys[n])
		}
	}

	// The cgroup namespace: its own, rooted at the payload cgroup.
	if nsOf(t, st.InitPID, "cgroup") == nsOf(t, os.Getpid(), "cgroup") {
		t.Errorf("the container shares the host's cgroup namespace")
	}
	for _, l := range guestLines(log, "cgroups self") {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("/proc/self/cgroup inside shows a path outside the container: %s", l)
		}
	}
	ls := guestResults(log, "cgroups ls")
	if ls["/sys/fs/cgroup/devices"] != "-" || ls["/sys/fs/cgroup/memory"] != "-" {
		t.Errorf("/sys/fs/cgroup inside shows other cgroups: %v", ls)
	}
	if !strings.Contains(ls["/sys/fs/cgroup"], "devices") || !strings.Contains(ls["/sys/fs/cgroup"], "memory") {
		t.Errorf("/sys/fs/cgroup inside lacks the container's hierarchies: %v", ls)
	}
	host, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.InitPID))
	for _, l := range strings.Split(strings.TrimSpace(string(host)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 || filepath.Base(f[2]) != "payload" || !strings.HasPrefix(filepath.Base(filepath.Dir(f[2])), name+".lxctl") {
			t.Errorf("init is not in the payload cgroup below the domain's: %s", l)
		}
	}

	// The devices cgroup: mounting it works (root has CAP_SYS_ADMIN), but it
	// shows only the container's cgroup, which cannot be widened beyond the
	// domain's, so no host block device opens.
	dev := guestResults(log, "devattack")
	if dev["mount-cgroup"] != "ok" {
		t.Logf("mounting the devices cgroup inside: %s", dev["mount-cgroup"])
	}
	if dev["cgroup-dirs"] != "-" && dev["cgroup-dirs"] != "" {
		t.Errorf("the devices hierarchy mounted inside shows other cgroups: %s", dev["cgroup-dirs"])
	}
	for _, k := range []string{"join", "allow-all", "allow-block"} {
		if r, ok := dev[k]; ok && r == "ok" {
			t.Errorf("devattack %s: %s", k, r)
		}
	}
	if dev["list-after"] != dev["list-before"] {
		t.Errorf("the container widened its device list: %s -> %s", dev["list-before"], dev["list-after"])
	}
	opened := 0
	for _, l := range guestLines(log, "devattack open-block") {
		opened++
		if strings.HasSuffix(l, " ok") {
			t.Errorf("opened a host block device from inside: %s", l)
		}
	}
	if opened == 0 {
		t.Logf("no block device in /sys/block to try")
	}
	if devs, _ := os.ReadFile(filepath.Join(st.CgroupPaths["devices"], "devices.list")); strings.Contains(string(devs), "a *:* rwm") {
		t.Errorf("the domain's devices cgroup allows everything after the attack:\n%s", devs)
	}

	// A process entered later is held the same way.
	r := e.run("", "enter", name, "--", "/guest", "seccomp", "cgroups", "syscalls")
	if r.code != 0 || !strings.Contains(r.stdout, "seccomp 2\n") || guestResults(r.stdout, "syscall")["keyctl"] != "EPERM" {
		t.Errorf("lxctl enter: exit %d, want seccomp 2 and keyctl refused:\n%s%s", r.code, r.stdout, r.stderr)
	}
	self := guestLines(r.stdout, "cgroups self")
	for _, l := range self {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("an entered process sees a cgroup outside the container: %s", l)
		}
	}
	if len(self) == 0 {
		t.Errorf("lxctl enter: no /proc/self/cgroup:\n%s", r.stdout)
	}

	// What a privileged container can still do (documented in README).
	proc := guestResults(log, "procattack")
	if proc["own-proc-core-pattern"] != "EROFS" {
		t.Errorf("core_pattern through the container's /proc: %q, want EROFS (/proc/sys is read-only)", proc["own-proc-core-pattern"])
	}
	t.Logf("still open to a privileged container: new proc mount %s, its core_pattern writable: %s; remount /proc/sys rw: %s; unmount the /proc/keys mask: %s",
		proc["mount-proc"], proc["new-proc-core-pattern"], proc["remount-proc-sys"], guestResults(log, "keysattack")["umount"])
}

// TestIsolationUnconfined: <lxctl:security seccomp='unconfined'/> in the
// domain's metadata installs no filter: init shows Seccomp 0 and the refused
// syscalls reach the kernel (their own checks answer, not EPERM). The cgroup
// namespace stays.
func TestIsolationUnconfined(t *testing.T) {
	e := newEnv(t)
	name := e.name("unconf")
	md := `<metadata><lxctl:security xmlns:lxctl="https://lxctl.dev/xmlns/security/1" seccomp="unconfined"/></metadata>`
	e.define(e.guestDomain(name, md, "", "seccomp", "syscalls", "print", "attacks-done", "sleep"))
	if out := e.ok("dumpxml", name); !strings.Contains(out, `seccomp="unconfined"`) {
		t.Errorf("dumpxml lost the security metadata:\n%s", out)
	}
	e.ok("start", name)
	e.waitConsole(name, "attacks-done")
	st := e.status(name)
	if s := procStatusField(t, st.InitPID, "Seccomp"); s != "0" {
		t.Errorf("init's Seccomp: %s, want 0 (no filter)", s)
	}
	sys := guestResults(e.consoleLog(name), "syscall")
	// Unfiltered, these fail on their own checks (bad fd, bad command, no
	// such key, bad flags), never with EPERM for a root with all of
	// CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN and CAP_SYS_BOOT.
	for _, n := range []string{"open_by_handle_at", "bpf", "keyctl", "kexec_load", "kexec_file_load", "perf_event_open"} {
		if r := sys[n]; r == "" || r == "EPERM" {
			t.Errorf("%s unconfined: %q, want the kernel's own answer (not EPERM)", n, r)
		}
	}
	if nsOf(t, st.InitPID, "cgroup") == nsOf(t, os.Getpid(), "cgroup") {
		t.Errorf("unconfined shares the host's cgroup namespace")
	}
}

// TestIsolationBadSecurity: a bad value is refused at define, naming it.
func TestIsolationBadSecurity(t *testing.T) {
	e := newEnv(t)
	name := e.name("badsec")
	md := `<metadata><lxctl:security xmlns:lxctl="https://lxctl.dev/xmlns/security/1" seccomp="off"/></metadata>`
	f := filepath.Join(e.root, "bad.xml")
	if err := os.WriteFile(f, []byte(e.guestDomain(name, md, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg := e.fails("define", f); !strings.Contains(msg, "unknown seccomp profile 'off' (use default or unconfined)") {
		t.Errorf("define with seccomp='off': %s", msg)
	}
}

// TestUnprivilegedExample runs testdata/domains/unprivileged.xml as shipped,
// with its root directory (owned by the mapped range, as its comment says)
// and the name made unique: init runs in a user namespace whose root is uid
// 100000 on the host, and what it creates belongs to that range.
func TestUnprivilegedExample(t *testing.T) {
	e := newEnv(t)
	name := e.name("unpriv")
	data, err := os.ReadFile(filepath.Join("..", "testdata", "domains", "unprivileged.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// The mapped root must reach its root filesystem.
	if err := os.Chmod(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(e.root, "unpriv-root")
	for _, d := range []string{"proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	guest, _ := os.ReadFile(guestBin)
	if err := os.WriteFile(filepath.Join(root, "init"), guest, 0o755); err != nil {
		t.Fatal(err)
	}
	// The shell's chown -R 100000:100000.
	if err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, 100000, 100000)
	}); err != nil {
		t.Fatal(err)
	}
	xml := strings.Replace(string(data), "<name>unpriv</name>", "<name>"+name+"</name>", 1)
	xml = strings.Replace(xml, "<source dir='/opt/unpriv-root'/>", "<source dir='"+root+"'/>", 1)
	xml = strings.Replace(xml, "<init>/init</init>", "<init>/init</init>\n    <initarg>info</initarg>\n    <initarg>touch</initarg>\n    <initarg>/tmp/made-inside</initarg>\n    <initarg>procattack</initarg>\n    <initarg>keysattack</initarg>\n    <initarg>devattack</initarg>\n    <initarg>print</initarg>\n    <initarg>ready</initarg>\n    <initarg>sleep</initarg>", 1)
	if xml == string(data) {
		t.Fatal("the example changed: update this test")
	}
	e.define(xml)
	e.ok("start", name)
	e.waitConsole(name, "ready")
	st := e.status(name)
	log := e.consoleLog(name)
	if !strings.Contains(log, "uid=0\n") && !strings.Contains(log, "uid=0\r\n") {
		t.Errorf("init is not root inside its user namespace:\n%s", log)
	}
	for _, f := range []string{"uid_map", "gid_map"} {
		m, _ := os.ReadFile(fmt.Sprintf("/proc/%d/%s", st.InitPID, f))
		if got := strings.Fields(string(m)); strings.Join(got, " ") != "0 100000 65536" {
			t.Errorf("%s of init: %q, want 0 100000 65536", f, m)
		}
	}
	if u := procStatusField(t, st.InitPID, "Uid"); strings.Fields(u)[0] != "100000" {
		t.Errorf("init's uid seen from the host: %s, want 100000", u)
	}
	if nsOf(t, st.InitPID, "user") == nsOf(t, os.Getpid(), "user") {
		t.Errorf("the example shares the host's user namespace")
	}
	if !strings.Contains(log, "touch /tmp/made-inside ok") {
		t.Fatalf("init could not create a file in its own root:\n%s", log)
	}
	fi, err := os.Stat(filepath.Join(root, "tmp", "made-inside"))
	if err != nil {
		t.Fatal(err)
	}
	if s := fi.Sys().(*syscall.Stat_t); s.Uid != 100000 || s.Gid != 100000 {
		t.Errorf("a file root made inside belongs to %d:%d on the host, want 100000:100000", s.Uid, s.Gid)
	}
	if s := procStatusField(t, st.InitPID, "Seccomp"); s != "2" {
		t.Errorf("init's Seccomp: %s, want 2", s)
	}
	// What stays open to a privileged container is closed here: its root
	// is uid 100000 to the host's sysctls and cgroup files, and it cannot
	// mount a devtmpfs.
	proc, dev := guestResults(log, "procattack"), guestResults(log, "devattack")
	for what, r := range map[string]string{
		"core_pattern through a new proc":         proc["new-proc-core-pattern"],
		"core_pattern after remounting /proc/sys": proc["remounted-core-pattern"],
		"devices.allow 'a'":                       dev["allow-all"],
		"mount devtmpfs":                          dev["mount-devtmpfs"],
	} {
		if r == "ok" || r == "" {
			t.Errorf("unprivileged, %s: %q, want it refused", what, r)
		}
	}
	for _, l := range guestLines(log, "devattack open-block") {
		if strings.HasSuffix(l, " ok") {
			t.Errorf("opened a host block device from inside: %s", l)
		}
	}
	e.ok("destroy", name)
	if alive(st.InitPID) {
		t.Errorf("init %s survived destroy", strconv.Itoa(st.InitPID))
	}
}

// TestSystemdBoots: what the isolation keeps working. The host's systemd
// boots as init of a private root (the host's /usr read-only, a copy of its
// /etc, its own network namespace) under the default seccomp filter and in
// its cgroup namespace, to basic.target with no failed unit, and makes its
// cgroups below the payload cgroup.
func TestSystemdBoots(t *testing.T) {
	const systemd = "/usr/lib/systemd/systemd"
	if _, err := os.Stat(systemd); err != nil {
		t.Fatalf("%v (make test installs systemd when missing)", err)
	}
	e := newEnv(t)
	name := e.name("systemd")
	e.define(e.systemdDomain(name, "--unit=basic.target"))
	e.ok("start", name)
	st := e.status(name)
	pid := strconv.Itoa(st.InitPID)
	// systemctl needs systemd's socket, which comes early in the boot.
	e.waitFor("systemd's private socket", func() bool {
		_, err := os.Stat("/proc/" + pid + "/root/run/systemd/private")
		return err == nil
	})
	out, err := exec.Command("nsenter", "-t", pid, "-a", "systemctl", "is-system-running", "--wait").CombinedOutput()
	if strings.TrimSpace(string(out)) != "running" {
		failed, _ := exec.Command("nsenter", "-t", pid, "-a", "systemctl", "--failed", "--no-legend").CombinedOutput()
		t.Fatalf("systemd in the container: %q (%v); failed units:\n%s\nconsole:\n%s", out, err, failed, e.consoleLog(name))
	}
	if s := procStatusField(t, st.InitPID, "Seccomp"); s != "2" {
		t.Errorf("systemd's Seccomp: %s, want 2", s)
	}
	if _, err := os.Stat(filepath.Join(st.CgroupPaths["memory"], "payload", "init.scope")); err != nil {
		t.Errorf("systemd's own cgroups are not below the payload cgroup: %v", err)
	}
	e.ok("destroy", name)
}

// systemdDomain is a domain whose init is the host's systemd, booting a
// private root (the host's /usr read-only, a copy of its /etc, its own
// network namespace), with initArgs.
func (e *env) systemdDomain(name string, initArgs ...string) string {
	e.t.Helper()
	const systemd = "/usr/lib/systemd/systemd"
	if _, err := os.Stat(systemd); err != nil {
		e.t.Fatalf("%v (make test installs systemd when missing)", err)
	}
	root := filepath.Join(e.root, "sd-root-"+name)
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "var/tmp", "var/log", "var/lib", "root", "usr/lib/systemd"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if _, err := os.Lstat("/usr/" + l); err == nil {
			if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	if out, err := exec.Command("cp", "-a", "/etc", filepath.Join(root, "etc")).CombinedOutput(); err != nil {
		e.t.Fatalf("copy /etc: %v\n%s", err, out)
	}
	// An empty machine-id: systemd makes up a transient one, as on a first boot.
	if err := os.WriteFile(filepath.Join(root, "etc", "machine-id"), nil, 0o444); err != nil {
		e.t.Fatal(err)
	}
	// lxctl checks init in the root before the /usr bind is there.
	if out, err := exec.Command("cp", systemd, filepath.Join(root, systemd)).CombinedOutput(); err != nil {
		e.t.Fatalf("%v\n%s", err, out)
	}
	return domainXML(name, 512, systemd, initArgs, "  <features><privnet/></features>",
		fmt.Sprintf("    <filesystem type='mount'><source dir='%s'/><target dir='/'/></filesystem>\n"+
			"    <filesystem type='mount'><source dir='/usr'/><target dir='/usr'/><readonly/></filesystem>", root))
}
