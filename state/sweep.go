package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// StaleTempAge is the age after which one of lxctl's temp files counts as
// abandoned even when its writer cannot be told by a lock: every write
// lxctl makes finishes within a second.
const StaleTempAge = 10 * time.Minute

// tempName matches the temp files writeFileAtomic makes (os.CreateTemp's
// ".<base>.tmp-<digits>"), and nothing else: a sweep never removes a file
// that lxctl did not make.
var tempName = regexp.MustCompile(`^\.(.+)\.tmp-[0-9]+$`)

// SweepStale removes what an lxctl command killed half-way (kill -9, OOM,
// a crash) leaves behind, and nothing that a live command may still use:
//
//   - temp files of definitions (Domains/.<name>.xml.tmp-*): written only
//     under the domain's lock, so they are stale when the lock is free, or
//     older than StaleTempAge;
//   - temp files of exit records (Run/.exit/.<name>.json.tmp-*): a
//     controller writes those without the lock, so only by age;
//   - runtime dirs without a status record (a start killed before its
//     controller wrote one): only when the domain's lock is free, since a
//     start holds it from making the dir until its controller has reported.
//
// It is best-effort and cheap (a listing of three directories); commands
// call it before they list or define. The error joins what could not be
// removed.
func (l Layout) SweepStale() error {
	var errs []error
	errs = append(errs, l.sweepTemps(l.Domains, ".xml", true))
	errs = append(errs, l.sweepTemps(filepath.Join(l.Run, exitDirName), ".json", false))
	errs = append(errs, l.sweepRunDirs())
	return errors.Join(errs...)
}

// sweepTemps removes the stale temp files of <name><suffix> files in dir.
// byLock: a temp file whose domain lock can be taken has no live writer.
func (l Layout) sweepTemps(dir, suffix string, byLock bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("sweep temp files in %s: %w", dir, unwrapPath(err))
	}
	var errs []error
	for _, e := range ents {
		m := tempName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		name, ok := cutSuffix(m[1], suffix)
		if !ok || ValidateName(name) != nil {
			continue
		}
		path := filepath.Join(dir, e.Name())
		stale := false
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > StaleTempAge {
			stale = true
		}
		if !stale && byLock {
			if lk, err := l.LockDomain(name, 0); err == nil {
				// Under the lock no writer can be at work on this name.
				err := os.Remove(path)
				lk.Unlock()
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, fmt.Errorf("remove stale temp file %s: %w", path, unwrapPath(err)))
				}
				continue
			}
		}
		if stale {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove stale temp file %s: %w", path, unwrapPath(err)))
			}
		}
	}
	return errors.Join(errs...)
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) <= len(suffix) || s[len(s)-len(suffix):] != suffix {
		return "", false
	}
	return s[:len(s)-len(suffix)], true
}

// sweepRunDirs removes runtime dirs that have no status record and whose
// domain nobody holds the lock of.
func (l Layout) sweepRunDirs() error {
	names, err := l.ListRunDirs()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if hasStatus(l, name) {
			continue
		}
		lk, err := l.LockDomain(name, 0)
		if err != nil {
			continue // a start is at work on it
		}
		// A start may have made the dir and written the record between
		// the check above and the lock.
		if !hasStatus(l, name) {
			errs = append(errs, l.RemoveRunDir(name))
		}
		lk.Unlock()
	}
	return errors.Join(errs...)
}

func hasStatus(l Layout, name string) bool {
	p, err := l.StatusPath(name)
	if err != nil {
		return true
	}
	_, err = os.Lstat(p)
	return !errors.Is(err, fs.ErrNotExist)
}
