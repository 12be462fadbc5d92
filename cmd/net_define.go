package cmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/network"
	"github.com/lxctl/lxctl/state"
)

// networkCommands are lxctl's libvirt-style network commands: a network is
// a bridge with an address, optional NAT, and a range lxctl hands
// addresses out of (no DHCP daemon).
func networkCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newNetDefineCmd(g),
		newNetUndefineCmd(g),
		newNetStartCmd(g),
		newNetDestroyCmd(g),
		newNetListCmd(g),
		newNetDumpXMLCmd(g),
		newNetAutostartCmd(g),
	}
}

func newNetDefineCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "net-define FILE",
		Short: "Define (but don't start) a network from an XML file ('-' reads stdin)",
		Long: `Store a libvirt <network> definition: <name>, <bridge name>, optional
<forward mode='nat'/>, one IPv4 <ip address netmask> with an optional
<dhcp><range start end/></dhcp>. Redefining replaces the definition; it takes
effect at the next net-start. A document without <uuid> keeps the stored one.`,
		Example: "  lxctl net-define testdata/networks/default.xml && lxctl net-start default",
		Args:    exactArgs("file"),
		RunE: func(c *cobra.Command, args []string) error {
			name, err := runNetDefine(g, args[0])
			if err != nil {
				return failed(err, "Failed to define network from %s", args[0])
			}
			fmt.Fprintf(g.io.Out, "Network %s defined from %s\n", name, args[0])
			return nil
		},
	}
}

func runNetDefine(g *globals, file string) (string, error) {
	data, err := readInput(g, "network", file)
	if err != nil {
		return "", err
	}
	return defineNetwork(g, data)
}

// defineNetwork stores a network document under libvirt's uuid rules and
// returns the network's name.
func defineNetwork(g *globals, data []byte) (string, error) {
	n, err := domainxml.ParseNetwork(data)
	if err != nil {
		return "", err
	}
	l := g.layout()
	if _, err := l.NetworkPath(n.Name); err != nil {
		return "", fmt.Errorf("network name: %w", err)
	}
	lk, err := l.LockNetwork(n.Name, lockWait)
	if err != nil {
		return "", err
	}
	defer lk.Unlock()
	if old, err := loadNetwork(l, n.Name); err == nil {
		switch {
		case n.UUID == "":
			n.UUID = old.UUID
		case n.UUID != old.UUID:
			return "", fmt.Errorf("network '%s' already exists with uuid %s (remove the <uuid>, or net-undefine it first)", n.Name, old.UUID)
		}
	} else if !errors.Is(err, state.ErrNotFound) {
		return "", err
	}
	if n.UUID == "" {
		n.UUID = domainxml.NewUUID()
	}
	out, err := n.Marshal()
	if err != nil {
		return "", err
	}
	return n.Name, l.SaveNetwork(n.Name, out)
}

func loadNetwork(l state.Layout, name string) (*domainxml.Network, error) {
	data, err := l.LoadNetwork(name)
	if err != nil {
		return nil, err
	}
	return domainxml.ParseNetwork(data)
}

func newNetUndefineCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "net-undefine NAME",
		Short: "Remove a network's definition (it must not be active)",
		Args:  exactArgs("network"),
		RunE: func(c *cobra.Command, args []string) error {
			name := args[0]
			if err := network.Undefine(g.layout(), name); err != nil {
				return failed(err, "Failed to undefine network %s", name)
			}
			fmt.Fprintf(g.io.Out, "Network %s has been undefined\n", name)
			return nil
		},
	}
}
