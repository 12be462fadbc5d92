package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDomStateCmd(g *globals) *cobra.Command {
	var reason bool
	c := &cobra.Command{
		Use:   "domstate NAME",
		Short: "Print a domain's state (running, paused, shut off)",
		Args:  exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := g.lookup(args[0])
			if err != nil {
				return err
			}
			if reason && d.ReasonDetail != "" {
				fmt.Fprintf(g.io.Out, "%s (%s: %s)\n\n", d.State, d.Reason, d.ReasonDetail)
			} else if reason {
				fmt.Fprintf(g.io.Out, "%s (%s)\n\n", d.State, d.Reason)
			} else {
				fmt.Fprintf(g.io.Out, "%s\n\n", d.State)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&reason, "reason", false, "also print why it is in that state")
	return c
}
