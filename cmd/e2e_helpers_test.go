package cmd_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/state"
)

// The end-to-end tests run the real static binary, as a user would, and
// start real containers: they need root, and fail (not skip) without it.
var lxctlBin, guestBin string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "cmd tests start real containers: run them as root (make test)")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "lxctl-bin-")
	if err != nil {
		panic(err)
	}
	lxctlBin, guestBin = filepath.Join(dir, "lxctl"), filepath.Join(dir, "guest")
	build := func(env []string, args ...string) {
		c := exec.Command("go", args...)
		c.Dir = ".."
		c.Env = append(os.Environ(), env...)
		if out, err := c.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(args, " "), err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	// The tags of the Makefile's build: seccomp links libseccomp.a in, so
	// containers get the default seccomp filter.
	build([]string{"CGO_ENABLED=1"}, "build", "-tags", "netgo osusergo seccomp", "-ldflags", "-extldflags -static", "-o", lxctlBin, ".")
	build([]string{"CGO_ENABLED=0"}, "build", "-o", guestBin, "./testdata/guest")
	// Controllers outlive the lxctl command that started them and would be
	// reparented to PID 1, which never reaps on these machines; as a
	// subreaper the test process gets them and reaps them in cleanup.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's lxctl world: its own --root, its own domain names.
type env struct {
	t      *testing.T
	root   string
	names  []string
	rootfs string // a private root with the guest at /guest, made on demand
}

func newEnv(t *testing.T) *env {
	t.Helper()
	// Short, so socket paths stay well under sun_path's 108 bytes.
	root, err := os.MkdirTemp("", "lxt")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, root: root}
	t.Cleanup(e.cleanup)
	return e
}

// name returns a domain name unique to this run.
func (e *env) name(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	n := fmt.Sprintf("%s-%s", prefix, hex.EncodeToString(b))
	e.names = append(e.names, n)
	return n
}

type result struct {
	stdout, stderr string
	code           int
}

func (e *env) run(stdin string, args ...string) result {
	e.t.Helper()
	return e.runWith(nil, stdin, args...)
}

// runWith runs lxctl with extra environment and stdin ("" for none).
func (e *env) runWith(envv []string, stdin string, args ...string) result {
	e.t.Helper()
	c := exec.Command(lxctlBin, append([]string{"--root", e.root}, args...)...)
	if envv != nil {
		c.Env = append(os.Environ(), envv...)
	}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	err := c.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("lxctl %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// ok runs lxctl and fails the test unless it exits 0.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.run("", args...)
	if r.code != 0 {
		e.t.Fatalf("lxctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs lxctl, requires exit status 1 and returns stderr.
func (e *env) fails(args ...string) string {
	e.t.Helper()
	r := e.run("", args...)
	if r.code != 1 {
		e.t.Fatalf("lxctl %s: want exit 1, got %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "error: ") {
		e.t.Fatalf("lxctl %s: stderr should start with 'error: ': %q", strings.Join(args, " "), r.stderr)
	}
	return r.stderr
}

func (e *env) layout() state.Layout { return state.NewLayout(e.root) }

func (e *env) status(name string) *state.Status {
	e.t.Helper()
	st, err := e.layout().ReadStatus(name)
	if err != nil {
		e.t.Fatalf("status of %s: %v", name, err)
	}
	return st
}

// define writes xml to a file and defines it.
func (e *env) define(xml string) {
	e.t.Helper()
	f := filepath.Join(e.root, "in.xml")
	if err := os.WriteFile(f, []byte(xml), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.ok("define", f)
}

// privateRoot returns a minimal root filesystem holding the guest as /guest.
func (e *env) privateRoot() string {
	e.t.Helper()
	if e.rootfs != "" {
		return e.rootfs
	}
	dir := filepath.Join(e.root, "rootfs")
	for _, d := range []string{"proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	data, err := os.ReadFile(guestBin)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "guest"), data, 0o755); err != nil {
		e.t.Fatal(err)
	}
	e.rootfs = dir
	return dir
}

// domainXML is the domain the tests start: memMiB of memory, init with
// args, extra spliced into <domain>, devices (filesystems included) into
// <devices> before the console.
func domainXML(name string, memMiB int, init string, args []string, extra, devices string) string {
	var a strings.Builder
	for _, arg := range args {
		fmt.Fprintf(&a, "    <initarg>%s</initarg>\n", arg)
	}
	return fmt.Sprintf(`<domain type='lxc'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <os>
    <type>exe</type>
    <init>%s</init>
%s  </os>
%s
  <devices>
%s
    <console type='pty'/>
  </devices>
</domain>
`, name, memMiB, init, a.String(), extra, devices)
}

// guestDomain is a domain with a private root whose init is the guest
// following script. extra is spliced into <domain>, devices into <devices>.
func (e *env) guestDomain(name, extra, devices string, script ...string) string {
	root := fmt.Sprintf("    <filesystem type='mount'>\n      <source dir='%s'/>\n      <target dir='/'/>\n    </filesystem>\n", e.privateRoot())
	return domainXML(name, 256, "/guest", script, extra, root+devices)
}

// consoleLog returns what the domain wrote to its console so far.
func (e *env) consoleLog(name string) string {
	p, _ := e.layout().ConsoleLogPath(name)
	data, _ := os.ReadFile(p)
	return string(data)
}

// waitFor polls cond (reading files the controller writes) until it holds.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) waitConsole(name, text string) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("%q on the console of %s", text, name), func() bool {
		return strings.Contains(e.consoleLog(name), text)
	})
}

// cgroupDirs lists every cgroup dir named for the domain, in any hierarchy.
func cgroupDirs(name string) []string {
	var found []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Contains(filepath.Base(p), name) {
			found = append(found, p)
			return filepath.SkipDir
		}
		if strings.Count(strings.TrimPrefix(p, "/sys/fs/cgroup"), "/") > 4 {
			return filepath.SkipDir
		}
		return nil
	})
	return found
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i <= 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X' {
		return false
	}
	// Field 9, the flags: PF_EXITING (0x4) is a process killed and on its
	// way out (it can take a while to tear down a mount namespace).
	f := strings.Fields(s[i+1:])
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return err == nil && flags&0x4 == 0
}

// cleanup destroys what the test left running, reaps controllers and fails
// the test if anything is left: cgroups, mounts, processes, runtime dirs.
func (e *env) cleanup() {
	t := e.t
	// Every name is destroyed, record or not: a test may have deleted
	// the records of a running domain (lxctl finds it on the host).
	var ctrls []int
	ctls, _ := e.layout().FindControllers()
	for _, n := range e.names {
		if p, ok := ctls[n]; ok {
			ctrls = append(ctrls, p.PID)
		}
		if !dirExists(e.root) {
			continue
		}
		r := e.run("", "destroy", n)
		if r.code != 0 && !strings.Contains(r.stderr, "not running") && !strings.Contains(r.stderr, "no domain with that name") {
			t.Errorf("cleanup: destroy %s: %s", n, r.stderr)
		}
	}
	for _, pid := range ctrls {
		waitGone(pid)
	}
	reapAll()
	for _, n := range e.names {
		if dirs := cgroupDirs(n); len(dirs) > 0 {
			t.Errorf("leaked cgroups of %s: %v", n, dirs)
		}
		if d, _ := e.layout().RunDir(n); dirExists(d) {
			t.Errorf("leaked runtime dir %s", d)
		}
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), e.root) {
		t.Errorf("leaked mounts under %s", e.root)
	}
	// Images of the test (storage_e2e_test.go) live under its root.
	if l := loopsBackedUnder(e.root); len(l) > 0 {
		t.Errorf("leaked loop devices: %v", l)
	}
	if out, _ := exec.Command("pgrep", "-f", e.root).Output(); len(bytes.TrimSpace(out)) > 0 {
		for _, f := range strings.Fields(string(out)) {
			if pid, _ := strconv.Atoi(f); alive(pid) {
				cmdline, _ := os.ReadFile("/proc/" + f + "/cmdline")
				t.Errorf("leaked process %d: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
			}
		}
	}
	os.RemoveAll(e.root)
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// waitGone waits (on a pidfd, up to 10s) for a process to exit.
func waitGone(pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 10000)
}

// reapAll collects zombies reparented to this (subreaper) test process.
func reapAll() {
	for {
		pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
