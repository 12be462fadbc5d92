package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/user"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// ExecOptions describe a process to run in a running domain (lxctl enter).
type ExecOptions struct {
	Args []string // the command and its arguments; Args[0] is looked up in the container's PATH
	Env  []string // KEY=VAL set on top of the container's environment
	User string   // USER[:GROUP], names from the container's /etc/passwd and /etc/group, or numbers; "" is root
	Cwd  string   // absolute path in the container; "" is the domain's <initdir> or /

	// TTY: the process gets a new pty from the container's devpts as its
	// stdin, stdout, stderr and controlling terminal; Exec returns its
	// master in Exec.Master. Without TTY the process gets Stdin, Stdout
	// and Stderr (passed straight through when they are files).
	TTY        bool
	Rows, Cols uint16 // the pty's first size (0: 24x80)
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
}

// Exec is a process started in a running domain.
type Exec struct {
	Master *os.File // the pty master with TTY, else nil
	proc   *libcontainer.Process
}

// ErrPaused: the domain's cgroup is frozen. A process joining it would
// freeze before it ran.
var ErrPaused = errors.New("domain is paused")

// ErrNotRunning: the domain has no live container (its init is gone).
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

// StartExec runs a process in the running domain st, as runc exec does: a
// direct libcontainer exec from the calling process, no controller
// involved. It joins every namespace of init (user namespace and its id
// maps included), the container's cgroups (so its pids limit applies and
// destroy kills it), its root, and gets the container's capability
// bounding set, no_new_privs and seccomp filter from libcontainer's saved
// config. dom is the live config (environment, <initdir>).
//
// The process is a child of the caller and gets SIGKILL when the calling
// thread dies (lxctl's init entry sets PR_SET_PDEATHSIG): the caller must
// keep the thread it calls StartExec on alive (runtime.LockOSThread) for
// as long as the process runs, and Wait for it.
//
// The caller should hold the domain's lock across StartExec, so no
// suspend, destroy or restart lands between the checks and the join.
func StartExec(l state.Layout, st *state.Status, dom *domainxml.Domain, o ExecOptions) (*Exec, error) {
	if len(o.Args) == 0 || o.Args[0] == "" {
		return nil, errors.New("no command to run")
	}
	runDir, err := l.RunDir(st.Name)
	if err != nil {
		return nil, err
	}
	lc, err := libcontainer.Load(filepath.Join(runDir, libcontainerDir), st.Name)
	if errors.Is(err, libcontainer.ErrNotExist) {
		return nil, ErrNotRunning
	}
	if err != nil {
		return nil, fmt.Errorf("load the container's state: %w", err)
	}
	// libcontainer checks init by pid and start time, and the freezer
	// for a pause: what the kernel says, not the status record.
	status, err := lc.Status()
	if err != nil {
		return nil, fmt.Errorf("container state: %w", err)
	}
	switch status {
	case libcontainer.Paused:
		return nil, ErrPaused
	case libcontainer.Stopped:
		return nil, ErrNotRunning
	}
	lcState, err := lc.State()
	if err != nil {
		return nil, fmt.Errorf("container state: %w", err)
	}
	initPID := lcState.InitProcessPid

	uid, gid, groups, err := execUser(initPID, o.User)
	if err != nil {
		return nil, err
	}
	env, err := mergeEnv(Env(dom), o.Env)
	if err != nil {
		return nil, err
	}
	cwd := o.Cwd
	if cwd == "" {
		cwd = dom.OS.InitDir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !filepath.IsAbs(cwd) {
		return nil, fmt.Errorf("working directory '%s' must be an absolute path in the container", cwd)
	}
	p := &libcontainer.Process{
		Args:             o.Args,
		Env:              env,
		Cwd:              cwd,
		UID:              uid,
		GID:              gid,
		AdditionalGroups: groups,
		Init:             false,
	}
	e := &Exec{proc: p}
	var parent, child *os.File
	if o.TTY {
		if parent, child, err = socketPair(); err != nil {
			return nil, err
		}
		defer parent.Close()
		defer child.Close()
		p.ConsoleSocket = child
		p.ConsoleWidth, p.ConsoleHeight = o.Cols, o.Rows
		if p.ConsoleWidth == 0 || p.ConsoleHeight == 0 {
			p.ConsoleWidth, p.ConsoleHeight = 80, 24
		}
	} else {
		p.Stdin, p.Stdout, p.Stderr = o.Stdin, o.Stdout, o.Stderr
	}
	if err := lc.Run(p); err != nil {
		if ce := commandError(o.Args[0], err); ce != nil {
			return nil, ce
		}
		return nil, fmt.Errorf("run '%s' in the container: %w", o.Args[0], err)
	}
	if o.TTY {
		// The process sent the master before it reported ready, which Run
		// waited for: it is in the socket already. The deadline only
		// guards against a libcontainer that changed that order.
		_ = child.Close()
		tv := unix.NsecToTimeval((10 * time.Second).Nanoseconds())
		_ = unix.SetsockoptTimeval(int(parent.Fd()), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		master, err := recvFile(parent)
		if err != nil {
			_ = p.Signal(unix.SIGKILL)
			_, _ = p.Wait()
			return nil, fmt.Errorf("receive the terminal of '%s': %w", o.Args[0], err)
		}
		e.Master = master
	}
	return e, nil
}

// Pid is the process's pid as the host sees it.
func (e *Exec) Pid() (int, error) { return e.proc.Pid() }

// Signal sends sig to the process.
func (e *Exec) Signal(sig os.Signal) error { return e.proc.Signal(sig) }

// Wait waits for the process to end and returns how it ended.
func (e *Exec) Wait() (syscall.WaitStatus, error) {
	ps, err := e.proc.Wait()
	if ps == nil {
		return 0, err
	}
	return ps.Sys().(syscall.WaitStatus), nil
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
	msg := err.Error()
	m := lookErr.FindStringSubmatch(msg)
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
		if !ok || k == "" || strings.ContainsRune(k, 0) {
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
// when they are regular files (a FIFO planted there cannot block lxctl).
// Numbers need no files; "" is root with no supplementary groups.
func execUser(initPID int, spec string) (uid, gid int, groups []int, err error) {
	if spec == "" {
		return 0, 0, nil, nil
	}
	root := "/proc/" + strconv.Itoa(initPID) + "/root"
	passwd, err := openInContainer(root, "/etc/passwd")
	if err != nil {
		return 0, 0, nil, err
	}
	if passwd != nil {
		defer passwd.Close()
	}
	group, err := openInContainer(root, "/etc/group")
	if err != nil {
		return 0, 0, nil, err
	}
	if group != nil {
		defer group.Close()
	}
	// GetExecUser treats a nil reader as a missing file: numbers still
	// work, names fail with a clear message.
	var pr, gr io.Reader
	if passwd != nil {
		pr = passwd
	}
	if group != nil {
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
