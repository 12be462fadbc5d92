package cmd_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/state"
)

// TestStartLockCoversControllerSetup: kill -9 of lxctl start while its
// controller is still setting up leaves the domain locked until that
// controller has reported; a second start waits for it and then finds the
// domain running, with the first controller, rather than racing it.
//
// The fault is made with signals: the controller is stopped (SIGSTOP) as
// soon as it exists, its CLI is killed, and the test checks that the lock
// is still held. When the stop came too late (setup already over) or too
// early (the CLI died before it handed the domain over) the lock is free,
// rightly; the round is repeated with a fresh domain.
func TestStartLockCoversControllerSetup(t *testing.T) {
	for _, mode := range []string{"standby", "exec"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			var env []string
			if mode == "exec" {
				env = []string{"LXCTL_NO_STANDBY=1"}
			}
			for round := 0; ; round++ {
				if round == 30 {
					t.Fatal("in 30 rounds the lock was never held by a controller whose start was killed: the lock does not cover the controller's setup")
				}
				if lockHeldAfterKilledStart(t, e, env) {
					return
				}
			}
		})
	}
}

// lockHeldAfterKilledStart is one round of TestStartLockCoversControllerSetup;
// it says whether the fault was hit (and then checked).
func lockHeldAfterKilledStart(t *testing.T, e *env, env []string) bool {
	name := e.name("lock")
	e.define(e.guestDomain(name, "", "", "sleep"))
	cli := exec.Command(lxctlBin, "--root", e.root, "start", name)
	cli.Env = append(os.Environ(), env...)
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	cliDone := make(chan struct{})
	go func() { _ = cli.Wait(); close(cliDone) }()
	ctl := 0
	for ctl == 0 {
		if kids := childrenOf(cli.Process.Pid); len(kids) > 0 {
			ctl = kids[0]
			_ = unix.Kill(ctl, unix.SIGSTOP)
			break
		}
		select {
		case <-cliDone:
		default:
			continue
		}
		break
	}
	_ = cli.Process.Kill()
	<-cliDone
	lk, err := e.layout().LockDomain(name, 0)
	if ctl == 0 || err == nil {
		// Missed: let whatever was started finish, then clean up.
		lk.Unlock()
		if ctl != 0 {
			_ = unix.Kill(ctl, unix.SIGCONT)
			waitLockFree(t, e, name)
		}
		e.run("", "destroy", name)
		if ctl != 0 {
			waitGone(ctl)
		}
		reapAll()
		e.ok("undefine", name)
		return false
	}
	if !errors.Is(err, state.ErrLocked) {
		t.Fatal(err)
	}

	// The first controller is stopped in setup and holds the lock; a second
	// start must wait for it.
	second := exec.Command(lxctlBin, "--root", e.root, "start", name)
	var out bytes.Buffer
	second.Stdout, second.Stderr = &out, &out
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	secondDone := make(chan error, 1)
	go func() { secondDone <- second.Wait() }()
	// While the first controller is stopped the second start can only
	// wait (lxctl waits 30s for a lock); finishing now would mean it did
	// not. A second is ample for it to get to the lock.
	select {
	case err := <-secondDone:
		t.Fatalf("a second start finished while the first controller was stopped in setup (%v): %s", err, out.String())
	case <-time.After(time.Second):
	}
	_ = unix.Kill(ctl, unix.SIGCONT)
	var secondErr error
	select {
	case secondErr = <-secondDone:
	case <-time.After(60 * time.Second):
		t.Fatal("the second start did not finish after the first controller went on")
	}
	if secondErr == nil || !strings.Contains(out.String(), "already running") {
		t.Errorf("second start: %v: %q, want it refused: the domain is already running", secondErr, out.String())
	}
	if d := e.settle(name, true); d != "" {
		t.Fatalf("after the killed start: %s", d)
	}
	if got := e.ok("domid", name); strings.TrimSpace(got) != strconv.Itoa(ctl) {
		t.Errorf("domid %s, want the first controller %d", strings.TrimSpace(got), ctl)
	}
	if v, _ := e.lxctlView(name); v.domstate != "running" {
		t.Errorf("domstate %q, want running", v.domstate)
	}
	e.ok("destroy", name)
	if d := e.settle(name, true); d != "" {
		t.Fatalf("after destroy: %s", d)
	}
	return true
}

func waitLockFree(t *testing.T, e *env, name string) {
	t.Helper()
	lk, err := e.layout().LockDomain(name, 60*time.Second)
	if err != nil {
		t.Fatalf("the lock of %s stayed held: %v", name, err)
	}
	lk.Unlock()
}
