package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/state"
)

// eventTypes are the domain events lxctl records (virsh event --list).
var eventTypes = []string{"lifecycle", "reboot"}

type eventOptions struct {
	domain, event     string
	all, loop, list   bool
	timestamp, asJSON bool
	timeout           int
}

func newEventCmd(g *globals) *cobra.Command {
	o := &eventOptions{}
	c := &cobra.Command{
		Use:   "event [NAME]",
		Short: "Wait for domain events and print them (one, or all with --loop)",
		Long: `Print domain events as virsh does ("event 'lifecycle' for domain 'vm1': Started
Booted") as they happen: the first one, or every one with --loop, of one domain
or of all. lxctl has no daemon: commands and controllers record each event under
the root as it happens, and event follows that record (inotify, no polling).
Events: Defined Added/Updated, Undefined Removed, Started Booted, Suspended
Paused, Resumed Unpaused, Stopped Shutdown/Destroyed/Crashed/Failed, reboot.
Exit status 1 when no event came (--timeout).`,
		Example: "  lxctl event vm1 --timeout 60        # wait up to a minute for vm1's next event\n  lxctl event --all --loop --timestamp",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				if o.domain != "" && o.domain != args[0] {
					return fmt.Errorf("event: NAME %q and --domain %q disagree (give one)", args[0], o.domain)
				}
				o.domain = args[0]
			}
			return runEvent(g, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.domain, "domain", "", "only this domain's events (name or uuid)")
	f.StringVar(&o.event, "event", "", "only this event type: lifecycle or reboot")
	f.BoolVar(&o.all, "all", false, "every event type (the default without --event)")
	f.BoolVar(&o.loop, "loop", false, "keep printing events until interrupted or --timeout")
	f.IntVar(&o.timeout, "timeout", 0, "stop after `SECONDS`")
	f.BoolVar(&o.timestamp, "timestamp", false, "prefix each event with the time it happened")
	f.BoolVar(&o.asJSON, "json", false, "print each event as a JSON object on one line")
	f.BoolVar(&o.list, "list", false, "list the event types and exit")
	return c
}

func runEvent(g *globals, o *eventOptions) error {
	if o.list {
		for _, t := range eventTypes {
			fmt.Fprintln(g.io.Out, t)
		}
		return nil
	}
	if o.event != "" {
		if o.all {
			return errors.New("event: --event and --all cannot be combined")
		}
		known := false
		for _, t := range eventTypes {
			known = known || t == o.event
		}
		if !known {
			return fmt.Errorf("event: unknown event type %q (use lifecycle or reboot; lxctl event --list)", o.event)
		}
	}
	if o.timeout < 0 {
		return fmt.Errorf("event: --timeout %d is negative (give seconds, or leave it out to wait for ever)", o.timeout)
	}
	name, uuid := "", ""
	if o.domain != "" {
		d, err := g.lookup(o.domain)
		if err != nil {
			return err
		}
		name, uuid = d.Name, d.UUID()
	}
	l := g.layout()
	if err := l.EnsureDirs(); err != nil {
		return err
	}
	f, err := l.FollowEvents()
	if err != nil {
		return err
	}
	defer f.Close()
	var deadline time.Time
	if o.timeout > 0 {
		deadline = time.Now().Add(time.Duration(o.timeout) * time.Second)
	}
	// Interrupted (^C): virsh's words and the count, as when it times out.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	type next struct {
		e   *state.Event
		err error
	}
	count := 0
	for {
		ch := make(chan next, 1)
		go func() { e, err := f.Next(deadline); ch <- next{e, err} }()
		var n next
		select {
		case <-stop:
			fmt.Fprintln(g.io.Out, "event loop interrupted")
			fmt.Fprintf(g.io.Out, "events received: %d\n", count)
			return errIfNone(count)
		case n = <-ch:
		}
		if errors.Is(n.err, state.ErrTimeout) {
			fmt.Fprintln(g.io.Out, "event loop timed out")
			fmt.Fprintf(g.io.Out, "events received: %d\n", count)
			return errIfNone(count)
		}
		if n.err != nil {
			return n.err
		}
		e := n.e
		if (name != "" && e.Domain != name && (uuid == "" || e.UUID != uuid)) || (o.event != "" && e.Type != o.event) {
			continue
		}
		count++
		printEvent(g, e, o)
		if !o.loop {
			fmt.Fprintf(g.io.Out, "events received: %d\n", count)
			return nil
		}
	}
}

// event records an event a command caused. The change it describes has
// happened; a log that cannot be written is a warning, not a failure.
func (g *globals) event(e state.Event) {
	if err := g.layout().AppendEvent(e); err != nil {
		fmt.Fprintf(g.io.ErrOut, "warning: event log: %v\n", err)
	}
}

// errIfNone is virsh's exit status for an event command: failure when it
// saw nothing.
func errIfNone(count int) error {
	if count == 0 {
		return errSilent
	}
	return nil
}

func printEvent(g *globals, e *state.Event, o *eventOptions) {
	if o.asJSON {
		b, _ := json.Marshal(e)
		fmt.Fprintf(g.io.Out, "%s\n", b)
		return
	}
	prefix := ""
	if o.timestamp {
		prefix = e.Time.UTC().Format("2006-01-02 15:04:05.000-0700") + ": "
	}
	switch e.Type {
	case "lifecycle":
		fmt.Fprintf(g.io.Out, "%sevent 'lifecycle' for domain '%s': %s %s\n", prefix, e.Domain, e.Event, e.Detail)
	default:
		fmt.Fprintf(g.io.Out, "%sevent '%s' for domain '%s'\n", prefix, e.Type, e.Domain)
	}
}
