package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

// The three lookups virsh offers between a domain's name, uuid and id.

func newDomUUIDCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "domuuid NAME",
		Short: "Print a domain's uuid",
		Args:  exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := g.lookup(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(g.io.Out, "%s\n\n", d.UUID())
			return nil
		},
	}
}

func newDomNameCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "domname UUID",
		Short: "Print the name of the domain with a uuid (or id)",
		Args:  exactArgs("uuid"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := g.lookup(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(g.io.Out, "%s\n\n", d.Name)
			return nil
		},
	}
}

func newDomIDCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "domid NAME",
		Short: "Print a running domain's id (its controller's pid)",
		Args:  exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := g.lookup(args[0])
			if err != nil {
				return err
			}
			if !d.Active() {
				fmt.Fprintf(g.io.Out, "-\n\n")
				return nil
			}
			fmt.Fprintf(g.io.Out, "%d\n\n", d.ID())
			return nil
		},
	}
}
