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
      <bandwidth><outbound average='800'/></bandwidth>
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
	if xml := e.ok("dumpxml", a); strings.Contains(xml, "<target dev=") || !strings.Contains(xml, "<guest dev='mv0'/>") {
		t.Errorf("live XML: no host end to name, the guest name:\n%s", xml)
	}
	// No host end: what the domain sends is shaped on the macvlan's own
	// egress, in the container.
	if rate := htbRateIn(t, st.InitPID, "mv0"); rate != 800*1024 {
		t.Errorf("mv0's htb class 1:1 rate: got %d, want %d bytes/s", rate, 800*1024)
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
	// Another domain joins this one's namespace by its name.
	peer := e.name("sharenet-peer")
	e.define(e.guestDomain(peer, fmt.Sprintf(`<lxc:namespace xmlns:lxc='http://libvirt.org/schemas/domain/lxc/1.0'><lxc:sharenet type='name' value='%s'/></lxc:namespace>`, name), "", "sleep"))
	e.ok("start", peer)
	p1, _ := os.Stat(fmt.Sprintf("/proc/%d/ns/net", e.status(peer).InitPID))
	if !os.SameFile(want, p1) {
		t.Errorf("%s did not join %s's namespace", peer, name)
	}
	e.ok("destroy", peer)
	e.ok("destroy", name)
	if out, _ := exec.Command("ip", "-n", ns, "-o", "link").Output(); !strings.Contains(string(out), link+"a") {
		t.Errorf("destroy should leave the shared namespace's links alone: %s", out)
	}
	if out := e.fails("start", peer); !strings.Contains(out, "<lxc:sharenet type='name' value='"+name+"'>: domain '"+name+"' is not running (start it first)") {
		t.Errorf("start joining a domain that is not running: %s", out)
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
	// The host's own address on it, also listed by the hostdev: the
	// container gets it once.
	if err := netlink.AddrAdd(dev, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(fmt.Sprintf("10.213.%d.2", o)), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
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

func TestInterfaceBandwidth(t *testing.T) {
	e := newEnv(t)
	name := e.name("bw")
	target := "lxv" + randHex(4)
	e.define(e.guestDomain(name, "", fmt.Sprintf(`<interface type='ethernet'>
      <target dev='%s'/>
      <bandwidth>
        <inbound average='1000' peak='2000' burst='256'/>
      </bandwidth>
    </interface>`, target), "sleep"))
	e.ok("start", name)
	link, err := netlink.LinkByName(target)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := netlink.QdiscList(link)
	if err != nil {
		t.Fatal(err)
	}
	var root *netlink.Htb
	for _, q := range qs {
		if h, ok := q.(*netlink.Htb); ok && h.Parent == netlink.HANDLE_ROOT {
			root = h
		}
	}
	if root == nil || root.Handle != netlink.MakeHandle(1, 0) || root.Defcls != 1 {
		t.Fatalf("host end %s: want an htb root 1: default 1, got %v", target, qs)
	}
	cs, err := netlink.ClassList(link, netlink.MakeHandle(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cs {
		if h, ok := c.(*netlink.HtbClass); ok && h.Handle == netlink.MakeHandle(1, 1) {
			found = true
			// average 1000 KiB/s, peak 2000 KiB/s, in bytes/s.
			if h.Rate != 1000*1024 || h.Ceil != 2000*1024 {
				t.Errorf("class 1:1: rate %d ceil %d, want %d %d", h.Rate, h.Ceil, 1000*1024, 2000*1024)
			}
		}
	}
	if !found {
		t.Errorf("no htb class 1:1 on %s: %v", target, cs)
	}
	e.ok("destroy", name)
	if linkExists(target) {
		t.Errorf("destroy left %s (and its qdiscs)", target)
	}

	// Outbound: ingress + u32 + police. This kernel may lack the police
	// action: then the start fails naming it, leaving nothing.
	out := e.name("bwout")
	target2 := "lxv" + randHex(4)
	e.define(e.guestDomain(out, "", fmt.Sprintf(`<interface type='ethernet'>
      <target dev='%s'/>
      <bandwidth><outbound average='500' burst='64'/></bandwidth>
    </interface>`, target2), "sleep"))
	r := e.run("", "start", out)
	if r.code != 0 {
		if !strings.Contains(r.stderr, "<bandwidth><outbound average='500'>") || !strings.Contains(r.stderr, "CONFIG_NET_ACT_POLICE") {
			t.Errorf("start with outbound bandwidth failed without naming the kernel's lack: %s", r.stderr)
		}
		if linkExists(target2) {
			t.Errorf("the failed start left %s", target2)
		}
		t.Logf("outbound bandwidth refused on this kernel: %s", strings.TrimSpace(r.stderr))
		return
	}
	link, err = netlink.LinkByName(target2)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := netlink.FilterList(link, netlink.MakeHandle(0xffff, 0))
	if err != nil {
		t.Fatal(err)
	}
	policed := false
	for _, f := range fs {
		if u, ok := f.(*netlink.U32); ok {
			for _, a := range u.Actions {
				if p, ok := a.(*netlink.PoliceAction); ok && p.Rate == 500*1024 {
					policed = true
				}
			}
		}
	}
	if !policed {
		t.Errorf("no u32 police filter at 500 KiB/s on %s's ingress: %v", target2, fs)
	}
	e.ok("destroy", out)
	if linkExists(target2) {
		t.Errorf("destroy left %s", target2)
	}
}

// htbRateIn is the rate of htb class 1:1 on link in init's netns, 0 if none.
func htbRateIn(t *testing.T, pid int, link string) uint64 {
	t.Helper()
	ns, err := netns.GetFromPath(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := h.ClassList(l, netlink.MakeHandle(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c, ok := c.(*netlink.HtbClass); ok && c.Handle == netlink.MakeHandle(1, 1) {
			return c.Rate
		}
	}
	return 0
}

func TestInterfaceVLANVirtualPort(t *testing.T) {
	br := makeBridge(t)
	e := newEnv(t)
	name := e.name("vlan")
	target := "lxv" + randHex(4)
	e.define(e.guestDomain(name, "", fmt.Sprintf(`<interface type='bridge'>
      <source bridge='%s'/>
      <target dev='%s'/>
      <vlan><tag id='42'/></vlan>
    </interface>`, br.bridge, target), "sleep"))
	filtering := "/sys/class/net/" + br.bridge + "/bridge/vlan_filtering"
	if _, err := os.Stat(filtering); err != nil {
		// This kernel has no bridge VLAN filtering: a clear error.
		out := e.fails("start", name)
		if !strings.Contains(out, "<vlan> on bridge '"+br.bridge+"': this kernel lacks bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)") {
			t.Errorf("start with <vlan> on a kernel without VLAN filtering: %s", out)
		}
		if linkExists(target) {
			t.Errorf("the failed start left %s", target)
		}
	} else {
		out := e.fails("start", name)
		if !strings.Contains(out, "VLAN filtering off (turn it on: ip link set "+br.bridge+" type bridge vlan_filtering 1)") {
			t.Errorf("start with <vlan> on a bridge without filtering: %s", out)
		}
		if err := os.WriteFile(filtering, []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
		e.ok("start", name)
		link, err := netlink.LinkByName(target)
		if err != nil {
			t.Fatal(err)
		}
		all, err := netlink.BridgeVlanList()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range all[int32(link.Attrs().Index)] {
			got = append(got, fmt.Sprintf("%d/%d", v.Vid, v.Flags))
		}
		// 42, PVID (2) | untagged (4); the default VLAN 1 off the port.
		if strings.Join(got, " ") != "42/6" {
			t.Errorf("port %s VLANs: got %v, want 42 as untagged PVID only", target, got)
		}
		e.ok("destroy", name)
	}

	vp := e.name("vport")
	e.define(e.guestDomain(vp, "", fmt.Sprintf(`<interface type='bridge'>
      <source bridge='%s'/>
      <virtualport type='openvswitch'/>
    </interface>`, br.bridge), "sleep"))
	if out := e.fails("start", vp); !strings.Contains(out, "<virtualport type='openvswitch'>: lxctl drives neither Open vSwitch nor an 802.1Qbg/Qbh switch") {
		t.Errorf("start with an openvswitch virtualport: %s", out)
	}
}
