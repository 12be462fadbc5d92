package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/domain"
)

func newRebootCmd(g *globals) *cobra.Command {
	var mode, signal string
	c := &cobra.Command{
		Use:   "reboot NAME",
		Short: "Ask a domain's init to reboot, or restart it in place (--mode hard)",
		Long: `Ask the container's init to reboot, in the way it understands, and return
(as virsh does). When init ends by rebooting, the domain's on_reboot applies
(default: a fresh init with the same live config; the console stays).

  --mode auto     (default) systemd as init gets SIGRTMIN+5 (reboot.target);
                  a sysvinit listening on an initctl FIFO (/run/initctl,
                  /dev/initctl) gets a request for runlevel 6; anything else
                  gets SIGHUP
  --mode signal   a signal only: SIGRTMIN+5 for systemd, SIGHUP otherwise
  --mode initctl  the runlevel request only; an error without an initctl FIFO
  --mode hard     lxctl's own: kill every process of the container and start
                  a fresh init with the same live config now, whatever init
                  thinks (a shell init ignores SIGHUP); returns once it runs
  --signal SIG    this signal, whatever the init`,
		Example: "  lxctl reboot vm1\n  lxctl reboot vm1 --mode hard",
		Args:    exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			req, err := stopRequest(container.OpReboot, mode, signal, c.Flags().Changed("signal"))
			if err == nil {
				err = g.withRunning(args[0], func(d *domain.Domain) error {
					if _, err := g.host().Call(d, req); err != nil {
						return err
					}
					fmt.Fprintf(g.io.Out, "Domain '%s' is being rebooted\n\n", d.Name)
					return nil
				})
			}
			return failed(err, "Failed to reboot domain '%s'", args[0])
		},
	}
	c.Flags().StringVar(&mode, "mode", container.ModeAuto, "how to reach init: auto, signal, initctl, or hard (a fresh init now)")
	_ = c.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{container.ModeAuto, container.ModeSignal, container.ModeInitctl, container.ModeHard}, cobra.ShellCompDirectiveNoFileComp))
	c.Flags().StringVar(&signal, "signal", "SIGHUP", "send init this signal (name like SIGHUP, SIGRTMIN+5, or number), whatever its kind")
	return c
}

func newSuspendCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "suspend NAME",
		Short: "Freeze every process of a domain",
		Args:  exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(g.control(args[0], container.OpSuspend, "Domain '%s' suspended\n\n"), "Failed to suspend domain '%s'", args[0])
		},
	}
}

func newResumeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume NAME",
		Short: "Thaw a suspended domain",
		Args:  exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(g.control(args[0], container.OpResume, "Domain '%s' resumed\n\n"), "Failed to resume domain '%s'", args[0])
		},
	}
}

// control sends one request to a running domain's controller and prints
// done (a format with the name) when it succeeds.
func (g *globals) control(arg, op, done string) error {
	return g.withRunning(arg, func(d *domain.Domain) error {
		if _, err := g.host().Call(d, container.Request{Op: op}); err != nil {
			return err
		}
		fmt.Fprintf(g.io.Out, done, d.Name)
		return nil
	})
}
