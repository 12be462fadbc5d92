package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// execServer is the controller's side of lxctl enter (see exec.go).
type execServer struct {
	ln   *net.UnixListener
	reqs chan *execConn
	// sessions counts the processes started and not yet reported ended;
	// teardown waits for them so every CLI gets its process's end.
	sessions sync.WaitGroup
}

// execConn is a request on its way to the event loop: libcontainer's Run
// happens on the controller's locked main thread, so the process's
// PR_SET_PDEATHSIG (lxctl's init entry) ties it to the controller's life.
type execConn struct {
	conn  *net.UnixConn
	req   execRequest
	files []*os.File
}

// execSessionsWait bounds how long teardown waits for entered processes,
// already SIGKILLed with the cgroups, to be reaped and reported.
const execSessionsWait = 5 * time.Second

func newExecServer(path string) (*execServer, error) {
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	_ = os.Remove(path)
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("exec socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	s := &execServer{ln: ln, reqs: make(chan *execConn)}
	go s.accept()
	return s, nil
}

func (s *execServer) accept() {
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		go func() {
			r, err := receiveExec(conn)
			if err != nil {
				logrus.Warnf("exec: %v", err)
				conn.Close()
				return
			}
			s.reqs <- r
		}()
	}
}

func receiveExec(conn *net.UnixConn) (*execConn, error) {
	if !peerIsRoot(conn) {
		return nil, errors.New("exec request from a process not run by root refused")
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, execMaxMessage)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	r := &execConn{conn: conn}
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("read request: %w", err)
		}
		for _, m := range msgs {
			fds, err := unix.ParseUnixRights(&m)
			if err != nil {
				continue
			}
			for _, fd := range fds {
				unix.CloseOnExec(fd)
				r.files = append(r.files, os.NewFile(uintptr(fd), "exec-stdio"))
			}
		}
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeFiles(r.files)
		return nil, errors.New("read request: message truncated")
	}
	if err := json.Unmarshal(buf[:n], &r.req); err != nil {
		closeFiles(r.files)
		return nil, fmt.Errorf("read request: %w", err)
	}
	return r, nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func (s *execServer) send(conn *net.UnixConn, rep execReply) {
	msg, _ := json.Marshal(rep)
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = conn.Write(msg)
}

// close stops accepting and waits, bounded, until every started process
// has been reaped and its end reported. The processes are in the
// container's cgroups, which teardown has killed already.
func (s *execServer) close() {
	if s == nil {
		return
	}
	_ = s.ln.Close()
	done := make(chan struct{})
	go func() { s.sessions.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(execSessionsWait):
		logrus.Warnf("exec: entered processes not reaped after %s", execSessionsWait)
	}
}

// startExec runs an exec request. It is called from the event loop, so
// it never races a suspend, reboot or destroy.
func (c *controller) startExec(r *execConn) {
	defer closeFiles(r.files) // the process has its own copies
	fail := func(kind string, err error) {
		c.exec.send(r.conn, execReply{Kind: kind, Error: err.Error()})
		r.conn.Close()
	}
	req := r.req
	switch {
	case req.V != controlVersion:
		fail("", fmt.Errorf("exec protocol version %d not supported (this controller speaks %d): restart the domain with this lxctl", req.V, controlVersion))
		return
	case c.st.State == "paused":
		fail("paused", ErrPaused)
		return
	case c.lc == nil || c.st.State != "running":
		fail("notrunning", ErrNotRunning)
		return
	case len(req.Args) == 0 || req.Args[0] == "":
		fail("", errors.New("no command to run"))
		return
	case req.TTY && len(r.files) != 1, !req.TTY && len(r.files) != 3:
		fail("", fmt.Errorf("exec request with %d file descriptors", len(r.files)))
		return
	}
	uid, gid, groups, err := execUser(c.st.InitPID, req.User)
	if err != nil {
		fail("", err)
		return
	}
	env, err := mergeEnv(Env(c.dom), req.Env)
	if err != nil {
		fail("", err)
		return
	}
	cwd := req.Cwd
	if cwd == "" {
		cwd = c.dom.OS.InitDir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !filepath.IsAbs(cwd) {
		fail("", fmt.Errorf("working directory '%s' must be an absolute path in the container", cwd))
		return
	}
	p := &libcontainer.Process{
		Args:             req.Args,
		Env:              env,
		Cwd:              cwd,
		UID:              uid,
		GID:              gid,
		AdditionalGroups: groups,
	}
	if req.TTY {
		p.ConsoleSocket = r.files[0]
		p.ConsoleWidth, p.ConsoleHeight = req.Cols, req.Rows
		if p.ConsoleWidth == 0 || p.ConsoleHeight == 0 {
			p.ConsoleWidth, p.ConsoleHeight = 80, 24
		}
	} else {
		p.Stdin, p.Stdout, p.Stderr = r.files[0], r.files[1], r.files[2]
	}
	if err := c.lc.Run(p); err != nil {
		if ce := commandError(req.Args[0], err); ce != nil {
			c.exec.send(r.conn, execReply{Kind: "command", Cmd: ce.Command, Status: ce.Status, Cause: ce.Reason, Error: ce.Error()})
			r.conn.Close()
			return
		}
		if msg := err.Error(); strings.Contains(msg, "chdir to cwd") {
			// libcontainer's words name its config.json, which lxctl
			// users never see.
			_, why, _ := strings.Cut(msg, "failed: ")
			fail("", fmt.Errorf("working directory '%s' in the container: %s (use -w with a directory that exists there)", cwd, why))
			return
		}
		fail("", fmt.Errorf("run '%s' in the container: %w", req.Args[0], err))
		return
	}
	pid, _ := p.Pid()
	logrus.Infof("exec: pid %d: %q", pid, req.Args)
	c.exec.sessions.Add(1)
	c.exec.send(r.conn, execReply{OK: true, Pid: pid})
	go c.exec.supervise(r.conn, p, pid)
}

// supervise passes the CLI's signals on, kills the process when the CLI
// goes away, reaps it and reports its end.
func (s *execServer) supervise(conn *net.UnixConn, p *libcontainer.Process, pid int) {
	defer s.sessions.Done()
	defer conn.Close()
	ended := make(chan syscall.WaitStatus, 1)
	go func() {
		ps, _ := p.Wait()
		ws := syscall.WaitStatus(0)
		if ps != nil {
			ws = ps.Sys().(syscall.WaitStatus)
		}
		ended <- ws
	}()
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil || n == 0 {
				return
			}
			var m execSignal
			if json.Unmarshal(buf[:n], &m) == nil && m.Signal > 0 && m.Signal < 65 {
				_ = p.Signal(unix.Signal(m.Signal))
			}
		}
	}()
	var ws syscall.WaitStatus
	select {
	case ws = <-ended:
	case <-gone:
		// The CLI is gone (killed, or its terminal closed): nobody is
		// left to get the output or the status.
		logrus.Infof("exec: pid %d: the client went away, killing it", pid)
		_ = p.Signal(unix.SIGKILL)
		ws = <-ended
	}
	rep := execReply{Exited: true}
	if ws.Signaled() {
		rep.Signal = int(ws.Signal())
	} else {
		rep.Status = ws.ExitStatus()
	}
	logrus.Infof("exec: pid %d ended: %s", pid, Describe(ws))
	s.send(conn, rep)
}
