package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/domain"
	"github.com/lxctl/lxctl/state"
)

type listOptions struct {
	all, inactive       bool
	name, uuid, id      bool
	json, quiet         bool
	persistent, transnt bool
	autostart, noAuto   bool
}

func newListCmd(g *globals) *cobra.Command {
	opts := &listOptions{}
	c := &cobra.Command{
		Use:   "list",
		Short: "List domains (running ones; --all adds those shut off)",
		Example: `  lxctl list --all
  lxctl list --name          # bare names, for scripts
  lxctl list --all --json`,
		Args: exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error { return runList(g, opts) },
	}
	f := c.Flags()
	f.BoolVar(&opts.all, "all", false, "list inactive domains too")
	f.BoolVar(&opts.inactive, "inactive", false, "list inactive domains only")
	f.BoolVar(&opts.persistent, "persistent", false, "list persistent domains only")
	f.BoolVar(&opts.transnt, "transient", false, "list transient domains only")
	f.BoolVar(&opts.autostart, "autostart", false, "list domains marked for autostart only")
	f.BoolVar(&opts.noAuto, "no-autostart", false, "list domains not marked for autostart only")
	f.BoolVar(&opts.name, "name", false, "print bare names, one per line")
	f.BoolVar(&opts.uuid, "uuid", false, "print bare uuids, one per line")
	f.BoolVar(&opts.id, "id", false, "print bare ids of running domains, one per line")
	f.BoolVar(&opts.json, "json", false, "print a JSON array")
	f.BoolVarP(&opts.quiet, "quiet", "q", false, "no header in the table")
	return c
}

// listEntry is one domain in list's output; its JSON form is documented in
// the README and stable.
type listEntry struct {
	ID         *int   `json:"id"`
	Name       string `json:"name"`
	UUID       string `json:"uuid"`
	State      string `json:"state"`
	Reason     string `json:"reason"`
	Persistent bool   `json:"persistent"`
}

func runList(g *globals, opts *listOptions) error {
	l := g.layout()
	// What a killed define or start left (temp files, a runtime dir with
	// no record) goes first; best-effort, list answers regardless.
	_ = l.SweepStale()
	names, isDefined, ctls, err := g.domainNames()
	if err != nil {
		return err
	}
	h := g.host()
	// A transient domain is never autostarted, whatever a stray flag says.
	autostart := func(name string) bool { return isDefined[name] && l.Autostart(name) }
	needUUID := opts.uuid || opts.json
	o := domain.Opts{ParseDef: needUUID, Controllers: ctls}
	doms, errs := inspectAll(names, func(name string) (*domain.Domain, error) { return h.Inspect(name, o) })
	var entries []listEntry
	failures := 0
	for i, name := range names {
		d := doms[i]
		if d == nil {
			if errs[i] != nil && !isNoDomain(errs[i]) {
				// Listed with what is known, so that --all still shows
				// every domain; the error goes to stderr and, as dominfo
				// fails on it, list exits 1 once it has printed.
				fmt.Fprintf(g.io.ErrOut, "error: %v\n", errs[i])
				failures++
				if isDefined[name] {
					entries = append(entries, listEntry{Name: name, State: "unknown", Reason: "error", Persistent: true})
				}
			}
			continue // vanished or undefined between the listing and now
		}
		g.warn(d.Warnings)
		e := listEntry{Name: name, State: d.State, Reason: d.Reason, Persistent: isDefined[name]}
		if d.Active() {
			id := d.ID()
			e.ID = &id
		}
		if d.Status != nil {
			e.UUID = d.Status.UUID
		} else if d.Def != nil {
			e.UUID = d.Def.UUID
		}
		switch {
		case opts.inactive && d.Active(), !opts.inactive && !opts.all && !d.Active(),
			opts.persistent && !e.Persistent, opts.transnt && e.Persistent,
			opts.autostart && !autostart(name), opts.noAuto && autostart(name):
			continue
		}
		entries = append(entries, e)
	}
	// virsh: running domains by id, then the others by name, case-insensitively.
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if (a.ID != nil) != (b.ID != nil) {
			return a.ID != nil
		}
		if a.ID != nil {
			return *a.ID < *b.ID
		}
		return strings.ToLower(a.Name) < strings.ToLower(b.Name)
	})

	if err := printList(g, opts, entries); err != nil {
		return err
	}
	if failures > 0 {
		return fmt.Errorf("%d domain(s) could not be inspected (see above)", failures)
	}
	return nil
}

func printList(g *globals, opts *listOptions, entries []listEntry) error {
	out := g.io.Out
	switch {
	case opts.json:
		if entries == nil {
			entries = []listEntry{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	case opts.name || opts.uuid || opts.id:
		for _, e := range entries {
			if opts.id && !opts.name && !opts.uuid && e.ID == nil {
				continue
			}
			var f []string
			if opts.id {
				f = append(f, idString(e.ID))
			}
			if opts.uuid {
				f = append(f, e.UUID)
			}
			if opts.name {
				f = append(f, e.Name)
			}
			fmt.Fprintln(out, strings.Join(f, " "))
		}
		return nil
	}
	rows := make([][]string, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, []string{idString(e.ID), e.Name, e.State})
	}
	writeTable(out, []string{"Id", "Name", "State"}, rows, opts.quiet)
	fmt.Fprintln(out)
	return nil
}

// domainNames lists every domain of this root, as list --all shows them:
// the defined ones, those with a runtime dir, and (the host is the truth)
// those whose controller one scan of /proc finds although their records
// are gone. ctls is that scan, for Inspect to reuse (domain.Opts).
func (g *globals) domainNames() (names []string, isDefined map[string]bool, ctls map[string]state.Proc, err error) {
	l := g.layout()
	defined, err := l.ListDefinitions()
	if err != nil {
		return nil, nil, nil, err
	}
	running, err := l.ListRunDirs()
	if err != nil {
		return nil, nil, nil, err
	}
	if ctls, err = l.FindControllers(); err != nil {
		return nil, nil, nil, err
	}
	isDefined = map[string]bool{}
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range defined {
		isDefined[n] = true
		add(n)
	}
	for _, n := range running {
		add(n)
	}
	for n := range ctls {
		add(n)
	}
	return names, isDefined, ctls, nil
}

func idString(id *int) string {
	if id == nil {
		return "-"
	}
	return strconv.Itoa(*id)
}

// inspectAll inspects every domain, a few at a time: each one is a status
// read, a /proc lookup and maybe a parse, mostly waiting on the kernel, so
// with 50 running domains a serial list spent a third of its time here.
// Results keep the order of names; nil where inspect failed.
func inspectAll(names []string, inspect func(string) (*domain.Domain, error)) ([]*domain.Domain, []error) {
	doms := make([]*domain.Domain, len(names))
	errs := make([]error, len(names))
	workers := min(len(names)/8+1, 2*runtime.GOMAXPROCS(0))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(names); i = int(next.Add(1)) - 1 {
				doms[i], errs[i] = inspect(names[i])
			}
		})
	}
	wg.Wait()
	return doms, errs
}

// isNoDomain says whether err is "no such domain": a domain undefined or
// stopped between the listing and its inspection.
func isNoDomain(err error) bool { return errors.Is(err, domain.ErrUnknown) }
