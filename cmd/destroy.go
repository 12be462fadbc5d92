package cmd

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/state"
)

// controlTimeout bounds a control request. Destroy kills painfully, which
// is itself bounded, so this only trips on a wedged controller.
const controlTimeout = 30 * time.Second

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

// withRunning resolves NAME, takes its lock and hands a running domain to f.
func (g *globals) withRunning(arg string, f func(d *domain) error) error {
	return g.withLock(arg, func(name string) error {
		d, err := g.inspectLocked(name)
		if err != nil {
			return err
		}
		if !d.active() {
			return fmt.Errorf("domain '%s' is not running", name)
		}
		return f(d)
	})
}

func runDestroy(g *globals, arg string) error {
	return g.withLock(arg, func(name string) error { return destroyLocked(g, name) })
}

func destroyLocked(g *globals, name string) error {
	l := g.layout()
	// Read the record directly rather than through inspect: when the
	// controller is dead (kill -9), destroy is what the user typed to clean
	// up, and it should do exactly that and say so.
	st, err := l.ReadStatus(name)
	if errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("domain '%s' is not running", name)
	}
	if errors.Is(err, state.ErrCorrupt) {
		// Without a readable record the cgroup path comes from the
		// definition; killing the cgroup also ends a controller that may
		// still run, since its init dies.
		st = &state.Status{Name: name, CgroupPath: "/machine/" + name + ".lxctl"}
		if def, derr := g.loadDefinition(name); derr == nil {
			if p, perr := container.CgroupPath(def); perr == nil {
				st.CgroupPath = p
			}
		}
	} else if err != nil {
		return err
	}
	if err := g.destroy(&domain{Name: name, Status: st}); err != nil {
		return err
	}
	fmt.Fprintf(g.io.Out, "Domain '%s' destroyed\n\n", name)
	return nil
}

// destroy asks the controller to tear the domain down and, if it does not
// answer, does the same from the status record.
func (g *globals) destroy(d *domain) error {
	if !state.Alive(d.Status.ControllerPID, d.Status.ControllerStart) {
		return container.Sweep(g.layout(), d.Status, "destroyed")
	}
	_, err := container.Call(d.Status.ControlSocket, container.Request{Op: container.OpDestroy}, controlTimeout)
	if errors.Is(err, container.ErrNoController) {
		return container.Sweep(g.layout(), d.Status, "destroyed")
	}
	if err != nil {
		return err
	}
	// The controller answers once everything is torn down and then exits;
	// destroy returns when it has, so that nothing of the domain is left
	// running when the user (or a script checking ps) gets the prompt back.
	return state.WaitGone(d.Status.ControllerPID, d.Status.ControllerStart, controlTimeout)
}
