package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/lxctl/lxctl/domainxml"
)

func notDefined(name string, cause error) error {
	return newError(ErrNotFound, cause, fmt.Sprintf("domain '%s' is not defined", name))
}

// SaveDefinition stores xml as the persistent definition of name (mode 0600),
// atomically replacing any previous one. Callers hold the domain's lock.
func (l Layout) SaveDefinition(name string, xml []byte) error {
	path, err := l.DefinitionPath(name)
	if err != nil {
		return err
	}
	if err := mkdirAll(l.Domains); err != nil {
		return fmt.Errorf("save definition of domain '%s': %w", name, err)
	}
	if err := WriteFileAtomic(path, xml, filePerm); err != nil {
		return fmt.Errorf("save definition of domain '%s': %w", name, err)
	}
	return nil
}

// LoadDefinition returns the stored XML of name. A missing definition is an
// error wrapping ErrNotFound ("domain 'x' is not defined"); an empty file
// wraps ErrCorrupt.
func (l Layout) LoadDefinition(name string) ([]byte, error) {
	path, err := l.DefinitionPath(name)
	if err != nil {
		return nil, err
	}
	data, err := ReadXMLFile(path, "definition file "+path,
		fmt.Sprintf("lxctl never writes one that large: define domain '%s' again, or remove the file", name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notDefined(name, err)
		}
		if errors.Is(err, domainxml.ErrInvalid) {
			return nil, newError(ErrCorrupt, err, err.Error())
		}
		return nil, fmt.Errorf("read definition of domain '%s': %w", name, err)
	}
	if len(data) == 0 {
		return nil, newError(ErrCorrupt, nil, fmt.Sprintf(
			"definition file %s is empty: define domain '%s' again, or remove the file", path, name))
	}
	return data, nil
}

// RemoveDefinition deletes the stored definition of name and its autostart
// flag; ErrNotFound if there is none. Callers hold the domain's lock.
func (l Layout) RemoveDefinition(name string) error {
	path, err := l.DefinitionPath(name)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return notDefined(name, err)
	}
	// The autostart flag goes first: a crash in between leaves a defined
	// domain that is not autostarted, never a flag that outlives its
	// definition and comes back with the next define of that name.
	flag, _ := l.AutostartPath(name)
	if err := os.Remove(flag); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove autostart flag of domain '%s': %w", name, err)
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return notDefined(name, err)
		}
		return fmt.Errorf("remove definition of domain '%s': %w", name, err)
	}
	if err := syncDir(l.Domains); err != nil {
		return fmt.Errorf("remove definition of domain '%s': removed, but fsync of %s failed: %w", name, l.Domains, err)
	}
	return nil
}
