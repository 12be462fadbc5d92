package container

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/capability"
	"github.com/moby/sys/user"
	"github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/network"
)

// DefaultPartition is libvirt's default resource partition.
const DefaultPartition = "/machine"

// DefaultPidsLimit bounds the number of tasks in a container. libvirt sets
// none, so a fork bomb in a container takes the host down; lxctl sets one.
const DefaultPidsLimit = 16384

// libvirtDroppedCaps are the capabilities libvirt's default policy drops
// unless the domain turns them on explicitly.
var libvirtDroppedCaps = []string{"sys_module", "sys_time", "mknod", "audit_control", "mac_admin"}

// Options are the knobs of a start that are not in the domain XML.
type Options struct {
	PidsLimit int64
	// CgroupLeaf is the last component of the domain's cgroup path
	// (state.Layout.CgroupLeaf): the controller derives it from its root.
	CgroupLeaf string
	// StorageDirs maps the index of each block or file <filesystem> to
	// where the controller mounted it (storage.go); the container gets a
	// bind of it.
	StorageDirs map[int]string
	// HostdevNodes maps a hostdev's path in the container to the node the
	// controller made for it, bound there instead of libcontainer's node
	// (a user namespace only: makeHostdevNodes).
	HostdevNodes map[string]string
	// NetNSPath is the network namespace the container joins instead of
	// getting its own (<lxc:sharenet>, network.ShareNetPath).
	NetNSPath string
}

// CgroupPath is where a domain's cgroups live in every hierarchy:
// <partition>/<leaf>, leaf being "<name>.lxctl-<root key>"
// (state.Layout.CgroupLeaf), so lxctl and libvirt (".libvirt-lxc") can
// share a host, and neither two domains nor two roots share a cgroup.
func CgroupPath(d *domainxml.Domain, leaf string) (string, error) {
	p, err := Partition(d)
	if err != nil {
		return "", err
	}
	if leaf == "" || strings.ContainsRune(leaf, '/') || !strings.HasPrefix(leaf, d.Name+".lxctl") {
		return "", fmt.Errorf("cgroup name %q is not domain '%s''s (want <name>.lxctl-<key>)", leaf, d.Name)
	}
	return filepath.Join(p, leaf), nil
}

// Partition is the domain's cgroup partition, checked: <resource><partition>
// or DefaultPartition.
func Partition(d *domainxml.Domain) (string, error) {
	p := d.Resource.Partition
	if p == "" {
		p = DefaultPartition
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("resource partition '%s' must start with '/' (e.g. /machine)", p)
	}
	clean := filepath.Clean(p)
	if clean != p && clean+"/" != p {
		return "", fmt.Errorf("resource partition '%s' is not a clean absolute path (use %s)", p, clean)
	}
	return clean, nil
}

// Env is the environment init gets: libvirt's, then the domain's initenv.
func Env(d *domainxml.Domain) []string {
	env := []string{
		"PATH=/bin:/sbin",
		"TERM=linux",
		"container=lxc-libvirt",
		"HOME=/",
		"container_uuid=" + d.UUID,
		"LIBVIRT_LXC_UUID=" + d.UUID,
		"LIBVIRT_LXC_NAME=" + d.Name,
	}
	if d.OS.Cmdline != "" {
		env = append(env, "LIBVIRT_LXC_CMDLINE="+d.OS.Cmdline)
	}
	for _, e := range d.OS.InitEnv {
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// Capabilities computes the capability set of init from the domain's
// <features><capabilities> the way libvirt does: the default policy drops
// only a handful, allow keeps all but those turned off, deny keeps only
// those turned on.
func Capabilities(d *domainxml.Domain) []string {
	policy := "default"
	switches := map[string]bool{}
	if c := d.Features.Capabilities; c != nil {
		if c.Policy != "" {
			policy = c.Policy
		}
		for _, s := range c.Caps {
			switches[s.Name] = s.On
		}
	}
	last, err := capability.LastCap()
	if err != nil {
		last = capability.ListKnown()[len(capability.ListKnown())-1]
	}
	dropByDefault := map[string]bool{}
	for _, n := range libvirtDroppedCaps {
		dropByDefault[n] = true
	}
	var caps []string
	for _, c := range capability.ListKnown() {
		if c > last {
			continue
		}
		name := c.String()
		on, set := switches[name]
		keep := false
		switch policy {
		case "allow":
			keep = !set || on
		case "deny":
			keep = set && on
		default:
			keep = (!dropByDefault[name] && !set) || (set && on)
		}
		// A capability lxctl itself lacks (this host's root has no
		// sys_resource) cannot be granted: asking for it fails the start.
		if bound, err := capability.GetBound(c); err == nil && !bound {
			keep = false
		}
		if keep {
			caps = append(caps, "CAP_"+strings.ToUpper(name))
		}
	}
	return caps
}

// rootfsSource returns the host directory that becomes the container's
// root, or "" when the domain has none and shares the host's root, or has
// an image or block device there (the controller mounts it: storage.go).
// readonly is the root's <readonly/>, whatever its type.
func rootfsSource(d *domainxml.Domain) (dir string, readonly bool) {
	for _, fs := range d.Devices.Filesystems {
		if fs.Target == "/" && (fs.Type == "" || fs.Type == "mount") {
			return fs.Source.Dir, fs.ReadOnly
		}
		if fs.Target == "/" && isStorage(fs) {
			return "", fs.ReadOnly
		}
	}
	return "", false
}

// CheckRunnable refuses, before anything is created, what lxctl cannot run
// and what would make init fail: unsupported devices, missing filesystem
// sources, an init that is missing, not executable or for another machine.
// rootfs is the host path of the container's root; "" for an image or
// block device root not mounted yet, whose insides (bind sources, init)
// are checked by a second call once it is.
func CheckRunnable(d *domainxml.Domain, rootfs string) error {
	// Before Unsupported: an nbd image is refused naming what the host
	// lacks (qemu-nbd, the nbd module).
	if err := checkStorage(d); err != nil {
		return err
	}
	if un := d.Unsupported(); len(un) > 0 {
		return fmt.Errorf("lxctl cannot run this domain yet: %s", strings.Join(un, "; "))
	}
	// Interfaces are resolved by package network at the controller's setup.
	if err := network.CheckSupported(d); err != nil {
		return err
	}
	for _, fs := range d.Devices.Filesystems {
		switch fs.Type {
		case "", "mount":
			if _, err := os.Stat(fs.Source.Dir); err != nil {
				return fmt.Errorf("<filesystem> source dir '%s' for target '%s': %w", fs.Source.Dir, fs.Target, unwrapPathErr(err))
			}
		case "ram", "block", "file":
			// block and file: checkStorage.
		case "bind":
			if rootfs == "" {
				continue
			}
			p, err := securejoin.SecureJoin(rootfs, fs.Source.Dir)
			if err == nil {
				_, err = os.Stat(p)
			}
			if err != nil {
				return fmt.Errorf("<filesystem type='bind'> source dir '%s' (inside the container) for target '%s': %w", fs.Source.Dir, fs.Target, unwrapPathErr(err))
			}
		default:
			return fmt.Errorf("<filesystem type='%s'> for target '%s' is not supported (use type mount, bind, ram, block or file)", fs.Type, fs.Target)
		}
	}
	if rootfs == "" {
		return nil
	}
	if err := checkReachable(d, rootfs); err != nil {
		return err
	}
	return checkInit(d.OS.Init, rootfs)
}

// checkReachable: with <idmap> the container's setup runs as the mapped
// root, which must be able to walk down to the root filesystem. Without
// this check a directory on the way that is private to the host's root
// (mktemp -d makes 0700 ones) fails deep in libcontainer with
// "remount-propagation ... permission denied".
func checkReachable(d *domainxml.Domain, rootfs string) error {
	if len(d.IDMap.UIDs) == 0 {
		return nil
	}
	mapped := func(id uint32, m []domainxml.IDMapEntry) bool {
		for _, e := range m {
			if id >= e.Target && id-e.Target < e.Count {
				return true
			}
		}
		return false
	}
	for dir := filepath.Clean(rootfs); ; dir = filepath.Dir(dir) {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			return fmt.Errorf("root filesystem '%s': %s: %w", rootfs, dir, err)
		}
		ok := st.Mode&0o001 != 0 ||
			(st.Mode&0o100 != 0 && mapped(st.Uid, d.IDMap.UIDs)) ||
			(st.Mode&0o010 != 0 && mapped(st.Gid, d.IDMap.GIDs))
		if !ok {
			return fmt.Errorf("root filesystem '%s' cannot be reached from the container's user namespace (<idmap>): '%s' is mode %04o, owner %d: let others traverse it (chmod o+x '%s') or keep the root filesystem elsewhere", rootfs, dir, st.Mode&0o7777, st.Uid, dir)
		}
		if dir == "/" {
			return nil
		}
	}
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkInit reports what libvirt only notices once the domain is gone: an
// init that does not exist in the container root, is not an executable
// file, or is built for another machine.
func checkInit(init, rootfs string) error {
	where := "in the container root " + rootfs
	if rootfs == "/" {
		where = "on the host root (the domain has no <filesystem> with target '/')"
	}
	// Opened as any container file the controller reads (rootfsfile.go):
	// a FIFO there must not hang the start.
	f, fi, err := openRootfsFile(rootfs, init)
	switch {
	case errors.Is(err, errNotRegular):
		return fmt.Errorf("init '%s' %s is not a regular file", init, where)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cannot find init '%s' %s: %w", init, where, unwrapPathErr(err))
	case err != nil:
		return fmt.Errorf("init '%s': %w", init, unwrapPathErr(err))
	}
	defer f.Close()
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("init '%s' %s is not executable (chmod +x it)", init, where)
	}
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil {
		return fmt.Errorf("init '%s' %s is not an executable (too short)", init, where)
	}
	switch {
	case string(magic[:2]) == "#!":
		return nil
	case string(magic[:]) == elf.ELFMAG:
		ef, err := elf.NewFile(f)
		if err != nil {
			return fmt.Errorf("init '%s' %s is not a valid ELF executable: %w", init, where, err)
		}
		if want := hostMachine(); want != elf.EM_NONE && ef.Machine != want {
			return fmt.Errorf("init '%s' %s is built for %s, but this host runs %s: exec format error", init, where, ef.Machine, want)
		}
		return nil
	}
	return fmt.Errorf("init '%s' %s is neither an ELF binary nor a #! script: exec format error", init, where)
}

func hostMachine() elf.Machine {
	switch runtime.GOARCH {
	case "amd64":
		return elf.EM_X86_64
	case "arm64":
		return elf.EM_AARCH64
	case "386":
		return elf.EM_386
	case "arm":
		return elf.EM_ARM
	case "ppc64le", "ppc64":
		return elf.EM_PPC64
	case "s390x":
		return elf.EM_S390
	case "riscv64":
		return elf.EM_RISCV
	}
	return elf.EM_NONE
}

// Spec builds the OCI spec of a domain. rootfs is the host path that
// becomes "/" (the domain's root filesystem, or the controller's private
// rbind of the host root).
func Spec(d *domainxml.Domain, rootfs string, opts Options) (*specs.Spec, error) {
	cgPath, err := CgroupPath(d, opts.CgroupLeaf)
	if err != nil {
		return nil, err
	}
	_, rootRO := rootfsSource(d)
	caps := Capabilities(d)
	seccomp, err := seccompSpec(d)
	if err != nil {
		return nil, err
	}
	s := &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: rootfs, Readonly: rootRO},
		Hostname: d.Name,
		Process: &specs.Process{
			Terminal: true,
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
		},
		Mounts: baseMounts(),
		Linux: &specs.Linux{
			CgroupsPath: cgPath,
			// libvirt adds no cgroup namespace; lxctl does, so that the
			// container sees (and can mount) only its own subtree of
			// every hierarchy, never the host's or other containers'.
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace}, {Type: specs.PIDNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.CgroupNamespace},
			},
			Seccomp: seccomp,
			// libvirt makes /proc/sys read-only and hides nothing else;
			// masking the kernel's sensitive files as runc does costs nothing.
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			Resources: resources(d, opts),
		},
	}
	if opts.NetNSPath != "" {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: opts.NetNSPath})
	} else if d.NeedsNetNS() {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	if len(d.IDMap.UIDs) > 0 {
		if !d.NeedsNetNS() {
			// sysfs can only be mounted by the owner of the network
			// namespace; a user namespace sharing the host's network gets
			// the host's /sys bound read-only instead (runc does the same).
			for i := range s.Mounts {
				if s.Mounts[i].Destination == "/sys" {
					s.Mounts[i] = specs.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
				}
			}
		}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		for _, m := range d.IDMap.UIDs {
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, specs.LinuxIDMapping{ContainerID: m.Start, HostID: m.Target, Size: m.Count})
		}
		for _, m := range d.IDMap.GIDs {
			s.Linux.GIDMappings = append(s.Linux.GIDMappings, specs.LinuxIDMapping{ContainerID: m.Start, HostID: m.Target, Size: m.Count})
		}
	}
	for i, fs := range d.Devices.Filesystems {
		if fs.Target == "/" {
			continue
		}
		m, err := fsMount(fs, rootfs, opts.StorageDirs[i])
		if err != nil {
			return nil, err
		}
		s.Mounts = append(s.Mounts, m)
	}
	return s, nil
}

// baseMounts are the container's own /proc, /sys (read-only), /dev (a small
// tmpfs with a new devpts instance) and /dev/shm, as libvirt gives them.
func baseMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		// The container's own cgroups, as libvirt mounts them for systemd:
		// through the cgroup namespace each hierarchy's root is the
		// container's cgroup. Read-write, because systemd makes its own
		// sub-cgroups; read-only would buy nothing against a privileged
		// root, which can mount a hierarchy itself.
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev"}},
	}
}

// fsMount is the container's mount of a filesystem; storageDir is where
// the controller mounted a block or file one.
func fsMount(fs domainxml.Filesystem, rootfs, storageDir string) (specs.Mount, error) {
	opts := []string{"rbind"}
	if fs.ReadOnly {
		opts = append(opts, "ro")
	}
	switch fs.Type {
	case "", "mount":
		return specs.Mount{Destination: fs.Target, Type: "bind", Source: fs.Source.Dir, Options: opts}, nil
	case "bind":
		// The source names a path inside the container: bind it from
		// the container's root before pivot_root.
		src, err := securejoin.SecureJoin(rootfs, fs.Source.Dir)
		if err != nil {
			return specs.Mount{}, fmt.Errorf("<filesystem type='bind'> source '%s': %w", fs.Source.Dir, err)
		}
		return specs.Mount{Destination: fs.Target, Type: "bind", Source: src, Options: opts}, nil
	case "block", "file":
		if storageDir == "" {
			return specs.Mount{}, fmt.Errorf("%s is not mounted by the controller", fsWhat(fs))
		}
		return specs.Mount{Destination: fs.Target, Type: "bind", Source: storageDir, Options: opts}, nil
	case "ram":
		o := []string{"nosuid", "nodev", "size=" + strconv.FormatUint(fs.Source.UsageBytes, 10)}
		if fs.ReadOnly {
			o = append(o, "ro")
		}
		return specs.Mount{Destination: fs.Target, Type: "tmpfs", Source: "tmpfs", Options: o}, nil
	}
	return specs.Mount{}, fmt.Errorf("<filesystem type='%s'> for target '%s' is not supported (use type mount, bind, ram, block or file)", fs.Type, fs.Target)
}

func resources(d *domainxml.Domain, opts Options) *specs.LinuxResources {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{},
		CPU:    &specs.LinuxCPU{},
	}
	// The current memory, when below the maximum, is the limit: that is
	// what setmem changes on a running domain, and a reboot keeps it.
	limit := int64(d.Memory * 1024)
	if c := d.CurrentMemory; c > 0 && c < d.Memory {
		limit = int64(c * 1024)
	}
	if h := d.MemTune.HardLimit; h != nil {
		limit = int64(*h * 1024)
	}
	if limit > 0 {
		r.Memory.Limit = &limit
	}
	if s := d.MemTune.SoftLimit; s != nil {
		v := int64(*s * 1024)
		r.Memory.Reservation = &v
	}
	if s := d.MemTune.SwapHardLimit; s != nil {
		v := int64(*s * 1024)
		r.Memory.Swap = &v
	}
	t := d.CPUTune
	if t.Shares != nil {
		v := *t.Shares
		r.CPU.Shares = &v
	}
	if t.Period != nil {
		v := *t.Period
		r.CPU.Period = &v
	}
	if t.Quota != nil && *t.Quota > 0 {
		v := *t.Quota
		r.CPU.Quota = &v
	}
	if d.VCPU.CPUSet != "" && d.VCPU.Placement != "auto" {
		// The cgroup file takes no exclusions ("0-3,^2"): normalise.
		if cpus, err := domainxml.ParseCPUSet(d.VCPU.CPUSet); err == nil {
			r.CPU.Cpus = domainxml.FormatCPUSet(cpus)
		}
	}
	if w := d.BlkioTune.Weight; w != nil {
		v := uint16(*w)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &v}
	}
	pids := opts.PidsLimit
	if pids == 0 {
		pids = DefaultPidsLimit
	}
	if pids > 0 {
		r.Pids = &specs.LinuxPids{Limit: &pids}
	}
	return r
}

// deviceRules is libvirt's device allow-list: null, zero, full, random,
// urandom, tty, console, ptmx, the pts devices and fuse; mknod of anything
// only when the domain turns the mknod capability on.
func deviceRules(d *domainxml.Domain) []*config.Rule {
	c := func(major, minor int64) *config.Rule {
		return &config.Rule{Type: config.CharDevice, Major: major, Minor: minor, Permissions: "rwm", Allow: true}
	}
	rules := []*config.Rule{
		{Type: config.WildcardDevice, Major: config.Wildcard, Minor: config.Wildcard, Permissions: "rwm", Allow: false},
		c(1, 3), c(1, 5), c(1, 7), c(1, 8), c(1, 9), c(5, 0), c(5, 1), c(5, 2), c(136, config.Wildcard), c(10, 229),
	}
	for _, s := range capsOn(d) {
		if s == "mknod" {
			rules = append(rules,
				&config.Rule{Type: config.CharDevice, Major: config.Wildcard, Minor: config.Wildcard, Permissions: "m", Allow: true},
				&config.Rule{Type: config.BlockDevice, Major: config.Wildcard, Minor: config.Wildcard, Permissions: "m", Allow: true})
		}
	}
	return rules
}

func capsOn(d *domainxml.Domain) []string {
	var on []string
	for _, c := range Capabilities(d) {
		on = append(on, strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	return on
}

// Config turns the spec into libcontainer's config through runc's own
// converter, then replaces the device rules with libvirt's allow-list (runc
// appends "mknod anything" to every container, which libvirt does not).
func Config(d *domainxml.Domain, rootfs string, opts Options) (*configs.Config, error) {
	s, err := Spec(d, rootfs, opts)
	if err != nil {
		return nil, err
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName: d.Name,
		Spec:       s,
	})
	if err != nil {
		return nil, fmt.Errorf("container config: %w", err)
	}
	cfg.Cgroups.Resources.Devices = deviceRules(d)
	// Storage and misc hostdevs: their node in /dev and exactly their
	// rule in the device cgroup (storage.go).
	hostdevs, err := hostdevDevices(d)
	if err != nil {
		return nil, err
	}
	for _, dev := range hostdevs {
		if node := opts.HostdevNodes[dev.Path]; node != "" {
			cfg.Mounts = append(cfg.Mounts, &configs.Mount{Source: node, Destination: dev.Path, Device: "bind", Flags: unix.MS_BIND})
		} else {
			cfg.Devices = append(cfg.Devices, dev)
		}
		rule := dev.Rule
		cfg.Cgroups.Resources.Devices = append(cfg.Cgroups.Resources.Devices, &rule)
	}
	// The container dies with its controller: no orphan that nothing manages.
	cfg.ParentDeathSignal = int(unix.SIGKILL)
	// lo comes up in every private network namespace, with or without
	// interfaces (libvirt's rule); the veths are moved in by the
	// controller through cfg.NetDevices (network.go).
	if d.NeedsNetNS() {
		cfg.Networks = []*configs.Network{{Type: "loopback"}}
	}
	return cfg, nil
}

// InitUser resolves <inituser>/<initgroup> in the container's own passwd
// and group files, as libvirt does after pivot_root.
func InitUser(d *domainxml.Domain, rootfs string) (uid, gid int, groups []int, err error) {
	if d.OS.InitUser == "" && d.OS.InitGroup == "" {
		return 0, 0, nil, nil
	}
	spec := d.OS.InitUser
	if spec == "" {
		spec = "0"
	}
	if d.OS.InitGroup != "" {
		spec += ":" + d.OS.InitGroup
	}
	// The container owns these files: read so that one that is a FIFO,
	// huge, or a symlink out of the root cannot block or fool the
	// controller (rootfsfile.go). Numeric ids work without them.
	passwd, pnote := rootfsDB(rootfs, "/etc/passwd")
	group, gnote := rootfsDB(rootfs, "/etc/group")
	u, err := user.GetExecUser(strings.TrimPrefix(spec, "+"), &user.ExecUser{}, passwd, group)
	if err != nil {
		for _, n := range []string{pnote, gnote} {
			if n != "" {
				err = fmt.Errorf("%w (%s)", err, n)
			}
		}
		return 0, 0, nil, fmt.Errorf("<inituser>/<initgroup> '%s' in the container: %w", spec, err)
	}
	return u.Uid, u.Gid, u.Sgids, nil
}
