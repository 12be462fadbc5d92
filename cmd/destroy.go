package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/domain"
)

// controlTimeout bounds a control request.
const controlTimeout = domain.ControlTimeout

func newDestroyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "destroy NAME",
		Short: "Stop a domain now: kill every process of the container and clean up",
		Long: `Kill every process in the domain's cgroups (freeze, SIGKILL, thaw, until empty),
remove its cgroups, console and runtime files. Works even when the domain's
controller is gone.`,
		Args: exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(runDestroy(g, args[0]), "Failed to destroy domain '%s'", args[0])
		},
	}
}

func runDestroy(g *globals, arg string) error {
	return g.withLock(arg, func(name string) error { return destroyLocked(g, name) })
}

func destroyLocked(g *globals, name string) error {
	if err := g.destroy(name); err != nil {
		return err
	}
	fmt.Fprintf(g.io.Out, "Domain '%s' destroyed\n\n", name)
	return nil
}

// destroy stops a domain now (package domain decides how), printing where
// its records disagreed with the host; the caller holds its lock.
func (g *globals) destroy(name string) error {
	ws, err := g.host().Destroy(name)
	g.warn(ws)
	return err
}
