package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// defaultParents are the directories above the FHS layout's that lxctl
// creates (and so must trust) itself.
var defaultParents = []string{"/var/lib/lxctl"}

// CheckTrusted refuses a layout whose directories anyone but root (or the
// user running lxctl) could write: whoever can write there can plant a
// record or a symlink that lxctl, running as root, would act on. As
// sshd's StrictModes, the directories above the root must be root's and
// not writable by others unless sticky (checkAncestors), and each of the
// root and its domains/, run/ and log/
// (the FHS directories without --root) must, where it exists, be a real
// directory (not a symlink), owned by root or by the caller, and not
// writable by group or others. The error names the path and the fix.
func (l Layout) CheckTrusted() error {
	dirs := []string{l.Domains, l.Run, l.Log}
	if l.Root != "" {
		dirs = append([]string{l.Root}, dirs...)
	} else {
		dirs = append(append([]string{}, defaultParents...), dirs...)
	}
	euid := uint32(os.Geteuid())
	if err := checkAncestors(dirs[0], euid); err != nil {
		return err
	}
	for _, d := range dirs {
		var st unix.Stat_t
		if err := unix.Lstat(d, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // lxctl makes it, 0700, when it needs it
			}
			return fmt.Errorf("check %s: %w", d, err)
		}
		mode := fs.FileMode(st.Mode & 0o777)
		switch {
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			return fmt.Errorf("%s is a symlink: lxctl refuses to work through it (make it a directory owned by root, mode 0700)", d)
		case st.Mode&unix.S_IFMT != unix.S_IFDIR:
			return fmt.Errorf("%s is not a directory (move it away; lxctl makes the directory itself)", d)
		case st.Uid != 0 && st.Uid != euid:
			return fmt.Errorf("%s is owned by uid %d, not root: lxctl refuses it, as that user could make lxctl act on files of their choosing (fix: chown root %s)", d, st.Uid, d)
		case mode&0o022 != 0:
			return fmt.Errorf("%s is writable by group or others (mode %#o): lxctl refuses it, as they could make lxctl act on files of their choosing (fix: chmod go-w %s)", d, mode, d)
		}
	}
	return nil
}

// checkAncestors checks the directories above dir, up to /, as sshd's
// secure_path does: each owned by root (or the caller), and writable by
// group or others only when sticky (as /tmp), where no one can rename or
// replace an entry of another user's.
func checkAncestors(dir string, euid uint32) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			if !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("check %s: %w", p, err)
			}
		} else {
			switch {
			case st.Uid != 0 && st.Uid != euid:
				return fmt.Errorf("%s, above %s, is owned by uid %d, not root: that user could replace lxctl's directory (fix: chown root %s, or use a --root elsewhere)", p, dir, st.Uid, p)
			case st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0:
				return fmt.Errorf("%s, above %s, is writable by group or others and not sticky: they could replace lxctl's directory (fix: chmod go-w %s, or use a --root elsewhere)", p, dir, p)
			}
		}
		if p == "/" || p == "." {
			return nil
		}
	}
}
