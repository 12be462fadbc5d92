package cmd

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/container/standby"
	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/network"
	"github.com/lxctl/lxctl/state"
)

type startOptions struct {
	pidsLimit int64
	console   bool
	cons      consoleOptions
}

func newStartCmd(g *globals) *cobra.Command {
	opts := &startOptions{}
	c := &cobra.Command{
		Use:   "start NAME",
		Short: "Start a defined domain",
		Long: `Start a defined domain: a detached controller process takes charge of the
container's init, console and cgroups, and the command returns once init runs.`,
		Example: "  lxctl start vm1\n  lxctl start --console vm1   # and attach to its console",
		Args:    exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := failed(runStart(g, args[0], opts), "Failed to start domain '%s'", args[0]); err != nil {
				return err
			}
			if opts.console {
				return runConsole(g, args[0], &opts.cons)
			}
			return nil
		},
	}
	addStartFlags(c, opts)
	c.Flags().BoolVar(&opts.console, "console", false, "attach to the console once started")
	c.Flags().StringVar(&opts.cons.escape, "escape", "^]", "detach key for --console, as ^X")
	return c
}

func addStartFlags(c *cobra.Command, opts *startOptions) {
	opts.pidsLimit = container.DefaultPidsLimit
	c.Flags().Var((*pidsLimitValue)(&opts.pidsLimit), "pids-limit", "most tasks the container may have (-1: no limit, as libvirt)")
}

// pidsLimitValue is --pids-limit: -1 (no limit) or a positive number of
// tasks. It is checked as the flag is parsed, so a bad value stops the
// command before it touches anything; 0 or -5 used to mean "no limit" or
// "the default" by accident of how the cgroup setup read them.
type pidsLimitValue int64

func (p *pidsLimitValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || (n != -1 && n < 1) {
		// pflag's message already names the flag and quotes the value.
		return fmt.Errorf("use -1 for no limit or a positive number of tasks (default %d)", container.DefaultPidsLimit)
	}
	*p = pidsLimitValue(n)
	return nil
}

func (p *pidsLimitValue) String() string { return strconv.FormatInt(int64(*p), 10) }
func (p *pidsLimitValue) Type() string   { return "int" }

func runStart(g *globals, arg string, opts *startOptions) error {
	name, err := g.host().Resolve(arg)
	if err != nil {
		return err
	}
	lk, err := lockStart(g, name)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	return startLocked(g, name, lk, opts)
}

var errStartGone = errors.New("the lxctl start command went away")

// lockStart takes the domain's lock for a start. A start run by a delegate
// (container/standby) whose lxctl start was killed before the domain was
// locked, or while it waited for the lock, does not happen, as when the
// CLI runs it itself; once the lock is taken the start goes through.
func lockStart(g *globals, name string) (*state.Lock, error) {
	if !standby.Delegating() {
		return g.host().Lock(name)
	}
	if standby.CallerGone() {
		return nil, errStartGone
	}
	lk, err := g.layout().LockDomain(name, 0)
	if !errors.Is(err, state.ErrLocked) {
		return lk, err
	}
	if lk, err = g.host().Lock(name); err == nil && standby.CallerGone() {
		lk.Unlock()
		return nil, errStartGone
	}
	return lk, err
}

func startLocked(g *globals, name string, lk *state.Lock, opts *startOptions) error {
	d, err := g.inspectLocked(name)
	if err != nil {
		return err
	}
	// A domain whose init has just exited is still being torn down by
	// its controller for a few milliseconds: `lxctl console vm1; lxctl
	// start vm1` must not be told it runs.
	if d, err = g.host().SettleShutdown(d, lockedOpts); err != nil {
		return err
	}
	if d.Active() {
		return fmt.Errorf("domain '%s' is already running (id %d)", name, d.ID())
	}
	if err := g.boot(d.Def, lk, opts); err != nil {
		return err
	}
	fmt.Fprintf(g.io.Out, "Domain '%s' started\n\n", name)
	return nil
}

// boot starts a domain from a config; the caller holds its lock, lk. The
// controller gets a copy of the lock and keeps it until it has reported
// the end of its setup or died, so the domain stays locked through setup
// even when this command is killed (kill -9) while it waits.
func (g *globals) boot(def *domainxml.Domain, lk *state.Lock, opts *startOptions) error {
	l := g.layout()
	// As libvirt's packaging ships it, network 'default' exists: the
	// first domain that needs it defines and starts the built-in one.
	if network.UsesDefault(def) {
		n, err := network.EnsureDefault(l)
		if err != nil {
			return err
		}
		if n != nil {
			fmt.Fprintf(g.io.ErrOut, "lxctl: defined and started the built-in network 'default' (bridge %s, %s, NAT)\n", n.Bridge, n.IP.Prefix)
		}
	}
	flags := []string{"--pids-limit", strconv.FormatInt(opts.pidsLimit, 10)}
	if g.debug {
		flags = append(flags, "--debug")
	}
	// The controller's command line is its identity (root and name):
	// state.Layout.IsController checks it before anything signals it.
	_, err := container.Start(l, def, l.ControllerArgs(def.Name, flags...), lk.File())
	return err
}
