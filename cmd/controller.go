package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/cgroup"
	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/container/standby"
	"github.com/lxctl/lxctl/state"
)

// controllerCmdName is the hidden command lxctl start re-executes; it is
// not meant to be typed.
const controllerCmdName = state.ControllerCommand

// A controller's main goroutine must run on the main thread, locked there
// from init (the only way Go offers: LockOSThread in an init function).
// libcontainer's mount source thread locks some thread, setns(2)s it into
// the container's mount namespace and returns locked, so that Go kills
// that thread; but Go never kills the main thread, it parks it. Had that
// goroutine landed on the main thread, the controller would hold the
// container's mount namespace, and with it an image root's loop device,
// until it exited: destroy then waited 10 s for the loop and failed.
func init() {
	if isController() {
		runtime.LockOSThread()
	}
}

// isController says whether this process is a controller: lxctl start
// runs one as "lxctl __controller ...", first argument first.
func isController() bool { return len(os.Args) > 1 && os.Args[1] == controllerCmdName }

func newControllerCmd(g *globals) *cobra.Command {
	var opts container.Options
	var standbyMode, delegateMode bool
	c := &cobra.Command{
		Use:    controllerCmdName + " NAME",
		Short:  "Run a domain's controller (started by lxctl start; not for direct use)",
		Hidden: true,
		// With --standby the arguments are those of the lxctl start that
		// made it, there for ps to show.
		Args: func(c *cobra.Command, args []string) error {
			if standbyMode {
				return nil
			}
			return exactArgs("name")(c, args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			if standbyMode && delegateMode {
				return runDelegate(args)
			}
			if standbyMode {
				return runStandby()
			}
			// The controller's stdout and stderr are the domain log.
			logrus.SetOutput(os.Stderr)
			logrus.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02T15:04:05.000000Z07:00", DisableColors: true})
			if g.debug {
				logrus.SetLevel(logrus.DebugLevel)
			}
			var sync *os.File
			if fd, err := strconv.Atoi(os.Getenv("LXCTL_SYNC_FD")); err == nil && fd > 2 {
				// Inherited fds are not close-on-exec; the container's
				// processes must not hold the start command's pipe open.
				syscall.CloseOnExec(fd)
				sync = os.NewFile(uintptr(fd), "sync")
				os.Unsetenv("LXCTL_SYNC_FD")
			}
			// The copy of the domain lock lxctl start handed over: held
			// until setup is reported (container.RunController closes it).
			var lock *os.File
			if fd, err := strconv.Atoi(os.Getenv(container.LockFDEnv)); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
				lock = os.NewFile(uintptr(fd), "domain-lock")
				os.Unsetenv(container.LockFDEnv)
			}
			return container.RunController(g.layout(), args[0], opts, sync, lock)
		},
	}
	opts.PidsLimit = container.DefaultPidsLimit
	c.Flags().Var((*pidsLimitValue)(&opts.PidsLimit), "pids-limit", "most tasks the container may have (-1: no limit)")
	c.Flags().BoolVar(&standbyMode, "standby", false, "wait on fd 3 for lxctl start to hand over a domain")
	c.Flags().BoolVar(&delegateMode, "delegate", false, "with --standby: run the start command ARGS for the CLI waiting on fd 3, on its streams (fds 4-6)")
	return c
}

// runStandby is a controller started by lxctl's C constructor while the
// CLI was booting (container/standby). Once the CLI has checked the domain
// it sends the arguments it would have exec'd a controller with; from then
// on this process is exactly that controller, stdout and stderr on the
// domain log.
func runStandby() error {
	// The grace period the first cgroup move of a start waits for
	// begins now, while the CLI boots (cgroup.WarmMoves).
	go cgroup.WarmMoves()
	req, lockFD, err := standby.Receive(3)
	if errors.Is(err, io.EOF) {
		return nil // the CLI had no domain to start
	}
	if err != nil {
		return err
	}
	if err := logToDomainLog(req.Log); err != nil {
		return err
	}
	if lockFD >= 0 {
		os.Setenv(container.LockFDEnv, strconv.Itoa(lockFD))
	}
	// From here on this is the domain's controller, and its command line
	// must say so: it is how lxctl tells its controllers from any other
	// process (state.Layout.IsController). Should the kernel refuse, exec
	// a controller with that command line instead.
	argv := append([]string{"lxctl"}, req.Args...)
	if err := standby.SetCmdline(argv); err != nil {
		exe, xerr := os.Executable()
		if xerr != nil {
			return fmt.Errorf("%w; and find lxctl's own binary: %w", err, xerr)
		}
		if lockFD >= 0 { // the domain lock goes with it through the exec
			_, _ = unix.FcntlInt(uintptr(lockFD), unix.F_SETFD, 0)
		}
		return fmt.Errorf("%w; exec instead: %w", err, unix.Exec(exe, argv, os.Environ()))
	}
	g := &globals{io: systemIO()}
	root := newControllerRootCmd(g)
	root.SetArgs(req.Args)
	return root.Execute()
}

// logToDomainLog points stdout and stderr at the domain log.
func logToDomainLog(path string) error {
	logFd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("domain log: %w", err)
	}
	defer unix.Close(logFd)
	for _, fd := range []int{1, 2} {
		if err := unix.Dup3(logFd, fd, 0); err != nil {
			return fmt.Errorf("domain log: %w", err)
		}
	}
	return nil
}

// runDelegate is a standby that runs the start command args itself, on
// the streams of the CLI that waits on fd 3 (fds 4-6, see standby.c), and
// then is the domain's controller: the CLI never boots a Go runtime. The
// start runs in a goroutine exactly as in a CLI of its own; where it would
// hand the domain to a standby, it hands it to this process's main
// goroutine, which runs the controller (it must: the controller's main
// goroutine is locked to the main thread, see init above) and reports
// through a pipe the start reads as it would a standby's channel.
func runDelegate(args []string) error {
	// The CLI has begun the grace period the first cgroup move of a
	// start waits for (standby.c's warm_moves), where it found its
	// cgroup.procs at the usual mount points; this begins it from the
	// real mount table where it did not, and costs a move of nothing
	// where it did.
	go cgroup.WarmMoves()
	os.Unsetenv("LXCTL_SYNC_FD")
	for _, fd := range []int{3, 4, 5, 6} {
		// Neither the container nor anything else this process starts
		// may hold the CLI's streams: whoever reads the CLI's output
		// waits for their end.
		syscall.CloseOnExec(fd)
	}
	in, out, errOut := os.NewFile(4, "stdin"), os.NewFile(5, "stdout"), os.NewFile(6, "stderr")
	cli := &IOStreams{In: in, Out: out, ErrOut: errOut}
	standby.Delegate(3)
	// The start's garbage and the controller setup's together outgrow
	// the first heap goal: a collection in the middle of the start, whose
	// bookkeeping the controller would keep resident for good; once set
	// up, the controller is paced by a memory limit (container.idleGC).
	gc := debug.SetGCPercent(-1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		g := &globals{io: cli}
		code := run(g, newStartRootCmd(g), args)
		debug.SetGCPercent(gc)
		// Closed before the CLI exits, so that whoever reads its output
		// sees the end as soon as it has.
		for _, f := range []*os.File{in, out, errOut} {
			_ = f.Close()
		}
		standby.Reply(code)
	}()
	select {
	case <-done: // the start did not get as far as a controller
		return nil
	case h := <-standby.Handoffs():
		err := runHandedOff(h)
		standby.ControllerDone()
		<-done // the start's last words reach the CLI before this exits
		return err
	}
}

// runHandedOff runs the controller of a delegated start in this process.
func runHandedOff(h standby.Handoff) error {
	if err := logToDomainLog(h.Log); err != nil {
		unix.Close(h.Sync) // the start sees the controller gone
		return err
	}
	if h.Lock >= 0 {
		os.Setenv(container.LockFDEnv, strconv.Itoa(h.Lock))
	}
	os.Setenv("LXCTL_SYNC_FD", strconv.Itoa(h.Sync))
	// This process is the domain's controller from here on: its command
	// line must say so (see runStandby). Without that, no controller.
	if err := standby.SetCmdline(append([]string{"lxctl"}, h.Args...)); err != nil {
		unix.Close(h.Sync)
		return err
	}
	g := &globals{io: systemIO()}
	root := newControllerRootCmd(g)
	root.SetArgs(h.Args)
	return root.Execute()
}
