package domain

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/state"
)

// The test binary doubles as a stand-in controller: run with a
// controller's command line and LXCTL_DOMAIN_HELPER set, it listens on
// the control socket given there, reads one request and closes the
// connection without an answer, as a controller that is stopping does.
// With "exit" it then exits; with "stop" it removes the runtime dir
// first; with "hang" it stays until killed.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == state.ControllerCommand {
		mode, sock, _ := strings.Cut(os.Getenv("LXCTL_DOMAIN_HELPER"), ":")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString("ready\n")
		conn, err := ln.Accept()
		if err == nil {
			_, _ = bufio.NewReader(conn).ReadString('\n')
			conn.Close()
		}
		switch mode {
		case "hang":
			time.Sleep(time.Hour)
		case "stop": // as a controller finishing its own teardown
			_ = os.RemoveAll(filepath.Dir(sock))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func standIn(t *testing.T, l state.Layout, name, mode string) *state.Proc {
	t.Helper()
	sock, err := container.RunFile(l, name, container.ControlSocketFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(os.Args[0])
	c.Args = append([]string{"lxctl"}, l.ControllerArgs(name)...)
	c.Env = append(os.Environ(), "LXCTL_DOMAIN_HELPER="+mode+":"+sock)
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("stand-in controller did not start: %q", line)
	}
	start, err := state.ProcStartTime(c.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	p := &state.Proc{PID: c.Process.Pid, Start: start}
	if !l.IsController(*p, name) {
		t.Fatalf("stand-in %d is not recognised as the controller", p.PID)
	}
	return p
}

// A request that meets a controller on its way out is "not running", not
// the transport's "EOF"; one that meets a controller that stays but does
// not answer is the transport's error.
func TestCallStopping(t *testing.T) {
	h := New(state.NewLayout(t.TempDir()))
	ctl := standIn(t, h.L, "vm1", "exit")
	_, err := h.Call(&Domain{Name: "vm1", Controller: ctl}, container.Request{Op: container.OpSuspend})
	if err == nil || err.Error() != "domain 'vm1' is not running" {
		t.Errorf("call to a stopping controller: %v", err)
	}
	ctl = standIn(t, h.L, "vm2", "hang")
	_, err = h.Call(&Domain{Name: "vm2", Controller: ctl}, container.Request{Op: container.OpSuspend})
	if err == nil || strings.Contains(err.Error(), "not running") {
		t.Errorf("call to a controller that stays: %v", err)
	}
}

// destroy that meets a controller stopping on its own says not running;
// one that meets a wedged controller (verified) kills it and cleans up.
func TestDestroyStoppingOrWedged(t *testing.T) {
	h := New(state.NewLayout(t.TempDir()))
	standIn(t, h.L, "vm1", "stop")
	if _, err := h.Destroy("vm1"); err == nil || err.Error() != "domain 'vm1' is not running" {
		t.Errorf("destroy of a stopping domain: %v", err)
	}
	ctl := standIn(t, h.L, "vm2", "hang")
	if _, err := h.Destroy("vm2"); err != nil {
		t.Errorf("destroy of a wedged controller: %v", err)
	}
	if state.Alive(ctl.PID, ctl.Start) {
		t.Errorf("destroy left the wedged controller %d alive", ctl.PID)
	}
	if dir, _ := h.L.RunDir("vm2"); exists(dir) {
		t.Errorf("destroy left the runtime dir %s", dir)
	}
}
