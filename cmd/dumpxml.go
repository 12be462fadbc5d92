package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDumpXMLCmd(g *globals) *cobra.Command {
	var inactive bool
	c := &cobra.Command{
		Use:   "dumpxml NAME",
		Short: "Print a domain's XML (the live config while it runs)",
		Args:  exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := g.lookup(args[0])
			if err != nil {
				return err
			}
			x := d.Config()
			switch {
			case inactive && d.Def != nil:
				x = d.Def
			case d.Active() && d.Live == nil && d.LiveErr != nil:
				// Printing the definition instead would pass off the
				// next start's config as the running one.
				return d.LiveErr
			case d.Live == nil && d.Def == nil:
				return fmt.Errorf("domain '%s' runs but neither its live config nor a definition is readable", d.Name)
			}
			out, err := x.Marshal()
			if err != nil {
				return err
			}
			_, err = g.io.Out.Write(out)
			return err
		},
	}
	c.Flags().BoolVar(&inactive, "inactive", false, "show the persistent definition, not the live config")
	return c
}
