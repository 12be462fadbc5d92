package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Domain states recorded in Status.State and ExitRecord.State.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StatePaused   = "paused"
	StateShutoff  = "shutoff"
)

// Status is the runtime status record of a domain, RunDir/status.json. The
// controller writes it (atomically) before it reports a successful start;
// commands read it, and destroy tears down from it when the controller no
// longer answers.
type Status struct {
	Name            string            `json:"name"`
	UUID            string            `json:"uuid"`
	State           string            `json:"state"`  // StateStarting, StateRunning, StatePaused, StateShutoff
	Reason          string            `json:"reason"` // booted, unpaused, user, shutdown, destroyed, crashed, failed ...
	Persistent      bool              `json:"persistent"`
	ControllerPID   int               `json:"controller_pid"`
	ControllerStart uint64            `json:"controller_start"` // /proc/<pid>/stat field 22 (starttime, clock ticks)
	InitPID         int               `json:"init_pid"`
	InitStart       uint64            `json:"init_start"`
	Started         time.Time         `json:"started"`
	CgroupPath      string            `json:"cgroup_path"`  // e.g. /machine/vm1.lxctl
	CgroupPaths     map[string]string `json:"cgroup_paths"` // controller → absolute dir ("" key = unified/cgroup2)
	ControlSocket   string            `json:"control_socket"`
	ConsoleSocket   string            `json:"console_socket"`
	HostRootMount   string            `json:"host_root_mount,omitempty"`
	Veths           []string          `json:"veths,omitempty"`
}

// ExitRecord is the last exit of a domain, Run/.exit/<name>.json. It outlives
// the runtime dir so that domstate --reason can still say "shut off
// (destroyed)".
type ExitRecord struct {
	State    string    `json:"state"`
	Reason   string    `json:"reason"`
	Detail   string    `json:"detail,omitempty"` // what the kernel said, e.g. "memory limit hit"
	Time     time.Time `json:"time"`
	ExitCode int       `json:"exit_code"`
	Signal   string    `json:"signal,omitempty"`
}

// WriteStatus writes s atomically to RunDir(s.Name)/status.json (mode 0600),
// creating the runtime dir (0700) if needed.
func (l Layout) WriteStatus(s *Status) error {
	if s == nil {
		return errors.New("write status: no status record given")
	}
	path, err := l.StatusPath(s.Name)
	if err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if err := mkdirAll(filepath.Dir(path)); err != nil {
		return fmt.Errorf("write status of domain '%s': %w", s.Name, err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("write status of domain '%s': %w", s.Name, err)
	}
	if err := WriteRuntimeFile(path, append(data, '\n'), filePerm); err != nil {
		return fmt.Errorf("write status of domain '%s': %w", s.Name, err)
	}
	return nil
}

// ReadStatus reads the status record of name. No runtime dir or no record is
// an error wrapping ErrNotFound; an empty, truncated or garbled record, or one
// that names another domain, wraps ErrCorrupt and names the file and the fix.
func (l Layout) ReadStatus(name string) (*Status, error) {
	path, err := l.StatusPath(name)
	if err != nil {
		return nil, err
	}
	data, err := readFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, newError(ErrNotFound, err,
				fmt.Sprintf("domain '%s' has no status record (it is not running)", name))
		}
		return nil, fmt.Errorf("read status of domain '%s': %w", name, err)
	}
	corrupt := func(why string, cause error) error {
		return newError(ErrCorrupt, cause, fmt.Sprintf(
			"status record %s is corrupt (%s): remove it with lxctl destroy %s", path, why, name))
	}
	if len(data) == 0 {
		return nil, corrupt("the file is empty", nil)
	}
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, corrupt(err.Error(), err)
	}
	if s.Name != name {
		return nil, corrupt(fmt.Sprintf("it records domain %s", quoteName(s.Name)), nil)
	}
	return &s, nil
}

// RemoveRunDir removes the runtime dir of name and everything in it. A
// missing dir is not an error. It refuses, without removing anything, when a
// mount point is at or under the dir (for example the rbind of the host's /
// for a host-root container, as seen from the controller's mount namespace):
// a recursive removal would otherwise descend into the mount.
func (l Layout) RemoveRunDir(name string) error {
	dir, err := l.RunDir(name)
	if err != nil {
		return err
	}
	if err := checkNoMounts(dir); err != nil {
		return fmt.Errorf("remove runtime dir of domain '%s': %w", name, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove runtime dir of domain '%s': %w", name, err)
	}
	return nil
}

// WriteExit records the last exit of name in Run/.exit/<name>.json (0600).
func (l Layout) WriteExit(name string, e *ExitRecord) error {
	if e == nil {
		return fmt.Errorf("write exit record of domain '%s': no record given", name)
	}
	path, err := l.ExitPath(name)
	if err != nil {
		return err
	}
	if err := mkdirAll(filepath.Dir(path)); err != nil {
		return fmt.Errorf("write exit record of domain '%s': %w", name, err)
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("write exit record of domain '%s': %w", name, err)
	}
	if err := WriteRuntimeFile(path, append(data, '\n'), filePerm); err != nil {
		return fmt.Errorf("write exit record of domain '%s': %w", name, err)
	}
	return nil
}

// ReadExit reads the last exit record of name: ErrNotFound when there is
// none, ErrCorrupt when it cannot be parsed.
func (l Layout) ReadExit(name string) (*ExitRecord, error) {
	path, err := l.ExitPath(name)
	if err != nil {
		return nil, err
	}
	data, err := readFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, newError(ErrNotFound, err, fmt.Sprintf("domain '%s' has no exit record", name))
		}
		return nil, fmt.Errorf("read exit record of domain '%s': %w", name, err)
	}
	corrupt := func(why string, cause error) error {
		return newError(ErrCorrupt, cause, fmt.Sprintf(
			"exit record %s is corrupt (%s): remove the file; it is rewritten when domain '%s' next stops", path, why, name))
	}
	if len(data) == 0 {
		return nil, corrupt("the file is empty", nil)
	}
	var e ExitRecord
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, corrupt(err.Error(), err)
	}
	return &e, nil
}

// RemoveExit deletes the exit record of name; a missing record is not an
// error.
func (l Layout) RemoveExit(name string) error {
	path, err := l.ExitPath(name)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove exit record of domain '%s': %w", name, err)
	}
	return nil
}
