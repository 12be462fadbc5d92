package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/cgroup"
	"github.com/lxctl/lxctl/console"
	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/network"
	"github.com/lxctl/lxctl/state"
)

// ConsoleLogLimit caps the console log; the newest bytes are kept.
const ConsoleLogLimit = 1 << 20

// syncMessage is the one line the controller writes on the sync pipe.
type syncMessage struct {
	OK    bool   `json:"ok"`
	PID   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// controller owns one running domain: its init, its console, its cgroups.
type controller struct {
	l      state.Layout
	name   string
	runDir string
	dom    *domainxml.Domain
	opts   Options
	rootfs string // what libcontainer pivots into

	st *state.Status
	// cgPaths are the domain's cgroup dirs, derived from the layout at
	// setup; what the controller freezes, kills and removes.
	cgPaths map[string]string
	// ownCg are the dirs of the controller's own cgroup (joinCgroup),
	// known once joining, when not nil, has delivered them (joinedCgroup).
	ownCg   map[string]string
	joining chan joinResult
	// movedOut, when not nil, delivers the result of the controller's
	// move out of ownCg that destroy began (moveOutEarly).
	movedOut chan error
	cons     *console.Server
	control  *net.UnixListener
	reqs     chan *controlRequest
	exec     *execServer // lxctl enter's processes (exec_server.go)

	lc      *libcontainer.Container
	proc    *libcontainer.Process
	initEnd chan syscall.WaitStatus
	// net is the domain's interfaces as planned at setup (package network).
	net *network.Plan
	// storage is what the controller mounted: images, block devices.
	storage storage
	// asked is what lxctl shutdown or reboot last asked of init (Poweroff
	// or Reboot), so that init's end is read as the answer; noRequest if
	// nothing was asked since init started.
	asked Event
	// trim is the pending trimResident of the last (re)start.
	trim *time.Timer
	// cgGone: the domain's cgroups were killed and removed (destroy's
	// stopInit) and teardown need not look again.
	cgGone bool
	// released, when not nil, delivers the result of releaseNet, begun
	// by destroy once every task was dead.
	released chan error
	// callerFinishes is set when the destroy request's caller removes
	// ownCg and records the stop once this process has exited
	// (Request.CallerFinishes).
	callerFinishes bool
}

// RunController is the body of the hidden controller command. sync is the
// pipe the starting CLI waits on; lock is this process's copy of the domain
// lock (nil if none), closed once setup is over and reported, so that no
// other command can touch the domain while it is set up or torn down after
// a failed setup, even if the CLI that started it is gone. It returns when
// the domain has stopped and everything it created is gone.
func RunController(l state.Layout, name string, opts Options, sync *os.File, lock *os.File) error {
	defer func() {
		if lock != nil { // on every early return too
			_ = lock.Close()
		}
	}()
	// PR_SET_PDEATHSIG fires when the parent *thread* exits. Keeping the
	// thread that forks init alive for the controller's whole life makes
	// "init dies with its controller" mean exactly that.
	runtime.LockOSThread()
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE)
	// libcontainer hands its init (this binary's Go runtime, booted
	// inside every new container for a few milliseconds of sequential
	// work) no environment but this process's GOMAXPROCS. One P is all
	// that init uses.
	if os.Getenv("GOMAXPROCS") == "" {
		os.Setenv("GOMAXPROCS", "1")
	}
	if w, err := openControllerLog(l, name); err == nil {
		logrus.SetOutput(w)
	}
	step("controller has the domain")

	// Mounts made here (the host-root bind, making / rslave) must stay in
	// the mount namespace lxctl start made for the controller; run any
	// other way, they would land in the caller's.
	if self, parent := mountNS(os.Getpid()), mountNS(os.Getppid()); self == "" || self == parent {
		err := errors.New("the controller must run in a mount namespace of its own: it is started by lxctl start, not by hand")
		report(sync, syncMessage{Error: err.Error()})
		return err
	}
	c := &controller{l: l, name: name, opts: opts, reqs: make(chan *controlRequest), initEnd: make(chan syscall.WaitStatus, 1), asked: noRequest}
	// Out of the caller's cgroups before anything else, and out of its
	// own, removed, on the way out, whatever the way.
	defer c.leaveCgroup()
	err := c.setup()
	if err != nil {
		// Logged as well as reported: the start that waits for the
		// report may be gone (killed), and then this is all there is.
		logrus.Errorf("start of domain '%s' failed: %v", name, err)
		c.teardown("failed", 0, "")
		report(sync, syncMessage{Error: err.Error()})
		return err
	}
	emit(l, state.Event{Domain: name, UUID: c.dom.UUID, Type: "lifecycle", Event: "Started", Detail: "Booted"})
	report(sync, syncMessage{OK: true, PID: c.st.InitPID})
	if lock != nil {
		_ = lock.Close()
		lock = nil
	}
	logrus.Infof("domain '%s' started: init pid %d", name, c.st.InitPID)
	c.scheduleTrim()
	return c.loop()
}

// step marks the end of one step of a start in the log at debug level
// (bench/profile-start.sh reads these).
func step(what string) { logrus.Debugf("step: %s", what) }

func mountNS(pid int) string {
	ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	return ns
}

func report(sync *os.File, m syncMessage) {
	if sync == nil {
		return
	}
	_ = json.NewEncoder(sync).Encode(m)
	_ = sync.Close()
}

func (c *controller) setup() error {
	var err error
	if c.runDir, err = c.l.RunDir(c.name); err != nil {
		return err
	}
	if err := cgroup.CheckRequired(); err != nil {
		return err
	}
	step("checked cgroup controllers")
	data, err := state.ReadXMLFile(filepath.Join(c.runDir, LiveXMLFile), "live XML", "it is written by lxctl start: start the domain again")
	if err != nil {
		return fmt.Errorf("live config: %w", err)
	}
	if c.dom, _, err = domainxml.Parse(data); err != nil {
		return fmt.Errorf("live config: %w", err)
	}
	step("parsed live config")
	if err := c.joinCgroup(); err != nil {
		return err
	}
	checkRoot := "/"
	if src, _ := rootfsSource(c.dom); src != "" {
		c.rootfs, checkRoot = src, src
	} else if hasStorageRoot(c.dom) {
		checkRoot = "" // checked inside once mounted, below
	}
	if err := CheckRunnable(c.dom, checkRoot); err != nil {
		return err
	}
	if c.opts.CgroupLeaf, err = c.l.CgroupLeaf(c.name); err != nil {
		return err
	}
	cgPath, err := CgroupPath(c.dom, c.opts.CgroupLeaf)
	if err != nil {
		return err
	}
	paths, err := cgroup.Paths(cgPath)
	if err != nil {
		return err
	}
	c.cgPaths = paths
	self, err := state.ProcStartTime(os.Getpid())
	if err != nil {
		return err
	}
	// The status record names the cgroups before they exist, so a
	// controller killed half-way through start still leaves a trail that
	// destroy can follow.
	c.st = &state.Status{
		Name: c.name, UUID: c.dom.UUID, State: "starting", Reason: "booted",
		ControllerPID: os.Getpid(), ControllerStart: self,
		CgroupPath: cgPath, CgroupPaths: paths,
		ControlSocket: filepath.Join(c.runDir, ControlSocketFile),
		ConsoleSocket: filepath.Join(c.runDir, ConsoleSocketFile),
	}
	if err := c.l.WriteStatus(c.st); err != nil {
		return err
	}
	step("wrote starting status")
	// Images and block devices, mounted once for the controller's life
	// (a reboot keeps them), before the controller could join a cgroup
	// whose device rules would forbid it the loop devices.
	if err := mountStorage(c.l, c.name, c.runDir, c.dom, &c.storage); err != nil {
		return err
	}
	c.opts.StorageDirs = c.storage.dirs
	if err := makeHostdevNodes(c.runDir, c.dom, &c.storage); err != nil {
		return err
	}
	c.opts.HostdevNodes = c.storage.nodes
	step("storage and hostdev nodes")
	if c.storage.root != "" {
		c.rootfs = c.storage.root
		if err := CheckRunnable(c.dom, c.rootfs); err != nil {
			return err
		}
	}
	if c.rootfs == "" {
		if c.rootfs, err = bindHostRoot(c.runDir); err != nil {
			return err
		}
		c.st.HostRootMount = c.rootfs
	}
	logPath, err := c.l.ConsoleLogPath(c.name)
	if err != nil {
		return err
	}
	if c.cons, err = console.NewServer(console.ServerConfig{SocketPath: c.st.ConsoleSocket, LogPath: logPath, LogLimit: ConsoleLogLimit}); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if c.control, err = listenControl(c.st.ControlSocket, c.reqs); err != nil {
		return err
	}
	if c.exec, err = newExecServer(filepath.Join(c.runDir, ExecSocketFile)); err != nil {
		return err
	}
	step("sockets listening")
	// Networks, guest names and leases are resolved once; every start of
	// init makes its veths from this plan.
	if c.net, err = network.PlanDomain(c.l, c.dom); err != nil {
		return err
	}
	step("network planned")
	if typ, v := c.dom.ShareNet(); typ != "" && len(c.dom.Devices.Interfaces) > 0 {
		logrus.Warnf("<lxc:sharenet type='%s' value='%s'>: the container joins that network namespace; its %d <interface> are not made", typ, v, len(c.dom.Devices.Interfaces))
	}
	return c.startInit()
}

// joinCgroup moves the controller out of its caller's cgroups, in every
// hierarchy, into <partition>/<name>.lxctl-<key>.ctl: on a systemd host
// the caller's cgroup is an ssh session's scope or a unit's, and logind
// or systemd kills everything in it when the session or the unit ends;
// the container must outlive the command that started it.
func (c *controller) joinCgroup() error {
	leaf, err := c.l.ControllerCgroupLeaf(c.name)
	if err != nil {
		return err
	}
	p, err := Partition(c.dom)
	if err != nil {
		return err
	}
	// The first move of a process between cgroups after a quiet moment
	// waits for an RCU grace period (the kernel's cgroup_threadgroup_rwsem
	// being taken for writing): 7-11 ms asleep on this kind of machine. It
	// overlaps the rest of the setup; joinedCgroup waits for it before
	// init's first process is forked, so nothing the controller starts is
	// ever in the caller's cgroups.
	c.joining = make(chan joinResult, 1)
	go func() {
		paths, err := cgroup.Join(filepath.Join(p, leaf), os.Getpid())
		c.joining <- joinResult{paths, err}
	}()
	return nil
}

type joinResult struct {
	paths map[string]string
	err   error
}

// joinedCgroup waits until the move joinCgroup began is over and says how
// it went; after the first call it returns nil.
func (c *controller) joinedCgroup() error {
	if c.joining == nil {
		return nil
	}
	r := <-c.joining
	c.joining = nil
	c.ownCg = r.paths
	if r.err != nil {
		return fmt.Errorf("move the controller out of its caller's cgroups: %w", r.err)
	}
	return nil
}

// leaveCgroup removes the controller's own cgroup as it stops (teardown)
// or exits (any other way); the second call does nothing.
func (c *controller) leaveCgroup() {
	_ = c.joinedCgroup()
	if c.ownCg == nil {
		return
	}
	if c.callerFinishes {
		c.ownCg = nil
		return
	}
	var err error
	if c.movedOut != nil {
		err = errors.Join(<-c.movedOut, cgroup.Remove(c.ownCg, ctlCgroupTimeout))
		c.movedOut = nil
	} else {
		err = cgroup.Leave(c.ownCg, os.Getpid(), ctlCgroupTimeout)
	}
	if err != nil {
		logrus.Warnf("remove the controller's cgroup: %v", err)
	}
	c.ownCg = nil
}

// moveOutEarly begins the controller's move out of its own cgroup, which
// teardown (leaveCgroup) finishes by removing the cgroup. The move waits
// for an RCU grace period, asleep with the kernel's cgroup mutex held, when
// no cgroup move happened lately (7-14 ms here); begun once init has its
// SIGKILL, it overlaps the container's death. Only for a controller on its
// way out: it forks nothing more.
func (c *controller) moveOutEarly() {
	if c.joinedCgroup() != nil || c.ownCg == nil || c.movedOut != nil {
		return
	}
	c.movedOut = make(chan error, 1)
	paths := c.ownCg
	go func() { c.movedOut <- cgroup.MoveOut(paths, os.Getpid()) }()
}

// bindHostRoot gives a domain without a root filesystem the host's root.
// libcontainer cannot pivot_root into "/" itself (EBUSY), so the host root
// is rbound below the runtime dir, in the controller's own mount namespace
// (made at re-exec): the host's mount table never shows it and it goes
// away with the controller.
func bindHostRoot(runDir string) (string, error) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return "", fmt.Errorf("make / rslave in the controller's mount namespace: %w", err)
	}
	dir := filepath.Join(runDir, hostRootDir)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	if err := unix.Mount("/", dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return "", fmt.Errorf("bind the host root for the container: %w", err)
	}
	// The container gets its own /proc, /sys and /dev; the host's, with
	// their submounts, would only be in the way (sysfs refuses to mount
	// over them: EBUSY).
	for _, sub := range []string{"proc", "sys", "dev"} {
		if err := unix.Unmount(filepath.Join(dir, sub), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return "", fmt.Errorf("hide the host's /%s from the container: %w", sub, err)
		}
	}
	return dir, nil
}

// startInit creates the container and runs init in it: the first start and
// every restart.
func (c *controller) startInit() (retErr error) {
	// <lxc:sharenet>: resolved at every start, a pid or a domain's init
	// may have changed since the last.
	netns, err := network.ShareNetPath(c.l, c.dom)
	if err != nil {
		return err
	}
	c.opts.NetNSPath = netns
	cfg, err := Config(c.dom, c.rootfs, c.opts)
	if err != nil {
		return err
	}
	step("libcontainer config built")
	// What a system container sees: lxcfs's /proc files, when lxcfs runs.
	if dir := findLXCFS(); dir != "" {
		cfg.Mounts = append(cfg.Mounts, lxcfsMounts(dir)...)
		logrus.Infof("lxcfs at %s: its /proc and /sys files are bound over the container's", dir)
	}
	step("lxcfs looked up")
	// What the previous init's network namespace still holds (a restart).
	if err := c.net.Release(); err != nil {
		logrus.Warnf("network of the previous init: %v", err)
	}
	// The veth pairs (and macvlans) of this start; libcontainer moves
	// their container ends in as cfg.NetDevices.
	devs, err := c.net.CreateVeths()
	if err != nil {
		return err
	}
	step("veths made")
	defer func() {
		if retErr != nil {
			_ = c.net.RemoveVeths()
		}
	}()
	if len(devs) > 0 {
		cfg.NetDevices = map[string]*configs.LinuxNetDevice{}
		for peer, guest := range devs {
			cfg.NetDevices[peer] = &configs.LinuxNetDevice{Name: guest}
		}
		// The live XML shows the host ends' names (<target dev='vnet0'/>),
		// and the status record too, for people; cleanup finds the veths
		// by their mark, not by these names.
		c.st.Veths = c.net.HostNames()
		out, err := c.dom.Marshal()
		if err != nil {
			return err
		}
		if err := state.WriteRuntimeFile(filepath.Join(c.runDir, LiveXMLFile), out, 0o600); err != nil {
			return err
		}
	}
	checkRoot := c.rootfs
	if c.st.HostRootMount != "" {
		checkRoot = "/"
	}
	uid, gid, groups, err := InitUser(c.dom, checkRoot)
	if err != nil {
		return err
	}
	step("init user resolved")
	lcRoot := filepath.Join(c.runDir, libcontainerDir)
	_ = os.RemoveAll(lcRoot)
	// The limits go on the domain's cgroup, init one level below it
	// (cgroupns.go).
	if err := nestCgroups(cfg); err != nil {
		_ = killCgroups(c.cgPaths, nil)
		return err
	}
	step("domain cgroup made and limited")
	lc, err := libcontainer.Create(lcRoot, c.name, cfg)
	if err != nil {
		_ = killCgroups(c.cgPaths, nil)
		return fmt.Errorf("create container: %w", err)
	}
	step("libcontainer.Create")
	defer func() {
		if retErr != nil {
			_ = killCgroups(c.cgPaths, nil)
			_ = lc.Destroy()
		}
	}()
	parent, child, err := socketPair()
	if err != nil {
		return err
	}
	defer parent.Close()
	defer child.Close()

	cwd := c.dom.OS.InitDir
	if cwd == "" {
		cwd = "/"
	}
	p := &libcontainer.Process{
		Args:             append([]string{c.dom.OS.Init}, c.dom.OS.InitArgs...),
		Env:              Env(c.dom),
		Cwd:              cwd,
		UID:              uid,
		GID:              gid,
		AdditionalGroups: groups,
		ConsoleSocket:    child,
		ConsoleWidth:     80,
		ConsoleHeight:    24,
		Init:             true,
	}
	if err := c.joinedCgroup(); err != nil {
		return err
	}
	step("joined own cgroup")
	masterCh := make(chan masterResult, 1)
	go func() { f, err := recvFile(parent); masterCh <- masterResult{f, err} }()
	// Start, not Run: init waits on libcontainer's exec fifo while the
	// controller configures its network namespace; Exec releases it.
	if err := lc.Start(p); err != nil {
		return fmt.Errorf("start init '%s': %w", c.dom.OS.Init, err)
	}
	if pid, err := p.Pid(); err != nil {
		return err
	} else if err := c.net.ConfigureNetNS(pid); err != nil {
		return err
	} else if err := linkTTY1(pid, c.dom); err != nil {
		return err
	}
	if err := lc.Exec(); err != nil {
		return fmt.Errorf("start init '%s': %w", c.dom.OS.Init, err)
	}
	step("init released (Exec)")
	var master *os.File
	select {
	case r := <-masterCh:
		if r.err != nil {
			return fmt.Errorf("receive the console from init: %w", r.err)
		}
		master = r.f
	case <-time.After(10 * time.Second):
		return errors.New("init did not hand over its console within 10s")
	}
	if err := c.cons.SetMaster(master); err != nil {
		master.Close()
		return fmt.Errorf("console: %w", err)
	}
	master.Close() // the server keeps its own duplicate
	step("console master received")
	pid, err := p.Pid()
	if err != nil {
		return err
	}
	waitExec(pid)
	step("init exec'd")
	start, err := state.ProcStartTime(pid)
	if err != nil {
		return fmt.Errorf("init pid %d: %w", pid, err)
	}
	c.lc, c.proc = lc, p
	c.asked = noRequest // a fresh init has been asked nothing
	c.st.InitPID, c.st.InitStart = pid, start
	c.st.State, c.st.Reason, c.st.Started = "running", "booted", time.Now()
	if err := c.l.WriteStatus(c.st); err != nil {
		return err
	}
	go func() {
		ps, _ := p.Wait()
		ws := syscall.WaitStatus(0)
		if ps != nil {
			ws = ps.Sys().(syscall.WaitStatus)
		}
		step("init reaped")
		c.initEnd <- ws
	}()
	return nil
}

// lcInitComm is what init is called until it has exec'd the domain's init.
const lcInitComm = "runc:[2:INIT]"

// waitExec waits, briefly, until init has exec'd the domain's program:
// libcontainer's Exec returns once init is released from its exec fifo,
// a moment before the execve, and start reports "running" only after
// it, so that ps, /proc/<pid>/exe and the status record's start time all
// show the domain's init. There is no event for an exec; it takes well
// under a millisecond, so a short doubling poll, bounded, is enough. A
// failed exec ends init, which the event loop reports.
func waitExec(pid int) {
	delay := 20 * time.Microsecond
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		comm, st, err := state.ProcComm(pid)
		if err != nil || comm != lcInitComm || st == 'Z' || st == 'X' {
			return
		}
		time.Sleep(delay)
		delay = min(2*delay, 5*time.Millisecond)
	}
}

// linkTTY1 makes /dev/tty1 in the container point at its console, as
// libvirt does. libcontainer has no notion of extra device links, and the
// console is only bound at /dev/console late in init's setup; init is now
// waiting on the exec fifo with its /dev complete, and the host reaches
// that /dev through /proc/<pid>/root.
func linkTTY1(pid int, d *domainxml.Domain) error {
	link := fmt.Sprintf("/proc/%d/root/dev/tty1", pid)
	// In a user namespace the container's /dev belongs to its mapped root;
	// a file made by an unmapped uid cannot be created there (EOVERFLOW).
	// fsuid/fsgid are per thread: this thread is locked for the
	// controller's whole life and restored before returning.
	if len(d.IDMap.UIDs) > 0 && len(d.IDMap.GIDs) > 0 {
		unix.Setfsgid(int(d.IDMap.GIDs[0].Target))
		unix.Setfsuid(int(d.IDMap.UIDs[0].Target))
		defer func() { unix.Setfsuid(0); unix.Setfsgid(0) }()
	}
	if err := os.Symlink("console", link); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("link /dev/tty1 to the console: %w", err)
	}
	return nil
}

type masterResult struct {
	f   *os.File
	err error
}

// loop is the controller's life: control requests and init's end. A hung-up
// console is the console package's business and never ends the domain:
// death is only init's exit, seen by waiting on the pid itself.
func (c *controller) loop() error {
	term := make(chan os.Signal, 1)
	signal.Notify(term, unix.SIGTERM, unix.SIGINT)
	for {
		select {
		case ws := <-c.initEnd:
			ev := Classify(ws)
			// After lxctl shutdown (reboot), init ending in a way that is
			// neither a power-off nor a reboot is the one that was asked
			// for: a Go init, say, turns SIGTERM or SIGHUP into exit
			// status 2.
			if c.asked != noRequest && ev == Crash {
				ev = c.asked
			}
			c.asked = noRequest
			action, reason := ActionFor(ev, c.dom)
			logrus.Infof("init %s (%s): %s", Describe(ws), ev, map[Action]string{Stop: "stopping", Restart: "restarting"}[action])
			if action == Restart {
				if err := c.restart(false); err == nil {
					continue
				} else {
					logrus.Errorf("restart failed: %v", err)
					reason = "failed"
				}
			}
			code, sig := exitInfo(ws)
			return c.teardown(reason, code, sig)
		case <-term:
			return c.destroy(nil)
		case r := <-c.exec.reqs:
			c.startExec(r)
		case r := <-c.reqs:
			if r.req.V != controlVersion {
				r.reply(fmt.Errorf("control protocol version %d not supported (this controller speaks %d): restart the domain with this lxctl", r.req.V, controlVersion))
				continue
			}
			switch r.req.Op {
			case OpStatus:
				r.reply(nil)
			case OpDestroy:
				return c.destroy(r)
			case OpShutdown, OpReboot:
				if err := checkReqMode(r.req.Op, r.req.Mode); err != nil {
					r.reply(err)
					continue
				}
				if r.req.Mode == ModeHard {
					// lxctl's own reboot: a fresh init, same controller.
					logrus.Infof("reboot: hard (a fresh init)")
					r.replyWith(c.restart(true), "hard")
					continue
				}
				reboot := r.req.Op == OpReboot
				method, err := c.askInit(reboot, r.req.Mode, unix.Signal(r.req.Signal))
				if err != nil {
					logrus.Warnf("%s: %s: %v", r.req.Op, method, err)
				} else {
					logrus.Infof("%s: asked init by %s", r.req.Op, method)
					c.asked = Poweroff
					if reboot {
						c.asked = Reboot
					}
				}
				r.replyWith(err, method)
			case OpSuspend:
				r.reply(c.suspend())
			case OpResume:
				r.reply(c.resume())
			default:
				r.reply(fmt.Errorf("unknown control operation '%s'", r.req.Op))
			}
		}
	}
}

func exitInfo(ws syscall.WaitStatus) (int, string) {
	if ws.Signaled() {
		return 0, unix.SignalName(ws.Signal())
	}
	return ws.ExitStatus(), ""
}

func (c *controller) signalInit(sig unix.Signal) error {
	if c.st.State == "paused" {
		return errors.New("domain is paused: resume it first")
	}
	fd, err := unix.PidfdOpen(c.st.InitPID, 0)
	if err != nil {
		return fmt.Errorf("signal init: %w", err)
	}
	defer unix.Close(fd)
	return unix.PidfdSendSignal(fd, sig, nil, 0)
}

// stopInit kills every task of the container and waits for init, so the
// next step starts from a container that is really gone. dead, if not
// nil, is called as soon as every task is dead.
func (c *controller) stopInit(dead func()) error {
	step("stop: init and its cgroups")
	err := killCgroups(c.cgPaths, dead)
	select {
	case <-c.initEnd:
	case <-time.After(killTimeout):
		err = errors.Join(err, fmt.Errorf("init %d did not exit", c.st.InitPID))
	}
	c.cons.DetachMaster()
	if c.lc != nil {
		_ = c.lc.Destroy()
		c.lc = nil
	}
	return err
}

// restart replaces init with a fresh one with the same live config; the
// console socket and an attached client stay. killFirst is set when the
// host asked for it (lxctl reboot); after init died on its own the tasks
// are already going.
func (c *controller) restart(killFirst bool) error {
	if c.st.State == "paused" {
		if err := c.resume(); err != nil {
			return err
		}
	}
	if killFirst {
		if err := c.stopInit(nil); err != nil {
			return err
		}
	} else {
		c.cons.DetachMaster()
		_ = killCgroups(c.cgPaths, nil)
		if c.lc != nil {
			_ = c.lc.Destroy()
			c.lc = nil
		}
	}
	// Live tuning (setmem, memtune, schedinfo, ...) rewrites the live XML
	// while the domain runs; a reboot keeps those changes, as libvirt's does.
	// The file is a record: what places the domain on the host (name,
	// uuid, cgroup partition) stays the running domain's, whatever it says,
	// so the cgroups the new init gets are the ones c.cgPaths tears down.
	if data, err := state.ReadFile(filepath.Join(c.runDir, LiveXMLFile)); err == nil {
		if d, _, err := domainxml.Parse(data); err == nil {
			d.Name, d.UUID, d.Resource.Partition = c.dom.Name, c.dom.UUID, c.dom.Resource.Partition
			c.dom = d
		}
	}
	if err := c.startInit(); err != nil {
		return err
	}
	emit(c.l, state.Event{Domain: c.name, UUID: c.dom.UUID, Type: "reboot"})
	c.scheduleTrim()
	return nil
}

// trimDelay: a container that is done within it (a command run to
// completion) never pays for trimResident, a scan of its own maps and a
// few madvise calls, right when its teardown wants the CPU; one that
// runs on is trimmed once.
const trimDelay = 250 * time.Millisecond

func (c *controller) scheduleTrim() {
	if c.trim != nil {
		c.trim.Stop()
	}
	c.trim = time.AfterFunc(trimDelay, trimResident)
}

// suspend freezes the container and records it. The record is what the
// next command reads, so a freeze that cannot be recorded (a full disk) is
// undone: the domain is either paused and recorded paused, or running.
// Whether it is paused is asked of the freezer, not of the record.
func (c *controller) suspend() error {
	frozen, err := cgroup.IsFrozen(c.cgPaths)
	if err != nil {
		return err
	}
	if frozen && c.st.State == "paused" {
		return nil // as libvirt: suspending a paused domain is no error
	}
	if err := cgroup.Freeze(c.cgPaths); err != nil {
		return err
	}
	if err := c.record("paused", "user", func() error { return cgroup.Thaw(c.cgPaths) }); err != nil {
		return err
	}
	emit(c.l, state.Event{Domain: c.name, UUID: c.dom.UUID, Type: "lifecycle", Event: "Suspended", Detail: "Paused"})
	return nil
}

// resume thaws the container and records it, or freezes it again when the
// record cannot be written.
func (c *controller) resume() error {
	frozen, err := cgroup.IsFrozen(c.cgPaths)
	if err != nil {
		return err
	}
	if !frozen && c.st.State != "paused" {
		return errors.New("domain is already running (not paused)")
	}
	if err := cgroup.Thaw(c.cgPaths); err != nil {
		return err
	}
	if err := c.record("running", "unpaused", func() error { return cgroup.Freeze(c.cgPaths) }); err != nil {
		return err
	}
	emit(c.l, state.Event{Domain: c.name, UUID: c.dom.UUID, Type: "lifecycle", Event: "Resumed", Detail: "Unpaused"})
	return nil
}

// record writes the status record with a new state; when it cannot, the
// record in memory is restored and undo reverts the change on the host.
func (c *controller) record(state, reason string, undo func() error) error {
	prevState, prevReason := c.st.State, c.st.Reason
	c.st.State, c.st.Reason = state, reason
	err := c.l.WriteStatus(c.st)
	if err == nil {
		return nil
	}
	c.st.State, c.st.Reason = prevState, prevReason
	if uerr := undo(); uerr != nil {
		logrus.Errorf("domain is %s but could not record it (%v), and undoing it failed: %v", state, err, uerr)
		return fmt.Errorf("the domain is %s but that could not be recorded: %w; undoing it failed too: %v", state, err, uerr)
	}
	return fmt.Errorf("could not record the change, so it was undone and the domain stays %s: %w", virshWord(prevState), err)
}

func virshWord(state string) string {
	if state == "starting" {
		return "running"
	}
	return state
}

// releaseNet gives back the container's network once none of its
// processes runs: the container's network namespace, still held open: its
// macvlans (and hostdevs) first, then veths (by their mark) and leases.
func (c *controller) releaseNet() error {
	err := errors.Join(c.net.Release(), network.Cleanup(c.l, c.name))
	step("teardown: network released")
	return err
}

// destroy kills the container and tears everything down, then answers the
// request, so that a "destroyed" reply means nothing is left but this
// process, which exits next (and, when the request leaves them to the
// caller, the cgroup it is in and the record of the stop).
func (c *controller) destroy(r *controlRequest) error {
	// SIGKILL to init first, which needs no cgroup lock: the kernel takes
	// the whole pid namespace down with it, while the controller moves out
	// of its own cgroup; stopInit then kills whatever else is in the
	// domain's cgroups and waits for init. (A frozen init gets its SIGKILL
	// when stopInit thaws it.)
	if c.proc != nil {
		_ = c.proc.Signal(unix.SIGKILL)
	}
	if r != nil && r.req.CallerFinishes {
		c.callerFinishes = true
	} else {
		c.moveOutEarly()
	}
	// Once nothing of the container runs, its network is given back
	// (teardown collects the result) while the cgroups are removed, init
	// is reaped and libcontainer's state destroyed.
	err := c.stopInit(func() {
		c.released = make(chan error, 1)
		go func() { c.released <- c.releaseNet() }()
	})
	// stopInit killed every task and removed the cgroups: teardown need
	// not look again.
	c.cgGone = err == nil
	err = errors.Join(err, c.teardown("destroyed", 0, "SIGKILL"))
	if r != nil {
		r.reply(err)
	}
	return err
}

// teardown removes all the domain's resources; each step runs even if an
// earlier one failed.
func (c *controller) teardown(reason string, code int, sig string) error {
	step("teardown: begins")
	if c.trim != nil {
		c.trim.Stop()
	}
	// The kernel says whether the memory limit killed anything; a crash
	// with OOM kills is put down to the limit, in the log, the exit record
	// (domstate --reason) and the Stopped event.
	detail := ""
	if n, err := cgroup.OOMKills(c.cgPaths); err == nil && n > 0 {
		logrus.Warnf("the memory limit was hit: the kernel killed %d process(es) of the container (OOM)", n)
		if reason == "crashed" {
			detail = "memory limit hit"
		}
	}
	var errs []error
	if !c.cgGone {
		errs = append(errs, killCgroups(c.cgPaths, nil))
	}
	step("teardown: cgroups killed")
	if c.lc != nil {
		_ = c.lc.Destroy()
	}
	step("teardown: libcontainer state destroyed")
	if c.released != nil {
		errs = append(errs, <-c.released)
		c.released = nil
	} else {
		errs = append(errs, c.releaseNet())
	}
	if c.cons != nil {
		errs = append(errs, c.cons.Close(reason))
	}
	if c.control != nil {
		_ = c.control.Close()
	}
	// Entered processes died with the cgroups; their clients get the end.
	c.exec.close()
	step("teardown: console, control, exec closed")
	if c.st != nil && c.st.HostRootMount != "" {
		// The mount lives in this process's namespace only; detach it so
		// the runtime dir can be removed.
		_ = unix.Unmount(c.st.HostRootMount, unix.MNT_DETACH)
	}
	// The container's mounts of images went with its processes; these
	// are the controller's. Then the loop devices, by their mark, and
	// wait until the kernel has detached them.
	errs = append(errs, unmountStorage(&c.storage))
	errs = append(errs, DetachLoops(c.l, c.name))
	releaseImages(&c.storage)
	step("teardown: storage released")
	// The controller's own cgroup goes before the stop is recorded: whoever
	// sees the domain shut off sees nothing of it left. lxctl destroy,
	// holding the domain lock, does both itself once this process has
	// exited (Request.CallerFinishes); should it die first, the next
	// command finds the runtime dir of a dead controller and sweeps it.
	if c.callerFinishes {
		_ = c.joinedCgroup()
		step("teardown: own cgroup and the stop's record left to the caller")
	} else {
		c.leaveCgroup()
		step("teardown: own cgroup left and removed")
		errs = append(errs, finish(c.l, c.name, reason, detail, code, sig))
		step("teardown: stop recorded")
	}
	if err := errors.Join(errs...); err != nil {
		logrus.Errorf("teardown: %v", err)
		return err
	}
	logrus.Infof("domain '%s' stopped (%s)", c.name, reason)
	return nil
}

func socketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("console socket pair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console-parent"), os.NewFile(uintptr(fds[1]), "console-child"), nil
}

// recvFile receives the pty master init sends over the console socket.
func recvFile(sock *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(int(sock.Fd()), name, oob, unix.MSG_CMSG_CLOEXEC)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("expected one control message, got %d", len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, err
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("expected one fd, got %d", len(fds))
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}
