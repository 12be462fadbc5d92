package container

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The control socket carries one JSON request and one JSON reply per
// connection. The envelope is versioned so a newer CLI can tell an older
// running controller apart.
const controlVersion = 1

// Control operations.
const (
	OpStatus   = "status"
	OpDestroy  = "destroy"
	OpShutdown = "shutdown"
	OpReboot   = "reboot"
	OpSuspend  = "suspend"
	OpResume   = "resume"
)

// Request is one control request.
type Request struct {
	V      int    `json:"v"`
	Op     string `json:"op"`
	Signal int    `json:"signal,omitempty"` // shutdown, reboot: this signal for init (--signal)
	// Mode is how shutdown and reboot reach init: ModeAuto (""),
	// ModeSignal, ModeInitctl, or for reboot ModeHard.
	Mode string `json:"mode,omitempty"`
	// CallerFinishes (destroy): the controller tears the domain down
	// but leaves its own cgroup and the record of the stop to the
	// caller, which holds the domain lock, waits for the controller's
	// exit, then removes that cgroup and records the stop
	// (FinishDestroyed). Leaving its cgroup itself would cost the
	// controller a cgroup move, which waits for an RCU grace period
	// asleep with the kernel's cgroup mutex held (7-18 ms here), so every
	// cgroup.kill, cgroup.freeze and rmdir of the stop would wait too. A
	// controller that does not know the field finishes itself, as before.
	CallerFinishes bool `json:"caller_finishes,omitempty"`
}

// Response is the controller's answer.
type Response struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Method says how a shutdown or reboot asked init ("initctl runlevel
	// 0 on /run/initctl", "systemd: signal SIGRTMIN+4", "signal SIGTERM").
	Method string `json:"method,omitempty"`
}

// ErrNoController means the control socket did not answer: the controller
// is gone or wedged, and the caller should fall back to the status record.
var ErrNoController = errors.New("controller not reachable")

// maxSunPath is sun_path's size on Linux, including the terminating NUL.
const maxSunPath = 108

func checkSocketPath(p string) error {
	if len(p) >= maxSunPath {
		return fmt.Errorf("socket path %s is %d bytes, longer than the kernel's limit of %d: use a shorter --root", p, len(p), maxSunPath-1)
	}
	return nil
}

// Call sends req to the controller listening on path and returns its reply.
func Call(path string, req Request, timeout time.Duration) (*Response, error) {
	req.V = controlVersion
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoController, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoController, err)
	}
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		return nil, fmt.Errorf("%w: no reply to %s: %v", ErrNoController, req.Op, err)
	}
	if !resp.OK {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}

// controlRequest is a request on its way to the event loop, with the
// connection to answer on.
type controlRequest struct {
	req  Request
	conn net.Conn
}

func (r *controlRequest) reply(err error) {
	r.replyWith(err, "")
}

func (r *controlRequest) replyWith(err error, method string) {
	resp := Response{OK: err == nil, Method: method}
	if err != nil {
		resp.Error = err.Error()
	}
	_ = r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = json.NewEncoder(r.conn).Encode(resp)
	_ = r.conn.Close()
}

// listenControl serves the control socket; requests go to the event loop
// one at a time, so lifecycle operations never race each other.
func listenControl(path string, out chan<- *controlRequest) (*net.UnixListener, error) {
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	_ = os.Remove(path)
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	go func() {
		for {
			conn, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			go func() {
				if !peerIsRoot(conn) {
					conn.Close()
					return
				}
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				var req Request
				if err := json.NewDecoder(conn).Decode(&req); err != nil {
					conn.Close()
					return
				}
				_ = conn.SetReadDeadline(time.Time{})
				out <- &controlRequest{req: req, conn: conn}
			}()
		}
	}()
	return ln, nil
}

// peerIsRoot checks the connecting process's credentials: the socket is
// 0600 already, this keeps it so if someone loosens the directory.
func peerIsRoot(conn *net.UnixConn) bool {
	raw, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = raw.Control(func(fd uintptr) {
		cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		ok = err == nil && (cred.Uid == 0 || int(cred.Uid) == os.Geteuid())
	})
	return ok
}
