package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/domain"
)

func newRebootCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reboot NAME",
		Short: "Restart a domain in place: a fresh init with the same live config",
		Long: `Kill every process of the container and start init again with the same live
config; the console stays. (libvirt only sends init SIGHUP, which a shell ignores.)`,
		Args: exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(g.control(args[0], container.OpReboot, "Domain '%s' is being rebooted\n\n"), "Failed to reboot domain '%s'", args[0])
		},
	}
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
