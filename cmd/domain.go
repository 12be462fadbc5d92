package cmd

import (
	"fmt"

	"github.com/lxctl/lxctl/domain"
	"github.com/lxctl/lxctl/domainxml"
)

// lockWait is how long a command waits for another one working on the same
// domain before it gives up with a clear message.
const lockWait = domain.LockWait

// host is the reconciliation of records and host for this --root: every
// question about a domain's state goes there (package domain).
func (g *globals) host() *domain.Host { return domain.New(g.layout()) }

// errNoDomain is libvirt's wording for an unknown name, uuid or id.
func errNoDomain(arg string) error { return domain.ErrNoDomain(arg) }

// warn prints where the records disagree with the host, on stderr.
func (g *globals) warn(ws []string) {
	fmt.Fprint(g.io.ErrOut, domain.Warn(ws))
}

func (g *globals) loadDefinition(name string) (*domainxml.Domain, error) {
	return g.host().LoadDefinition(name)
}

func (g *globals) findUUID(uuid string) (string, error) { return g.host().FindUUID(uuid) }

// inspect inspects a domain without its lock, for commands that only read.
func (g *globals) inspect(name string) (*domain.Domain, error) {
	d, err := g.host().Inspect(name, domain.Opts{ParseDef: true, ParseLive: true})
	if d != nil {
		g.warn(d.Warnings)
	}
	return d, err
}

// cgroupDirs are a running domain's cgroup dirs, derived from the layout
// (a record's are never used); nil when they cannot be computed.
func (g *globals) cgroupDirs(d *domain.Domain) map[string]string {
	dirs, err := g.host().CgroupDirs(d)
	if err != nil {
		return nil
	}
	return dirs
}

// lockedOpts inspects a domain whose lock the caller holds, with its
// definition and live config.
var lockedOpts = domain.Opts{HaveLock: true, ParseDef: true, ParseLive: true}

// inspectLocked inspects a domain whose lock the caller holds.
func (g *globals) inspectLocked(name string) (*domain.Domain, error) {
	d, err := g.host().Inspect(name, lockedOpts)
	if d != nil {
		g.warn(d.Warnings)
	}
	return d, err
}

// lookup resolves and inspects in one step, for commands that only read,
// and prints the warnings.
func (g *globals) lookup(arg string) (*domain.Domain, error) {
	d, err := g.host().Lookup(arg)
	if d != nil {
		g.warn(d.Warnings)
	}
	return d, err
}

// withLock resolves a NAME argument and runs f with the domain's lock held.
func (g *globals) withLock(arg string, f func(name string) error) error {
	return g.host().WithLock(arg, f)
}

// withRunning resolves NAME, takes its lock and hands a running domain to f.
func (g *globals) withRunning(arg string, f func(d *domain.Domain) error) error {
	return g.host().WithRunning(arg, func(d *domain.Domain) error {
		g.warn(d.Warnings)
		return f(d)
	})
}
