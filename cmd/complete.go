package cmd

import (
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/domain"
	"github.com/lxctl/lxctl/network"
)

// Shell completion of NAME arguments. Every command whose first argument is
// NAME completes domain names (net-* commands: network names), narrowed to
// the domains the command can act on: start offers what is shut off,
// destroy and console what runs. Candidates come from the same inspection
// list uses, so a completion never offers a domain list would not show.

// stateFilter says whether a domain or network in a given virsh state is a
// useful candidate for a command.
type stateFilter func(state string) bool

func anyState(string) bool       { return true }
func activeState(s string) bool  { return s == "running" || s == "paused" }
func shutOffState(s string) bool { return s == "shut off" }

// domainFilters narrow the candidates of commands that only act on domains
// in some states; commands not listed here offer every domain.
var domainFilters = map[string]stateFilter{
	"start":               shutOffState,
	"destroy":             activeState,
	"console":             activeState,
	"shutdown":            activeState,
	"reboot":              activeState,
	"suspend":             func(s string) bool { return s == "running" },
	"resume":              func(s string) bool { return s == "paused" },
	"domid":               activeState,
	"enter":               func(s string) bool { return s == "running" },
	"lxc-enter-namespace": func(s string) bool { return s == "running" },
}

// networkFilters do the same for net-* commands (states active, inactive).
var networkFilters = map[string]stateFilter{
	"net-start":   func(s string) bool { return s == "inactive" },
	"net-destroy": func(s string) bool { return s == "active" },
}

// addCompletions walks the command tree and gives every command that takes
// a NAME (or NETWORK) first argument a completion function.
func addCompletions(g *globals, root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.ValidArgsFunction != nil || c.Hidden {
			continue
		}
		fields := strings.Fields(c.Use)
		if len(fields) < 2 || fields[1] != "NAME" {
			continue
		}
		name := c.Name()
		if strings.HasPrefix(name, "net-") {
			f := networkFilters[name]
			if f == nil {
				f = anyState
			}
			c.ValidArgsFunction = thisHostOnly(g, nameCompleter(func() []named { return networkCandidates(g) }, f))
			continue
		}
		f := domainFilters[name]
		if f == nil {
			f = anyState
		}
		c.ValidArgsFunction = thisHostOnly(g, nameCompleter(func() []named { return domainCandidates(g) }, f))
	}
}

// named is one completion candidate and the state it is in.
type named struct{ name, state string }

func nameCompleter(list func() []named, keep stateFilter) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, n := range list() {
			if keep(n.state) && strings.HasPrefix(n.name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(n.name, n.state))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// domainCandidates are the domains of this root with their states, as
// list --all sees them.
func domainCandidates(g *globals) []named {
	names, _, ctls, err := g.domainNames()
	if err != nil {
		return nil
	}
	sort.Strings(names)
	h := g.host()
	o := domain.Opts{Controllers: ctls}
	doms, _ := inspectAll(names, func(name string) (*domain.Domain, error) { return h.Inspect(name, o) })
	var out []named
	for i, d := range doms {
		if d != nil {
			out = append(out, named{names[i], d.State})
		}
	}
	return out
}

// networkCandidates are the defined networks with "active" or "inactive".
func networkCandidates(g *globals) []named {
	l := g.layout()
	names, _ := l.ListNetworks()
	var out []named
	for _, n := range names {
		st := "inactive"
		if network.Active(l, n) {
			st = "active"
		}
		out = append(out, named{n, st})
	}
	return out
}
