package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/network"
)

func newNetStartCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "net-start NAME",
		Short: "Start a defined network: its bridge, address and NAT rule",
		Long: `Start a defined network: its bridge (marked as this network's), its address
and, for NAT, its masquerade chain in nftables table ip lxctl. Either all of it
is made or nothing is left. An active network that lacks something (its chain,
its address) is repaired.`,
		Args: exactArgs("network"),
		RunE: func(c *cobra.Command, args []string) error {
			repaired, err := network.Start(g.layout(), args[0])
			if err != nil {
				return failed(err, "Failed to start network %s", args[0])
			}
			if repaired {
				fmt.Fprintf(g.io.ErrOut, "warning: network %s was active but incomplete: repaired\n", args[0])
			}
			fmt.Fprintf(g.io.Out, "Network %s started\n", args[0])
			return nil
		},
	}
}

func newNetDestroyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "net-destroy NAME",
		Short: "Stop a network: remove its bridge and NAT rule",
		Long: `Stop an active network: its bridge and its masquerade rule go away.
Domains still running on it keep their interfaces but lose their connectivity,
as with virsh.`,
		Args: exactArgs("network"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := network.Stop(g.layout(), args[0]); err != nil {
				return failed(err, "Failed to destroy network %s", args[0])
			}
			fmt.Fprintf(g.io.Out, "Network %s destroyed\n", args[0])
			return nil
		},
	}
}

func newNetAutostartCmd(g *globals) *cobra.Command {
	var disable bool
	c := &cobra.Command{
		Use:   "net-autostart NAME",
		Short: "Start a network when a domain that needs it starts",
		Long: `Mark a network for autostart. lxctl has no daemon, so an autostart network
is started by the first domain start that needs it.`,
		Args: exactArgs("network"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.layout().SetNetworkAutostart(args[0], !disable); err != nil {
				return failed(err, "Failed to mark network %s as autostarted", args[0])
			}
			if disable {
				fmt.Fprintf(g.io.Out, "Network %s unmarked as autostarted\n", args[0])
			} else {
				fmt.Fprintf(g.io.Out, "Network %s marked as autostarted\n", args[0])
			}
			return nil
		},
	}
	c.Flags().BoolVar(&disable, "disable", false, "turn autostart off")
	return c
}
