package cmd_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests of lxctl enter / lxc-enter-namespace (issue 12): real containers,
// real processes entered into them, a real pty for the terminal session.

// hostRootDomain is a domain without a root filesystem (the host's root,
// so /bin/sh and friends exist in it) whose init is the guest, idle.
func (e *env) hostRootDomain(name, extra string) string {
	return fmt.Sprintf(`<domain type='lxc'>
  <name>%s</name>
  <memory unit='MiB'>256</memory>
  <os>
    <type>exe</type>
    <init>%s</init>
  </os>
%s
  <devices>
    <console type='pty'/>
  </devices>
</domain>
`, name, guestBin, extra)
}

// startHostRoot defines and starts a host-root domain and returns its name.
func (e *env) startHostRoot(prefix string) string {
	e.t.Helper()
	name := e.name(prefix)
	e.define(e.hostRootDomain(name, ""))
	e.ok("start", name)
	return name
}

// enterBackground starts "lxctl enter" without waiting for it.
func (e *env) enterBackground(args ...string) (*exec.Cmd, *syncBuf) {
	e.t.Helper()
	c := exec.Command(lxctlBin, append([]string{"--root", e.root, "enter"}, args...)...)
	out := &syncBuf{}
	c.Stdout, c.Stderr = out, out
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if c.ProcessState == nil {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
	return c, out
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// enteredPID waits until the domain's controller has a child other than
// init that runs comm (the controller starts entered processes) and
// returns its host pid.
func (e *env) enteredPID(name, comm string) int {
	t := e.t
	t.Helper()
	st := e.status(name)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", st.ControllerPID))
		for _, f := range tasks {
			data, _ := os.ReadFile(f)
			for _, s := range strings.Fields(string(data)) {
				pid, _ := strconv.Atoi(s)
				if c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); pid != st.InitPID && strings.TrimSpace(string(c)) == comm {
					return pid
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the controller of %s has no child running %s", name, comm)
	return 0
}

// exitCode waits for c and returns its exit status.
func exitCode(t *testing.T, c *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("lxctl enter did not exit")
	}
	return -1
}

// TestEnterExitStatus: the command's exit status is lxctl's, as a shell
// gives it: 127 (with a message naming it) for a missing command, 126 for
// one that cannot be executed, 128+N for a death by signal N.
func TestEnterExitStatus(t *testing.T) {
	e := newEnv(t)
	name := e.startHostRoot("enterst")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"enter", name, "true"}, 0, ""},
		{[]string{"enter", name, "--", "/bin/sh", "-c", "exit 3"}, 3, ""},
		{[]string{"lxc-enter-namespace", name, "--noseclabel", "--", "/bin/sh", "-c", "exit 3"}, 3, ""},
		{[]string{"enter", name, "no-such-command-xyz"}, 127, "no-such-command-xyz: command not found"},
		{[]string{"enter", name, "/no/such/file"}, 127, "/no/such/file: no such file"},
		{[]string{"enter", name, "/etc/passwd"}, 126, "/etc/passwd: not executable"},
		{[]string{"enter", name, "--", "/bin/sh", "-c", "kill -9 $$"}, 128 + 9, ""},
		{[]string{"enter", name, "--", "/bin/sh", "-c", "kill -TERM $$"}, 128 + 15, ""},
	} {
		r := e.run("", tc.args...)
		if r.code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, r.code, tc.code, r.stderr)
		}
		if tc.msg != "" && !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: stderr %q does not say %q", tc.args, r.stderr, tc.msg)
		}
		if tc.msg == "" && r.stderr != "" {
			t.Errorf("%v: unexpected stderr %q", tc.args, r.stderr)
		}
	}
	if got := e.ok("enter", name, "--", "/bin/sh", "-c", "echo out; echo err >&2"); got != "out\n" {
		t.Errorf("stdout = %q", got)
	}
	// virsh requires the command.
	if msg := e.fails("lxc-enter-namespace", name); !strings.Contains(msg, "missing argument CMD") {
		t.Errorf("lxc-enter-namespace without CMD: %q", msg)
	}
}

// TestEnterJoinsContainer: the entered process is in every namespace of
// init (user namespace with its maps too), in its cgroups, with its
// capability bounding set (mknod fails, unlike libvirt's enter) and
// security settings; destroy kills it, and lxctl reports the SIGKILL.
func TestEnterJoinsContainer(t *testing.T) {
	e := newEnv(t)
	// The mapped root of the idmap domain must reach its root filesystem.
	if err := os.Chmod(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	hostRoot := e.startHostRoot("enterns")
	idmap := e.name("enterid")
	e.define(e.guestDomain(idmap, `<idmap><uid start='0' target='200000' count='65536'/><gid start='0' target='200000' count='65536'/></idmap>`, "", "sleep"))
	e.ok("start", idmap)

	for _, tc := range []struct {
		name, comm string
		cmd        []string
	}{
		{hostRoot, "sleep", []string{"/bin/sleep", "1000"}},
		{idmap, "guest", []string{"/guest", "sleep"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			init := e.status(tc.name).InitPID
			cli, out := e.enterBackground(append([]string{tc.name, "--"}, tc.cmd...)...)
			pid := e.enteredPID(tc.name, tc.comm)
			for _, ns := range []string{"mnt", "pid", "uts", "ipc", "net", "user", "cgroup"} {
				if a, b := nsOf(t, init, ns), nsOf(t, pid, ns); a != b {
					t.Errorf("%s namespace: init %s, entered %s", ns, a, b)
				}
			}
			ic, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", init))
			pc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
			if string(ic) != string(pc) || len(ic) == 0 {
				t.Errorf("cgroups differ:\ninit:\n%s\nentered:\n%s", ic, pc)
			}
			for _, f := range []string{"CapBnd", "NoNewPrivs", "Seccomp"} {
				if a, b := procStatusField(t, init, f), procStatusField(t, pid, f); a != b {
					t.Errorf("%s: init %s, entered %s", f, a, b)
				}
			}
			im, _ := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", init))
			pm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
			if string(im) != string(pm) {
				t.Errorf("uid_map: init %q, entered %q", im, pm)
			}
			if r, _ := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); r != "/" {
				t.Errorf("root of the entered process seen from itself: %q", r)
			}
			if tc.name == idmap {
				if uid := procStatusField(t, pid, "Uid"); !strings.HasPrefix(uid, "200000") {
					t.Errorf("entered process runs as host uid %s, want the mapped 200000", uid)
				}
			}
			if tc.name == hostRoot {
				// The bounding set lacks mknod, as init's does.
				r := e.run("", "enter", tc.name, "--", "/bin/mknod", "/dev/lxctl-test-node", "c", "1", "3")
				if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
					t.Errorf("mknod in the container: exit %d, %q; want EPERM", r.code, r.stderr)
				}
			}
			e.ok("destroy", tc.name)
			if code := exitCode(t, cli); code != 128+9 {
				t.Errorf("lxctl enter after destroy: exit %d, want 137 (output %q)", code, out.String())
			}
			if alive(pid) {
				t.Errorf("entered process %d survived destroy", pid)
			}
		})
	}
}

// TestEnterKilledCLI: a lxctl enter killed with -9 leaves nothing behind:
// the controller kills and reaps the process it started for it.
func TestEnterKilledCLI(t *testing.T) {
	e := newEnv(t)
	name := e.startHostRoot("enterkill")
	cli, _ := e.enterBackground(name, "--", "/bin/sleep", "1000")
	pid := e.enteredPID(name, "sleep")
	_ = cli.Process.Kill()
	_ = cli.Wait()
	// Killed and reaped by the controller, not left as a zombie of a PID 1
	// that never reaps: that would keep the pid namespace, and init, from
	// ever finishing to die.
	e.waitFor("the entered process to be killed and reaped", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		return errors.Is(err, os.ErrNotExist)
	})
	start := time.Now()
	e.ok("destroy", name)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("destroy took %s", d)
	}
}

// TestEnterSignals: in pipe mode SIGTERM, SIGINT and SIGHUP sent to lxctl
// reach the process.
func TestEnterSignals(t *testing.T) {
	e := newEnv(t)
	name := e.startHostRoot("entersig")
	for _, sig := range []syscall.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP} {
		cli, _ := e.enterBackground(name, "--", "/bin/sleep", "1000")
		e.enteredPID(name, "sleep")
		_ = cli.Process.Signal(sig)
		if code := exitCode(t, cli); code != 128+int(sig) {
			t.Errorf("%v: exit %d, want %d", sig, code, 128+int(sig))
		}
	}
}

// TestEnterOptions: -u (names from the container's files, reached safely),
// -w, -e, the container's environment, stdin and its EOF.
func TestEnterOptions(t *testing.T) {
	e := newEnv(t)
	root := e.privateRoot()
	// /etc/passwd is a symlink with an absolute target: it must resolve in
	// the container's root (there is no /data on the host).
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "data"), 0o755))
	must(os.WriteFile(filepath.Join(root, "data/passwd"), []byte("root:x:0:0::/:/guest\nalice:x:1234:2345::/:/guest\n"), 0o644))
	must(os.Symlink("/data/passwd", filepath.Join(root, "etc/passwd")))
	must(os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nstaff:x:2345:\nextra:x:777:alice\n"), 0o644))
	name := e.name("enteropt")
	e.define(e.guestDomain(name, "", "", "sleep"))
	e.ok("start", name)

	info := func(args ...string) map[string]string {
		t.Helper()
		out := e.ok(append([]string{"enter"}, args...)...)
		m := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(strings.TrimPrefix(line, "env "), "="); ok {
				m[k] = v
			}
		}
		return m
	}
	m := info(name, "/guest", "info")
	if m["uid"] != "0" || m["gid"] != "0" || m["cwd"] != "/" || m["hostname"] != name || m["LIBVIRT_LXC_NAME"] != name || m["PATH"] != "/bin:/sbin" {
		t.Errorf("default: %v", m)
	}
	m = info("-u", "alice", "-w", "/tmp", "-e", "FOO=bar", "-e", "PATH=/x", name, "--", "/guest", "info")
	if m["uid"] != "1234" || m["gid"] != "2345" || m["cwd"] != "/tmp" || m["FOO"] != "bar" || m["PATH"] != "/x" || m["container"] != "lxc-libvirt" {
		t.Errorf("-u alice -w /tmp -e: %v", m)
	}
	// Options may also follow NAME; numbers need no passwd entry.
	m = info(name, "-u", "4321:99", "--", "/guest", "info")
	if m["uid"] != "4321" || m["gid"] != "99" {
		t.Errorf("-u 4321:99 after NAME: %v", m)
	}
	if msg := e.fails("enter", "-u", "nobody-here", name, "/guest", "info"); !strings.Contains(msg, "nobody-here") {
		t.Errorf("unknown user: %q", msg)
	}
	if msg := e.fails("enter", "-e", "NOEQUALS", name, "/guest", "info"); !strings.Contains(msg, "NOEQUALS") {
		t.Errorf("bad -e: %q", msg)
	}
	if msg := e.fails("enter", "-w", "relative", name, "/guest", "info"); !strings.Contains(msg, "absolute") {
		t.Errorf("relative -w: %q", msg)
	}
	// A FIFO planted as /etc/group must not block lxctl.
	must(os.Remove(filepath.Join(root, "etc/group")))
	must(unix.Mkfifo(filepath.Join(root, "etc/group"), 0o644))
	if msg := e.fails("enter", "-u", "alice", name, "/guest", "info"); !strings.Contains(msg, "not a regular file") {
		t.Errorf("FIFO as /etc/group: %q", msg)
	}
	// stdin reaches the command, and so does its end: cat exits.
	r := e.run("line one\nline two\n", "enter", name, "/guest", "cat")
	if r.code != 0 || r.stdout != "line one\nline two\n" {
		t.Errorf("cat: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	// -t with a pipe: a terminal all the same; the end of input is ^D.
	r = e.run("hello\n", "enter", "-t", name, "/guest", "cat")
	if r.code != 0 || !strings.Contains(r.stdout, "hello\r\n") {
		t.Errorf("cat -t: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
}

// TestEnterNotRunning: paused and stopped domains give clear errors.
func TestEnterNotRunning(t *testing.T) {
	e := newEnv(t)
	name := e.name("enterstate")
	e.define(e.hostRootDomain(name, ""))
	if msg := e.fails("enter", name, "true"); !strings.Contains(msg, fmt.Sprintf("domain '%s' is not running", name)) {
		t.Errorf("not running: %q", msg)
	}
	if msg := e.fails("enter", "no-such-domain-q", "true"); !strings.Contains(msg, "no-such-domain-q") {
		t.Errorf("unknown domain: %q", msg)
	}
	e.ok("start", name)
	e.ok("suspend", name)
	want := fmt.Sprintf("domain '%s' is paused: resume it first with lxctl resume %s", name, name)
	if msg := e.fails("enter", name, "true"); !strings.Contains(msg, want) {
		t.Errorf("paused: %q", msg)
	}
	e.ok("resume", name)
	e.ok("enter", name, "true")
}

// TestEnterTerminal: a session through lxctl enter under a real pty: the
// command gets a terminal of the container's own devpts, the window size
// and its changes, ^C as SIGINT, and the user's terminal is restored.
func TestEnterTerminal(t *testing.T) {
	e := newEnv(t)
	name := e.startHostRoot("entertty")
	master, slave := openPTY(t) // console_e2e_test.go
	t.Cleanup(func() { master.Close(); slave.Close() })
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100}); err != nil {
		t.Fatal(err)
	}
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(lxctlBin, "--root", e.root, "enter", "-e", "PS1=PROMPT> ", name)
	c.Stdin, c.Stdout, c.Stderr = slave, slave, slave
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.ProcessState == nil {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
	r := readPTY(master)
	type_ := func(s string) { _, _ = io.WriteString(master, s) }

	at := r.waitFor(t, 0, "PROMPT> ")
	// The terminal raw here, cooked (echoing) in the container.
	raw, _ := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if raw.Lflag&unix.ICANON != 0 || raw.Lflag&unix.ECHO != 0 {
		t.Errorf("user's terminal not in raw mode during the session: lflag %#x", raw.Lflag)
	}
	type_("tty; stty size\r")
	at = r.waitFor(t, at, "tty; stty size")
	at = r.waitFor(t, at, "/dev/pts/")
	at = r.waitFor(t, at, "30 100")

	// A resize reaches the container's terminal.
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		type_("stty size\r")
		at = r.waitFor(t, at, "PROMPT> ")
		if strings.Contains(r.String()[:at], "40 120") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the resize did not reach the container:\n%q", r.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// ^C typed at the terminal interrupts the command in the container.
	type_("sleep 1000\r")
	at = r.waitFor(t, at, "sleep 1000")
	time.Sleep(200 * time.Millisecond)
	type_("\x03")
	type_("echo status=$?\r")
	at = r.waitFor(t, at, "status=130")
	type_("exit 7\r")
	if code := exitCode(t, c); code != 7 {
		t.Errorf("exit status %d, want 7; terminal:\n%q", code, r.String())
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("terminal not restored: lflag %#x→%#x iflag %#x→%#x oflag %#x→%#x",
			before.Lflag, after.Lflag, before.Iflag, after.Iflag, before.Oflag, after.Oflag)
	}
}
