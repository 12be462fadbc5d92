package cmd

import (
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
			x := d.config()
			if inactive && d.Def != nil {
				x = d.Def
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
