package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/console"
	"github.com/lxctl/lxctl/domain"
)

type consoleOptions struct {
	force  bool
	escape string
	replay bool
}

func newConsoleCmd(g *globals) *cobra.Command {
	opts := &consoleOptions{}
	c := &cobra.Command{
		Use:   "console NAME",
		Short: "Attach to a running domain's console (^] detaches)",
		Long: `Connect this terminal to the container's console. ^] (Ctrl + ]) detaches and
leaves the container running. Without a terminal, stdin is sent to the console
and its output printed, so scripts can pipe commands in.`,
		Example: `  lxctl console vm1
  printf 'echo hi\nexit\n' | lxctl console vm1`,
		Args: exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			return runConsole(g, args[0], opts)
		},
	}
	addConsoleFlags(c, opts)
	return c
}

func addConsoleFlags(c *cobra.Command, opts *consoleOptions) {
	c.Flags().BoolVar(&opts.force, "force", false, "take the console over from a client already attached")
	c.Flags().StringVar(&opts.escape, "escape", "^]", "detach key, as ^X")
	c.Flags().BoolVar(&opts.replay, "replay", false, "first print what the console log holds")
}

func runConsole(g *globals, arg string, opts *consoleOptions) error {
	esc, err := console.ParseEscape(opts.escape)
	if err != nil {
		return err
	}
	d, err := g.lookup(arg)
	if err != nil {
		return err
	}
	if !d.Active() {
		return fmt.Errorf("domain '%s' is not running (start it with lxctl start %s)", d.Name, d.Name)
	}
	sock, err := g.host().ConsoleSocket(d)
	if err != nil {
		return err
	}
	if err := g.attach(d.Name, sock, esc, opts); err != nil {
		return err
	}
	// The console ends when the container stops, while its controller
	// still tears it down for a few milliseconds; return once that is
	// over, so that `lxctl console vm1; lxctl start vm1` works and
	// domstate after it says shut off. After a detach the domain runs
	// and this returns at once.
	if d, err = g.host().Inspect(d.Name, domain.Opts{}); err == nil {
		_, err = g.host().SettleShutdown(d, domain.Opts{})
	}
	if errors.Is(err, domain.ErrUnknown) {
		return nil // a transient domain is gone once it stopped
	}
	return err
}

// attach connects to a console socket and relays until detach, the end of
// the domain, or a takeover.
func (g *globals) attach(name, socket string, esc byte, opts *consoleOptions) error {
	if opts.replay {
		if p, err := g.layout().ConsoleLogPath(name); err == nil {
			if err := console.ReadLog(p, g.io.Out); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	in, _ := g.io.InFile()
	raw := g.io.IsInTerminal()
	if raw {
		fmt.Fprintf(g.io.ErrOut, "Connected to domain '%s'\n", name)
		if esc != 0 {
			fmt.Fprintf(g.io.ErrOut, "Escape character is %s\n", console.EscapeHint(esc))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	defer stop()
	res, err := console.Attach(ctx, socket, console.ClientOptions{
		In: in, Reader: g.io.In, Out: g.io.Out, ErrOut: g.io.ErrOut,
		Escape: esc, Force: opts.force, Raw: raw,
	})
	if errors.Is(err, console.ErrInUse) {
		return fmt.Errorf("console for domain '%s' is in use (use --force)", name)
	}
	if errors.Is(err, console.ErrNoServer) {
		// It stopped between the status check and the connect.
		return fmt.Errorf("domain '%s' is not running", name)
	}
	if err != nil {
		return err
	}
	if msg := res.Message(name); msg != "" && raw {
		fmt.Fprintln(g.io.ErrOut, msg)
	}
	return nil
}
