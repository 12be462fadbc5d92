package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/domainxml"
)

func newCreateCmd(g *globals) *cobra.Command {
	opts := &startOptions{}
	var validate bool
	c := &cobra.Command{
		Use:   "create FILE",
		Short: "Start a transient domain from an XML file without defining it",
		Long: `Start a domain from XML without storing a definition: once it stops, it is
gone, as with virsh create.`,
		Example: "  lxctl create vm1.xml",
		Args:    exactArgs("file"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(runCreate(g, args[0], validate, opts), "Failed to create domain from %s", args[0])
		},
	}
	addStartFlags(c, opts)
	c.Flags().BoolVar(&validate, "validate", false, "treat warnings as errors")
	return c
}

func runCreate(g *globals, file string, validate bool, opts *startOptions) error {
	data, err := readInput(g, "domain", file)
	if err != nil {
		return err
	}
	d, err := parseNew(g, data, validate)
	if err != nil {
		return err
	}
	l := g.layout()
	if err := l.EnsureDirs(); err != nil {
		return err
	}
	lk, err := l.LockDomain(d.Name, lockWait)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	existingUUID := ""
	if cur, err := g.inspectLocked(d.Name); err == nil {
		if cur.Active() {
			return fmt.Errorf("domain '%s' is already running (id %d)", d.Name, cur.ID())
		}
		if cur.Def != nil {
			existingUUID = cur.Def.UUID
		}
	}
	if err := g.adoptUUID(d, existingUUID); err != nil {
		return err
	}
	d.SetDefaults(domainxml.HostArch(), emulatorPath())
	if err := g.boot(d, lk, opts); err != nil {
		return err
	}
	fmt.Fprintf(g.io.Out, "Domain '%s' created from %s\n\n", d.Name, file)
	return nil
}
