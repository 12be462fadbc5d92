package cmd

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/domain"
	"github.com/lxctl/lxctl/domainxml"
)

type shutdownOptions struct {
	signal  string
	mode    string
	timeout time.Duration
}

func newShutdownCmd(g *globals) *cobra.Command {
	opts := &shutdownOptions{}
	c := &cobra.Command{
		Use:   "shutdown NAME",
		Short: "Ask a domain's init to shut down",
		Long: `Ask the container's init to power off, in the way it understands, and return
(as virsh does; init decides, and may take its time or refuse).

  --mode auto     (default) systemd as init gets SIGRTMIN+4 (poweroff.target);
                  a sysvinit listening on an initctl FIFO (/run/initctl,
                  /dev/initctl) gets a request for runlevel 0; anything else
                  gets SIGTERM
  --mode signal   a signal only: SIGRTMIN+4 for systemd, SIGTERM otherwise
  --mode initctl  the runlevel request only; an error without an initctl FIFO
  --signal SIG    this signal, whatever the init (overrides auto and signal)

Init's end is then handled as any: powered off → on_poweroff. With --timeout,
the domain is destroyed if it has not stopped in time.`,
		Example: "  lxctl shutdown vm1\n  lxctl shutdown vm1 --mode initctl --timeout 30s\n  lxctl shutdown vm1 --signal SIGRTMIN+3",
		Args:    exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(runShutdown(g, args[0], opts, c.Flags().Changed("signal")), "Failed to shutdown domain '%s'", args[0])
		},
	}
	c.Flags().StringVar(&opts.mode, "mode", container.ModeAuto, "how to reach init: auto, signal or initctl")
	c.Flags().StringVar(&opts.signal, "signal", "SIGTERM", "send init this signal (name like SIGTERM, SIGRTMIN+3, or number), whatever its kind")
	_ = c.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{container.ModeAuto, container.ModeSignal, container.ModeInitctl}, cobra.ShellCompDirectiveNoFileComp))
	c.Flags().DurationVar(&opts.timeout, "timeout", 0, "destroy the domain if it is still running after this long (e.g. 30s)")
	return c
}

// stopRequest checks --mode (and --signal, when given) of shutdown or
// reboot and makes the control request, before any domain is looked at.
func stopRequest(op, mode, signal string, signalSet bool) (container.Request, error) {
	req := container.Request{Op: op, Mode: mode}
	modes := "auto, signal or initctl"
	if op == container.OpReboot {
		modes = "auto, signal, initctl or hard"
	}
	switch mode {
	case container.ModeAuto, container.ModeSignal, container.ModeInitctl:
	case container.ModeHard:
		if op != container.OpReboot {
			return req, fmt.Errorf("--mode hard is for reboot only (use %s)", modes)
		}
	case "acpi", "agent", "paravirt":
		return req, fmt.Errorf("--mode %s is not supported for containers (use %s)", mode, modes)
	default:
		return req, fmt.Errorf("unknown --mode '%s' (use %s)", domainxml.Printable(mode), modes)
	}
	if !signalSet {
		return req, nil
	}
	if mode == container.ModeInitctl || mode == container.ModeHard {
		return req, fmt.Errorf("--signal does not go with --mode %s, which sends no signal (drop one of them)", mode)
	}
	sig, err := parseSignal(signal)
	if err != nil {
		return req, err
	}
	req.Mode, req.Signal = container.ModeSignal, int(sig)
	return req, nil
}

// parseSignal accepts SIGTERM, TERM, 15 and SIGRTMIN+N.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return unix.Signal(n), nil
	}
	up := strings.ToUpper(s)
	if !strings.HasPrefix(up, "SIG") {
		up = "SIG" + up
	}
	if rest, ok := strings.CutPrefix(up, "SIGRTMIN"); ok {
		off := 0
		if rest != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(rest, "+"))
			if err != nil || !strings.HasPrefix(rest, "+") {
				return 0, fmt.Errorf("unknown signal '%s' (use e.g. SIGRTMIN+3)", domainxml.Printable(s))
			}
			off = n
		}
		// glibc reserves the first two real-time signals: SIGRTMIN is 34.
		if sig := 34 + off; sig <= 64 {
			return unix.Signal(sig), nil
		}
	}
	if sig := unix.SignalNum(up); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal '%s' (use a name like SIGTERM or a number)", domainxml.Printable(s))
}

func runShutdown(g *globals, arg string, opts *shutdownOptions, signalSet bool) error {
	req, err := stopRequest(container.OpShutdown, opts.mode, opts.signal, signalSet)
	if err != nil {
		return err
	}
	return g.withRunning(arg, func(d *domain.Domain) error {
		if _, err := g.host().Call(d, req); err != nil {
			return err
		}
		fmt.Fprintf(g.io.Out, "Domain '%s' is being shutdown\n", d.Name)
		if opts.timeout <= 0 {
			fmt.Fprintln(g.io.Out)
			return nil
		}
		if container.WaitExit(d.Controller.PID, d.Controller.Start, opts.timeout) {
			fmt.Fprintf(g.io.Out, "Domain '%s' is shut off\n\n", d.Name)
			return nil
		}
		if err := g.destroy(d.Name); err != nil {
			return err
		}
		fmt.Fprintf(g.io.Out, "Domain '%s' destroyed: it did not shut down within %s\n\n", d.Name, opts.timeout)
		return nil
	})
}
