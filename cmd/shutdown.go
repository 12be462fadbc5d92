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
	timeout time.Duration
}

func newShutdownCmd(g *globals) *cobra.Command {
	opts := &shutdownOptions{}
	c := &cobra.Command{
		Use:   "shutdown NAME",
		Short: "Ask a domain's init to shut down (SIGTERM by default)",
		Long: `Send init a signal asking it to shut down, as libvirt's signal mode does. Init
decides: a shell ignores SIGTERM. With --timeout, the domain is destroyed if it
has not stopped in time. systemd as init wants --signal SIGRTMIN+3.`,
		Example: "  lxctl shutdown vm1\n  lxctl shutdown vm1 --signal SIGRTMIN+3 --timeout 30s",
		Args:    exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(runShutdown(g, args[0], opts), "Failed to shutdown domain '%s'", args[0])
		},
	}
	c.Flags().StringVar(&opts.signal, "signal", "SIGTERM", "signal for init (name like SIGTERM, SIGRTMIN+3, or number)")
	c.Flags().DurationVar(&opts.timeout, "timeout", 0, "destroy the domain if it is still running after this long (e.g. 30s)")
	return c
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

func runShutdown(g *globals, arg string, opts *shutdownOptions) error {
	sig, err := parseSignal(opts.signal)
	if err != nil {
		return err
	}
	return g.withRunning(arg, func(d *domain.Domain) error {
		if _, err := g.host().Call(d, container.Request{Op: container.OpShutdown, Signal: int(sig)}); err != nil {
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
