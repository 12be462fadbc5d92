package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/lxctl/lxctl/console"
	"github.com/lxctl/lxctl/container"
)

type enterOptions struct {
	tty, noTTY bool
	user       string
	workdir    string
	env        []string
	noSeclabel bool // lxc-enter-namespace: accepted, lxctl has no security labels
}

// defaultShell is what enter runs without a command.
const defaultShell = "/bin/sh"

// exitStatus is an error that sets lxctl's exit status: enter passes on its
// command's. err, when set, is printed first.
type exitStatus struct {
	code int
	err  error
}

func (e *exitStatus) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func enterCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{newEnterCmd(g, false), newEnterCmd(g, true)}
}

func newEnterCmd(g *globals, virsh bool) *cobra.Command {
	opts := &enterOptions{}
	c := &cobra.Command{
		Use:   "enter NAME [--] [CMD [ARG...]]",
		Short: "Run a command (default /bin/sh) inside a running domain",
		Long: `Run CMD as a process of the running container: in all its namespaces (its user
namespace too), its cgroups, its root, with its capability bounding set and
environment. Without CMD: /bin/sh. lxctl exits with CMD's exit status (128+N
when a signal N killed it, 127 when CMD is not found, 126 when it is not
executable).

When stdin and stdout are terminals, CMD gets a new terminal of the container's
own (raw mode here, window size passed on); otherwise it gets lxctl's stdin,
stdout and stderr. -t and -T force either. Options go before NAME or right
after it; put -- before a CMD whose arguments start with '-'.`,
		Example: `  lxctl enter vm1
  lxctl enter vm1 -- ps -ef
  lxctl enter -u nobody -w /tmp -e LANG=C.UTF-8 vm1 -- id
  printf 'echo hi\n' | lxctl enter vm1`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("%s: missing argument NAME (usage: %s)", c.Name(), c.UseLine())
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return runEnter(g, c, args, opts, virsh)
		},
	}
	if virsh {
		c.Use = "lxc-enter-namespace NAME [--noseclabel] [--] CMD [ARG...]"
		c.Short = "Run a command inside a running domain (virsh's name for enter)"
		c.Long = "The same as lxctl enter, under virsh's name, for scripts written for virsh.\n" +
			"Unlike virsh, which turns every failure of CMD into exit status 1, lxctl\n" +
			"passes CMD's exit status on. --noseclabel is accepted (lxctl sets no\n" +
			"security labels)."
		c.Example = "  lxctl lxc-enter-namespace vm1 --noseclabel -- /bin/ps -ef"
		c.Flags().BoolVar(&opts.noSeclabel, "noseclabel", false, "accepted for virsh compatibility (lxctl sets no security labels)")
	}
	// Everything after NAME belongs to CMD, flags included, so
	// "lxctl enter vm1 ls -l" works; runEnter still reads lxctl's own
	// options given right after NAME.
	c.Flags().SetInterspersed(false)
	f := c.Flags()
	f.BoolVarP(&opts.tty, "tty", "t", false, "give CMD a terminal even when stdin is not one")
	f.BoolVarP(&opts.noTTY, "no-tty", "T", false, "give CMD lxctl's stdin, stdout and stderr, never a terminal")
	f.StringVarP(&opts.user, "user", "u", "", "run as `USER[:GROUP]` (names from the container's /etc/passwd and /etc/group, or numbers; default root)")
	f.StringVarP(&opts.workdir, "workdir", "w", "", "working `DIR` in the container (default: the domain's <initdir>, or /)")
	f.StringArrayVarP(&opts.env, "env", "e", nil, "set `KEY=VALUE` in CMD's environment (repeatable)")
	return c
}

// splitEnterArgs separates NAME, lxctl's options written after it and CMD.
func splitEnterArgs(c *cobra.Command, args []string) (name string, cmdArgs []string, err error) {
	name, rest := args[0], args[1:]
	if len(rest) > 0 && strings.HasPrefix(rest[0], "-") && rest[0] != "-" {
		// Options right after NAME: parse them up to the first argument
		// that is not one, or up to --, which is dropped.
		if err := c.Flags().Parse(rest); err != nil {
			return "", nil, fmt.Errorf("%s: %w (put the command after --: lxctl %s NAME -- CMD ...)", c.Name(), err, c.Name())
		}
		rest = c.Flags().Args()
	}
	return name, rest, nil
}

func runEnter(g *globals, c *cobra.Command, args []string, opts *enterOptions, virsh bool) error {
	name, cmdArgs, err := splitEnterArgs(c, args)
	if err != nil {
		return err
	}
	if len(cmdArgs) == 0 {
		if virsh {
			return fmt.Errorf("%s: missing argument CMD (usage: %s)", c.Name(), c.UseLine())
		}
		cmdArgs = []string{defaultShell}
	}
	if opts.tty && opts.noTTY {
		return errors.New("-t/--tty and -T/--no-tty contradict each other: give one")
	}
	for _, kv := range opts.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("-e '%s': give KEY=VALUE", kv)
		}
	}
	if opts.workdir != "" && !strings.HasPrefix(opts.workdir, "/") {
		return fmt.Errorf("-w '%s': the working directory must be an absolute path in the container", opts.workdir)
	}
	in, inIsFile := g.io.InFile()
	inTerm := inIsFile && term.IsTerminal(int(in.Fd()))
	outTerm := false
	if f, ok := g.io.Out.(*os.File); ok {
		outTerm = term.IsTerminal(int(f.Fd()))
	}
	useTTY := opts.tty || (!opts.noTTY && inTerm && outTerm)
	xo := container.ExecOptions{Args: cmdArgs, Env: opts.env, User: opts.user, Cwd: opts.workdir, TTY: useTTY}
	if useTTY && inTerm {
		if ws, err := unix.IoctlGetWinsize(int(in.Fd()), unix.TIOCGWINSZ); err == nil {
			xo.Rows, xo.Cols = ws.Row, ws.Col
		}
	}
	var stdio *stdioFiles
	if !useTTY {
		if stdio, err = newStdioFiles(g.io); err != nil {
			return err
		}
		defer stdio.close()
		xo.Stdin, xo.Stdout, xo.Stderr = stdio.in, stdio.out, stdio.errOut
	}
	// Signals arriving from now on are passed on to the process once it
	// runs. With a terminal, what the user types (^C, ^\, ^Z) goes through
	// the pty and its line discipline instead.
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	defer signal.Stop(sigc)

	x, err := startEnter(g, name, xo)
	if stdio != nil {
		stdio.sent() // the controller has the process's copies
	}
	if err != nil {
		var ce *container.CommandError
		if errors.As(err, &ce) {
			return &exitStatus{code: ce.Status, err: err}
		}
		return err
	}
	var local *console.Local
	if useTTY {
		local, err = console.StartLocal(x.Master, console.LocalOptions{In: in, Out: g.io.Out, ErrOut: g.io.ErrOut, Raw: inTerm})
		if err != nil {
			_ = x.Signal(unix.SIGKILL)
			_, _ = x.Wait()
			return err
		}
		// On every way out, the terminal is restored.
		defer local.Finish()
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigc:
				_ = x.Signal(sig.(unix.Signal))
			case <-done:
				return
			}
		}
	}()
	ws, err := x.Wait()
	close(done)
	if local != nil {
		local.Finish()
	}
	if stdio != nil {
		stdio.wait()
	}
	if err != nil {
		return fmt.Errorf("'%s' in domain '%s': %w", cmdArgs[0], name, err)
	}
	switch {
	case ws.Signaled():
		return &exitStatus{code: 128 + int(ws.Signal())}
	case ws.ExitStatus() != 0:
		return &exitStatus{code: ws.ExitStatus()}
	}
	return nil
}

// startEnter checks the domain and has its controller start the process.
// The controller runs requests one at a time in its event loop, so no
// suspend, destroy or reboot lands between its checks and the start.
func startEnter(g *globals, arg string, xo container.ExecOptions) (*container.Exec, error) {
	d, err := g.lookup(arg)
	if err != nil {
		return nil, err
	}
	if !d.Active() {
		return nil, notRunningError(d.Name)
	}
	if d.State == "paused" {
		return nil, pausedError(d.Name)
	}
	x, err := container.StartExec(g.layout(), d.Name, xo)
	switch {
	case errors.Is(err, container.ErrPaused):
		return nil, pausedError(d.Name)
	case errors.Is(err, container.ErrNotRunning):
		return nil, notRunningError(d.Name)
	case err != nil:
		var ce *container.CommandError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, fmt.Errorf("domain '%s': %w", d.Name, err)
	}
	return x, nil
}

func notRunningError(name string) error {
	return fmt.Errorf("domain '%s' is not running (start it with lxctl start %s)", name, name)
}

func pausedError(name string) error {
	return fmt.Errorf("domain '%s' is paused: resume it first with lxctl resume %s", name, name)
}

// stdioFiles are the streams handed to the process without a terminal.
// The controller gets them as file descriptors, so lxctl's own stdin,
// stdout and stderr are passed on as they are: the process reads the
// pipe or file itself and sees its end. Streams that are not files (a
// test's buffers) go through pipes copied here.
type stdioFiles struct {
	in, out, errOut *os.File
	mine            []*os.File // pipe ends passed on, closed once sent
	copies          sync.WaitGroup
}

func newStdioFiles(s *IOStreams) (*stdioFiles, error) {
	f := &stdioFiles{}
	if file, ok := s.In.(*os.File); ok {
		f.in = file
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		f.in, f.mine = r, append(f.mine, r)
		go func() { _, _ = io.Copy(w, s.In); w.Close() }()
	}
	for _, p := range []struct {
		w   io.Writer
		dst **os.File
	}{{s.Out, &f.out}, {s.ErrOut, &f.errOut}} {
		if file, ok := p.w.(*os.File); ok {
			*p.dst = file
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			f.sent()
			return nil, err
		}
		*p.dst, f.mine = w, append(f.mine, w)
		f.copies.Add(1)
		go func(dst io.Writer) { defer f.copies.Done(); _, _ = io.Copy(dst, r); r.Close() }(p.w)
	}
	return f, nil
}

// sent closes this process's ends of the pipes passed on.
func (f *stdioFiles) sent() {
	for _, m := range f.mine {
		m.Close()
	}
	f.mine = nil
}

// wait waits for the output copied through pipes.
func (f *stdioFiles) wait() { f.copies.Wait() }

func (f *stdioFiles) close() { f.sent() }
