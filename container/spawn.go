package container

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/container/standby"
	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// startTimeout bounds how long start waits for the controller's verdict.
const startTimeout = 60 * time.Second

// Start brings a domain up: it writes the live config into a fresh runtime
// dir, has this binary run as the detached controller with controllerArgs
// (new session, own mount namespace, stdio to the domain log; see launch)
// and waits on the sync channel until init runs or the start failed. The
// caller holds the domain lock; lock is its file, which the controller gets
// a copy of (the same open file description, so the same flock) and closes
// once it has reported: the domain stays locked until the controller's
// setup is over, even if the caller dies first. On failure nothing is left
// behind.
func Start(l state.Layout, d *domainxml.Domain, controllerArgs []string, lock *os.File) (initPID int, retErr error) {
	runDir, err := l.RunDir(d.Name)
	if err != nil {
		return 0, err
	}
	if err := l.EnsureDirs(); err != nil {
		return 0, err
	}
	_ = l.RemoveRunDir(d.Name) // a stale dir of a domain swept earlier
	if err := os.Mkdir(runDir, 0o700); err != nil {
		return 0, fmt.Errorf("runtime dir: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = l.RemoveRunDir(d.Name)
		}
	}()
	if err := checkSocketPath(filepath.Join(runDir, ControlSocketFile)); err != nil {
		return 0, err
	}
	live := d.Clone()
	if live.Resource.Partition == "" {
		live.Resource.Partition = DefaultPartition
	}
	live.ID = 0
	out, err := live.Marshal()
	if err != nil {
		return 0, err
	}
	if err := state.WriteRuntimeFile(filepath.Join(runDir, LiveXMLFile), out, 0o600); err != nil {
		return 0, err
	}

	logPath, err := l.LogPath(d.Name)
	if err != nil {
		return 0, err
	}
	// A log an earlier controller filled is rotated here rather than by
	// the new controller, so the tail shown with a failed start is read
	// from the file the controller writes.
	rotateFullLog(logPath, controllerLogLimit())
	// O_NOFOLLOW: the controller's output must never land in a file a
	// symlink at the log's path points to.
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_NOFOLLOW, 0o600)
	if errors.Is(err, unix.ELOOP) {
		return 0, fmt.Errorf("domain log %s is a symlink: lxctl does not write through one (remove it)", logPath)
	}
	if err != nil {
		return 0, fmt.Errorf("domain log: %w", err)
	}
	defer logFile.Close()
	logStart, _ := logFile.Seek(0, io.SeekEnd)
	ctl, err := launch(controllerArgs, logFile, lock)
	if err != nil {
		return 0, err
	}
	defer ctl.report.Close()

	msg, err := readSync(ctl.report, startTimeout, ctl.kill)
	if err != nil || !msg.OK {
		// The controller cleans up after itself before it reports a
		// failure; one that died or hung has to be swept from here.
		if err != nil {
			ctl.kill()
		}
		ctl.wait()
		if err != nil {
			_ = Sweep(l, Target{Name: d.Name, Partitions: []string{live.Resource.Partition}}, "failed")
			return 0, fmt.Errorf("%w%s", err, logTail(logPath, logStart))
		}
		return 0, errors.New(msg.Error)
	}
	// The controller outlives this command; it is not waited for.
	return msg.PID, nil
}

// launched is a controller at work on a start: report carries its verdict.
type launched struct {
	report *os.File
	kill   func()
	wait   func()
}

// LockFDEnv names the environment variable that tells a controller which
// of its fds is its copy of the domain lock.
const LockFDEnv = "LXCTL_LOCK_FD"

// launch hands the start to the controller lxctl's C constructor has
// already booted (package standby), or else re-executes this binary as one
// (a new session, its own mount namespace, stdio to the domain log). Either
// way the controller gets lock (nil: none).
func launch(args []string, logFile *os.File, lock *os.File) (*launched, error) {
	if sb, ok := standby.Take(); ok {
		if err := sb.Send(standby.Request{Args: args, Log: logFile.Name()}, lock); err != nil {
			sb.Conn.Close()
			sb.Kill()
			return nil, err
		}
		return &launched{report: sb.Conn, kill: sb.Abort, wait: sb.Wait}, nil
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// The executable's real path, not /proc/self/exe, so the controller
	// shows up in ps as lxctl.
	exe, err := os.Executable()
	if err != nil {
		syncR.Close()
		syncW.Close()
		return nil, fmt.Errorf("find lxctl's own binary: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = "lxctl"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devNull, logFile, logFile
	cmd.ExtraFiles = []*os.File{syncW}
	cmd.Env = append(os.Environ(), "LXCTL_SYNC_FD=3")
	if lock != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, lock)
		cmd.Env = append(cmd.Env, LockFDEnv+"=4")
	}
	// A session of its own so no terminal signal reaches it; a mount
	// namespace of its own for the host-root bind and libcontainer's work.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Cloneflags: unix.CLONE_NEWNS}
	err = cmd.Start()
	syncW.Close()
	if err != nil {
		syncR.Close()
		return nil, fmt.Errorf("start controller: %w", err)
	}
	return &launched{
		report: syncR,
		kill:   func() { _ = cmd.Process.Kill() },
		wait:   func() { _ = cmd.Wait() },
	}, nil
}

func readSync(r *os.File, timeout time.Duration, kill func()) (*syncMessage, error) {
	if err := r.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		// A report read blocking (a delegate's pipe, container/standby):
		// the deadline is a timer that kills the controller.
		t := time.AfterFunc(timeout, kill)
		defer t.Stop()
	}
	data, err := io.ReadAll(r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, fmt.Errorf("the controller did not report within %s", timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the controller's report: %w", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("the controller exited before reporting")
	}
	var m syncMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("the controller's report is garbled (%q): %w", data, err)
	}
	return &m, nil
}

// logTail returns what the controller wrote to the domain log during this
// start, to show with an error.
func logTail(path string, from int64) string {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, from, 1<<16))
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return ""
	}
	return "\ndomain log " + path + ":\n" + string(bytes.TrimSpace(data))
}
