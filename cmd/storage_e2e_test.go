package cmd_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/container"
)

// Storage (issue 15): images on loop devices, block devices, hostdev nodes.
// Every image, filesystem and loop device here is the test's own, made in
// its temp root; nothing of the host's is touched.

// mkfsImage makes a sparse ext4 image of sizeMiB holding the files of dir
// (mkfs.ext4 -d: no mount needed).
func (e *env) mkfsImage(file string, sizeMiB int, dir string) string {
	e.t.Helper()
	p := filepath.Join(e.root, file)
	f, err := os.Create(p)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMiB) << 20); err != nil {
		e.t.Fatal(err)
	}
	f.Close()
	args := []string{"-q", "-F"}
	if dir != "" {
		args = append(args, "-d", dir)
	}
	if out, err := exec.Command("mkfs.ext4", append(args, p)...).CombinedOutput(); err != nil {
		e.t.Fatalf("mkfs.ext4 %s: %v\n%s", p, err, out)
	}
	return p
}

// tree writes files (path → content) under a new dir of the test root.
func (e *env) tree(name string, files map[string]string) string {
	e.t.Helper()
	dir := filepath.Join(e.root, name)
	for p, content := range files {
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") { // a directory
			if err := os.MkdirAll(full, 0o755); err != nil {
				e.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	return dir
}

// rootImage is an ext4 image holding a private root with the guest as
// /guest and an empty /data.
func (e *env) rootImage(file string) string {
	e.t.Helper()
	guest, err := os.ReadFile(guestBin)
	if err != nil {
		e.t.Fatal(err)
	}
	dir := e.tree(file+".d", map[string]string{"proc/": "", "sys/": "", "dev/": "", "tmp/": "", "etc/": "", "data/": ""})
	if err := os.WriteFile(filepath.Join(dir, "guest"), guest, 0o755); err != nil {
		e.t.Fatal(err)
	}
	return e.mkfsImage(file, 64, dir)
}

// testLoop attaches file to a loop device of the test's own (losetup, as an
// admin would) and detaches it when the test ends.
func (e *env) testLoop(file string) string {
	e.t.Helper()
	out, err := exec.Command("losetup", "--find", "--show", file).Output()
	if err != nil {
		e.t.Fatalf("losetup %s: %v", file, err)
	}
	dev := strings.TrimSpace(string(out))
	e.t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			e.t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	return dev
}

// loopsOf lists the bound loop devices carrying lxctl's mark for the
// domain (what lxctl attached for it).
func (e *env) loopsOf(name string) []string {
	mark := container.LoopMark(e.layout(), name)
	var found []string
	bound, _ := filepath.Glob("/sys/block/loop*/loop")
	for _, b := range bound {
		dev := "/dev/" + filepath.Base(filepath.Dir(b))
		f, err := os.OpenFile(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		info, err := unix.IoctlLoopGetStatus64(int(f.Fd()))
		f.Close()
		if err == nil && string(bytes.TrimRight(info.File_name[:], "\x00")) == mark {
			found = append(found, dev)
		}
	}
	return found
}

// loopsBackedUnder lists the bound loop devices whose backing file is
// under dir.
func loopsBackedUnder(dir string) []string {
	var found []string
	bound, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, b := range bound {
		data, err := os.ReadFile(b)
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(data)), dir+"/") {
			found = append(found, filepath.Base(filepath.Dir(filepath.Dir(b)))+" "+strings.TrimSpace(string(data)))
		}
	}
	return found
}

// noStorageLeft fails the test if lxctl left a loop device of the domain
// attached or a mount of the test root on the host.
func (e *env) noStorageLeft(name, when string) {
	e.t.Helper()
	if l := e.loopsOf(name); len(l) > 0 {
		e.t.Errorf("%s: loop devices of %s still attached: %v", when, name, l)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mi, []byte(e.root)) {
		e.t.Errorf("%s: mounts under %s on the host", when, e.root)
	}
}

// storageDomain is a domain whose init is the guest running script, with
// the given root <filesystem> and other devices.
func storageDomain(name, rootFS, devices string, script ...string) string {
	return domainXML(name, 256, "/guest", script, "", rootFS+"\n"+devices)
}

func imageFS(file, target, extra string) string {
	return fmt.Sprintf("    <filesystem type='file'>\n      <driver type='loop' format='raw'/>\n      <source file='%s'/>\n      <target dir='%s'/>\n%s    </filesystem>", file, target, extra)
}

// TestStorageImageRoot: a container whose root is an ext4 image. What it
// writes survives destroy and start (read again inside), and is in the
// image seen from the host after stop; the loop device is lxctl's (marked)
// while it runs and gone after each stop.
func TestStorageImageRoot(t *testing.T) {
	e := newEnv(t)
	name := e.name("imgroot")
	img := e.rootImage("root.img")
	token := "persist-" + randHex(4)
	e.define(storageDomain(name, imageFS(img, "/", ""), "",
		"readfile", "/data/x", "write", "/data/x", token, "print", "ready", "sleep"))

	e.ok("start", name)
	e.waitConsole(name, "ready")
	log := e.consoleLog(name)
	if !strings.Contains(log, "readfile /data/x failed") || !strings.Contains(log, "wrote /data/x") {
		t.Fatalf("first boot: console %q", log)
	}
	if l := e.loopsOf(name); len(l) != 1 {
		t.Errorf("running: want one loop device marked for %s, got %v", name, l)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mi, []byte(e.root)) {
		t.Errorf("the image mount shows in the host's mount table")
	}
	e.ok("destroy", name)
	e.noStorageLeft(name, "after destroy")

	e.ok("start", name)
	e.waitFor("second boot", func() bool { return strings.Count(e.consoleLog(name), "ready") >= 2 })
	if log := e.consoleLog(name); !strings.Contains(log, "file /data/x: "+token) {
		t.Errorf("second boot did not read what the first wrote: console %q", log)
	}
	// A reboot keeps the mounts: the fresh init reads the same image.
	e.ok("reboot", name)
	e.waitFor("the boot after the reboot", func() bool { return strings.Count(e.consoleLog(name), "ready") >= 3 })
	if l := e.loopsOf(name); len(l) != 1 {
		t.Errorf("after reboot: want one loop device marked for %s, got %v", name, l)
	}
	e.ok("destroy", name)
	e.noStorageLeft(name, "after the second destroy")

	// The host sees it too: mount the image read-only and read the file.
	mnt := filepath.Join(e.root, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop,ro", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount the image on the host: %v %s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(mnt, "data/x"))
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		t.Errorf("umount: %v %s", err, out)
	}
	if err != nil || string(data) != token {
		t.Errorf("the image read on the host has /data/x = %q (%v), want %q", data, err, token)
	}
	e.waitFor("the host's own loop device to go", func() bool { return len(loopsBackedUnder(e.root)) == 0 })
}

// TestStorageReadonlyAndBlock: a read-only image (a write inside fails
// with EROFS, the loop device is read-only), a block device mounted at its
// target read-write, another one read-only.
func TestStorageReadonlyAndBlock(t *testing.T) {
	e := newEnv(t)
	name := e.name("roblk")
	roImg := e.mkfsImage("ro.img", 16, e.tree("ro.d", map[string]string{"f": "ro-content"}))
	blkDev := e.testLoop(e.mkfsImage("blk.img", 16, e.tree("blk.d", map[string]string{"g": "blk-content"})))
	blkRODev := e.testLoop(e.mkfsImage("blkro.img", 16, e.tree("blkro.d", map[string]string{"h": "blkro-content"})))
	root := fmt.Sprintf("    <filesystem type='mount'>\n      <source dir='%s'/>\n      <target dir='/'/>\n    </filesystem>", e.privateRoot())
	devices := fmt.Sprintf(`    <filesystem type='file'>
      <source file='%s'/>
      <target dir='/ro'/>
      <readonly/>
    </filesystem>
    <filesystem type='block'>
      <source dev='%s'/>
      <target dir='/blk'/>
    </filesystem>
    <filesystem type='block'>
      <source dev='%s'/>
      <target dir='/blkro'/>
      <readonly/>
    </filesystem>`, roImg, blkDev, blkRODev)
	e.define(storageDomain(name, root, devices,
		"readfile", "/ro/f", "write", "/ro/y", "no",
		"readfile", "/blk/g", "write", "/blk/z", "yes",
		"readfile", "/blkro/h", "write", "/blkro/w", "no",
		"print", "ready", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "ready")
	log := e.consoleLog(name)
	for _, want := range []string{
		"file /ro/f: ro-content", "write /ro/y failed: EROFS",
		"file /blk/g: blk-content", "wrote /blk/z",
		"file /blkro/h: blkro-content", "write /blkro/w failed: EROFS",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q:\n%s", want, log)
		}
	}
	loops := e.loopsOf(name)
	if len(loops) != 1 {
		t.Fatalf("want the read-only image's loop device only, got %v", loops)
	}
	if ro, _ := os.ReadFile("/sys/block/" + filepath.Base(loops[0]) + "/ro"); strings.TrimSpace(string(ro)) != "1" {
		t.Errorf("%s is not a read-only loop device (ro=%q)", loops[0], ro)
	}
	e.ok("destroy", name)
	e.noStorageLeft(name, "after destroy")
	// The test's own block devices are not lxctl's to detach.
	for _, d := range []string{blkDev, blkRODev} {
		if _, err := os.Stat("/sys/block/" + filepath.Base(d) + "/loop"); err != nil {
			t.Errorf("lxctl detached %s, which the test attached", d)
		}
	}
}

// TestStorageHostdev: a storage hostdev (a loop device the test attached
// over known bytes) and a misc one (/dev/kmsg, a char device outside
// libvirt's default list): each node is in the container's /dev with the
// host's type and major:minor, reads from inside, and the device cgroup
// has exactly the two rules more than the same domain without them.
func TestStorageHostdev(t *testing.T) {
	e := newEnv(t)
	name, plain := e.name("hostdev"), e.name("nohostdev")
	raw := filepath.Join(e.root, "raw.bin")
	magic := "HOSTDEV-" + randHex(4)
	if err := os.WriteFile(raw, append([]byte(magic), make([]byte, 1<<20)...), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := e.testLoop(raw)
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	root := fmt.Sprintf("    <filesystem type='mount'>\n      <source dir='%s'/>\n      <target dir='/'/>\n    </filesystem>", e.privateRoot())
	hostdevs := fmt.Sprintf(`    <hostdev mode='capabilities' type='storage'>
      <source><block>%s</block></source>
    </hostdev>
    <hostdev mode='capabilities' type='misc'>
      <source><char>/dev/kmsg</char></source>
    </hostdev>`, dev)
	e.define(storageDomain(name, root, hostdevs,
		"statnode", dev, "readdev", dev, fmt.Sprint(len(magic)),
		"statnode", "/dev/kmsg", "readdev", "/dev/kmsg", "8192", "print", "ready", "sleep"))
	e.define(storageDomain(plain, root, "", "print", "ready", "sleep"))
	e.ok("start", name)
	e.ok("start", plain)
	e.waitConsole(name, "ready")
	log := e.consoleLog(name)
	for _, want := range []string{
		fmt.Sprintf("node %s block %d:%d 700", dev, unix.Major(st.Rdev), unix.Minor(st.Rdev)),
		fmt.Sprintf("dev %s: %q", dev, magic),
		"node /dev/kmsg char 1:11 700",
		"dev /dev/kmsg: \"",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q:\n%s", want, log)
		}
	}

	rules := func(n string) map[string]bool {
		leaf, err := e.layout().CgroupLeaf(n)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/devices/machine", leaf, "devices.list"))
		if err != nil {
			t.Skipf("no cgroup v1 devices.list (%v): the rule check needs the v1 devices controller", err)
		}
		m := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			m[l] = true
		}
		return m
	}
	with, without := rules(name), rules(plain)
	var added, lost []string
	for r := range with {
		if !without[r] {
			added = append(added, r)
		}
	}
	for r := range without {
		if !with[r] {
			lost = append(lost, r)
		}
	}
	want := map[string]bool{fmt.Sprintf("b %d:%d rwm", unix.Major(st.Rdev), unix.Minor(st.Rdev)): true, "c 1:11 rwm": true}
	if len(added) != 2 || !want[added[0]] || !want[added[1]] || len(lost) > 0 {
		t.Errorf("device cgroup: added %v, lost %v; want exactly the rules %v added", added, lost, want)
	}
	e.ok("destroy", name)
	e.ok("destroy", plain)
	e.noStorageLeft(name, "after destroy")
}

// TestStorageRefused: what cannot be mounted or passed in fails the start
// with an error naming the element, the value and the fix, and leaves
// nothing attached, mounted or running.
func TestStorageRefused(t *testing.T) {
	e := newEnv(t)
	junk := filepath.Join(e.root, "junk.img")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a filesystem "), 1<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	noInit := e.mkfsImage("noinit.img", 16, e.tree("noinit.d", map[string]string{"etc/": ""}))
	img := e.rootImage("root.img")
	root := imageFS(img, "/", "")
	nbdWant := "not supported by lxctl yet"
	if _, err := exec.LookPath("qemu-nbd"); err != nil {
		nbdWant = "needs qemu-nbd (not found in PATH"
	} else if _, err := os.Stat("/sys/module/nbd"); err != nil {
		nbdWant = "needs the nbd kernel module"
	}
	for _, c := range []struct {
		what, rootFS, devices string
		want                  []string
	}{
		{"junk image", root, imageFS(junk, "/mnt", ""), []string{"<filesystem type='file'> source file '" + junk + "' (target '/mnt')", "no filesystem found on it", "mkfs.ext4"}},
		{"junk root image", imageFS(junk, "/", ""), "", []string{"source file '" + junk + "' (target '/')", "no filesystem found"}},
		{"root image without init", imageFS(noInit, "/", ""), "", []string{"cannot find init '/guest' in the container root"}},
		{"missing image", root, imageFS(filepath.Join(e.root, "nope.img"), "/mnt", ""), []string{"nope.img' (target '/mnt'): no such file or directory"}},
		{"qcow2 on loop", root, strings.Replace(imageFS(img, "/mnt", ""), "format='raw'", "format='qcow2'", 1), []string{"a loop device takes raw images only", "<driver type='nbd' format='qcow2'/>"}},
		{"nbd", root, strings.Replace(imageFS(junk, "/mnt", ""), "type='loop' format='raw'", "type='nbd' format='qcow2'", 1), []string{"<driver type='nbd' format='qcow2'>", nbdWant}},
		{"block that is a file", root, fmt.Sprintf("<filesystem type='block'><source dev='%s'/><target dir='/mnt'/></filesystem>", junk), []string{"<filesystem type='block'> source dev '" + junk + "'", "not a block device (a regular file)"}},
		{"missing misc device", root, "<hostdev mode='capabilities' type='misc'><source><char>/dev/loop-control-nope</char></source></hostdev>", []string{"<hostdev type='misc'> source '/dev/loop-control-nope'", "no such file"}},
		{"storage that is a char device", root, "<hostdev mode='capabilities' type='storage'><source><block>/dev/null</block></source></hostdev>", []string{"source '/dev/null' is not a block device", "use type='misc'"}},
		{"hostdev outside /dev", root, fmt.Sprintf("<hostdev mode='capabilities' type='storage'><source><block>%s</block></source></hostdev>", junk), []string{"give the device's path under /dev"}},
	} {
		name := e.name("refused")
		e.define(storageDomain(name, c.rootFS, c.devices, "print", "ready", "sleep"))
		errOut := e.fails("start", name)
		for _, w := range c.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: error lacks %q:\n%s", c.what, w, errOut)
			}
		}
		if got := e.ok("domstate", name); !strings.HasPrefix(got, "shut off") {
			t.Errorf("%s: domstate %q", c.what, got)
		}
		e.noStorageLeft(name, c.what)
		if l := loopsBackedUnder(e.root); len(l) > 0 {
			t.Errorf("%s: loop devices left attached: %v", c.what, l)
		}
		if d, _ := e.layout().RunDir(name); dirExists(d) {
			t.Errorf("%s: runtime dir %s left", c.what, d)
		}
	}
}

// TestStorageControllerKilled: kill -9 of the controller of a domain with
// an image root and a read-only image: the container dies with it, and
// once the next lxctl command has looked at the domain nothing is left
// attached or mounted; the domain starts again from the same images.
func TestStorageControllerKilled(t *testing.T) {
	e := newEnv(t)
	name := e.name("imgkill")
	img := e.rootImage("root.img")
	roImg := e.mkfsImage("ro.img", 16, e.tree("ro.d", map[string]string{"f": "ro-content"}))
	e.define(storageDomain(name, imageFS(img, "/", ""), imageFS(roImg, "/ro", "      <readonly/>\n"),
		"readfile", "/ro/f", "print", "ready", "sleep"))
	for round := 1; round <= 2; round++ {
		e.ok("start", name)
		e.waitFor("ready", func() bool { return strings.Count(e.consoleLog(name), "ready") >= round })
		if l := e.loopsOf(name); len(l) != 2 {
			t.Fatalf("round %d: want 2 loop devices marked for %s, got %v", round, name, l)
		}
		st := e.status(name)
		if err := unix.Kill(st.ControllerPID, unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitGone(st.ControllerPID)
		reapAll()
		if round == 1 {
			// The next command sweeps.
			if got := e.ok("domstate", "--reason", name); got != "shut off (failed)\n\n" {
				t.Errorf("domstate --reason = %q, want shut off (failed)", got)
			}
		} else {
			e.ok("destroy", name)
		}
		e.noStorageLeft(name, fmt.Sprintf("round %d, after kill -9 and the next command", round))
		if l := loopsBackedUnder(e.root); len(l) > 0 {
			t.Errorf("round %d: loop devices left: %v", round, l)
		}
	}
}

// TestStorageImageShared: one image is mounted read-write by one domain at
// a time (a second start, even a read-only one, is refused while it runs),
// or read-only by many (here as their root, where a write fails with
// EROFS); an image someone else attached read-write is refused too.
func TestStorageImageShared(t *testing.T) {
	e := newEnv(t)
	data := e.mkfsImage("data.img", 16, e.tree("data.d", map[string]string{"f": "shared"}))
	dirRoot := fmt.Sprintf("    <filesystem type='mount'>\n      <source dir='%s'/>\n      <target dir='/'/>\n    </filesystem>", e.privateRoot())
	rw, rw2, ro := e.name("rw"), e.name("rw2"), e.name("ro")
	e.define(storageDomain(rw, dirRoot, imageFS(data, "/mnt", ""), "readfile", "/mnt/f", "print", "ready", "sleep"))
	e.define(storageDomain(rw2, dirRoot, imageFS(data, "/mnt", ""), "print", "ready", "sleep"))
	e.define(storageDomain(ro, dirRoot, imageFS(data, "/mnt", "      <readonly/>\n"), "print", "ready", "sleep"))
	e.ok("start", rw)
	e.waitConsole(rw, "file /mnt/f: shared")
	for _, n := range []string{rw2, ro} {
		if out := e.fails("start", n); !strings.Contains(out, "the image is in use by another running domain") {
			t.Errorf("start %s while %s runs: %s", n, rw, out)
		}
		e.noStorageLeft(n, "refused start of "+n)
	}
	e.ok("destroy", rw)
	e.noStorageLeft(rw, "after destroy")

	// Read-only, as the root of two domains at once.
	img := e.rootImage("root.img")
	var roots []string
	for i := 0; i < 2; i++ {
		n := e.name("roroot")
		roots = append(roots, n)
		e.define(storageDomain(n, imageFS(img, "/", "      <readonly/>\n"), "", "write", "/data/y", "no", "print", "ready", "sleep"))
		e.ok("start", n)
	}
	for _, n := range roots {
		e.waitConsole(n, "ready")
		if log := e.consoleLog(n); !strings.Contains(log, "write /data/y failed: EROFS") {
			t.Errorf("%s: a write in a read-only image root: %q", n, log)
		}
	}
	for _, n := range roots {
		e.ok("destroy", n)
		e.noStorageLeft(n, "after destroy")
	}

	// Attached read-write by someone else.
	dev := e.testLoop(data)
	out := e.fails("start", rw)
	if want := fmt.Sprintf("the image is already attached to %s (read-write, by something other than lxctl)", dev); !strings.Contains(out, want) {
		t.Errorf("start with the image attached elsewhere: %s\nwant %q", out, want)
	}
	e.noStorageLeft(rw, "refused start")
}

// TestStorageHostdevUserNS: with <idmap> the hostdev nodes are the
// controller's (a tmpfs outside the user namespace, owned by the mapped
// root, as libvirt makes them), so the container's root opens them; a bind
// of the host's own node would be the host root's and refuse it.
func TestStorageHostdevUserNS(t *testing.T) {
	e := newEnv(t)
	name := e.name("hostdevns")
	// The mapped root must reach the root filesystem.
	if err := os.Chmod(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(e.root, "raw.bin")
	magic := "USERNS-" + randHex(4)
	if err := os.WriteFile(raw, append([]byte(magic), make([]byte, 1<<20)...), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := e.testLoop(raw)
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	e.define(e.guestDomain(name, `<idmap><uid start='0' target='200000' count='65536'/><gid start='0' target='200000' count='65536'/></idmap>`,
		fmt.Sprintf(`<hostdev mode='capabilities' type='storage'><source><block>%s</block></source></hostdev>
    <hostdev mode='capabilities' type='misc'><source><char>/dev/kmsg</char></source></hostdev>`, dev),
		"statnode", dev, "readdev", dev, fmt.Sprint(len(magic)), "statnode", "/dev/kmsg", "print", "ready", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "ready")
	log := e.consoleLog(name)
	for _, want := range []string{
		fmt.Sprintf("node %s block %d:%d 700", dev, unix.Major(st.Rdev), unix.Minor(st.Rdev)),
		fmt.Sprintf("dev %s: %q", dev, magic),
		"node /dev/kmsg char 1:11 700",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q:\n%s", want, log)
		}
	}
	e.ok("destroy", name)
	e.noStorageLeft(name, "after destroy")
}
