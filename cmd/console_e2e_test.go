package cmd_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY makes a real pty pair: the test drives the master, lxctl console
// gets the slave as its terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// ptyReader collects what arrives on a pty master.
type ptyReader struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// readPTY collects everything master delivers until it fails (closed, or
// the other side gone).
func readPTY(master *os.File) *ptyReader {
	r := &ptyReader{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			r.mu.Lock()
			r.buf.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return r
}

func (r *ptyReader) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// waitFor returns once the output after offset from contains s.
func (r *ptyReader) waitFor(t *testing.T, from int, s string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out := r.String()
		if i := strings.Index(out[from:], s); i >= 0 {
			return from + i + len(s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %q on the terminal; it shows:\n%q", s, r.String()[from:])
	return 0
}

// termSession is `lxctl console` running on a pty the test holds.
type termSession struct {
	t      *testing.T
	cmd    *exec.Cmd
	master *os.File
	out    *ptyReader
	done   chan error
}

func (e *env) attachTTY(args ...string) *termSession {
	e.t.Helper()
	m, s := openPTY(e.t)
	c := exec.Command(lxctlBin, append([]string{"--root", e.root, "console"}, args...)...)
	c.Stdin, c.Stdout, c.Stderr = s, s, s
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	s.Close()
	ts := &termSession{t: e.t, cmd: c, master: m, out: readPTY(m), done: make(chan error, 1)}
	go func() { ts.done <- c.Wait() }()
	e.t.Cleanup(func() {
		_ = c.Process.Kill()
		m.Close()
	})
	return ts
}

func (ts *termSession) output() string { return ts.out.String() }

func (ts *termSession) expect(text string) {
	ts.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(ts.output(), text) {
		if time.Now().After(deadline) {
			ts.t.Fatalf("console never showed %q; got:\n%q", text, ts.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (ts *termSession) send(s string) {
	ts.t.Helper()
	if _, err := ts.master.Write([]byte(s)); err != nil {
		ts.t.Fatal(err)
	}
}

// wait returns the client's exit status once it has exited.
func (ts *termSession) wait() int {
	ts.t.Helper()
	select {
	case err := <-ts.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			ts.t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		ts.t.Fatalf("lxctl console did not exit; output:\n%q", ts.output())
		return -1
	}
}

// shellDomain is a host-root domain with an interactive shell as init.
func (e *env) shellDomain(name string) string {
	return fmt.Sprintf(`<domain type='lxc'><name>%s</name><memory unit='MiB'>256</memory>
<os><type>exe</type><init>/bin/sh</init><initarg>-i</initarg></os>
<devices><console type='pty'/></devices></domain>`, name)
}

// TestConsoleInteractive types into a shell in the container through a real
// terminal, detaches with ^], reattaches, and has the session taken over
// with --force.
func TestConsoleInteractive(t *testing.T) {
	e := newEnv(t)
	name := e.name("con")
	e.define(e.shellDomain(name))
	e.ok("start", name)

	a := e.attachTTY(name)
	a.expect("Connected to domain '" + name + "'")
	a.expect("Escape character is ^] (Ctrl + ])")
	a.send("echo answer-$((6*7))\r")
	a.expect("answer-42")
	a.send("\x1d")
	if code := a.wait(); code != 0 {
		t.Errorf("detach: exit %d", code)
	}
	if got := e.ok("domstate", name); got != "running\n\n" {
		t.Fatalf("after detach the domain is %q", got)
	}

	b := e.attachTTY(name)
	b.expect("Escape character")
	// The terminal size reaches the container's pty.
	if err := unix.IoctlSetWinsize(int(b.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 101}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // SIGWINCH reaches the client asynchronously
	b.send("stty size\r")
	b.expect("33 101")

	// A second client is refused; --force takes over.
	if r := e.run("", "console", name); r.code != 1 || !strings.Contains(r.stderr, "is in use (use --force)") {
		t.Errorf("second client: exit %d, %q", r.code, r.stderr)
	}
	c := e.attachTTY("--force", name)
	c.expect("Escape character")
	if code := b.wait(); code != 0 {
		t.Errorf("taken-over client: exit %d", code)
	}
	b.expect("taken over")
	c.send("echo again-$((7*7))\r")
	c.expect("again-49")
	// The shell exiting ends the domain (poweroff): the client exits 0.
	c.send("exit\r")
	if code := c.wait(); code != 0 {
		t.Errorf("client at domain stop: exit %d", code)
	}
	e.waitFor("the domain to stop", func() bool { return !strings.Contains(e.ok("domstate", name), "running") })
}

// TestConsolePiped: without a terminal, stdin is sent and output printed, so
// scripts can use the console; output written while nobody was attached is
// in the log and in --replay.
func TestConsolePiped(t *testing.T) {
	e := newEnv(t)
	name := e.name("pipe")
	e.define(e.shellDomain(name))
	if msg := e.fails("console", name); !strings.Contains(msg, "not running") {
		t.Errorf("console of a stopped domain: %q", msg)
	}
	if msg := e.fails("console", "nosuch-"+name); !strings.Contains(msg, "failed to get domain") {
		t.Errorf("console of an unknown domain: %q", msg)
	}
	e.ok("start", name)
	r := e.run("echo piped-$((5*5))\n", "console", name)
	if r.code != 0 || !strings.Contains(r.stdout, "piped-25") {
		t.Errorf("piped console: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "Escape character") {
		t.Errorf("piped console printed the terminal banner")
	}
	// Written while detached: reaches the log without blocking the shell.
	e.run("i=0; while [ $i -lt 2000 ]; do echo detached-line-$i; i=$((i+1)); done; echo detached-done\n", "console", name)
	e.waitConsole(name, "detached-done")
	r = e.run("", "console", "--replay", name)
	if !strings.Contains(r.stdout, "detached-line-1999") || !strings.Contains(r.stdout, "piped-25") {
		t.Errorf("--replay lacks the log: %q", tail(r.stdout))
	}
	if got := e.ok("domstate", name); got != "running\n\n" {
		t.Errorf("domain %q after piped sessions", got)
	}
}

func tail(s string) string {
	if len(s) > 300 {
		return "..." + s[len(s)-300:]
	}
	return s
}
