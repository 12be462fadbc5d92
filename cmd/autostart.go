package cmd

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/domain"
	"github.com/lxctl/lxctl/network"
)

// Autostart at boot. libvirtd starts the autostart networks and domains
// when it starts; lxctl has no daemon, so a boot unit runs
// `lxctl autostart-all` once (contrib/systemd/lxctl-autostart.service), and
// `lxctl shutdown-all` when the host goes down, as libvirt-guests does.

// autostartCommands are autostart, autostart-all and shutdown-all.
func autostartCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{newAutostartCmd(g), newAutostartAllCmd(g), newShutdownAllCmd(g)}
}

func newAutostartCmd(g *globals) *cobra.Command {
	var disable bool
	c := &cobra.Command{
		Use:   "autostart NAME",
		Short: "Start a domain at boot (lxctl autostart-all); --disable turns it off",
		Long: `Mark a defined domain to be started when the host boots: lxctl has no daemon,
so the boot unit contrib/systemd/lxctl-autostart.service runs 'lxctl autostart-all',
which starts every autostart network and then every autostart domain. dominfo shows
the mark, list --autostart lists the marked domains, undefine removes the mark.`,
		Example: "  lxctl autostart vm1\n  lxctl autostart --disable vm1",
		Args:    exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			what := "mark domain '%s' as autostarted"
			if disable {
				what = "unmark domain '%s' as autostarted"
			}
			return failed(g.withLock(args[0], func(name string) error {
				if err := g.layout().SetAutostart(name, !disable); err != nil {
					return err
				}
				if disable {
					fmt.Fprintf(g.io.Out, "Domain '%s' unmarked as autostarted\n", name)
				} else {
					fmt.Fprintf(g.io.Out, "Domain '%s' marked as autostarted\n", name)
				}
				return nil
			}), "Failed to "+what, args[0])
		},
	}
	c.Flags().BoolVar(&disable, "disable", false, "turn autostart off")
	return c
}

func newAutostartAllCmd(g *globals) *cobra.Command {
	var parallel int
	opts := &startOptions{}
	c := &cobra.Command{
		Use:   "autostart-all",
		Short: "Start every autostart network, then every autostart domain (run at boot)",
		Long: `What libvirtd does when it starts, for a boot unit to run once: start every
network marked with net-autostart, then every domain marked with autostart, up to
--parallel of them at a time. A domain or network already running is left as it
is. A failure is reported and the others are still started; the exit status is 1
if anything failed.`,
		Example: "  lxctl autostart-all\n  lxctl autostart-all --parallel 8",
		Args:    exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			if parallel < 1 {
				return fmt.Errorf("--parallel %d: give the number of domains to start at a time, 1 or more", parallel)
			}
			return runAutostartAll(g, parallel, opts)
		},
	}
	addStartFlags(c, opts)
	c.Flags().IntVar(&parallel, "parallel", 4, "start at most `N` domains at a time")
	return c
}

// outcome is what one network or domain start of autostart-all produced,
// printed in one piece so that parallel starts do not interleave lines.
type outcome struct {
	out, errOut bytes.Buffer
	failed      bool
}

// bufferedGlobals is g writing into o, for one of several parallel jobs.
func bufferedGlobals(g *globals, out, errOut io.Writer) *globals {
	gx := *g
	gx.io = &IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	return &gx
}

// forEach runs job on every name, at most parallel at a time, and returns
// once all are done.
func forEach(names []string, parallel int, job func(i int, name string)) {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, n := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			job(i, n)
		})
	}
	wg.Wait()
}

func runAutostartAll(g *globals, parallel int, opts *startOptions) error {
	l := g.layout()
	var mu sync.Mutex
	flush := func(o *outcome) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = g.io.Out.Write(o.out.Bytes())
		_, _ = g.io.ErrOut.Write(o.errOut.Bytes())
	}
	failures, total := 0, 0

	// Networks first: a domain on an autostart network would start it
	// itself, but then the network's failure would read as the domain's.
	all, err := l.ListNetworks()
	if err != nil {
		return err
	}
	var nets []string
	for _, n := range all {
		if l.NetworkAutostart(n) {
			nets = append(nets, n)
		}
	}
	results := make([]*outcome, len(nets))
	forEach(nets, parallel, func(i int, name string) {
		o := &outcome{}
		results[i] = o
		defer flush(o)
		if network.Active(l, name) {
			// Left alone: its bridge carries the domains on it. One that
			// lacks a part is repaired by the next domain start needing it.
			fmt.Fprintf(&o.out, "Network %s is already active\n", name)
			return
		}
		if _, err := network.Start(l, name); err != nil {
			o.failed = true
			printError(&IOStreams{ErrOut: &o.errOut}, failed(err, "Failed to autostart network %s", name))
			return
		}
		fmt.Fprintf(&o.out, "Network %s started\n", name)
	})
	for _, o := range results {
		total++
		if o.failed {
			failures++
		}
	}

	doms, err := l.ListAutostart()
	if err != nil {
		return err
	}
	results = make([]*outcome, len(doms))
	forEach(doms, parallel, func(i int, name string) {
		o := &outcome{}
		results[i] = o
		defer flush(o)
		gx := bufferedGlobals(g, &o.out, &o.errOut)
		if d, err := gx.host().Inspect(name, domain.Opts{}); err == nil && d.Active() {
			fmt.Fprintf(&o.out, "Domain '%s' is already running\n", name)
			return
		}
		if err := runStart(gx, name, opts); err != nil {
			o.failed = true
			printError(gx.io, failed(err, "Failed to autostart domain '%s'", name))
		}
	})
	for _, o := range results {
		total++
		if o.failed {
			failures++
		}
	}
	if failures > 0 {
		return fmt.Errorf("%d of %d autostart networks and domains failed to start (see above)", failures, total)
	}
	return nil
}

func newShutdownAllCmd(g *globals) *cobra.Command {
	timeout := seconds(120 * time.Second)
	opts := &shutdownOptions{}
	var signalSet bool
	c := &cobra.Command{
		Use:   "shutdown-all",
		Short: "Shut every running domain down, destroying those still up after --timeout (run at host shutdown)",
		Long: `What libvirt-guests does when the host goes down: ask every running domain of
this root to shut down, all at once, as lxctl shutdown does (--mode, --signal; a
paused domain is resumed first so that its init can act), wait up to --timeout
for them, then destroy those still running, so that no container is simply
killed with the host. Transient domains are shut down too. The exit status is 1
if any domain could not be stopped.`,
		Example: "  lxctl shutdown-all\n  lxctl shutdown-all --timeout 300\n  lxctl shutdown-all --signal SIGPWR",
		Args:    exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return fmt.Errorf("--timeout %s: give how long to wait before destroying, more than 0 (seconds, or like 2m)", time.Duration(timeout))
			}
			signalSet = c.Flags().Changed("signal")
			// Bad --mode or --signal: said once, before any domain is asked.
			if _, err := stopRequest(container.OpShutdown, opts.mode, opts.signal, signalSet); err != nil {
				return err
			}
			opts.timeout = time.Duration(timeout)
			return runShutdownAll(g, opts, signalSet)
		},
	}
	c.Flags().Var(&timeout, "timeout", "destroy the domains still running after this long (`SECONDS`, or a duration like 2m)")
	c.Flags().StringVar(&opts.mode, "mode", container.ModeAuto, "how to reach each init: auto, signal or initctl (see lxctl shutdown)")
	c.Flags().StringVar(&opts.signal, "signal", "SIGTERM", "send each init this signal (name like SIGTERM, SIGRTMIN+3, or number), whatever its kind")
	return c
}

// seconds is a duration flag that also takes a bare number of seconds, as
// libvirt-guests' SHUTDOWN_TIMEOUT does.
type seconds time.Duration

func (s *seconds) Set(v string) error {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		*s = seconds(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("use a number of seconds or a duration like 90s or 2m")
	}
	*s = seconds(d)
	return nil
}

func (s *seconds) String() string { return time.Duration(*s).String() }
func (s *seconds) Type() string   { return "duration" }

// runningDomains are the domains of this root that run now, found as list
// finds them: definitions, runtime dirs and the controllers on the host.
func runningDomains(g *globals) ([]string, error) {
	l := g.layout()
	defined, err := l.ListDefinitions()
	if err != nil {
		return nil, err
	}
	dirs, err := l.ListRunDirs()
	if err != nil {
		return nil, err
	}
	ctls, err := l.FindControllers()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range defined {
		add(n)
	}
	for _, n := range dirs {
		add(n)
	}
	for n := range ctls {
		add(n)
	}
	h := g.host()
	doms, _ := inspectAll(names, func(name string) (*domain.Domain, error) {
		return h.Inspect(name, domain.Opts{Controllers: ctls})
	})
	var running []string
	for i, d := range doms {
		if d != nil && d.Active() {
			running = append(running, names[i])
		}
	}
	return running, nil
}

func runShutdownAll(g *globals, opts *shutdownOptions, signalSet bool) error {
	names, err := runningDomains(g)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	out := &lockedWriter{mu: &mu, w: g.io.Out}
	errOut := &lockedWriter{mu: &mu, w: g.io.ErrOut}
	failures := 0
	// All at once, not a few at a time: each waits on its own domain, and
	// the timeout is meant for all of them together.
	forEach(names, max(len(names), 1), func(_ int, name string) {
		gx := bufferedGlobals(g, out, errOut)
		err := gx.withRunning(name, func(d *domain.Domain) error {
			if d.State != "paused" {
				return nil
			}
			// A frozen init cannot act on the signal.
			if _, err := gx.host().Call(d, container.Request{Op: container.OpResume}); err != nil {
				return fmt.Errorf("resume it so it can shut down: %w", err)
			}
			fmt.Fprintf(out, "Domain '%s' resumed to shut down\n", d.Name)
			return nil
		})
		if err == nil {
			err = runShutdown(gx, name, opts, signalSet)
		}
		if err != nil && !isNotRunning(err) {
			var b bytes.Buffer
			printError(&IOStreams{ErrOut: &b}, failed(err, "Failed to shutdown domain '%s'", name))
			_, _ = errOut.Write(b.Bytes())
			mu.Lock()
			failures++
			mu.Unlock()
		}
	})
	if failures > 0 {
		return fmt.Errorf("%d of %d running domains could not be stopped (see above)", failures, len(names))
	}
	return nil
}

// isNotRunning says whether err means the domain stopped (or went away)
// on its own before shutdown-all got to it: nothing left to do.
func isNotRunning(err error) bool {
	return isNoDomain(err) || strings.Contains(err.Error(), "is not running")
}

// lockedWriter makes each Write whole with respect to the others sharing
// its mutex: the lines of domains shutting down in parallel do not mix.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
