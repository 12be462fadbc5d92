package cmd_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// follower is a background `lxctl event` whose output the test reads.
type follower struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func (e *env) follow(args ...string) *follower {
	e.t.Helper()
	c := exec.Command(lxctlBin, append([]string{"--root", e.root, "event"}, args...)...)
	out, err := c.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	f := &follower{cmd: c, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f.mu.Lock()
			f.lines = append(f.lines, sc.Text())
			f.mu.Unlock()
		}
	}()
	e.t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	// The follower reads from the log's end as it is when it starts: wait
	// until it watches and has the log open before causing anything.
	e.waitFor("event to start following", func() bool {
		// Watching (an inotify fd) and positioned (the log open).
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", c.Process.Pid))
		watch, log := false, false
		for _, fd := range fds {
			l, _ := os.Readlink(fd)
			watch = watch || l == "anon_inode:inotify"
			log = log || strings.HasSuffix(l, "/.events/log")
		}
		return watch && log
	})
	return f
}

func (f *follower) output() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lines...)
}

func (e *env) waitLines(f *follower, n int) []string {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("%d event lines", n), func() bool { return len(f.output()) >= n })
	return f.output()
}

// TestEvents: one `lxctl event --loop` sees a domain's define, start, a
// reboot from inside, suspend, resume, destroy and undefine, in order, in
// virsh's words; `event NAME` waits for one event, and times out.
func TestEvents(t *testing.T) {
	e := newEnv(t)
	name := e.name("ev")
	rb := "/tmp/rb-" + name
	f := e.follow("--all", "--loop", "--timestamp")
	e.define(e.guestDomain(name, "", "", "print", "up", "wait", rb, "unlink", rb, "reboot"))
	e.ok("start", name)
	e.waitConsole(name, "up")
	old := e.status(name).InitPID
	if err := os.WriteFile(filepath.Join(e.privateRoot(), rb), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the reboot from inside", func() bool { st := e.status(name); return st.InitPID != old && st.InitPID != 0 })
	e.waitLines(f, 3)
	e.ok("suspend", name)
	e.ok("resume", name)

	// A script waiting for the domain to stop.
	w := e.follow(name, "--timeout", "60")
	e.ok("destroy", name)
	<-w.done
	if err := w.cmd.Wait(); err != nil || strings.Join(w.output(), "\n") != fmt.Sprintf("event 'lifecycle' for domain '%s': Stopped Destroyed\nevents received: 1", name) {
		t.Errorf("event %s --timeout 60: %v\n%s", name, err, strings.Join(w.output(), "\n"))
	}
	e.ok("undefine", name)

	want := []string{"Defined Added", "Started Booted", "reboot", "Suspended Paused", "Resumed Unpaused", "Stopped Destroyed", "Undefined Removed"}
	lines := e.waitLines(f, len(want))
	ts := `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000: `
	for i, w := range want {
		re := ts + regexp.QuoteMeta(fmt.Sprintf("event 'lifecycle' for domain '%s': %s", name, w)) + "$"
		if w == "reboot" {
			re = ts + regexp.QuoteMeta(fmt.Sprintf("event 'reboot' for domain '%s'", name)) + "$"
		}
		if i >= len(lines) || !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Fatalf("event %d: want %s\ngot:\n%s", i, w, strings.Join(lines, "\n"))
		}
	}
	// ^C: virsh's words and the count.
	_ = f.cmd.Process.Signal(syscall.SIGINT)
	<-f.done
	_ = f.cmd.Wait()
	if out := f.output(); len(out) != len(want)+2 || out[len(want)] != "event loop interrupted" || out[len(want)+1] != fmt.Sprintf("events received: %d", len(want)) {
		t.Errorf("after SIGINT:\n%s", strings.Join(out, "\n"))
	}

	// Nothing happens: timed out, exit 1.
	r := e.run("", "event", "--timeout", "1", "--event", "reboot")
	if r.code != 1 || r.stdout != "event loop timed out\nevents received: 0\n" {
		t.Errorf("event --timeout 1: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{{"event", "--event", "bogus"}, {"event", "no-such-" + name}, {"event", "--timeout", "-3"}} {
		if r := e.run("", args...); r.code != 1 || r.stderr == "" {
			t.Errorf("%v: exit %d %q", args, r.code, r.stderr)
		}
	}
	if out := e.ok("event", "--list"); out != "lifecycle\nreboot\n" {
		t.Errorf("event --list: %q", out)
	}
}
