package cmd_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Tests of the interfaces that are not veths: macvlans (<interface
// type='direct'>), a shared named netns, hostdev net, tc bandwidth, vlans.
// Their parents and namespaces are the test's own: veth pairs
// lxd<random>a/b, netns lxtns-<random>; each is removed at cleanup.

// makeParent creates an up veth pair lxd<random>a/b on the host, removed
// at cleanup, and returns end a: the stand-in for a host NIC (this
// kernel has no dummy driver, CONFIG_DUMMY; a veth end takes macvlans
// and moves between namespaces just as well).
func makeParent(t *testing.T) netlink.Link {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	base := "lxd" + randHex(4)
	attrs.Name = base + "a"
	v := &netlink.Veth{LinkAttrs: attrs, PeerName: base + "b"}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("create veth %s: %v", attrs.Name, err)
	}
	t.Cleanup(func() {
		for _, n := range []string{base + "a", base + "b"} {
			if l, err := netlink.LinkByName(n); err == nil {
				_ = netlink.LinkDel(l)
			}
		}
	})
	for _, n := range []string{base + "a", base + "b"} {
		l, err := netlink.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	l, err := netlink.LinkByName(attrs.Name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// markedOnHost lists host links of any type carrying the domain's mark.
func markedOnHost(t *testing.T, uuid string) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range links {
		if strings.Contains(l.Attrs().Alias, "lxctl/"+uuid) {
			out = append(out, l.Type()+" "+l.Attrs().Name)
		}
	}
	return out
}

// inInitNetNS returns the links (name → "type addrs") the domain's init
// sees, read from the host through the netns of init.
func inInitNetNS(t *testing.T, pid int) map[string]string {
	t.Helper()
	m, err := linksOfInit(pid)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func linksOfInit(pid int) (map[string]string, error) {
	ns, err := netns.GetFromPath(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range links {
		desc := l.Type()
		addrs, _ := h.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			desc += " " + a.IPNet.String()
		}
		out[l.Attrs().Name] = desc
	}
	return out, nil
}

func TestInterfaceDirect(t *testing.T) {
	parent := makeParent(t)
	e := newEnv(t)
	o := freeOctet(t)
	addr := func(h int) string { return fmt.Sprintf("10.213.%d.%d", o, h) }
	a, b := e.name("mva"), e.name("mvb")
	direct := func(mac string, host int) string {
		return fmt.Sprintf(`<interface type='direct'>
      <mac address='%s'/>
      <source dev='%s' mode='bridge'/>
      <ip address='%s' prefix='24'/>
      <guest dev='mv0'/>
      <mtu size='1400'/>
    </interface>`, mac, parent.Attrs().Name, addr(host))
	}
	e.define(e.guestDomain(a, "", direct("52:54:00:7a:00:01", 2), "ifaces", "listen", "7000", "print", "ready", "sleep"))
	e.define(e.guestDomain(b, "", direct("52:54:00:7a:00:02", 3), "connect", addr(2)+":7000", "print", "connects done", "sleep"))
	e.ok("start", a)
	e.waitConsole(a, "ready")
	st := e.status(a)
	ifs := inInitNetNS(t, st.InitPID)
	if got := ifs["mv0"]; got != "macvlan "+addr(2)+"/24" {
		t.Errorf("container's mv0: got %q, want a macvlan with %s/24 (all: %v)", got, addr(2), ifs)
	}
	if got := ifaces(e.consoleLog(a))["mv0"]; !strings.HasPrefix(got, "52:54:00:7a:00:01 1400 up") {
		t.Errorf("guest sees mv0 as %q\n%s", got, e.consoleLog(a))
	}
	if m := markedOnHost(t, st.UUID); len(m) > 0 {
		t.Errorf("the macvlan should be in the container, not on the host: %v", m)
	}
	e.ok("start", b)
	e.waitConsole(b, "connects done")
	if log := e.consoleLog(b); !strings.Contains(log, "connected "+addr(2)+":7000: hello from "+a) {
		t.Fatalf("b should reach a through their macvlans on %s:\n%s", parent.Attrs().Name, log)
	}
	// Destroy and start again at once: the old macvlan with the same MAC
	// must be gone from the parent (EADDRINUSE otherwise).
	e.ok("destroy", a)
	e.ok("start", a)
	e.ok("destroy", a)
	e.ok("destroy", b)
	if m := markedOnHost(t, st.UUID); len(m) > 0 {
		t.Errorf("destroy left %v", m)
	}
}

func TestInterfaceDirectErrors(t *testing.T) {
	e := newEnv(t)
	name := e.name("mvbad")
	missing := "lxd" + randHex(4)
	e.define(e.guestDomain(name, "", fmt.Sprintf(`<interface type='direct'><source dev='%s' mode='vepa'/></interface>`, missing), "sleep"))
	out := e.fails("start", name)
	if !strings.Contains(out, "<source dev='"+missing+"'>: no such interface") {
		t.Errorf("start with a missing parent: %s", out)
	}
	if _, err := net.InterfaceByName(missing); err == nil {
		t.Errorf("%s exists", missing)
	}
}

// makeNetNS creates a named network namespace lxtns-<random> holding a
// veth pair lxd<random>a/b, removed at cleanup.
func makeNetNS(t *testing.T) (name, link string) {
	t.Helper()
	name, link = "lxtns-"+randHex(4), "lxd"+randHex(4)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "add", link+"a", "type", "veth", "peer", "name", link+"b").CombinedOutput(); err != nil {
		t.Fatalf("veth in %s: %v: %s", name, err, out)
	}
	return name, link
}

func TestShareNetNS(t *testing.T) {
	ns, link := makeNetNS(t)
	e := newEnv(t)
	name := e.name("sharenet")
	e.define(e.guestDomain(name, fmt.Sprintf(`<lxc:namespace xmlns:lxc='http://libvirt.org/schemas/domain/lxc/1.0'><lxc:sharenet type='netns' value='%s'/></lxc:namespace>`, ns),
		"", "ifaces", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "ifaces done")
	ifs := ifaces(e.consoleLog(name))
	if _, ok := ifs[link+"a"]; !ok || len(ifs) != 3 {
		t.Errorf("the container should see lo, %sa and %sb of %s, got %v", link, link, ns, ifs)
	}
	// The same namespace, by inode, as the test's.
	want, _ := os.Stat("/run/netns/" + ns)
	got, _ := os.Stat(fmt.Sprintf("/proc/%d/ns/net", e.status(name).InitPID))
	if !os.SameFile(want, got) {
		t.Errorf("init is not in /run/netns/%s", ns)
	}
	e.ok("destroy", name)
	if out, _ := exec.Command("ip", "-n", ns, "-o", "link").Output(); !strings.Contains(string(out), link+"a") {
		t.Errorf("destroy should leave the shared namespace's links alone: %s", out)
	}

	missing := e.name("sharenet-missing")
	e.define(e.guestDomain(missing, `<lxc:namespace xmlns:lxc='http://libvirt.org/schemas/domain/lxc/1.0'><lxc:sharenet type='netns' value='lxtns-none'/></lxc:namespace>`, "", "sleep"))
	if out := e.fails("start", missing); !strings.Contains(out, "no network namespace /run/netns/lxtns-none (make it with 'ip netns add lxtns-none')") {
		t.Errorf("start with a missing netns: %s", out)
	}
	if r := e.run("", "domstate", missing); !strings.Contains(r.stdout, "shut off") {
		t.Errorf("after the failed start: %s %s", r.stdout, r.stderr)
	}
}

func TestHostdevNet(t *testing.T) {
	dev := makeParent(t) // lxd<random>a, its peer ...b stays on the host
	name := dev.Attrs().Name
	peer := strings.TrimSuffix(name, "a") + "b"
	e := newEnv(t)
	o := freeOctet(t)
	dom := e.name("hostdev")
	e.define(e.guestDomain(dom, "", fmt.Sprintf(`<hostdev mode='capabilities' type='net'>
      <source><interface>%s</interface></source>
      <ip address='10.213.%d.2' family='ipv4' prefix='24'/>
    </hostdev>`, name, o), "ifaces", "sleep"))
	e.ok("start", dom)
	e.waitConsole(dom, "ifaces done")
	if got := inInitNetNS(t, e.status(dom).InitPID)[name]; got != fmt.Sprintf("veth 10.213.%d.2/24", o) {
		t.Errorf("in the container, %s is %q", name, got)
	}
	if linkExists(name) {
		t.Errorf("%s is still on the host while the container runs", name)
	}
	// A reboot gives it back and takes it again.
	first := e.status(dom).InitPID
	e.ok("reboot", dom)
	e.waitFor("the hostdev in the rebooted container", func() bool {
		st, err := e.layout().ReadStatus(dom)
		if err != nil || st.State != "running" || st.InitPID == first {
			return false
		}
		m, err := linksOfInit(st.InitPID)
		return err == nil && m[name] != ""
	})
	e.ok("destroy", dom)
	back, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("%s did not come back to the host on destroy: %v", name, err)
	}
	if back.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%s came back down, it was up", name)
	}
	if p, err := netlink.LinkByName(peer); err != nil || p.Attrs().ParentIndex != back.Attrs().Index {
		t.Errorf("%s is no longer %s's peer: %v", peer, name, err)
	}

	// The controller killed -9: nothing holds the namespace, the kernel
	// dismantles it and destroys a virtual device (a veth, with its
	// peer); a physical one would come back to the host by itself.
	e.ok("start", dom)
	st := e.status(dom)
	if err := unix.Kill(st.ControllerPID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(st.ControllerPID)
	reapAll()
	e.run("", "destroy", dom)
	e.waitFor("the kernel to destroy the virtual hostdev", func() bool { return !linkExists(name) && !linkExists(peer) })

	missing := e.name("hostdev-missing")
	e.define(e.guestDomain(missing, "", `<hostdev mode='capabilities' type='net'><source><interface>lxdnone</interface></source></hostdev>`, "sleep"))
	if out := e.fails("start", missing); !strings.Contains(out, "<hostdev type='net'> lxdnone: no such interface on this host") {
		t.Errorf("start with a missing hostdev: %s", out)
	}
}
