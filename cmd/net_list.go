package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/network"
)

func newNetListCmd(g *globals) *cobra.Command {
	var all, inactive, name bool
	c := &cobra.Command{
		Use:   "net-list",
		Short: "List networks (active ones; --all for every defined one)",
		Args:  exactArgs(),
		RunE: func(c *cobra.Command, args []string) error {
			l := g.layout()
			names, err := l.ListNetworks()
			if err != nil {
				return err
			}
			var rows [][]string
			for _, n := range names {
				// The host decides: a network is active when its marked
				// bridge exists. What disagrees with it is reported.
				st, err := network.Inspect(l, n)
				if err != nil {
					return err
				}
				if len(st.Problems) > 0 {
					fmt.Fprintf(g.io.ErrOut, "warning: network %s: %s (lxctl net-start %s repairs it, lxctl net-destroy %[1]s removes it)\n", n, st.Describe(), n)
				}
				active := st.Active
				if (active && inactive && !all) || (!active && !all && !inactive) {
					continue
				}
				if name {
					rows = append(rows, []string{n})
					continue
				}
				state, auto := "inactive", "no"
				if active {
					state = "active"
				}
				if l.NetworkAutostart(n) {
					auto = "yes"
				}
				rows = append(rows, []string{n, state, auto, "yes"})
			}
			if name {
				for _, r := range rows {
					g.io.Out.Write([]byte(r[0] + "\n"))
				}
				return nil
			}
			writeTable(g.io.Out, []string{"Name", "State", "Autostart", "Persistent"}, rows, false)
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "list inactive networks too")
	c.Flags().BoolVar(&inactive, "inactive", false, "list inactive networks only")
	c.Flags().BoolVar(&name, "name", false, "list network names only")
	return c
}

func newNetDumpXMLCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "net-dumpxml NAME",
		Short: "Print a network's XML",
		Args:  exactArgs("network"),
		RunE: func(c *cobra.Command, args []string) error {
			l := g.layout()
			if _, err := l.NetworkPath(args[0]); err != nil {
				return err
			}
			data, err := l.LoadNetwork(args[0])
			if err != nil {
				return err
			}
			_, err = g.io.Out.Write(data)
			return err
		},
	}
}
