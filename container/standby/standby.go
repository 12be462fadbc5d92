// Package standby hands lxctl start the controller that its C constructor
// (standby.c) forked and exec'd before the CLI's Go runtime booted, so that
// the two boots overlap. The controller waits on its fd 3 for a Request;
// until it gets one it has done nothing but boot.
package standby

/*
extern int lxctl_standby_fd;
extern int lxctl_standby_pid;
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Request is what the CLI sends a standby controller: the arguments it
// would have exec'd a controller with, and the domain log to write to.
type Request struct {
	Args []string `json:"args"`
	Log  string   `json:"log"`
}

// Controller is a standby controller process and the CLI's end of its
// channel, which then carries the controller's report back.
type Controller struct {
	Conn *os.File
	PID  int
	// syncW is, for a delegate, the report pipe's write end the controller
	// in this process writes to; -1 for a controller process of its own.
	syncW int
}

var (
	mu      sync.Mutex
	claimed bool
)

// Take returns the standby controller, once. ok is false when there is
// none: another command, not root, LXCTL_NO_STANDBY set, or it already
// died (it only dies early when setsid, unshare or exec failed; the caller
// then starts a controller the usual way).
func Take() (c *Controller, ok bool) {
	mu.Lock()
	defer mu.Unlock()
	if claimed {
		return nil, false
	}
	claimed = true
	if delegate.on {
		return takeLocal()
	}
	fd, pid := int(C.lxctl_standby_fd), int(C.lxctl_standby_pid)
	if pid <= 0 {
		return nil, false
	}
	if exited(pid) { // and reaped
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, false
	}
	if fd < 0 {
		kill(pid)
		return nil, false
	}
	// Non-blocking, so that reads from it honour deadlines.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		kill(pid)
		return nil, false
	}
	return &Controller{Conn: os.NewFile(uintptr(fd), "standby-controller"), PID: pid, syncW: -1}, true
}

// Release kills and reaps a standby controller that was never taken; the
// CLI calls it before exiting.
func Release() {
	mu.Lock()
	defer mu.Unlock()
	if claimed {
		return
	}
	claimed = true
	if pid := int(C.lxctl_standby_pid); pid > 0 {
		if fd := int(C.lxctl_standby_fd); fd >= 0 {
			unix.Close(fd)
		}
		kill(pid)
	}
}

// Send gives the controller its work, and with it extra (the domain lock;
// nil for none) as an fd passed along the request's first byte: the
// controller then holds the same open file, so the same flock.
func (c *Controller) Send(r Request, extra *os.File) error {
	if c.syncW >= 0 {
		return c.sendLocal(r, extra)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	raw, err := c.Conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("hand the domain to the controller: %w", err)
	}
	var oob []byte
	if extra != nil {
		oob = unix.UnixRights(int(extra.Fd()))
	}
	for len(data) > 0 {
		var n int
		var serr error
		// Write blocks (poller) until the socket takes data; Sendmsg with
		// the rights goes out with the first chunk only.
		werr := raw.Write(func(fd uintptr) bool {
			n, serr = unix.SendmsgN(int(fd), data, oob, nil, 0)
			return !errors.Is(serr, unix.EAGAIN)
		})
		if werr == nil {
			werr = serr
		}
		if werr != nil {
			return fmt.Errorf("hand the domain to the controller: %w", werr)
		}
		data, oob = data[n:], nil
	}
	return nil
}

// Kill kills the controller and reaps it.
func (c *Controller) Kill() {
	if c.syncW >= 0 { // this process: the send failed, nothing was handed over
		unix.Close(c.syncW)
		return
	}
	kill(c.PID)
}

// Wait reaps the controller once it has exited on its own; for a
// delegate, it waits until the controller in this process has returned.
func (c *Controller) Wait() {
	if c.syncW >= 0 {
		<-delegate.ctlDone
		return
	}
	reap(c.PID)
}

func kill(pid int) {
	_ = unix.Kill(pid, unix.SIGKILL)
	reap(pid)
}

func reap(pid int) {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

func exited(pid int) bool {
	var ws unix.WaitStatus
	got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	return err != nil || got == pid
}

// Receive is the standby controller's side: it blocks until the CLI sends
// its Request on fd. io.EOF means the CLI went away without one. It reads
// the raw fd, not an *os.File, whose finalizer would close the channel the
// controller goes on to report on. extra is the fd sent along (close-on-
// exec), -1 if none.
func Receive(fd int) (r *Request, extra int, err error) {
	extra = -1
	defer func() {
		if err != nil && extra >= 0 {
			unix.Close(extra)
			extra = -1
		}
	}()
	r, err = receive(fd, &extra)
	return r, extra, err
}

func receive(fd int, extra *int) (*Request, error) {
	var data []byte
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for len(data) == 0 || data[len(data)-1] != '\n' {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == nil && oobn > 0 {
			if fds := parseRights(oob[:oobn]); len(fds) > 0 {
				for _, f := range fds[1:] {
					unix.Close(f)
				}
				if *extra >= 0 {
					unix.Close(*extra)
				}
				*extra = fds[0]
			}
		}
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, fmt.Errorf("standby controller: reading the request: %w", err)
		case n == 0 && len(data) == 0:
			return nil, io.EOF
		case n == 0:
			return nil, errors.New("standby controller: the request was cut short")
		case len(data)+n > 1<<20:
			return nil, errors.New("standby controller: the request is too long")
		}
		data = append(data, buf[:n]...)
	}
	var r Request
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("standby controller: the request is garbled: %w", err)
	}
	if len(r.Args) == 0 || r.Log == "" {
		return nil, errors.New("standby controller: empty request")
	}
	return &r, nil
}

// parseRights returns the fds of the SCM_RIGHTS messages in oob.
func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if got, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

// A delegate (standby.c) is a standby that runs the start command itself,
// for a CLI that only waits on fd 3 for the exit status, and becomes the
// domain's controller in the same process. Take then returns a Controller
// that is this process: Send hands the request to the goroutine that will
// run the controller (Handoffs), and the report comes back through a pipe.
var delegate struct {
	on       bool
	chanFD   int
	handoffs chan Handoff
	handed   bool
	ctlDone  chan struct{}
}

// Handoff is what the start command gives the controller it runs in the
// same process: the request, its copy of the domain lock (-1: none) and
// the write end of the report pipe.
type Handoff struct {
	Request
	Lock int
	Sync int
}

// Delegate puts this process in delegate mode, the channel to the CLI on
// chanFD; the controller is to be run from what Handoffs delivers.
func Delegate(chanFD int) {
	mu.Lock()
	defer mu.Unlock()
	delegate.on, delegate.chanFD = true, chanFD
	delegate.handoffs = make(chan Handoff)
	delegate.ctlDone = make(chan struct{})
}

// Delegating says whether this process runs a start for a waiting CLI.
func Delegating() bool { return delegate.on }

// Handoffs delivers the request a delegated start hands over (unbuffered:
// Send returns once the controller's goroutine has it).
func Handoffs() <-chan Handoff { return delegate.handoffs }

// ControllerDone says that the controller run from a Handoff has returned.
func ControllerDone() { close(delegate.ctlDone) }

// CallerGone says whether the CLI a delegate runs the start for has gone
// (killed) before the delegate committed to the start: a start whose
// command was killed early does not happen, as with a CLI of its own.
func CallerGone() bool {
	if !delegate.on {
		return false
	}
	fds := []unix.PollFd{{Fd: int32(delegate.chanFD), Events: unix.POLLRDHUP}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
}

// Reply gives the waiting CLI its exit status and lets it go: "c" when
// this process goes on as the domain's controller, "x" when it is about
// to exit, and the CLI is to reap it.
func Reply(code int) {
	how := "x"
	mu.Lock()
	handed := delegate.handed
	mu.Unlock()
	if handed {
		select {
		case <-delegate.ctlDone:
		default:
			how = "c"
		}
	}
	_, _ = unix.Write(delegate.chanFD, fmt.Appendf(nil, "%d %s\n", code, how))
	unix.Close(delegate.chanFD)
}

// takeLocal is Take for a delegate: the controller is this process.
func takeLocal() (*Controller, bool) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, false
	}
	// Read blocking, not through Go's netpoller: the report then wakes the
	// reading thread itself. Through the poller, with the controller's
	// goroutine holding the main thread and a P, the start was seen
	// scheduled up to 10 ms after the report (a new thread made to run
	// it). The start's timeout then is a timer that calls Abort.
	return &Controller{Conn: os.NewFile(uintptr(p[0]), "controller-report"), PID: os.Getpid(), syncW: p[1]}, true
}

func (c *Controller) sendLocal(r Request, extra *os.File) error {
	lock := -1
	if extra != nil {
		fd, err := unix.FcntlInt(extra.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return fmt.Errorf("hand the domain to the controller: %w", err)
		}
		lock = fd
	}
	mu.Lock()
	delegate.handed = true
	mu.Unlock()
	delegate.handoffs <- Handoff{Request: r, Lock: lock, Sync: c.syncW}
	return nil
}

// Abort kills a controller that did not report (in time), without
// reaping it. A delegate's controller is this very process: one that
// closed the report pipe without a word is returning, and is given a
// moment to; only a hung one takes the process (and the start) down.
func (c *Controller) Abort() {
	if c.syncW < 0 {
		_ = unix.Kill(c.PID, unix.SIGKILL)
		return
	}
	select {
	case <-delegate.ctlDone:
	case <-time.After(time.Second):
		_ = unix.Kill(c.PID, unix.SIGKILL)
	}
}
