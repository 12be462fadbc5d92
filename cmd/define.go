package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

type defineOptions struct {
	file     string
	validate bool
}

func newDefineCmd(g *globals) *cobra.Command {
	opts := &defineOptions{}
	c := &cobra.Command{
		Use:   "define FILE",
		Short: "Define (but don't start) a domain from an XML file ('-' reads stdin)",
		Long: `Validate a <domain type='lxc'> document and store it as a persistent definition.
Redefining an existing name replaces its definition (it takes effect at the next
start); a document without <uuid> keeps the stored uuid. Elements lxctl does not
know are kept and reported as warnings; --validate makes them errors.`,
		Example: "  lxctl define vm1.xml\n  lxctl define - < vm1.xml",
		Args:    exactArgs("file"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.file = args[0]
			return runDefine(g, opts)
		},
	}
	c.Flags().BoolVar(&opts.validate, "validate", false, "treat warnings (unknown elements, features lxctl cannot run) as errors")
	return c
}

// readInput reads the document of define, create or net-define (kind is
// "domain" or "network") from file, "-" being stdin, never more than
// domainxml.MaxDocumentSize bytes of it.
func readInput(g *globals, kind, file string) ([]byte, error) {
	fix := "a " + kind + " definition is a few kB: check that this is the right file"
	if file == "-" {
		return domainxml.ReadDocument(g.io.In, kind+" XML on stdin", -1, fix)
	}
	// The user's file may be a symlink or /dev/stdin, unlike the files
	// under the root that state.ReadXMLFile reads: open it plainly.
	f, err := os.Open(file)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// A newline in the path would split the message into lines.
			pe.Path = domainxml.Printable(pe.Path)
		}
		return nil, err
	}
	defer f.Close()
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return domainxml.ReadDocument(f, kind+" XML "+file, size, fix)
}

func runDefine(g *globals, opts *defineOptions) error {
	fail := func(err error) error { return failed(err, "Failed to define domain from %s", opts.file) }
	data, err := readInput(g, "domain", opts.file)
	if err != nil {
		return fail(err)
	}
	d, err := parseNew(g, data, opts.validate)
	if err != nil {
		return fail(err)
	}
	if err := g.store(d); err != nil {
		return fail(err)
	}
	fmt.Fprintf(g.io.Out, "Domain '%s' defined from %s\n", d.Name, opts.file)
	return nil
}

// parseNew parses a user's document, checks the name rule, prints warnings
// (or fails on them with --validate) and fills in libvirt's defaults, except
// the uuid, which store decides.
func parseNew(g *globals, data []byte, strict bool) (*domainxml.Domain, error) {
	d, warnings, err := domainxml.Parse(data)
	if err != nil {
		return nil, err
	}
	if err := state.ValidateName(d.Name); err != nil {
		return nil, fmt.Errorf("name: %w", err)
	}
	if strict && len(warnings) > 0 {
		var errs []error
		for _, w := range warnings {
			errs = append(errs, errors.New(w.String()))
		}
		return nil, fmt.Errorf("--validate: %w", errors.Join(errs...))
	}
	for _, w := range warnings {
		fmt.Fprintf(g.io.ErrOut, "warning: %s\n", w.String())
	}
	return d, nil
}

// adoptUUID applies libvirt's uuid rules to d, which is about to be defined
// or created under the lock of its name: a document without a uuid takes
// the one the name already has (existing, "" if none), one with another
// uuid is refused, and a uuid belongs to one name only.
func (g *globals) adoptUUID(d *domainxml.Domain, existing string) error {
	if d.UUID == "" {
		d.UUID = existing
	}
	if existing != "" && d.UUID != existing {
		return fmt.Errorf("domain '%s' already exists with uuid %s (leave <uuid> out or use that one to redefine it)", d.Name, existing)
	}
	if d.UUID == "" {
		return nil
	}
	other, err := g.findUUID(d.UUID)
	if err != nil {
		return err
	}
	if other != "" && other != d.Name {
		return fmt.Errorf("domain '%s' is already defined with uuid %s (remove <uuid> to get a new one)", other, d.UUID)
	}
	return nil
}

// store saves d as the persistent definition of d.Name under the domain's
// lock, following libvirt's uuid rules: a name keeps its uuid (a document
// without one inherits the stored one) and a uuid belongs to one name.
func (g *globals) store(d *domainxml.Domain) error {
	l := g.layout()
	if err := l.EnsureDirs(); err != nil {
		return err
	}
	// Temp files of an earlier define that was killed mid-write, of any
	// name; before taking the lock, which the sweep tries for each name.
	_ = l.SweepStale()
	lk, err := l.LockDomain(d.Name, lockWait)
	if err != nil {
		return err
	}
	defer lk.Unlock()

	existingUUID, detail := "", "Added"
	if old, err := g.loadDefinition(d.Name); err == nil {
		existingUUID, detail = old.UUID, "Updated"
	} else if !errors.Is(err, state.ErrNotFound) {
		return err
	}
	if existingUUID == "" {
		// A transient domain of that name may be running.
		if st, err := l.ReadStatus(d.Name); err == nil {
			existingUUID = st.UUID
		}
	}
	if err := g.adoptUUID(d, existingUUID); err != nil {
		return err
	}
	d.SetDefaults(domainxml.HostArch(), emulatorPath())
	out, err := d.Marshal()
	if err != nil {
		return err
	}
	if err := l.SaveDefinition(d.Name, out); err != nil {
		return err
	}
	g.event(state.Event{Domain: d.Name, UUID: d.UUID, Type: "lifecycle", Event: "Defined", Detail: detail})
	return nil
}

// emulatorPath is what <emulator> defaults to: lxctl itself, which is what
// runs as the controller, so dumpxml stays honest.
func emulatorPath() string {
	exe, err := os.Executable()
	if err != nil {
		return "/usr/bin/lxctl"
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		return p
	}
	return exe
}
