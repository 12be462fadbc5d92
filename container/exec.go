package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/state"
)

// lxctl enter runs a process in a running domain through the domain's
// controller, which starts it with libcontainer (as runc exec does) and is
// its parent. The CLI could do that exec itself, with no controller
// involved, but then the process's parent is the CLI: killed with -9, it
// leaves the process (killed too, by PR_SET_PDEATHSIG) as a zombie of host
// PID 1, which on these machines never reaps, and a pid namespace cannot
// finish dying until every task in it is reaped, so the container's init
// would hang in exit and destroy would time out. The controller reaps what
// it starts, kills it when the CLI goes away, and reports its end.
//
// The exec socket (SOCK_SEQPACKET, in the runtime dir) carries, per
// session: the CLI's ExecRequest with its stdin, stdout and stderr (or,
// with a terminal, one end of a socket pair on which the process sends
// back its pty master) as SCM_RIGHTS; the controller's execReply (the pid,
// or why not); then signals from the CLI and finally the exit from the
// controller. The CLI going away (EOF) kills the process.

// ExecSocketFile is the exec socket in a domain's runtime dir.
const ExecSocketFile = "exec.sock"

// ExecOptions describe a process to run in a running domain (lxctl enter).
type ExecOptions struct {
	Args []string // the command and its arguments; Args[0] is looked up in the container's PATH
	Env  []string // KEY=VAL set on top of the container's environment
	User string   // USER[:GROUP], names from the container's /etc/passwd and /etc/group, or numbers; "" is root
	Cwd  string   // absolute path in the container; "" is the domain's <initdir> or /

	// TTY: the process gets a new pty from the container's devpts as its
	// stdin, stdout, stderr and controlling terminal; Exec.Master is the
	// master. Without TTY the process gets Stdin, Stdout and Stderr,
	// which must be files (pipes, terminals, ...): they are passed on.
	TTY    bool
	Rows   uint16 // the pty's first size (0: 24x80)
	Cols   uint16
	Stdin  *os.File
	Stdout *os.File
	Stderr *os.File
}

// execRequest is ExecOptions on the wire.
type execRequest struct {
	V    int      `json:"v"`
	Args []string `json:"args"`
	Env  []string `json:"env,omitempty"`
	User string   `json:"user,omitempty"`
	Cwd  string   `json:"cwd,omitempty"`
	TTY  bool     `json:"tty,omitempty"`
	Rows uint16   `json:"rows,omitempty"`
	Cols uint16   `json:"cols,omitempty"`
}

// execReply is every message from the controller on an exec session.
type execReply struct {
	// The first message: OK with Pid, or Error (Kind says which).
	OK    bool   `json:"ok,omitempty"`
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
	Kind  string `json:"kind,omitempty"`  // "paused", "command" (with Status), or ""
	Cmd   string `json:"cmd,omitempty"`   // kind "command": the command
	Cause string `json:"cause,omitempty"` // kind "command": why it could not run
	// The last message: how the process ended.
	Exited bool `json:"exited,omitempty"`
	Status int  `json:"status,omitempty"` // exit code, or kind "command": 127/126
	Signal int  `json:"signal,omitempty"` // killed by this signal
}

// execSignal is a message from the CLI: a signal for the process.
type execSignal struct {
	Signal int `json:"signal"`
}

const execMaxMessage = 1 << 20

// ErrPaused: the domain's cgroup is frozen. A process joining it would
// freeze before it ran.
var ErrPaused = errors.New("domain is paused")

// ErrNotRunning: the domain has no controller to run the process.
var ErrNotRunning = errors.New("domain is not running")

// CommandError is a command that could not be executed in the container:
// Status is what a shell exits with for it (127 not found, 126 not
// executable).
type CommandError struct {
	Command string
	Status  int
	Reason  string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%s: %s", e.Command, e.Reason)
}

// Exec is a process running in a domain, seen from the CLI that asked for it.
type Exec struct {
	Master *os.File // the pty master with TTY, else nil
	Pid    int      // the process's pid on the host
	conn   *net.UnixConn
}

// StartExec asks the controller of the running domain name to start a
// process as o describes: in every namespace of init (the user namespace
// and its id maps too), the container's cgroups (its pids limit applies,
// destroy kills it), its root, with the container's capability bounding
// set, no_new_privs and seccomp filter, and its environment. It returns
// once the process runs.
func StartExec(l state.Layout, name string, o ExecOptions) (*Exec, error) {
	if len(o.Args) == 0 || o.Args[0] == "" {
		return nil, errors.New("no command to run")
	}
	path, err := RunFile(l, name, ExecSocketFile)
	if err != nil {
		return nil, err
	}
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ECONNREFUSED) {
		return nil, ErrNotRunning
	}
	if err != nil {
		return nil, fmt.Errorf("connect to the domain's controller: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	var files []*os.File
	var mine *os.File // with TTY: our end of the console socket pair
	if o.TTY {
		var theirs *os.File
		if mine, theirs, err = socketPair(); err != nil {
			return nil, err
		}
		defer mine.Close()
		defer theirs.Close()
		files = []*os.File{theirs}
	} else {
		if o.Stdin == nil || o.Stdout == nil || o.Stderr == nil {
			return nil, errors.New("exec without a terminal needs stdin, stdout and stderr as files")
		}
		files = []*os.File{o.Stdin, o.Stdout, o.Stderr}
	}
	req, err := json.Marshal(execRequest{V: controlVersion, Args: o.Args, Env: o.Env, User: o.User, Cwd: o.Cwd, TTY: o.TTY, Rows: o.Rows, Cols: o.Cols})
	if err != nil {
		return nil, err
	}
	if len(req) > execMaxMessage {
		return nil, fmt.Errorf("command line and environment too long (%d bytes, at most %d)", len(req), execMaxMessage)
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	if _, _, err := conn.WriteMsgUnix(req, unix.UnixRights(fds...), nil); err != nil {
		return nil, fmt.Errorf("send the command to the domain's controller: %w", err)
	}
	for _, f := range files {
		if f == o.Stdin || f == o.Stdout || f == o.Stderr {
			continue
		}
		f.Close() // the controller has its own copy now
	}
	x := &Exec{conn: conn}
	rep, err := x.read()
	if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
		// The controller closed the session unanswered: the domain
		// stopped while the request waited.
		return nil, ErrNotRunning
	}
	if err != nil {
		return nil, fmt.Errorf("no answer from the domain's controller: %w", err)
	}
	if !rep.OK {
		switch rep.Kind {
		case "paused":
			return nil, ErrPaused
		case "notrunning":
			return nil, ErrNotRunning
		case "command":
			return nil, &CommandError{Command: rep.Cmd, Status: rep.Status, Reason: rep.Cause}
		}
		return nil, errors.New(rep.Error)
	}
	x.Pid = rep.Pid
	if o.TTY {
		// The process sent its master before it told the controller it
		// was ready, so it is in the socket already; the timeout only
		// guards against a libcontainer that changed that order.
		tv := unix.NsecToTimeval((10 * time.Second).Nanoseconds())
		_ = unix.SetsockoptTimeval(int(mine.Fd()), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		if x.Master, err = recvFile(mine); err != nil {
			return nil, fmt.Errorf("receive the terminal of '%s': %w", o.Args[0], err)
		}
	}
	ok = true
	return x, nil
}

func (x *Exec) read() (*execReply, error) {
	buf := make([]byte, 64<<10)
	n, err := x.conn.Read(buf)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, io.EOF
	}
	var rep execReply
	if err := json.Unmarshal(buf[:n], &rep); err != nil {
		return nil, fmt.Errorf("bad message from the controller: %w", err)
	}
	return &rep, nil
}

// Signal passes sig on to the process.
func (x *Exec) Signal(sig syscall.Signal) error {
	msg, _ := json.Marshal(execSignal{Signal: int(sig)})
	_, err := x.conn.Write(msg)
	return err
}

// ErrControllerGone: the controller ended without reporting the
// process's end (it was killed; the process died with it).
var ErrControllerGone = errors.New("the domain's controller went away before the command ended")

// Wait returns how the process ended. It is called once.
func (x *Exec) Wait() (syscall.WaitStatus, error) {
	defer x.conn.Close()
	for {
		rep, err := x.read()
		if err != nil {
			return 0, ErrControllerGone
		}
		if !rep.Exited {
			continue
		}
		if rep.Signal != 0 {
			// The wait status of a death by signal: the signal number in
			// the low bits.
			return syscall.WaitStatus(rep.Signal & 0x7f), nil
		}
		return syscall.WaitStatus((rep.Status & 0xff) << 8), nil
	}
}

// lookErr matches what libcontainer's init reports when exec.LookPath fails
// in the container: `exec: "NAME": executable file not found in $PATH`,
// `exec: "NAME": stat NAME: no such file or directory`, `exec: "NAME":
// permission denied`. The error crosses a pipe as text, so its type is
// gone; the text is all there is.
var lookErr = regexp.MustCompile(`exec: "((?:[^"\\]|\\.)*)": (.*)$`)

// commandError turns a failed lookup of the command into a CommandError
// with a shell's exit status, or returns nil for any other failure.
func commandError(name string, err error) *CommandError {
	m := lookErr.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	reason := m[2]
	switch {
	case strings.Contains(reason, "executable file not found"):
		return &CommandError{Command: name, Status: 127, Reason: "command not found in the container's PATH"}
	case strings.Contains(reason, "no such file or directory"), strings.Contains(reason, "not a directory"):
		return &CommandError{Command: name, Status: 127, Reason: "no such file in the container"}
	case strings.Contains(reason, "permission denied"), strings.Contains(reason, "is a directory"):
		return &CommandError{Command: name, Status: 126, Reason: "not executable in the container (" + reason + ")"}
	}
	return nil
}

// mergeEnv sets each KEY=VAL of extra on top of base, replacing a KEY base
// has.
func mergeEnv(base, extra []string) ([]string, error) {
	env := append([]string(nil), base...)
	for _, kv := range extra {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsRune(kv, 0) {
			return nil, fmt.Errorf("environment variable '%s' is not KEY=VALUE", kv)
		}
		replaced := false
		for i, old := range env {
			if strings.HasPrefix(old, k+"=") {
				env[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			env = append(env, kv)
		}
	}
	return env, nil
}

// execUser resolves USER[:GROUP] as the container sees it: names in its
// own /etc/passwd and /etc/group, reached through init's root. The files
// are opened inside that root (symlinks cannot lead out of it) and only
// when they are regular files (a FIFO planted there cannot block the
// controller). Numbers need no files; "" is root with no supplementary
// groups.
func execUser(initPID int, spec string) (uid, gid int, groups []int, err error) {
	if spec == "" {
		return 0, 0, nil, nil
	}
	root := "/proc/" + strconv.Itoa(initPID) + "/root"
	var pr, gr io.Reader // nil: the file is missing (numbers still work)
	passwd, err := openInContainer(root, "/etc/passwd")
	if err != nil {
		return 0, 0, nil, err
	}
	if passwd != nil {
		defer passwd.Close()
		pr = passwd
	}
	group, err := openInContainer(root, "/etc/group")
	if err != nil {
		return 0, 0, nil, err
	}
	if group != nil {
		defer group.Close()
		gr = group
	}
	u, err := user.GetExecUser(spec, &user.ExecUser{}, pr, gr)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("user '%s' in the container: %w", spec, err)
	}
	return u.Uid, u.Gid, u.Sgids, nil
}

// openInContainer opens path below root for reading, or returns nil, nil
// when it does not exist.
func openInContainer(root, path string) (*os.File, error) {
	h, err := pathrs.OpenInRoot(root, path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s in the container: %w", path, err)
	}
	defer h.Close()
	var stat unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &stat); err != nil {
		return nil, fmt.Errorf("open %s in the container: %w", path, err)
	}
	if stat.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s in the container is not a regular file", path)
	}
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("open %s in the container: %w", path, err)
	}
	return f, nil
}
