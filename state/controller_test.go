package state

import (
	"os"
	"os/exec"
	"testing"
)

// fakeController runs this test binary with args as its command line
// (argv[0] "lxctl"), as a process that is alive until stop is called.
func fakeController(t testing.TB, args []string) (p Proc, stop func()) {
	t.Helper()
	c := exec.Command(os.Args[0])
	c.Args = append([]string{"lxctl"}, args...)
	w, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			w.Close()
			_ = c.Wait()
		}
	}
	t.Cleanup(stop)
	start, err := ProcStartTime(c.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return Proc{PID: c.Process.Pid, Start: start}, stop
}

// A controller is recognised by pid, start time and its command line (the
// controller command, this root, this name), and by nothing less.
func TestControllerIdentity(t *testing.T) {
	l, other := NewLayout(t.TempDir()), NewLayout(t.TempDir())
	p, stop := fakeController(t, l.ControllerArgs("vm1", "--pids-limit", "100", "--debug"))
	standby, _ := fakeController(t, append([]string{ControllerCommand, "--standby", "--"}, l.ControllerArgs("vm2")...))
	// The name as a flag's value or elsewhere is not the name.
	odd, _ := fakeController(t, []string{ControllerCommand, "--root", l.Root, "--", "vm3", "x"})

	if !l.IsController(p, "vm1") {
		t.Errorf("the controller of vm1 is not recognised")
	}
	for what, ok := range map[string]bool{
		"another name":       l.IsController(p, "vm2"),
		"another root":       other.IsController(p, "vm1"),
		"another start time": l.IsController(Proc{PID: p.PID, Start: p.Start + 1}, "vm1"),
		"a standby":          l.IsController(standby, "vm2"),
		"extra arguments":    l.IsController(odd, "vm3") || l.IsController(odd, "x"),
		"this test process":  l.IsController(Proc{PID: os.Getpid(), Start: mustStart(t, os.Getpid())}, "vm1"),
	} {
		if ok {
			t.Errorf("%s passes for the controller", what)
		}
	}
	found, err := l.FindControllers()
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found["vm1"] != p {
		t.Errorf("FindControllers = %v, want only vm1 = %v", found, p)
	}
	if found, _ := other.FindControllers(); len(found) != 0 {
		t.Errorf("another root finds %v", found)
	}
	stop()
	if l.IsController(p, "vm1") {
		t.Errorf("an exited controller is still recognised")
	}
	if found, _ := l.FindControllers(); len(found) != 0 {
		t.Errorf("FindControllers after the exit = %v", found)
	}
}

func mustStart(t *testing.T, pid int) uint64 {
	t.Helper()
	s, err := ProcStartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
