package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// lockWait is how long a command waits for another one working on the same
// domain before it gives up with a clear message.
const lockWait = 30 * time.Second

// errNoDomain is libvirt's wording for an unknown name, uuid or id.
func errNoDomain(arg string) error {
	return fmt.Errorf("failed to get domain '%s': no domain with that name, uuid or id (see 'lxctl list --all')", arg)
}

// domain is what the commands know about one domain at a moment.
type domain struct {
	Name   string
	Def    *domainxml.Domain // persistent definition; nil for a transient domain
	Live   *domainxml.Domain // the config it runs with; nil when not running
	Status *state.Status     // nil when not running
	State  string            // virsh's words: running, paused, shut off
	Reason string
}

func (d *domain) active() bool { return d.Status != nil }

// config is the definition a command should show: the live one while running.
func (d *domain) config() *domainxml.Domain {
	if d.Live != nil {
		return d.Live
	}
	return d.Def
}

func (d *domain) id() int {
	if d.Status == nil {
		return 0
	}
	return d.Status.ControllerPID
}

// resolve maps a NAME argument, which virsh lets be a name, a uuid or an
// id, to a domain name. Names are checked by state before any path use.
func (g *globals) resolve(arg string) (string, error) {
	l := g.layout()
	if state.ValidateName(arg) == nil {
		if _, err := l.LoadDefinition(arg); err == nil {
			return arg, nil
		}
		if _, err := l.ReadStatus(arg); err == nil || errors.Is(err, state.ErrCorrupt) {
			return arg, nil
		}
	}
	if uuid, ok := normalizeUUID(arg); ok {
		if name, err := g.findUUID(uuid); err == nil && name != "" {
			return name, nil
		}
	}
	if id, err := strconv.Atoi(arg); err == nil && id > 0 {
		running, _ := l.ListRunDirs()
		for _, name := range running {
			if st, err := l.ReadStatus(name); err == nil && st.ControllerPID == id && state.Alive(st.ControllerPID, st.ControllerStart) {
				return name, nil
			}
		}
	}
	return "", errNoDomain(arg)
}

// findUUID returns the name of the defined or running domain with uuid, or "".
func (g *globals) findUUID(uuid string) (string, error) {
	l := g.layout()
	names, err := l.ListDefinitions()
	if err != nil {
		return "", err
	}
	for _, name := range names {
		if d, err := g.loadDefinition(name); err == nil && d.UUID == uuid {
			return name, nil
		}
	}
	running, _ := l.ListRunDirs()
	for _, name := range running {
		if st, err := l.ReadStatus(name); err == nil && st.UUID == uuid {
			return name, nil
		}
	}
	return "", nil
}

func normalizeUUID(s string) (string, bool) {
	hex := strings.ToLower(strings.ReplaceAll(s, "-", ""))
	if len(hex) != 32 {
		return "", false
	}
	for _, c := range hex {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return "", false
		}
	}
	return hex[0:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:], true
}

func (g *globals) loadDefinition(name string) (*domainxml.Domain, error) {
	l := g.layout()
	data, err := l.LoadDefinition(name)
	if err != nil {
		return nil, err
	}
	path, _ := l.DefinitionPath(name)
	return parseStored(path, data)
}

// parseStored parses a file lxctl wrote itself; failing to parse it means
// the file was damaged, which the message says, with the way out.
func parseStored(path string, data []byte) (*domainxml.Domain, error) {
	d, _, err := domainxml.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("stored definition %s is damaged: %w (fix or remove the file, then define the domain again)", path, err)
	}
	return d, nil
}

// inspect gathers a domain's definition and runtime state. A recorded
// controller that is no longer alive means the container died with it: the
// leftovers are swept and the domain is reported "shut off (failed)".
//
// Read-only commands call it without the domain lock; the sweep then takes
// the lock and re-checks, so it can never clean up a domain that a
// concurrent start has just brought up. Commands that hold the lock use
// inspectLocked.
func (g *globals) inspect(name string) (*domain, error) {
	return g.inspectWith(name, inspectOpts{parseDef: true, parseLive: true})
}

func (g *globals) inspectLocked(name string) (*domain, error) {
	return g.inspectWith(name, inspectOpts{haveLock: true, parseDef: true, parseLive: true})
}

// inspectShallow skips parsing XML unless asked: list over a thousand
// definitions needs only names and states.
func (g *globals) inspectShallow(name string, parseDef bool) (*domain, error) {
	return g.inspectWith(name, inspectOpts{parseDef: parseDef})
}

type inspectOpts struct {
	haveLock  bool
	parseDef  bool // parse the persistent definition (else only check it exists)
	parseLive bool // parse the live XML of a running domain
}

func (g *globals) inspectWith(name string, o inspectOpts) (*domain, error) {
	l := g.layout()
	d := &domain{Name: name}
	defined := false
	if o.parseDef {
		def, err := g.loadDefinition(name)
		switch {
		case err == nil:
			d.Def, defined = def, true
		case !errors.Is(err, state.ErrNotFound):
			return nil, err
		}
	}
	st, err := l.ReadStatus(name)
	switch {
	case err == nil:
	case errors.Is(err, state.ErrNotFound):
		st = nil
	default:
		return nil, err
	}
	if st != nil && !state.Alive(st.ControllerPID, st.ControllerStart) {
		if st, err = g.sweepDead(name, o.haveLock); err != nil {
			return nil, err
		}
	}
	if st != nil {
		d.Status = st
		d.State, d.Reason = virshState(st.State), st.Reason
		if o.parseLive {
			runDir, _ := l.RunDir(name)
			livePath := filepath.Join(runDir, container.LiveXMLFile)
			if data, err := os.ReadFile(livePath); err == nil {
				if live, err := parseStored(livePath, data); err == nil {
					live.ID = st.ControllerPID
					d.Live = live
				}
			}
		}
		return d, nil
	}
	if !o.parseDef {
		// Only a domain that is not running needs its definition to exist;
		// list spends a stat per running domain otherwise.
		if p, err := l.DefinitionPath(name); err == nil {
			_, statErr := os.Stat(p)
			defined = statErr == nil
		}
	}
	if !defined {
		return nil, errNoDomain(name)
	}
	d.State, d.Reason = "shut off", "unknown"
	if ex, err := l.ReadExit(name); err == nil {
		d.Reason = ex.Reason
	}
	return d, nil
}

// sweepDead cleans up after a controller that died (kill -9, OOM) and
// returns the status that is current afterwards: nil, or the record of a
// domain that another command started meanwhile.
func (g *globals) sweepDead(name string, haveLock bool) (*state.Status, error) {
	l := g.layout()
	if !haveLock {
		lk, err := l.LockDomain(name, lockWait)
		if err != nil {
			return nil, err
		}
		defer lk.Unlock()
	}
	st, err := l.ReadStatus(name)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if state.Alive(st.ControllerPID, st.ControllerStart) {
		return st, nil
	}
	if err := container.Sweep(l, st, "failed"); err != nil {
		return nil, fmt.Errorf("domain '%s': its controller died and cleaning up after it failed: %w", name, err)
	}
	return nil, nil
}

func virshState(s string) string {
	switch s {
	case "running", "starting":
		return "running"
	case "paused":
		return "paused"
	}
	return "shut off"
}

// withLock resolves a NAME argument and runs f with the domain's lock held,
// for commands that change the domain.
func (g *globals) withLock(arg string, f func(name string) error) error {
	name, err := g.resolve(arg)
	if err != nil {
		return err
	}
	lk, err := g.layout().LockDomain(name, lockWait)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	return f(name)
}

// lookup resolves and inspects in one step, for commands that only read.
func (g *globals) lookup(arg string) (*domain, error) {
	name, err := g.resolve(arg)
	if err != nil {
		return nil, err
	}
	return g.inspect(name)
}
