package domain

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lxctl/lxctl/cgroup"
	"github.com/lxctl/lxctl/container"
	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// LockWait is how long a command waits for another one working on the same
// domain before it gives up with a clear message.
const LockWait = 30 * time.Second

// Host is one lxctl instance (one root) on this host.
type Host struct {
	L state.Layout
}

// New returns the Host of a layout.
func New(l state.Layout) *Host { return &Host{L: l} }

// ErrUnknown classifies ErrNoDomain's errors (errors.Is).
var ErrUnknown = errors.New("no such domain")

// ErrNoDomain is libvirt's wording for an unknown name, uuid or id.
func ErrNoDomain(arg string) error {
	return &unknownError{arg}
}

type unknownError struct{ arg string }

func (e *unknownError) Error() string {
	// The argument is anything a user or script passed: escape it.
	return fmt.Sprintf("failed to get domain '%s': no domain with that name, uuid or id (see 'lxctl list --all')", domainxml.Printable(e.arg))
}

func (e *unknownError) Is(target error) bool { return target == ErrUnknown }

// Domain is what is known about one domain at a moment.
type Domain struct {
	Name string
	Def  *domainxml.Domain // persistent definition; nil for a transient domain
	Live *domainxml.Domain // the config it runs with; nil when not running or unreadable
	// LiveErr says why the live config of a running domain could not be
	// read (damaged, missing with the runtime dir).
	LiveErr error
	// Status is the status record when it was readable and agrees with
	// the host (names the running controller); nil otherwise.
	Status *state.Status
	// Controller is the verified controller of a running domain; nil when
	// the domain is not running.
	Controller *state.Proc
	State      string // virsh's words: running, paused, shut off
	Reason     string
	// ReasonDetail is what the kernel said about a stop, when it did
	// ("memory limit hit" for a crash with OOM kills).
	ReasonDetail string
	// tornDown: the controller lives but the domain's cgroups and record
	// are gone; it is exiting at the end of a teardown.
	tornDown bool
	// Warnings say where the records disagree with the host: a missing
	// or damaged record, a record naming a process that is not the
	// domain's controller, or cgroups that are not the domain's.
	Warnings []string
}

// Active says whether the domain runs: a verified controller of it lives.
func (d *Domain) Active() bool { return d.Controller != nil }

// ID is a running domain's id, its controller's pid (as libvirt's); 0 when
// not running.
func (d *Domain) ID() int {
	if d.Controller == nil {
		return 0
	}
	return d.Controller.PID
}

// InitPID is the init pid of a running domain, 0 if unknown: the
// recorded one, only if that process lives with the recorded start time
// and is a child of the domain's verified controller (init is forked by
// it), so a stale or forged record never sends a command into another
// process's namespaces.
func (d *Domain) InitPID() int {
	if d.Status == nil || !d.Active() {
		return 0
	}
	pid, start := d.Status.InitPID, d.Status.InitStart
	if !state.Alive(pid, start) {
		return 0
	}
	if ppid, err := state.ProcPPID(pid); err != nil || ppid != d.Controller.PID {
		return 0
	}
	return pid
}

// Config is the definition a command should show: the live one while
// running, else the persistent one. It is never nil: a running transient
// domain whose live config is unreadable gets a bare one (name, uuid).
func (d *Domain) Config() *domainxml.Domain {
	if d.Live != nil {
		return d.Live
	}
	if d.Def != nil {
		return d.Def
	}
	x := &domainxml.Domain{Name: d.Name}
	if d.Status != nil {
		x.UUID = d.Status.UUID
	}
	return x
}

// UUID of the domain, from what is at hand.
func (d *Domain) UUID() string { return d.Config().UUID }

// Partition is the cgroup partition the domain runs (or would run) in.
func (d *Domain) Partition() string {
	if p, err := container.Partition(d.Config()); err == nil {
		return p
	}
	return container.DefaultPartition
}

func (d *Domain) warn(format string, args ...any) {
	d.Warnings = append(d.Warnings, fmt.Sprintf(format, args...))
}

// Opts say how much Inspect reads.
type Opts struct {
	HaveLock  bool // the caller holds the domain lock
	ParseDef  bool // parse the persistent definition (else only check it exists)
	ParseLive bool // parse the live XML of a running domain
	// Controllers, when set, is the result of one FindControllers scan
	// shared by many Inspects (list); otherwise Inspect scans /proc itself
	// when the record does not lead to a controller.
	Controllers map[string]state.Proc
}

// Resolve maps a NAME argument, which virsh lets be a name, a uuid or an
// id, to a domain name. Names are checked by state before any path use.
func (h *Host) Resolve(arg string) (string, error) {
	l := h.L
	if state.ValidateName(arg) == nil {
		if p, err := l.DefinitionPath(arg); err == nil && exists(p) {
			return arg, nil
		}
		if d, err := l.RunDir(arg); err == nil && exists(d) {
			return arg, nil
		}
	}
	if uuid, ok := normalizeUUID(arg); ok {
		if name, err := h.FindUUID(uuid); err == nil && name != "" {
			return name, nil
		}
	}
	// The host last: a running domain whose records are gone, by name or
	// by id (its controller's pid).
	ctls, err := l.FindControllers()
	if err != nil {
		return "", err
	}
	if _, ok := ctls[arg]; ok {
		return arg, nil
	}
	if id, err := strconv.Atoi(arg); err == nil && id > 0 {
		for name, p := range ctls {
			if p.PID == id {
				return name, nil
			}
		}
	}
	return "", ErrNoDomain(arg)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// FindUUID returns the name of the defined or running domain with uuid, or
// "".
func (h *Host) FindUUID(uuid string) (string, error) {
	l := h.L
	names, err := l.ListDefinitions()
	if err != nil {
		return "", err
	}
	for _, name := range names {
		if d, err := h.LoadDefinition(name); err == nil && d.UUID == uuid {
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

// LoadDefinition reads and parses the stored definition of name.
func (h *Host) LoadDefinition(name string) (*domainxml.Domain, error) {
	data, err := h.L.LoadDefinition(name)
	if err != nil {
		return nil, err
	}
	path, _ := h.L.DefinitionPath(name)
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

// controllerOf finds the running controller of name: the recorded one if
// it verifies, else one found in /proc. It adds a warning to d where the
// record disagrees.
func (h *Host) controllerOf(d *Domain, rec *state.Status, recErr error, o Opts) (*state.Proc, error) {
	l := h.L
	if rec != nil {
		p := state.Proc{PID: rec.ControllerPID, Start: rec.ControllerStart}
		// A scan just verified the controllers it found (list): one that
		// is the recorded one needs no second look, only to be alive.
		if found, ok := o.Controllers[d.Name]; ok && found == p && state.Alive(p.PID, p.Start) {
			return &p, nil
		}
		if l.IsController(p, d.Name) {
			return &p, nil
		}
	}
	found, ok := o.Controllers[d.Name]
	if o.Controllers == nil {
		var err error
		if found, ok, err = l.FindController(d.Name); err != nil {
			return nil, err
		}
	}
	switch {
	case rec != nil && rec.ControllerPID > 0 && state.Alive(rec.ControllerPID, rec.ControllerStart):
		d.warn("status record of domain '%s' names process %d as its controller, which it is not: not signalled", d.Name, rec.ControllerPID)
	case rec != nil && ok:
		d.warn("status record of domain '%s' names controller %d, but %d is its controller", d.Name, rec.ControllerPID, found.PID)
	}
	if !ok {
		return nil, nil
	}
	switch {
	case errors.Is(recErr, state.ErrNotFound) && h.cgroupsGone(d, rec):
		// The last moment of a teardown: the controller has removed the
		// domain's cgroups and its runtime dir and is exiting.
		d.tornDown = true
	case errors.Is(recErr, state.ErrNotFound):
		d.warn("domain '%s' runs (controller %d) but its status record is missing", d.Name, found.PID)
	case recErr != nil:
		d.warn("domain '%s' runs (controller %d) but %v", d.Name, found.PID, recErr)
	}
	return &found, nil
}

// Inspect gathers a domain's definition and its state on the host. A
// domain whose controller is gone but whose runtime dir is still there died
// with it (kill -9, OOM): its leftovers are swept and it is reported
// "shut off (failed)". Read-only commands call it without the lock; the
// sweep then takes the lock and re-checks, so it never cleans up a domain
// that a concurrent start has just brought up.
func (h *Host) Inspect(name string, o Opts) (*Domain, error) {
	l := h.L
	d := &Domain{Name: name}
	defined := false
	if o.ParseDef {
		def, err := h.LoadDefinition(name)
		switch {
		case err == nil:
			d.Def, defined = def, true
		case !errors.Is(err, state.ErrNotFound):
			return nil, err
		}
	} else if p, err := l.DefinitionPath(name); err == nil {
		defined = exists(p)
	}
	rec, recErr := l.ReadStatus(name)
	if recErr != nil && !errors.Is(recErr, state.ErrNotFound) && !errors.Is(recErr, state.ErrCorrupt) {
		return nil, recErr
	}
	ctl, err := h.controllerOf(d, rec, recErr, o)
	if err != nil {
		return nil, err
	}
	if ctl != nil {
		d.Controller = ctl
		d.State, d.Reason = "running", "unknown"
		if rec != nil && rec.ControllerPID == ctl.PID && rec.ControllerStart == ctl.Start {
			d.Status = rec
			d.State, d.Reason = virshState(rec.State), rec.Reason
			h.checkCgroups(d, rec)
			h.checkFrozen(d, rec)
			h.checkInit(d, rec)
		} else if d.tornDown {
			d.State, d.Reason = StateInShutdown, "unknown"
		} else {
			h.checkFrozen(d, nil)
		}
		if o.ParseLive {
			d.Live, d.LiveErr = h.readLive(name)
			if d.Live != nil {
				d.Live.ID = ctl.PID
			}
		}
		return d, nil
	}
	// Not running. A runtime dir or record left behind is a domain that
	// died with its controller: sweep what is lxctl's own.
	runDir, _ := l.RunDir(name)
	if rec != nil || recErr != nil && !errors.Is(recErr, state.ErrNotFound) || exists(runDir) {
		if errors.Is(recErr, state.ErrCorrupt) {
			d.warn("%v", recErr)
		}
		if rec != nil {
			h.checkCgroups(d, rec)
		}
		again, err := h.sweepDead(d, o.HaveLock)
		if err != nil {
			return nil, err
		}
		if again { // started, or its stop recorded, meanwhile
			return h.Inspect(name, o)
		}
		if !defined {
			return nil, ErrNoDomain(name)
		}
		d.State, d.Reason = "shut off", "failed"
		return d, nil
	}
	if !defined {
		return nil, ErrNoDomain(name)
	}
	d.State, d.Reason = "shut off", "unknown"
	if ex, err := l.ReadExit(name); err == nil {
		d.Reason, d.ReasonDetail = ex.Reason, ex.Detail
	}
	return d, nil
}

// checkInit says "in shutdown" (libvirt's word for a domain on its way
// down) for a domain whose controller lives but whose recorded init is
// dead: the controller is tearing the domain down, or restarting init for
// a reboot. The record alone would say running until the controller is
// gone, and a start or a script reading domstate in that moment would be
// told the domain runs when nothing of it does.
func (h *Host) checkInit(d *Domain, rec *state.Status) {
	if d.State != "running" && d.State != "paused" || rec.InitPID <= 0 {
		return
	}
	if !state.Alive(rec.InitPID, rec.InitStart) {
		d.State, d.Reason = StateInShutdown, "unknown"
	}
}

// StateInShutdown is the state of a domain whose init is gone while its
// controller tears it down (virsh's "in shutdown").
const StateInShutdown = "in shutdown"

// checkCgroups warns when the record's cgroup paths are not the domain's
// own (derived) ones: they are never used.
func (h *Host) checkCgroups(d *Domain, rec *state.Status) {
	leaf, err := h.L.CgroupLeaf(d.Name)
	if err != nil {
		return
	}
	for k, p := range rec.CgroupPaths {
		if !strings.HasSuffix(p, "/"+leaf) {
			d.warn("status record of domain '%s' names cgroup %s (%s), which is not the domain's: ignored", d.Name, p, k)
			return
		}
	}
}

// partitionOf is the cgroup partition of d as far as is known: its
// config's, else the record's, else the default.
func partitionOf(d *Domain, rec *state.Status) string {
	if d.Live != nil || d.Def != nil {
		if p, err := container.Partition(d.Config()); err == nil {
			return p
		}
	} else if rec != nil && rec.CgroupPath != "" {
		return filepath.Dir(rec.CgroupPath)
	}
	return container.DefaultPartition
}

// cgroupsGone says whether the domain has no cgroup dir in any hierarchy.
func (h *Host) cgroupsGone(d *Domain, rec *state.Status) bool {
	dirs, err := container.CgroupDirs(h.L, d.Name, partitionOf(d, rec))
	if err != nil {
		return false
	}
	for _, dir := range dirs {
		if exists(dir) {
			return false
		}
	}
	return true
}

// checkFrozen makes "running" or "paused" the freezer's word rather than
// the record's: the controller records a pause or resume before it
// answers, but a controller killed between the two, or a hand on the
// freezer, would leave the record behind the host. The cgroup is the
// domain's own (derived); the record only hints at its partition when no
// config was parsed (list). rec is nil when there is no record of the
// running controller: the freezer's word is then the only one.
func (h *Host) checkFrozen(d *Domain, rec *state.Status) {
	if d.State != "running" && d.State != "paused" {
		return
	}
	dirs, err := container.CgroupDirs(h.L, d.Name, partitionOf(d, rec))
	if err != nil {
		return
	}
	frozen, err := cgroup.IsFrozen(dirs)
	if err != nil {
		return
	}
	switch {
	case frozen && d.State == "running" && rec == nil:
		// No record to disagree with (it is missing or not the running
		// controller's): the freezer alone says paused.
		d.State, d.Reason = "paused", "unknown"
	case frozen && d.State == "running":
		d.State, d.Reason = "paused", "unknown"
		d.warn("domain '%s' is frozen though its record says it runs", d.Name)
	case !frozen && d.State == "paused":
		d.State, d.Reason = "running", "unknown"
		d.warn("domain '%s' is not frozen though its record says it is paused", d.Name)
	}
}

func (h *Host) readLive(name string) (*domainxml.Domain, error) {
	p, err := container.RunFile(h.L, name, container.LiveXMLFile)
	if err != nil {
		return nil, err
	}
	// Bounded at domainxml.MaxDocumentSize, as every document lxctl reads.
	data, err := state.ReadXMLFile(p, "the live config "+p,
		"lxctl never writes one that large: lxctl dumpxml --inactive shows the definition; restart the domain to rewrite it")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the live config of domain '%s' (%s) is missing", name, p)
		}
		if errors.Is(err, domainxml.ErrInvalid) {
			return nil, err
		}
		return nil, fmt.Errorf("read the live config of domain '%s': %w", name, err)
	}
	d, _, err := domainxml.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("the live config of domain '%s' (%s) is damaged: %w (lxctl dumpxml --inactive shows the definition; restart the domain to rewrite it)", name, p, err)
	}
	return d, nil
}

// sweepDead cleans up after a controller that died. again says that the
// domain changed while the lock was awaited and is to be inspected anew:
// a controller turned up (another command started the domain), or the
// stop was finished and recorded (lxctl destroy records it once the
// controller has exited, Request.CallerFinishes): that is no death.
func (h *Host) sweepDead(d *Domain, haveLock bool) (again bool, _ error) {
	l := h.L
	if !haveLock {
		lk, err := l.LockDomain(d.Name, LockWait)
		if err != nil {
			return false, err
		}
		defer lk.Unlock()
	}
	rec, recErr := l.ReadStatus(d.Name)
	if recErr != nil && !errors.Is(recErr, state.ErrNotFound) && !errors.Is(recErr, state.ErrCorrupt) {
		return false, recErr
	}
	if runDir, _ := l.RunDir(d.Name); !haveLock && errors.Is(recErr, state.ErrNotFound) && !exists(runDir) {
		return true, nil
	}
	var scratch Domain
	scratch.Name = d.Name
	ctl, err := h.controllerOf(&scratch, rec, recErr, Opts{})
	if err != nil {
		return false, err
	}
	if ctl != nil {
		return true, nil
	}
	if err := container.Sweep(l, h.target(d, rec, nil), "failed"); err != nil {
		return false, fmt.Errorf("domain '%s': its controller died and cleaning up after it failed: %w", d.Name, err)
	}
	return false, nil
}

// target is what a sweep of d may touch, all derived: the partitions of
// its live config, its definition and the default, plus the one the
// controller's init is in.
func (h *Host) target(d *Domain, rec *state.Status, ctl *state.Proc) container.Target {
	t := container.Target{Name: d.Name, Controller: ctl}
	if live, err := h.readLive(d.Name); err == nil {
		if p, err := container.Partition(live); err == nil {
			t.Partitions = append(t.Partitions, p)
		}
	}
	def := d.Def
	if def == nil {
		def, _ = h.LoadDefinition(d.Name)
	}
	if def != nil {
		if p, err := container.Partition(def); err == nil {
			t.Partitions = append(t.Partitions, p)
		}
	}
	if ctl != nil {
		if leaf, err := h.L.CgroupLeaf(d.Name); err == nil {
			t.Partitions = append(t.Partitions, childPartitions(ctl.PID, leaf)...)
		}
	}
	t.Partitions = append(t.Partitions, container.DefaultPartition)
	return t
}

func virshState(s string) string {
	switch s {
	case state.StateRunning, state.StateStarting:
		return "running"
	case state.StatePaused:
		return "paused"
	}
	return "shut off"
}

// Lock takes the domain's lock, waiting LockWait.
func (h *Host) Lock(name string) (*state.Lock, error) {
	return h.L.LockDomain(name, LockWait)
}

// WithLock resolves a NAME argument and runs f with the domain's lock held,
// for commands that change the domain.
func (h *Host) WithLock(arg string, f func(name string) error) error {
	name, err := h.Resolve(arg)
	if err != nil {
		return err
	}
	lk, err := h.Lock(name)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	return f(name)
}

// WithRunning resolves NAME, takes its lock and hands the running domain
// to f; a domain that is not running is an error saying so.
func (h *Host) WithRunning(arg string, f func(d *Domain) error) error {
	return h.WithLock(arg, func(name string) error {
		d, err := h.Inspect(name, Opts{HaveLock: true, ParseDef: true, ParseLive: true})
		if err != nil {
			return err
		}
		if !d.Active() {
			return ErrNotRunning(name)
		}
		return f(d)
	})
}

// ErrNotRunning is the error of a command that needs a running domain.
func ErrNotRunning(name string) error {
	return fmt.Errorf("domain '%s' is not running", name)
}

// Lookup resolves and inspects in one step, for commands that only read.
func (h *Host) Lookup(arg string) (*Domain, error) {
	name, err := h.Resolve(arg)
	if err != nil {
		return nil, err
	}
	return h.Inspect(name, Opts{ParseDef: true, ParseLive: true})
}

// shutdownWait bounds how long a command waits for a controller that is
// tearing its domain down; teardown takes milliseconds, so running out
// means something is stuck, and the caller is told the domain runs.
const shutdownWait = 10 * time.Second

// SettleShutdown waits while d is "in shutdown" (init dead, controller
// tearing down) and returns the domain as it is afterwards: shut off once
// the controller has exited, or running again when the controller was
// restarting init for a reboot. It wakes on the controller's exit (a
// pidfd) and looks again every few milliseconds for a new init. Any other
// state is returned as it is.
func (h *Host) SettleShutdown(d *Domain, o Opts) (*Domain, error) {
	deadline := time.Now().Add(shutdownWait)
	for d.State == StateInShutdown && time.Now().Before(deadline) {
		ctl := d.Controller
		// Returns at the controller's exit (its teardown has recorded the
		// stop) or after the slice, to look for a rebooted init.
		_ = state.WaitGone(ctl.PID, ctl.Start, 20*time.Millisecond)
		nd, err := h.Inspect(d.Name, o)
		if err != nil {
			return nil, err
		}
		d = nd
	}
	return d, nil
}
