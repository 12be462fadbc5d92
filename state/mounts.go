package state

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

type mountStat struct {
	id       uint64 // mount id, if haveID
	haveID   bool
	dev      uint64
	root     bool // the path is the root of a mount, if haveRoot
	haveRoot bool
}

func statMount(path string) (mountStat, error) {
	var sx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT,
		unix.STATX_TYPE|unix.STATX_MNT_ID, &sx)
	if err != nil {
		return mountStat{}, &fs.PathError{Op: "statx", Path: path, Err: err}
	}
	return mountStat{
		id:       sx.Mnt_id,
		haveID:   sx.Mask&unix.STATX_MNT_ID != 0,
		dev:      unix.Mkdev(sx.Dev_major, sx.Dev_minor),
		root:     sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0,
		haveRoot: sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0,
	}, nil
}

// onOtherMount reports whether sub is a mount point seen from top's mount.
func onOtherMount(top, sub mountStat) bool {
	if sub.haveRoot && sub.root {
		return true
	}
	if top.haveID && sub.haveID {
		return top.id != sub.id
	}
	return top.dev != sub.dev
}

// checkNoMounts returns an error if dir, or any directory below it, is a
// mount point in this process's mount namespace. Symlinks are not followed.
// A missing dir is fine.
func checkNoMounts(dir string) error {
	top, err := statMount(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	mounted := func(p string) error {
		return fmt.Errorf("%s is a mount point: unmount it first (umount -R %s), then retry", p, p)
	}
	if top.haveRoot && top.root {
		return mounted(dir)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed under us
			}
			return err
		}
		if p == dir || !d.IsDir() {
			return nil
		}
		st, err := statMount(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if onOtherMount(top, st) {
			return mounted(p)
		}
		return nil
	})
}
