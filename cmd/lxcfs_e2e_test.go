package cmd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startLXCFS runs an lxcfs of the test's own, on a mountpoint of its own in
// a private mount namespace (so no other container on the host sees it),
// and returns its pid: commands run in that namespace (nsenter -t PID -m)
// see it mounted. It is stopped when the test ends, however it ends.
func startLXCFS(t *testing.T) int {
	t.Helper()
	if _, err := exec.LookPath("lxcfs"); err != nil {
		t.Fatal("lxcfs is not installed (make test installs it: .ci/deps.sh)")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "lxcfs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "lxcfs.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	// unshare execs lxcfs: one process, killed with this test's thread
	// should the test process die first.
	c := exec.Command("unshare", "-m", "--propagation", "private", "lxcfs", "-f", "-p", filepath.Join(dir, "lxcfs.pid"), mnt)
	c.Stdout, c.Stderr = log, log
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = c.Process.Signal(unix.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	})
	pid := c.Process.Pid
	meminfo := "/proc/" + strconv.Itoa(pid) + "/root" + mnt + "/proc/meminfo"
	deadline := time.Now().Add(20 * time.Second)
	for {
		mi, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/mountinfo")
		if strings.Contains(string(mi), " "+mnt+" ") && strings.Contains(string(mi), "fuse.lxcfs") {
			if _, err := os.Stat(meminfo); err == nil {
				return pid
			}
		}
		select {
		case <-done:
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("lxcfs exited: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("lxcfs did not mount %s within 20s: %s", mnt, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// memTotalKiB finds "MemTotal: N kB" in text (lines of /proc/meminfo,
// possibly prefixed by the guest's showfile) and returns N.
func memTotalKiB(t *testing.T, text string) int {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		_, rest, ok := strings.Cut(l, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) > 0 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no MemTotal in %q", text)
	return 0
}

// TestLXCFS: with lxcfs running, a container's /proc/meminfo is lxcfs's,
// so MemTotal is the domain's memory limit (256 MiB), and /proc/uptime is
// the container's, also in a user namespace (<idmap>); without lxcfs it is
// the host's MemTotal.
func TestLXCFS(t *testing.T) {
	e := newEnv(t)
	lxcfs := startLXCFS(t)
	name := e.name("lxcfs")
	e.define(e.guestDomain(name, "", "", "showfile", "/proc/meminfo", "showfile", "/proc/uptime", "sleep"))
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(lxcfs), "-m", "--", lxctlBin, "--root", e.root, "start", name).CombinedOutput()
	if err != nil {
		t.Fatalf("start in lxcfs's mount namespace: %v: %s", err, out)
	}
	e.waitConsole(name, "/proc/uptime: end")
	if got := memTotalKiB(t, e.consoleLog(name)); got != 256<<10 {
		t.Errorf("with lxcfs, MemTotal inside = %d kB, want the domain's limit %d kB", got, 256<<10)
	}
	var up, hostUp float64
	for _, l := range strings.Split(e.consoleLog(name), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "/proc/uptime: "); ok && v != "end" {
			up, _ = strconv.ParseFloat(strings.Fields(v)[0], 64)
		}
	}
	if data, err := os.ReadFile("/proc/uptime"); err == nil {
		hostUp, _ = strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	}
	if up <= 0 || up >= hostUp || up > 60 {
		t.Errorf("with lxcfs, uptime inside = %v s, want the container's (host: %v s)", up, hostUp)
	}
	if log := e.domainLog(name); !strings.Contains(log, "lxcfs at ") {
		t.Errorf("the domain log does not say lxcfs was used:\n%s", log)
	}
	e.ok("destroy", name)

	// In a user namespace too: lxcfs's mount allows other users, and the
	// container's root is an unprivileged uid on the host.
	userns := e.name("lxcfsuser")
	// The mapped root must reach the root filesystem.
	if err := os.Chmod(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	e.define(strings.Replace(e.guestDomain(userns, `<idmap><uid start='0' target='200000' count='65536'/><gid start='0' target='200000' count='65536'/></idmap>`, "", "showfile", "/proc/meminfo", "sleep"), "<memory unit='MiB'>256</memory>", "<memory unit='MiB'>200</memory>", 1))
	if out, err := exec.Command("nsenter", "-t", strconv.Itoa(lxcfs), "-m", "--", lxctlBin, "--root", e.root, "start", userns).CombinedOutput(); err != nil {
		t.Fatalf("start of a domain with <idmap> in lxcfs's mount namespace: %v: %s", err, out)
	}
	e.waitConsole(userns, "/proc/meminfo: end")
	if got := memTotalKiB(t, e.consoleLog(userns)); got != 200<<10 {
		t.Errorf("with lxcfs and <idmap>, MemTotal inside = %d kB, want %d kB", got, 200<<10)
	}
	e.ok("destroy", userns)

	// Without lxcfs (the test's own is in a namespace of its own), the
	// host's numbers.
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), "fuse.lxcfs") {
		t.Log("the host runs lxcfs itself: not checking a container without it")
		return
	}
	plain := e.name("nolxcfs")
	e.define(e.guestDomain(plain, "", "", "showfile", "/proc/meminfo", "sleep"))
	e.ok("start", plain)
	e.waitConsole(plain, "/proc/meminfo: end")
	host, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := memTotalKiB(t, e.consoleLog(plain)), memTotalKiB(t, string(host)); got != want {
		t.Errorf("without lxcfs, MemTotal inside = %d kB, want the host's %d kB", got, want)
	}
	if log := e.domainLog(plain); strings.Contains(log, "lxcfs at") {
		t.Errorf("without lxcfs, the domain log mentions it:\n%s", log)
	}
}
