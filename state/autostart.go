package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A domain is marked for autostart by an empty flag file next to its
// definition, Domains/<name>.autostart, as networks are (networks/<name>.autostart).
// libvirt keeps symlinks in /etc/libvirt/lxc/autostart/; lxctl opens nothing
// under its root through a symlink, so a plain file it is. The name is
// validated before it becomes a path, and ListDefinitions ignores the file
// (it does not end in .xml).
const domainAutostartSuffix = ".autostart"

// AutostartPath is Domains/<name>.autostart.
func (l Layout) AutostartPath(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.Domains, name+domainAutostartSuffix), nil
}

// SetAutostart turns the autostart flag of a defined domain on or off.
// Callers hold the domain's lock, so the definition cannot go away between
// the check and the write. A transient domain cannot be marked: it has
// nothing to start at boot (libvirt refuses it too).
func (l Layout) SetAutostart(name string, on bool) error {
	def, err := l.DefinitionPath(name)
	if err != nil {
		return err
	}
	flag, _ := l.AutostartPath(name)
	if !on {
		if err := os.Remove(flag); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove autostart flag %s: %w", flag, unwrapPath(err))
		}
		return nil
	}
	if _, err := os.Lstat(def); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return newError(ErrNotFound, err, fmt.Sprintf(
				"domain '%s' has no persistent definition: only a defined domain can be autostarted (define it with lxctl define FILE)", name))
		}
		return fmt.Errorf("check definition of domain '%s': %w", name, unwrapPath(err))
	}
	if err := WriteFileAtomic(flag, nil, filePerm); err != nil {
		return fmt.Errorf("mark domain '%s' for autostart: %w", name, err)
	}
	return nil
}

// Autostart reports whether the domain is marked for autostart. Only a
// regular file counts: a symlink or directory planted there does not.
func (l Layout) Autostart(name string) bool {
	p, err := l.AutostartPath(name)
	if err != nil {
		return false
	}
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular()
}

// ListAutostart returns the domains marked for autostart that have a
// definition, sorted. A flag left without its definition (undefine removes
// both, a crash between the two may not) is ignored.
func (l Layout) ListAutostart() ([]string, error) {
	ents, err := os.ReadDir(l.Domains)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list autostart domains in %s: %w", l.Domains, unwrapPath(err))
	}
	var names []string
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), domainAutostartSuffix)
		if !ok || !e.Type().IsRegular() || ValidateName(name) != nil {
			continue
		}
		if def, _ := l.DefinitionPath(name); regularFile(def) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

func regularFile(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular()
}
