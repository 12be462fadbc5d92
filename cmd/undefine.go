package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/state"
)

func newUndefineCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "undefine NAME",
		Short: "Remove a domain's persistent definition",
		Long: `Remove the persistent definition of a domain. A running domain keeps running
as a transient one and disappears once it stops, as with virsh.`,
		Args: exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(runUndefine(g, args[0]), "Failed to undefine domain '%s'", args[0])
		},
	}
}

func runUndefine(g *globals, arg string) error {
	return g.withLock(arg, func(name string) error { return undefineLocked(g, name) })
}

func undefineLocked(g *globals, name string) error {
	l := g.layout()
	d, err := g.inspectLocked(name)
	if err != nil {
		return err
	}
	if d.Def == nil {
		return fmt.Errorf("domain '%s' is transient: it has no persistent definition (stop it with lxctl destroy)", name)
	}
	if err := l.RemoveDefinition(name); err != nil {
		return err
	}
	g.event(state.Event{Domain: name, UUID: d.UUID(), Type: "lifecycle", Event: "Undefined", Detail: "Removed"})
	// A running domain is persistent exactly while its definition file
	// exists, so removing the file is what makes it transient.
	if !d.Active() {
		_ = l.RemoveExit(name)
	}
	fmt.Fprintf(g.io.Out, "Domain '%s' has been undefined\n", name)
	return nil
}
