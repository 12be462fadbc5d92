package cgroup

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
)

// freezeTimeout bounds Freeze, as libvirt's suspend gives up after about a
// second: a task in uninterruptible sleep (D) cannot be frozen until it
// wakes up.
const freezeTimeout = time.Second

// Freeze stops every process of the cgroup and returns once all are frozen.
// It uses the v1 freezer where one is in the map (that is what libcontainer
// uses on v1 and hybrid hosts), else cgroup2's cgroup.freeze. If the cgroup
// cannot be frozen in time it is thawed again and an error says so.
func Freeze(paths map[string]string) error {
	d := newDirs(paths)
	if d.freezer == "" && len(d.v2) == 0 {
		return fmt.Errorf("cgroup %s: cannot freeze it: no freezer (neither the v1 freezer controller nor cgroup v2)", d.name())
	}
	if err := d.checkOutside("freeze"); err != nil {
		return err
	}
	if err := d.freeze(time.Now().Add(freezeTimeout)); err != nil {
		_ = d.thaw()
		if errors.Is(err, errTimeout) {
			return fmt.Errorf("cgroup %s: processes did not freeze within %v (some may be in uninterruptible sleep)", d.name(), freezeTimeout)
		}
		return fmt.Errorf("cgroup %s: freeze: %w", d.name(), err)
	}
	return nil
}

// Thaw lets the processes of the cgroup run again. It clears both freezers
// where both exist, so that nothing stays frozen whichever one was used.
func Thaw(paths map[string]string) error {
	d := newDirs(paths)
	if err := d.thaw(); err != nil {
		return fmt.Errorf("cgroup %s: thaw: %w", d.name(), err)
	}
	return nil
}

// IsFrozen reports whether the cgroup is frozen, by the freezer Freeze uses.
// A cgroup still freezing (v1 FREEZING) is not frozen yet. A cgroup that is
// gone is not frozen.
func IsFrozen(paths map[string]string) (bool, error) {
	d := newDirs(paths)
	switch {
	case d.freezer != "":
		state, err := cgroups.ReadFile(d.freezer, "freezer.state")
		if err != nil {
			if isGone(err) {
				return false, nil
			}
			return false, fmt.Errorf("cgroup %s: %w", d.name(), err)
		}
		return strings.TrimSpace(state) == string(cgroups.Frozen), nil
	case len(d.v2) > 0:
		for _, dir := range d.v2 {
			v, err := readEvent(dir, "frozen")
			if isGone(err) {
				return false, nil
			}
			if err != nil {
				return false, fmt.Errorf("cgroup %s: %w", d.name(), err)
			}
			if v != "1" {
				return false, nil
			}
		}
		return true, nil
	}
	return false, nil
}

// freeze freezes the cgroup and waits until it is frozen or the deadline
// passes (errTimeout).
func (d dirs) freeze(deadline time.Time) error {
	if d.freezer != "" {
		return freezeV1(d.freezer, deadline)
	}
	for _, dir := range d.v2 {
		if err := cgroups.WriteFile(dir, "cgroup.freeze", "1"); err != nil && !isGone(err) {
			return err
		}
	}
	// cgroup.events "frozen 1" is reported once every task has stopped,
	// with an inotify event to wait on.
	return waitEvent(d.v2, "frozen", "1", deadline)
}

// freezeV1 writes FROZEN and waits for the state to read FROZEN. The v1
// freezer has no notification, so this re-checks with a backoff. It writes
// FROZEN again on each check: tasks forked while freezing can leave the
// cgroup stuck in FREEZING otherwise (runc does the same).
func freezeV1(dir string, deadline time.Time) error {
	var b backoff
	for {
		if err := cgroups.WriteFile(dir, "freezer.state", string(cgroups.Frozen)); err != nil {
			if isGone(err) {
				return nil
			}
			return err
		}
		state, err := cgroups.ReadFile(dir, "freezer.state")
		if err != nil {
			if isGone(err) {
				return nil
			}
			return err
		}
		if strings.TrimSpace(state) == string(cgroups.Frozen) {
			return nil
		}
		if !b.wait(deadline) {
			return errTimeout
		}
	}
}

// thaw thaws the v1 freezer and every cgroup2 directory. Thawing a cgroup
// that is not frozen does nothing, so this needs no state check.
func (d dirs) thaw() error {
	return errors.Join(d.thawV1(), d.thawV2())
}

func (d dirs) thawV1() error {
	if d.freezer == "" {
		return nil
	}
	if err := cgroups.WriteFile(d.freezer, "freezer.state", string(cgroups.Thawed)); err != nil && !isGone(err) {
		return err
	}
	return nil
}

func (d dirs) thawV2() error {
	var errs []error
	for _, dir := range d.v2 {
		// cgroup.freeze is missing before kernel 5.2; then there is
		// nothing to thaw either.
		if !exists(dir + "/cgroup.freeze") {
			continue
		}
		if err := cgroups.WriteFile(dir, "cgroup.freeze", "0"); err != nil && !isGone(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
