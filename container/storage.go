package container

// Storage: <filesystem type='file'> (an image on a loop device),
// <filesystem type='block'> (a host block device), and
// <hostdev mode='capabilities' type='storage'|'misc'> (a device node in the
// container's /dev, allowed in its device cgroup), as libvirt's LXC driver
// does them.
//
// The controller attaches and mounts the filesystems in its own mount
// namespace, below the runtime dir (<run>/<name>/fs/<index>), before init
// is created; the container gets them as bind mounts, or as its root. So
// the mounts exist only in the controller's and the container's mount
// namespaces: when both die (destroy, or the controller killed -9, which
// takes the container with it) the kernel unmounts them. Each loop device
// is attached with LO_FLAGS_AUTOCLEAR, so the kernel detaches it when its
// last user (the mount) goes, and carries the domain's mark in its
// lo_file_name ("lxctl/<root key>/<name>"): teardown and the sweep after a
// dead controller detach exactly the loop devices with that mark, and wait
// until the kernel has let go of them.
//
// Sources are host paths from the admin's XML, as <source dir> is: like
// libvirt, lxctl follows symlinks in them (/dev/disk/by-id/... are
// symlinks). The image is opened once and that descriptor is what the loop
// device gets, so the file checked is the file attached. Device nodes made
// inside the container go through libcontainer, which resolves their path
// inside the container's root (never out of it) in its fresh /dev tmpfs;
// lxctl only makes nodes under /dev, so nothing is written to the
// container's root filesystem on disk.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/cgroups/devices/config"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// storageDir is where the controller mounts a domain's filesystems, in the
// runtime dir: fs/<index of the <filesystem>>.
const storageDir = "fs"

// loopWait bounds how long teardown waits for the kernel to detach a loop
// device once its last user is gone.
const loopWait = 10 * time.Second

// isStorage says whether a <filesystem> is a block device or an image the
// controller mounts itself.
func isStorage(fs domainxml.Filesystem) bool {
	return fs.Type == "file" || fs.Type == "block"
}

// hasStorageRoot says whether the container's root is an image or a block
// device.
func hasStorageRoot(d *domainxml.Domain) bool {
	for _, fs := range d.Devices.Filesystems {
		if fs.Target == "/" && isStorage(fs) {
			return true
		}
	}
	return false
}

// fsWhat names a <filesystem> in errors: its type, source and target.
func fsWhat(fs domainxml.Filesystem) string {
	if fs.Type == "block" {
		return fmt.Sprintf("<filesystem type='block'> source dev '%s' (target '%s')", fs.Source.Dev, fs.Target)
	}
	return fmt.Sprintf("<filesystem type='file'> source file '%s' (target '%s')", fs.Source.File, fs.Target)
}

// LoopMark is what lxctl writes in the lo_file_name of the loop devices it
// attaches for a domain of a root: derived from the root and the name, so
// the sweep finds the domain's loop devices without a record. lo_file_name
// holds 63 bytes; a long name is replaced by a hash of it.
func LoopMark(l state.Layout, name string) string {
	m := "lxctl/" + l.Key() + "/" + name
	if len(m) > unix.LO_NAME_SIZE-1 {
		sum := sha256.Sum256([]byte(name))
		m = "lxctl/" + l.Key() + "/#" + hex.EncodeToString(sum[:12])
	}
	return m
}

// checkStorage refuses, before anything is made, a storage filesystem or
// hostdev the host cannot give: a missing source, a file that is not a
// regular file, a block source that is not a block device, a loop driver
// asked for another format than raw, an nbd driver without qemu-nbd or the
// nbd module.
func checkStorage(d *domainxml.Domain) error {
	for _, fs := range d.Devices.Filesystems {
		if !isStorage(fs) {
			continue
		}
		if fs.Type == "file" {
			if err := checkFileDriver(fs); err != nil {
				return err
			}
			fi, err := os.Stat(fs.Source.File)
			if err != nil {
				return fmt.Errorf("%s: %w", fsWhat(fs), unwrapPathErr(err))
			}
			if !fi.Mode().IsRegular() {
				hint := ""
				if fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 {
					hint = ": for a block device use <filesystem type='block'> with <source dev='...'/>"
				}
				return fmt.Errorf("%s is not a regular file (%s)%s", fsWhat(fs), fileTypeOf(fi.Mode()), hint)
			}
			continue
		}
		if _, err := blockDevice(fs.Source.Dev); err != nil {
			return fmt.Errorf("%s: %w", fsWhat(fs), err)
		}
	}
	for _, hd := range d.Devices.Hostdevs {
		if _, err := hostdevDevice(hd); err != nil {
			return err
		}
	}
	return nil
}

// checkFileDriver checks <driver> of a file filesystem: libvirt's loop
// (the default) takes raw images only; nbd goes through qemu-nbd.
func checkFileDriver(fs domainxml.Filesystem) error {
	drv := domainxml.FSDriver{}
	if fs.Driver != nil {
		drv = *fs.Driver
	}
	switch drv.Type {
	case "", "loop":
		if drv.Format != "" && drv.Format != "raw" {
			return fmt.Errorf("%s: <driver type='loop' format='%s'>: a loop device takes raw images only (use format='raw', or <driver type='nbd' format='%s'/>)", fsWhat(fs), drv.Format, drv.Format)
		}
	case "nbd":
		if missing := nbdMissing(); len(missing) > 0 {
			return fmt.Errorf("%s: <driver type='nbd' format='%s'> needs %s on this host", fsWhat(fs), drv.Format, strings.Join(missing, " and "))
		}
		// Both are there: domainxml's Unsupported says lxctl does not
		// drive qemu-nbd yet.
	default:
		return fmt.Errorf("%s: <driver type='%s'> is not for image files (use type='loop' for raw images)", fsWhat(fs), drv.Type)
	}
	return nil
}

// nbdMissing lists what a qcow2 (or other non-raw) image through qemu-nbd
// needs and the host lacks, each with the fix.
func nbdMissing() []string {
	var missing []string
	if _, err := exec.LookPath("qemu-nbd"); err != nil {
		missing = append(missing, "qemu-nbd (not found in PATH: apt-get install qemu-utils)")
	}
	if _, err := os.Stat("/sys/module/nbd"); err != nil {
		missing = append(missing, "the nbd kernel module (not loaded: modprobe nbd)")
	}
	return missing
}

// blockDevice stats a host block device (following symlinks, as
// /dev/disk/by-uuid/... are) and returns its device number.
func blockDevice(p string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, fmt.Errorf("not a block device (%s)", typeName(st.Mode))
	}
	return st.Rdev, nil
}

// typeName says what kind of file a stat mode is, for errors.
func typeName(m uint32) string {
	return map[uint32]string{
		unix.S_IFREG: "a regular file", unix.S_IFDIR: "a directory", unix.S_IFCHR: "a character device",
		unix.S_IFBLK: "a block device", unix.S_IFIFO: "a FIFO", unix.S_IFSOCK: "a socket", unix.S_IFLNK: "a symlink",
	}[m&unix.S_IFMT]
}

// fileTypeOf is fileType, with a block device named as such.
func fileTypeOf(m os.FileMode) string {
	if m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0 {
		return "a block device"
	}
	if m&os.ModeCharDevice != 0 {
		return "a character device"
	}
	return fileType(m)
}

// hostdevDevice is the device node and cgroup rule of a storage or misc
// hostdev: libvirt's path, the host node's type and major:minor, mode 0700,
// read, write and mknod allowed. Other hostdevs (net, subsystem) are not
// nodes: nil.
func hostdevDevice(hd domainxml.Hostdev) (*config.Device, error) {
	if hd.Mode != "capabilities" || (hd.Type != "storage" && hd.Type != "misc") {
		return nil, nil
	}
	src, want, kind := hd.Block, config.BlockDevice, "block"
	if hd.Type == "misc" {
		src, want, kind = hd.Char, config.CharDevice, "character"
	}
	what := fmt.Sprintf("<hostdev type='%s'> source '%s'", hd.Type, src)
	// The node is made at the same path in the container (as libvirt),
	// and only under /dev: the container's /dev is a tmpfs of its own,
	// while anywhere else the node would land in the root filesystem on
	// disk and outlive the container.
	if path.Clean(src) != src || !strings.HasPrefix(src, "/dev/") {
		return nil, fmt.Errorf("%s: give the device's path under /dev (e.g. /dev/sdb1): the node is made at that path in the container's /dev", what)
	}
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	got := config.Type(0)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		got = config.BlockDevice
	case unix.S_IFCHR:
		got = config.CharDevice
	}
	if got != want {
		other := map[config.Type]string{config.BlockDevice: " (it is a block device: use type='storage' with <block>)", config.CharDevice: " (it is a character device: use type='misc' with <char>)"}[got]
		return nil, fmt.Errorf("%s is not a %s device%s", what, kind, other)
	}
	return &config.Device{
		Rule: config.Rule{Type: want, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)), Permissions: "rwm", Allow: true},
		Path: src, FileMode: 0o700,
	}, nil
}

// hostdevDevices are the nodes of every storage and misc hostdev.
func hostdevDevices(d *domainxml.Domain) ([]*config.Device, error) {
	var out []*config.Device
	for _, hd := range d.Devices.Hostdevs {
		dev, err := hostdevDevice(hd)
		if err != nil {
			return nil, err
		}
		if dev != nil {
			out = append(out, dev)
		}
	}
	return out, nil
}

// storage is what the controller mounted for a domain.
type storage struct {
	// dirs maps the index of each block or file <filesystem> to the
	// directory where it is mounted in the controller's namespace.
	dirs map[int]string
	// mounts in the order they were made.
	mounts []string
	root   string // the mount of the filesystem with target '/', or ""
	// locks are the images, open and flocked for the controller's life
	// (lockImage).
	locks []*os.File
	// nodes maps a hostdev's path in the container to the node the
	// controller made for it (makeHostdevNodes), in a user namespace only.
	nodes map[string]string
}

// hostdevNodesDir is the controller's tmpfs (in its own mount namespace)
// holding the hostdev nodes of a user-namespaced container.
const hostdevNodesDir = "dev"

// makeHostdevNodes makes the storage and misc hostdev nodes of a container
// with <idmap> itself, as libvirt does: in a user namespace libcontainer
// can only bind the host's own node, which belongs to the host's root
// (mode 0600 or so) and so does not open for the container's root, and a
// node made inside, on the container's /dev (a tmpfs mounted in the user
// namespace), never opens at all (the kernel's SB_I_NODEV). So the
// controller mounts a small tmpfs of its own, outside any user namespace,
// makes each node there (the host device's type and number, mode 0700,
// owned by the container's root as the maps place it) and the container
// gets a bind of it at the hostdev's path. The device cgroup rule is the
// same either way.
func makeHostdevNodes(runDir string, d *domainxml.Domain, st *storage) error {
	if len(d.IDMap.UIDs) == 0 {
		return nil
	}
	devs, err := hostdevDevices(d)
	if err != nil || len(devs) == 0 {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make / rslave in the controller's mount namespace: %w", err)
	}
	dir := filepath.Join(runDir, hostdevNodesDir)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := unix.Mount("lxctl-hostdev", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0700,size=64k"); err != nil {
		return fmt.Errorf("mount the tmpfs for hostdev nodes at %s: %w", dir, err)
	}
	st.mounts = append(st.mounts, dir)
	uid, gid := mappedRoot(d.IDMap.UIDs), mappedRoot(d.IDMap.GIDs)
	st.nodes = map[string]string{}
	for i, dev := range devs {
		p := filepath.Join(dir, strconv.Itoa(i))
		mode := uint32(unix.S_IFCHR)
		if dev.Type == config.BlockDevice {
			mode = unix.S_IFBLK
		}
		if err := unix.Mknod(p, mode|uint32(dev.FileMode), int(unix.Mkdev(uint32(dev.Major), uint32(dev.Minor)))); err != nil {
			return fmt.Errorf("<hostdev> %s: make its node: %w", dev.Path, err)
		}
		if err := unix.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("<hostdev> %s: give its node to the container's root: %w", dev.Path, err)
		}
		st.nodes[dev.Path] = p
	}
	return nil
}

// mappedRoot is the host id that id 0 of the container maps to (0 when the
// maps leave it out).
func mappedRoot(m []domainxml.IDMapEntry) int {
	for _, e := range m {
		if e.Start == 0 && e.Count > 0 {
			return int(e.Target)
		}
	}
	return 0
}

// mountStorage attaches and mounts every block and file filesystem of d
// below runDir, in the controller's mount namespace. On error what was
// made so far is left in st for unmountStorage (teardown) to undo.
func mountStorage(l state.Layout, name, runDir string, d *domainxml.Domain, st *storage) error {
	st.dirs = map[int]string{}
	first := true
	for i, fs := range d.Devices.Filesystems {
		if !isStorage(fs) {
			continue
		}
		if first {
			// Nothing mounted here may reach the host's namespace.
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
				return fmt.Errorf("make / rslave in the controller's mount namespace: %w", err)
			}
			if err := os.Mkdir(filepath.Join(runDir, storageDir), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			first = false
		}
		dir := filepath.Join(runDir, storageDir, strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		var err error
		if fs.Type == "file" {
			err = mountImage(fs, dir, LoopMark(l, name), st)
		} else {
			err = mountBlock(fs, dir)
		}
		if err != nil {
			return err
		}
		st.dirs[i] = dir
		st.mounts = append(st.mounts, dir)
		if fs.Target == "/" {
			st.root = dir
		}
	}
	return nil
}

// mountImage attaches the image to a loop device (read-only with
// <readonly/>) and mounts the filesystem on it at dir. The loop device is
// held open only until the mount holds it: from then on the mount is its
// only user, and LO_FLAGS_AUTOCLEAR detaches it when the mount goes.
func mountImage(fs domainxml.Filesystem, dir, mark string, st *storage) error {
	img, err := openSource(fs, fs.Source.File)
	if err != nil {
		return err
	}
	if fi, err := img.Stat(); err != nil {
		img.Close()
		return fmt.Errorf("%s: %w", fsWhat(fs), err)
	} else if !fi.Mode().IsRegular() {
		img.Close()
		return fmt.Errorf("%s is not a regular file (%s)", fsWhat(fs), fileTypeOf(fi.Mode()))
	}
	if err := lockImage(fs, img); err != nil {
		img.Close()
		return err
	}
	st.locks = append(st.locks, img)
	dev, err := attachLoop(img, fs.ReadOnly, mark)
	if err != nil {
		return fmt.Errorf("%s: %w", fsWhat(fs), err)
	}
	defer dev.Close()
	return mountDevice(fs, dev, dir)
}

// lockImage keeps one image from being mounted twice read-write: two
// filesystems over the same blocks (two loop devices, two mounts) corrupt
// each other. Among lxctl's domains a flock on the image decides, held
// by the controller for its life (exclusive for read-write, shared for
// <readonly/>), so two starts racing for one image cannot both win; a
// loop device attached to the image by anyone else (losetup, libvirt) is
// found by the backing file's device and inode.
func lockImage(fs domainxml.Filesystem, img *os.File) error {
	how, mode := unix.LOCK_EX, "read-write"
	if fs.ReadOnly {
		how, mode = unix.LOCK_SH, "read-only"
	}
	if err := unix.Flock(int(img.Fd()), how|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%s: the image is in use by another running domain (or another <filesystem> of this one); one image is mounted %s by one domain at a time, or read-only (<readonly/>) by all", fsWhat(fs), mode)
		}
		return fmt.Errorf("%s: lock the image: %w", fsWhat(fs), err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(img.Fd()), &st); err != nil {
		return fmt.Errorf("%s: %w", fsWhat(fs), err)
	}
	bound, _ := filepath.Glob("/sys/block/loop*/loop")
	for _, b := range bound {
		dev := filepath.Base(filepath.Dir(b))
		f, err := openLoop(dev)
		if err != nil {
			continue
		}
		info, err := unix.IoctlLoopGetStatus64(int(f.Fd()))
		f.Close()
		if err != nil || info.Device != st.Dev || info.Inode != st.Ino {
			continue
		}
		if ro := info.Flags&unix.LO_FLAGS_READ_ONLY != 0; !ro || !fs.ReadOnly {
			state := "read-only"
			if !ro {
				state = "read-write"
			}
			return fmt.Errorf("%s: the image is already attached to /dev/%s (%s, by %s): mounting it twice corrupts it; detach it first (losetup -d /dev/%s), or make both read-only", fsWhat(fs), dev, state, loopOwner(info), dev)
		}
	}
	return nil
}

// loopOwner says who attached a loop device, from its lo_file_name.
func loopOwner(info *unix.LoopInfo64) string {
	name := string(bytes.TrimRight(info.File_name[:], "\x00"))
	if strings.HasPrefix(name, "lxctl/") {
		return "lxctl, " + name
	}
	return "something other than lxctl"
}

// openSource opens the source of fs at path (its image file or block
// device): read-write, or read-only for <readonly/>.
func openSource(fs domainxml.Filesystem, path string) (*os.File, error) {
	flags := unix.O_RDWR
	if fs.ReadOnly {
		flags = unix.O_RDONLY
	}
	f, err := os.OpenFile(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fsWhat(fs), unwrapPathErr(err))
	}
	return f, nil
}

// mountBlock mounts a host block device at dir.
func mountBlock(fs domainxml.Filesystem, dir string) error {
	dev, err := openSource(fs, fs.Source.Dev)
	if err != nil {
		return err
	}
	defer dev.Close()
	return mountDevice(fs, dev, dir)
}

// mountDevice mounts the filesystem on the open block device dev at dir,
// read-only with <readonly/>. The device is held open until mounted, so a
// loop device cannot be detached in between.
func mountDevice(fs domainxml.Filesystem, dev *os.File, dir string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(dev.Fd()), &st); err != nil {
		return fmt.Errorf("%s: %w", fsWhat(fs), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return fmt.Errorf("%s: not a block device (%s)", fsWhat(fs), typeName(st.Mode))
	}
	src := dev.Name()
	var flags uintptr
	if fs.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	fstype := detectFS(dev)
	if fstype != "" {
		if err := unix.Mount(src, dir, fstype, flags, ""); err != nil {
			return fmt.Errorf("%s: mount its %s filesystem: %w", fsWhat(fs), fstype, err)
		}
		return nil
	}
	// No superblock lxctl knows: try the kernel's block filesystems in
	// turn, as mount(8) and libvirt do without blkid's answer.
	tried, err := kernelBlockFilesystems()
	if err != nil {
		return fmt.Errorf("%s: %w", fsWhat(fs), err)
	}
	for _, t := range tried {
		if unix.Mount(src, dir, t, flags|unix.MS_SILENT, "") == nil {
			return nil
		}
	}
	return fmt.Errorf("%s: no filesystem found on it (looked for ext2/3/4, xfs, btrfs, squashfs, erofs, f2fs, iso9660 and vfat, and tried %s): make one (e.g. mkfs.ext4 on the image) or fix the source", fsWhat(fs), strings.Join(tried, ", "))
}

// kernelBlockFilesystems are the filesystem types of /proc/filesystems
// that live on a block device (no "nodev"), fuseblk aside (it needs a
// FUSE daemon).
func kernelBlockFilesystems() ([]string, error) {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 1 && f[0] != "fuseblk" {
			out = append(out, f[0])
		}
	}
	return out, nil
}

// detectFS reads the superblock magic of the filesystem on dev and returns
// the kernel's name for it, "" when it knows none of them.
func detectFS(dev io.ReaderAt) string {
	buf := make([]byte, 0x10048)
	n, _ := dev.ReadAt(buf, 0)
	buf = buf[:n]
	at := func(off int, magic string) bool {
		return len(buf) >= off+len(magic) && string(buf[off:off+len(magic)]) == magic
	}
	le32 := func(off int) uint32 {
		if len(buf) < off+4 {
			return 0
		}
		return binary.LittleEndian.Uint32(buf[off:])
	}
	switch {
	case at(0, "XFSB"):
		return "xfs"
	case at(0, "hsqs"):
		return "squashfs"
	case at(0x438, "\x53\xef"):
		return extVersion(le32(0x45c), le32(0x460), le32(0x464))
	case le32(1024) == 0xe0f5e1e2:
		return "erofs"
	case le32(1024) == 0xf2f52010:
		return "f2fs"
	case at(0x10040, "_BHRfS_M"):
		return "btrfs"
	case at(0x8001, "CD001"):
		return "iso9660"
	case at(510, "\x55\xaa") && (at(54, "FAT") || at(82, "FAT32")):
		return "vfat"
	}
	return ""
}

// extVersion tells ext2, ext3 and ext4 apart from the superblock's feature
// flags (compat, incompat, ro_compat), as blkid does: a feature beyond
// ext3's makes it ext4, a journal without them ext3. A kernel without the
// older drivers mounts them with ext4's.
func extVersion(compat, incompat, roCompat uint32) string {
	const (
		hasJournal  = 0x4
		ext3Incompt = 0x2 | 0x4 | 0x8 | 0x10 // filetype, recover, journal_dev, meta_bg
		ext3RO      = 0x1 | 0x2 | 0x4        // sparse_super, large_file, btree_dir
	)
	v := "ext2"
	switch {
	case incompat&^ext3Incompt != 0 || roCompat&^ext3RO != 0:
		v = "ext4"
	case compat&hasJournal != 0:
		v = "ext3"
	}
	if types, err := kernelBlockFilesystems(); err == nil && !contains(types, v) {
		return "ext4"
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// attachLoop attaches img to a free loop device with the domain's mark,
// LO_FLAGS_AUTOCLEAR, and LO_FLAGS_READ_ONLY when readonly, and returns the
// open device. Another process may take the free device between
// LOOP_CTL_GET_FREE and LOOP_CONFIGURE: that one fails with EBUSY and the
// next free device is tried.
func attachLoop(img *os.File, readonly bool, mark string) (*os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("attach a loop device: %w (is the loop module loaded? modprobe loop)", err)
	}
	defer ctl.Close()
	flags := unix.O_RDWR
	if readonly {
		flags = unix.O_RDONLY
	}
	var lastErr error
	for attempt := 0; attempt < 64; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("find a free loop device: %w", err)
		}
		p := "/dev/loop" + strconv.Itoa(n)
		dev, err := os.OpenFile(p, flags|unix.O_CLOEXEC, 0)
		if errors.Is(err, os.ErrNotExist) {
			// A device just made by LOOP_CTL_GET_FREE; devtmpfs adds
			// its node a moment later.
			lastErr = err
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		cfg := unix.LoopConfig{Fd: uint32(img.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
		if readonly {
			cfg.Info.Flags |= unix.LO_FLAGS_READ_ONLY
		}
		copy(cfg.Info.File_name[:unix.LO_NAME_SIZE-1], mark)
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if err == nil {
			return dev, nil
		}
		dev.Close()
		if !errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("attach %s to %s: %w", img.Name(), p, err)
		}
		lastErr = err
	}
	return nil, fmt.Errorf("no free loop device could be attached after 64 tries: %w", lastErr)
}

// unmountStorage unmounts what mountStorage mounted, last first. A mount
// still busy (a process of the dead container not yet gone) is detached
// lazily: the kernel finishes when its last user goes.
func unmountStorage(st *storage) error {
	var errs []error
	for i := len(st.mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(st.mounts[i], 0); err != nil && !errors.Is(err, unix.EINVAL) {
			if err := unix.Unmount(st.mounts[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", st.mounts[i], err))
			}
		}
	}
	st.mounts = nil
	return errors.Join(errs...)
}

// releaseImages drops the images' locks: last, once their loop devices
// are detached, so the next user finds the image free.
func releaseImages(st *storage) {
	for _, f := range st.locks {
		f.Close()
	}
	st.locks = nil
}

// DetachLoops detaches every loop device that carries the domain's mark
// and waits, up to loopWait, until the kernel has released each: its
// mounts are gone with the container's and the controller's mount
// namespaces (or were unmounted by teardown), and LO_FLAGS_AUTOCLEAR (set
// again by LOOP_CLR_FD) detaches it on its last close. A device still
// bound after that is still mounted somewhere (a process that entered the
// container's mount namespace): it is named in the error.
func DetachLoops(l state.Layout, name string) error {
	mark := LoopMark(l, name)
	var busy []string
	for _, dev := range markedLoops(mark) {
		if !waitUnbound(dev, loopWait) {
			busy = append(busy, "/dev/"+dev)
		}
	}
	if len(busy) > 0 {
		return fmt.Errorf("loop device(s) %s of domain '%s' still in use after %s: something still has the image mounted (find it with: grep %s /proc/*/mountinfo)", strings.Join(busy, ", "), name, loopWait, busy[0])
	}
	return nil
}

// markedLoops lists the bound loop devices (loopN) whose lo_file_name is
// mark, and asks the kernel to detach each on its last close.
func markedLoops(mark string) []string {
	bound, _ := filepath.Glob("/sys/block/loop*/loop")
	var out []string
	for _, b := range bound {
		dev := filepath.Base(filepath.Dir(b))
		f, err := openLoop(dev)
		if err != nil {
			continue
		}
		info, err := unix.IoctlLoopGetStatus64(int(f.Fd()))
		if err == nil && string(bytes.TrimRight(info.File_name[:], "\x00")) == mark {
			out = append(out, dev)
			// Marks it autoclear (already set) and, if this is the last
			// opener, detaches it on the close below.
			_ = unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
		}
		f.Close()
	}
	return out
}

// openLoop opens /dev/<dev> for its ioctls, checking the node is the
// kernel's device of that name (its number is in sysfs).
func openLoop(dev string) (*os.File, error) {
	want, err := os.ReadFile(filepath.Join("/sys/block", dev, "dev"))
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join("/dev", dev), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK ||
		fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev)) != strings.TrimSpace(string(want)) {
		f.Close()
		return nil, fmt.Errorf("/dev/%s is not the kernel's %s", dev, dev)
	}
	return f, nil
}

// waitUnbound waits until loop device dev has no backing file.
func waitUnbound(dev string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		if _, err := os.Stat(filepath.Join("/sys/block", dev, "loop")); errors.Is(err, os.ErrNotExist) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}
