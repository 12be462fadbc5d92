package cmd_test

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// The console ends when the container stops; it returns only once the
// controller has finished the teardown, so the next command sees the
// domain shut off and a start works (it was "already running" in 16 of
// 30 tries before).
func TestConsoleReturnsShutOff(t *testing.T) {
	e := newEnv(t)
	name := e.name("consoff")
	e.define(e.guestDomain(name, "", "", "print", "up", "readline", "exit", "0"))
	for i := 0; i < 5; i++ {
		e.ok("start", name)
		if r := e.run("\n", "console", name); r.code != 0 {
			t.Fatalf("round %d: console: exit %d: %s", i, r.code, r.stderr)
		}
		if got := e.ok("domstate", name); got != "shut off\n\n" {
			t.Fatalf("round %d: domstate right after the console ended = %q, want shut off", i, got)
		}
	}
}

// A domain whose init is dead while its controller is still at work is
// "in shutdown" (virsh's word), not running; a start waits for the
// controller to finish and then starts the domain. The controller is held
// stopped (SIGSTOP) with its init killed, so the window stays open for as
// long as the test needs.
func TestInShutdownState(t *testing.T) {
	e := newEnv(t)
	name := e.name("inshut")
	e.define(e.guestDomain(name, "", "", "print", "up", "sleep", "1000"))
	e.ok("start", name)
	st := e.status(name)
	ctl, init := st.ControllerPID, st.InitPID
	if err := syscall.Kill(ctl, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = syscall.Kill(ctl, syscall.SIGCONT)
		}
	}()
	if err := syscall.Kill(init, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.waitFor("init to die", func() bool { return !alive(init) })
	if got := e.ok("domstate", name); got != "in shutdown\n\n" {
		t.Errorf("domstate with init dead and the controller at work = %q, want in shutdown", got)
	}
	if got := e.ok("list"); !strings.Contains(got, name) || !strings.Contains(got, "in shutdown") {
		t.Errorf("list does not show %s in shutdown:\n%s", name, got)
	}
	if got := e.ok("domstats", "--state", name); !strings.Contains(got, "state.state=4") {
		t.Errorf("domstats --state: want state.state=4 (VIR_DOMAIN_SHUTDOWN):\n%s", got)
	}
	// start waits for the teardown, then starts afresh. The controller
	// is let go a little after the start began, so the start most likely
	// finds it still in shutdown (either order must work).
	done := make(chan result, 1)
	go func() { done <- e.run("", "start", name) }()
	time.Sleep(100 * time.Millisecond)
	_ = syscall.Kill(ctl, syscall.SIGCONT)
	stopped = false
	r := <-done
	if r.code != 0 {
		t.Fatalf("start of a domain in shutdown: exit %d: %s", r.code, r.stderr)
	}
	if st2 := e.status(name); st2.ControllerPID == ctl || !alive(st2.InitPID) {
		t.Errorf("after the start: controller %d (old %d), init %d alive=%v", st2.ControllerPID, ctl, st2.InitPID, alive(st2.InitPID))
	}
	if got := e.ok("domstate", name); got != "running\n\n" {
		t.Errorf("domstate after the start = %q", got)
	}
}
