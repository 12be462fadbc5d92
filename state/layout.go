package state

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Default locations (FHS), used when no --root is given.
const (
	DefaultDomainsDir = "/var/lib/lxctl/domains"
	DefaultRunDir     = "/run/lxctl"
	DefaultLogDir     = "/var/log/lxctl"
)

// Directory and file names inside Run that are not domains. They start with
// '.', which no valid name can, so they never clash with a domain's run dir.
const (
	locksDirName = ".locks"
	exitDirName  = ".exit"
	statusFile   = "status.json"
	dirPerm      = 0o700
	filePerm     = 0o600
)

// Layout holds the absolute directories lxctl uses. Build it with NewLayout.
type Layout struct {
	Domains string // persistent definitions, <name>.xml
	Run     string // runtime dirs <name>/, plus .locks/ and .exit/
	Log     string // <name>.log and <name>.console.log
	// Root is the canonical --root (symlinks resolved), "" for the FHS
	// layout. It is this instance's identity: it names its cgroups
	// (CgroupLeaf) and is on its controllers' command lines.
	Root string
}

// NewLayout returns the default FHS layout when root is "", or
// root/domains, root/run and root/log otherwise. Every directory is made
// absolute and canonical (symlinks resolved, as far as it exists yet): the
// same root reached two ways is one identity, and lxctl then opens what is
// under it with no symlink in any path (see openNoSymlinks).
func NewLayout(root string) Layout {
	if root == "" {
		return Layout{Domains: canonical(DefaultDomainsDir), Run: canonical(DefaultRunDir), Log: canonical(DefaultLogDir)}
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	} else {
		root = filepath.Clean(root)
	}
	root = canonical(root)
	return Layout{
		Domains: filepath.Join(root, "domains"),
		Run:     filepath.Join(root, "run"),
		Log:     filepath.Join(root, "log"),
		Root:    root,
	}
}

// canonical resolves the symlinks of the longest existing prefix of the
// absolute path p, so that a root that does not exist yet gets the same
// name now as once lxctl has made it.
func canonical(p string) string {
	rest := ""
	for dir := p; ; {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return p
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

// Key is 8 hex digits of a SHA-256 of the root's identity (its canonical
// path; DefaultRunDir for the FHS layout), so two roots never share a
// cgroup name.
func (l Layout) Key() string {
	id := l.Root
	if id == "" {
		id = DefaultRunDir
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:4])
}

// cgroupSuffix marks lxctl's cgroups (libvirt's are "<name>.libvirt-lxc").
const cgroupSuffix = ".lxctl-"

// CgroupLeaf is the last component of a domain's cgroup path in every
// hierarchy: "<name>.lxctl-<Key>". It is derived, never read from a record.
func (l Layout) CgroupLeaf(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return name + cgroupSuffix + l.Key(), nil
}

// ControllerCgroupLeaf is the last component of the cgroup a domain's
// controller moves itself into, in every hierarchy, beside the domain's
// own: "<name>.lxctl-<Key>.ctl". Not inside the domain's cgroup, which
// destroy kills and empties, and not the caller's, whose owner (logind,
// a systemd unit) kills what is in it when the session or unit ends.
func (l Layout) ControllerCgroupLeaf(name string) (string, error) {
	leaf, err := l.CgroupLeaf(name)
	if err != nil {
		return "", err
	}
	return leaf + ".ctl", nil
}

// DefinitionPath is Domains/<name>.xml.
func (l Layout) DefinitionPath(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.Domains, name+".xml"), nil
}

// RunDir is Run/<name>, the runtime dir of a running domain.
func (l Layout) RunDir(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.Run, name), nil
}

// StatusPath is Run/<name>/status.json.
func (l Layout) StatusPath(name string) (string, error) {
	dir, err := l.RunDir(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, statusFile), nil
}

// LogPath is Log/<name>.log, the controller's log.
func (l Layout) LogPath(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.Log, name+".log"), nil
}

// ConsoleLogPath is Log/<name>.console.log.
func (l Layout) ConsoleLogPath(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.Log, name+".console.log"), nil
}

// LockPath is Run/.locks/<name>.lock, the file LockDomain flocks. It is never
// renamed or removed.
func (l Layout) LockPath(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.Run, locksDirName, name+".lock"), nil
}

// ExitPath is Run/.exit/<name>.json, the last exit record of a domain.
func (l Layout) ExitPath(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.Run, exitDirName, name+".json"), nil
}

// EnsureDirs creates Domains, Run and Log (mode 0700) if they are missing.
// Existing directories are left as they are.
func (l Layout) EnsureDirs() error {
	for _, d := range []string{l.Domains, l.Run, l.Log} {
		if err := mkdirAll(d); err != nil {
			return err
		}
	}
	return nil
}

func mkdirAll(dir string) error {
	if dir == "" {
		return errors.New("state directory is not set: build the layout with state.NewLayout")
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return fmt.Errorf("create directory %s: %w (check the permissions of its parent, or use --root)", dir, unwrapPath(err))
	}
	return nil
}

// unwrapPath strips *fs.PathError so the path is not repeated in a message
// that already names it; errors.Is still works on the errno underneath.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ListDefinitions returns the names of the stored definitions, sorted. It
// ignores temp files, dot-files, anything not ending in .xml, anything that is
// not a regular file and names that are not valid. A missing Domains dir is an
// empty list.
func (l Layout) ListDefinitions() ([]string, error) {
	ents, err := os.ReadDir(l.Domains)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list definitions in %s: %w", l.Domains, unwrapPath(err))
	}
	var names []string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		name, ok := strings.CutSuffix(e.Name(), ".xml")
		if !ok || ValidateName(name) != nil {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// ListRunDirs returns the names that have a runtime dir under Run, sorted.
// Only directories with valid names count (so .locks and .exit never do). A
// missing Run dir is an empty list.
func (l Layout) ListRunDirs() ([]string, error) {
	ents, err := os.ReadDir(l.Run)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list runtime dirs in %s: %w", l.Run, unwrapPath(err))
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() || ValidateName(e.Name()) != nil {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}
