// Package cmd is lxctl's command line: one file per subcommand, flag parsing,
// output formatting and exit codes. It is the only package that prints or
// exits; everything below it returns errors.
package cmd

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/container/standby"
	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// globals holds what every command shares: the global flags, the streams
// and the on-disk layout derived from --root.
type globals struct {
	root    string
	connect string
	debug   bool
	io      *IOStreams
}

// layout is computed on use, after flags are parsed.
func (g *globals) layout() state.Layout { return state.NewLayout(g.root) }

// Execute runs the command line and returns the process exit code.
func Execute() int {
	g := &globals{io: systemIO()}
	if isController() {
		return run(g, newControllerRootCmd(g), nil)
	}
	return run(g, newRootCmd(g), nil)
}

// run runs args (nil: the process's own) with the command tree root.
func run(g *globals, root *cobra.Command, args []string) int {
	if args != nil {
		root.SetArgs(args)
	}
	err := root.Execute()
	// A controller booted in advance for a start that did not need it.
	standby.Release()
	// lxctl enter, and a command run on a remote host, pass their exit
	// status on.
	var es *exitStatus
	if errors.As(err, &es) {
		if es.err != nil {
			printError(g.io, es.err)
		}
		return es.code
	}
	if err != nil {
		if !errors.Is(err, errSilent) {
			printError(g.io, err)
		}
		return 1
	}
	return 0
}

// errSilent makes a command exit 1 without a message: it has already said
// what happened in virsh's words (event: "events received: 0").
var errSilent = errors.New("failed")

// NewCommand returns lxctl's command tree on the process's own streams, for
// tools that generate documentation from it (cmd/mangen).
func NewCommand() *cobra.Command {
	return newRootCmd(&globals{io: systemIO()})
}

// failure is virsh's two-line error: what was attempted, then why.
type failure struct {
	what string
	err  error
}

func (f *failure) Error() string { return f.what + ": " + f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func failed(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &failure{what: fmt.Sprintf(format, args...), err: err}
}

// printError writes err as "error: " lines. Messages echo names, paths and
// values a user passed; anything a terminal would act on is escaped here,
// whatever package the message came from. Newlines separate the lines of
// a message (a joined list, a log tail), so a value that may hold one is
// escaped where the message is made (domainxml.Printable).
func printError(io *IOStreams, err error) {
	var f *failure
	if errors.As(err, &f) {
		fmt.Fprintf(io.ErrOut, "error: %s\n", domainxml.Printable(f.what))
		err = f.err
	}
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(io.ErrOut, "error: %s\n", domainxml.Printable(line))
	}
}

func newRootCmd(g *globals) *cobra.Command {
	root := newBareRootCmd(g)
	root.AddCommand(
		newVersionCmd(g),
		newDefineCmd(g),
		newUndefineCmd(g),
		newListCmd(g),
		newDumpXMLCmd(g),
		newDomInfoCmd(g),
		newDomStateCmd(g),
		newDomUUIDCmd(g),
		newDomNameCmd(g),
		newDomIDCmd(g),
	)
	root.AddCommand(lifecycleCommands(g)...)
	root.AddCommand(networkCommands(g)...) // networking (issue 5): net_*.go
	root.AddCommand(newEditCmd(g), newNetEditCmd(g))
	root.AddCommand(statsCommands(g)...)
	root.AddCommand(tuneCommands(g)...)
	root.AddCommand(newEventCmd(g))
	root.AddCommand(enterCommands(g)...)     // issue 12: enter.go
	root.AddCommand(autostartCommands(g)...) // autostart at boot, shutdown-all (issue 13)
	addCompletions(g, root)
	return root
}

// newControllerRootCmd is the command tree of a controller process: the
// global flags and the hidden controller command, nothing else. The rest
// of the tree (some sixty commands and their flags) would stay on the
// heap of a process that lives as long as its domain.
func newControllerRootCmd(g *globals) *cobra.Command {
	root := newBareRootCmd(g)
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newControllerCmd(g))
	return root
}

// newStartRootCmd is the root a delegate (container/standby) runs lxctl
// start with: the global flags and start, nothing else. The process goes
// on as the domain's controller, and what the start allocated shares its
// heap's spans with what the controller keeps: the whole tree left some
// 300 KB more resident in every controller.
func newStartRootCmd(g *globals) *cobra.Command {
	root := newBareRootCmd(g)
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newStartCmd(g))
	return root
}

// newBareRootCmd is the root command with the global flags, no subcommands.
func newBareRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "lxctl",
		Short: "Run Linux containers described by libvirt domain XML, without a daemon",
		Long: `lxctl runs Linux containers described by libvirt domain XML (<domain type='lxc'>)
the way libvirt's LXC driver does with 'virsh --connect lxc:///', as one static
binary with no daemon: each running container has one small controller process.`,
		Example: `  lxctl define vm1.xml && lxctl start vm1 && lxctl console vm1
  lxctl destroy vm1 && lxctl undefine vm1`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(c *cobra.Command, args []string) error {
			if localOnly(c) {
				return nil
			}
			remote, err := parseConnect(connectURI(c, g.connect))
			if err != nil {
				return err
			}
			if remote != nil {
				// The command runs on the remote host instead of here;
				// its status ends this one (a status of 0 included).
				if err := runRemote(g, remote, c, args); err != nil {
					return err
				}
				return &exitStatus{code: 0}
			}
			if !usesState(c) {
				return nil
			}
			// Records under a root others can write are not lxctl's.
			return g.layout().CheckTrusted()
		},
	}
	root.SetOut(g.io.Out)
	root.SetErr(g.io.ErrOut)
	root.SetIn(g.io.In)

	defRoot := os.Getenv("LXCTL_ROOT")
	pf := root.PersistentFlags()
	pf.StringVar(&g.root, "root", defRoot, "keep all state under `DIR` (default: /var/lib/lxctl, /run/lxctl, /var/log/lxctl; env LXCTL_ROOT)")
	pf.StringVarP(&g.connect, "connect", "c", "lxc:///", "connection `URI`: lxc:///system (this host) or lxc+ssh://[user@]host[:port]/system[?keyfile=PATH&no_verify=1&command=PATH] (env LXCTL_DEFAULT_URI, or LIBVIRT_DEFAULT_URI when it is an lxc URI)")
	pf.BoolVar(&g.debug, "debug", false, "log debug messages to the domain log")
	return root
}

// usesState says whether c reads or writes under the root; version, help
// and completion do not, and work anywhere.
func usesState(c *cobra.Command) bool {
	for ; c != nil; c = c.Parent() {
		switch c.Name() {
		case "version", "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return false
		}
	}
	return true
}

// exactArgs is cobra.ExactArgs with a message that names what is missing.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return fmt.Errorf("%s: missing argument %s (usage: %s)", c.Name(), strings.ToUpper(names[len(args)]), c.UseLine())
		}
		if len(args) > len(names) {
			return fmt.Errorf("%s: unexpected argument %q (usage: %s)", c.Name(), args[len(names)], c.UseLine())
		}
		return nil
	}
}
