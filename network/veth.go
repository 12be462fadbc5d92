package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// Plan is a domain's interfaces resolved at the start of its controller:
// networks active, bridges present, addresses leased. The same plan makes
// the veths of every (re)start of the domain's init.
type Plan struct {
	l      state.Layout
	name   string
	mark   string
	ifaces []*iface
	// ns is the network namespace of the running init, held open so that
	// what lives in it (macvlans, hostdevs) can still be reached after
	// init is gone: Release takes them back or removes them (direct.go).
	ns       netns.NsHandle
	hostdevs []*hostdev // <hostdev type='net'> (hostdev.go)
}

// iface is one <interface> as it is set up.
type iface struct {
	ifc        *domainxml.Interface // in the live domain: Target is filled in
	auto       bool                 // host name chosen by lxctl (vnetN), not <target dev>
	host       string               // host end, once created
	guest      string               // name inside the container
	peer       string               // temporary host name of the container end
	mac        net.HardwareAddr
	mtu        int
	bridge     string // "" for type ethernet
	bw         *domainxml.Bandwidth
	vlan       *vlan
	parent     string // type direct: the macvlan's <source dev>
	mode       netlink.MacvlanMode
	up         bool
	ips        []*netlink.Addr
	routes     []route
	hostIPs    []*netlink.Addr // type ethernet: on the host end
	hostRoutes []route
}

var generatedName = regexp.MustCompile(`^vnet[0-9]+$`)

type route struct {
	dst    *net.IPNet // nil: default route
	gw     net.IP
	metric int
}

// CheckSupported is the start-time check of the interfaces' types;
// everything else is checked when they are planned.
func CheckSupported(d *domainxml.Domain) error {
	for _, ifc := range d.Devices.Interfaces {
		switch ifc.Type {
		case "network", "bridge", "ethernet", "direct":
		default:
			return fmt.Errorf("<interface type='%s'> is not supported (use type network, bridge, ethernet or direct)", ifc.Type)
		}
	}
	return nil
}

// PlanDomain resolves every <interface> of d (the live domain) before
// anything is created: networks must be active (autostart ones are
// started), bridges must exist, addresses come from leases. d gets the
// guest names libvirt shows (<guest dev='eth0'/>); host names are chosen
// when the veths are made. Leases taken before a failure are released by
// Cleanup.
func PlanDomain(l state.Layout, d *domainxml.Domain) (*Plan, error) {
	p := &Plan{l: l, name: d.Name, mark: VethMark(l, d.UUID, d.Name), ns: netns.None()}
	// A container joining another network namespace (<lxc:sharenet>)
	// gets none of its interfaces: that namespace has its own.
	if typ, _ := d.ShareNet(); typ != "" {
		return p, nil
	}
	ifs := d.Devices.Interfaces
	used := map[string]bool{}
	for _, ifc := range ifs {
		if ifc.Guest != "" {
			used[ifc.Guest] = true
		}
	}
	next := 0
	for i := range ifs {
		ifc := &ifs[i]
		if ifc.Guest == "" {
			for used[fmt.Sprintf("eth%d", next)] {
				next++
			}
			ifc.Guest = fmt.Sprintf("eth%d", next)
			used[ifc.Guest] = true
		}
		ni, err := p.planIface(d, ifc)
		if err != nil {
			return nil, fmt.Errorf("<interface type='%s'> %s: %w", ifc.Type, ifc.Guest, err)
		}
		p.ifaces = append(p.ifaces, ni)
	}
	if err := p.planHostdevs(d); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Plan) planIface(d *domainxml.Domain, ifc *domainxml.Interface) (*iface, error) {
	mac, err := net.ParseMAC(ifc.MAC)
	if err != nil {
		return nil, fmt.Errorf("mac address '%s': %w", ifc.MAC, err)
	}
	// A vnetN target is a name lxctl (or libvirt) chose for an earlier
	// run, as dumpxml shows it: libvirt drops those at define, lxctl
	// prefers it but takes another when it is in use.
	auto := ifc.Target == "" || generatedName.MatchString(ifc.Target)
	ni := &iface{ifc: ifc, auto: auto, host: ifc.Target, guest: ifc.Guest, mac: mac, mtu: ifc.MTU}
	if ni.bw, err = ifc.Bandwidth(); err != nil {
		return nil, err
	}
	var gw *netip.Prefix
	switch ifc.Type {
	case "bridge":
		if err := checkBridge(ifc.Source.Bridge); err != nil {
			return nil, err
		}
		ni.bridge = ifc.Source.Bridge
	case "network":
		n, br, err := EnsureActive(p.l, ifc.Source.Network)
		if err != nil {
			return nil, err
		}
		ni.bridge = br
		if n.IP != nil {
			pf := n.IP.Prefix
			gw = &pf
			if len(ifc.IPs) == 0 && n.IP.HasRange() {
				a, err := p.l.AllocateLease(n.Name, p.name, ifc.MAC, n.IP.RangeStart, n.IP.RangeEnd, append(staticAddrs(d, n.Name), pf.Addr()))
				if err != nil {
					return nil, err
				}
				ni.ips = append(ni.ips, &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(pf.Bits(), 32)}})
				// The gateway becomes the default route, once per container
				// (a second interface on a network would clash: EEXIST).
				if len(ifc.Routes) == 0 && !p.hasDefaultRoute() {
					ni.routes = append(ni.routes, route{gw: pf.Addr().AsSlice()})
				}
			}
		}
	case "ethernet":
		for _, ip := range ifc.Source.IPs {
			a, err := toAddr(ip, nil)
			if err != nil {
				return nil, err
			}
			ni.hostIPs = append(ni.hostIPs, a)
		}
		for _, r := range ifc.Source.Routes {
			rt, err := toRoute(r)
			if err != nil {
				return nil, err
			}
			ni.hostRoutes = append(ni.hostRoutes, rt)
		}
	case "direct":
		if err := planDirect(ni, ifc); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("type '%s' is not supported (use network, bridge, ethernet or direct)", ifc.Type)
	}
	for _, ip := range ifc.IPs {
		a, err := toAddr(ip, gw)
		if err != nil {
			return nil, err
		}
		ni.ips = append(ni.ips, a)
	}
	for _, r := range ifc.Routes {
		rt, err := toRoute(r)
		if err != nil {
			return nil, err
		}
		ni.routes = append(ni.routes, rt)
	}
	if err := planVLAN(ni); err != nil {
		return nil, err
	}
	// libvirt's rule: the container end comes up when it has an address or
	// <link state='up'/>, and never with <link state='down'/>.
	ni.up = ifc.LinkState == "up" || (ifc.LinkState == "" && len(ni.ips) > 0)
	return ni, nil
}

func (p *Plan) hasDefaultRoute() bool {
	for _, ni := range p.ifaces {
		for _, r := range ni.routes {
			if r.dst == nil {
				return true
			}
		}
	}
	return false
}

// staticAddrs are the addresses the domain's own interfaces on network set
// by hand: the allocator must not hand them out to its other interfaces.
func staticAddrs(d *domainxml.Domain, network string) []netip.Addr {
	var out []netip.Addr
	for _, ifc := range d.Devices.Interfaces {
		if ifc.Type != "network" || ifc.Source.Network != network {
			continue
		}
		for _, ip := range ifc.IPs {
			if a, err := netip.ParseAddr(ip.Address); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// toAddr turns an <ip> into a netlink address. Without a prefix, an address
// inside the network's subnet takes its length, any other the class default
// for IPv4 (as libvirt) or 64 for IPv6.
func toAddr(ip domainxml.IP, netPrefix *netip.Prefix) (*netlink.Addr, error) {
	a, err := netip.ParseAddr(ip.Address)
	if err != nil {
		return nil, fmt.Errorf("ip address '%s': %w", ip.Address, err)
	}
	bits := ip.Prefix
	if bits == 0 {
		switch {
		case netPrefix != nil && netPrefix.Masked().Contains(a):
			bits = netPrefix.Bits()
		case a.Is6():
			bits = 64
		default:
			bits = classPrefix(a)
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}}
	if ip.Peer != "" {
		pa, err := netip.ParseAddr(ip.Peer)
		if err != nil {
			return nil, fmt.Errorf("ip peer '%s': %w", ip.Peer, err)
		}
		addr.Peer = &net.IPNet{IP: pa.AsSlice(), Mask: net.CIDRMask(pa.BitLen(), pa.BitLen())}
	}
	return addr, nil
}

func classPrefix(a netip.Addr) int {
	b := a.As4()[0]
	switch {
	case b < 128:
		return 8
	case b < 192:
		return 16
	}
	return 24
}

func toRoute(r domainxml.Route) (route, error) {
	var rt route
	a, err := netip.ParseAddr(r.Address)
	if err != nil {
		return rt, fmt.Errorf("route address '%s': %w", r.Address, err)
	}
	bits := r.Prefix
	if bits == 0 && !a.IsUnspecified() {
		bits = a.BitLen()
		if a.Is4() {
			bits = classPrefix(a)
		}
	}
	if bits > 0 {
		rt.dst = &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
	}
	if r.Gateway != "" {
		g, err := netip.ParseAddr(r.Gateway)
		if err != nil {
			return rt, fmt.Errorf("route gateway '%s': %w", r.Gateway, err)
		}
		rt.gw = g.AsSlice()
	}
	rt.metric = r.Metric
	return rt, nil
}

func checkBridge(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("bridge '%s' does not exist on this host (create it, e.g. 'ip link add %s type bridge', or use <interface type='network'> with an lxctl network)", name, name)
	}
	if l.Type() == "openvswitch" {
		return fmt.Errorf("'%s' is an Open vSwitch bridge: lxctl does not drive Open vSwitch (use a Linux bridge: ip link add NAME type bridge)", name)
	}
	if l.Type() != "bridge" {
		return fmt.Errorf("'%s' is a %s interface, not a bridge", name, l.Type())
	}
	return nil
}

// HostNames are the host ends of the veths made last, in interface order.
func (p *Plan) HostNames() []string {
	var out []string
	for _, ni := range p.ifaces {
		if ni.host != "" && ni.parent == "" {
			out = append(out, ni.host)
		}
	}
	return out
}

// CreateVeths makes the veth pairs of one start of init and returns what
// must be moved into the container: host name of the container end →
// name inside. The host ends' names are written into the live domain
// (<target dev>). On failure every veth it made is gone again.
func (p *Plan) CreateVeths() (devs map[string]string, retErr error) {
	if len(p.ifaces) == 0 && len(p.hostdevs) == 0 {
		return nil, nil
	}
	defer func() {
		if retErr != nil {
			_ = removeMarked(p.l, p.name)
		}
	}()
	devs = map[string]string{}
	for _, ni := range p.ifaces {
		if ni.parent != "" {
			if err := p.createMacvlan(ni); err != nil {
				return nil, fmt.Errorf("interface %s: %w", ni.guest, err)
			}
			devs[ni.peer] = ni.guest
			// No host end: a <target dev> would make domifstat read
			// some unrelated host interface's counters.
			ni.ifc.Target = ""
			continue
		}
		if err := p.createVeth(ni); err != nil {
			return nil, fmt.Errorf("interface %s: %w", ni.guest, err)
		}
		ni.ifc.Target = ni.host
		devs[ni.peer] = ni.guest
	}
	if err := p.lendHostdevs(devs); err != nil {
		return nil, err
	}
	return devs, nil
}

// createVeth makes one pair under temporary names, marks the host end as
// the domain's, and only then renames it to its real name: vnetN for
// lxctl's choice (the next free one when two starts race for a name: the
// kernel's EEXIST on rename is the arbiter), or <target dev>. A real name
// is therefore never seen unmarked, and a controller killed half-way
// leaves at most a marked veth, which Cleanup finds.
func (p *Plan) createVeth(ni *iface) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = tempName("lxh")
	if ni.mtu > 0 {
		attrs.MTU = ni.mtu
	}
	ni.peer = tempName("lxp")
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: ni.peer, PeerHardwareAddr: ni.mac, PeerMTU: uint32(ni.mtu)}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth pair: %w", err)
	}
	// The kernel ignores IFLA_IFALIAS in RTM_NEWLINK: mark it right after.
	if err := netlink.LinkSetAlias(veth, p.mark); err != nil {
		_ = netlink.LinkDel(veth)
		return fmt.Errorf("mark veth %s as lxctl's: %w", attrs.Name, err)
	}
	name, err := p.claimName(veth, ni)
	if err != nil {
		return err
	}
	ni.host, veth.Attrs().Name = name, name
	if ni.bridge != "" {
		br, err := netlink.LinkByName(ni.bridge)
		if err != nil {
			return fmt.Errorf("bridge '%s' is gone: %w", ni.bridge, err)
		}
		if err := netlink.LinkSetMasterByIndex(veth, br.Attrs().Index); err != nil {
			return fmt.Errorf("attach %s to bridge %s: %w", name, ni.bridge, err)
		}
		if err := applyVLAN(veth, ni.bridge, ni.vlan); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	if ni.bw != nil {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("host end %s: %w", name, err)
		}
		// On the host end, out of the container's reach; the qdiscs go
		// with the veth.
		if err := applyBandwidth(&netlink.Handle{}, link, ni.bw, false); err != nil {
			return err
		}
	}
	return applyAddrs(&netlink.Handle{}, veth, ni.hostIPs, ni.hostRoutes)
}

// claimName renames the new host end to its real name.
func (p *Plan) claimName(veth netlink.Link, ni *iface) (string, error) {
	if !ni.auto {
		return ni.ifc.Target, p.rename(veth, ni.ifc.Target, true)
	}
	// The previous start's name first, so a restart keeps <target dev>.
	if ni.host != "" {
		if err := p.rename(veth, ni.host, false); err == nil {
			return ni.host, nil
		} else if !errors.Is(err, unix.EEXIST) {
			return "", err
		}
	}
	have := map[string]bool{}
	if links, err := linkList(); err == nil {
		for _, l := range links {
			have[l.Attrs().Name] = true
		}
	}
	for i := 0; i < 1<<16; i++ {
		n := fmt.Sprintf("vnet%d", i)
		if have[n] {
			continue
		}
		err := p.rename(veth, n, false)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return "", err
		}
	}
	return "", errors.New("no free vnetN interface name")
}

// rename gives the veth name. A link of this domain's already there is the
// previous container's, whose network namespace the kernel is still
// dismantling (restart): it goes. Anyone else's is an EEXIST, an error
// naming the fix when the name was the user's choice.
func (p *Plan) rename(veth netlink.Link, name string, userChoice bool) error {
	for try := 0; ; try++ {
		err := netlink.LinkSetName(veth, name)
		if err == nil || !errors.Is(err, unix.EEXIST) {
			if err != nil {
				return fmt.Errorf("name the host end %s: %w", name, err)
			}
			return nil
		}
		old, lerr := netlink.LinkByName(name)
		if lerr == nil && old.Type() == "veth" && isVethOf(old.Attrs().Alias, p.l, p.name) && try == 0 {
			if derr := netlink.LinkDel(old); derr != nil && !errors.Is(derr, unix.ENODEV) {
				return fmt.Errorf("remove the previous veth %s: %w", name, derr)
			}
			continue
		}
		if userChoice {
			return fmt.Errorf("host interface '%s' already exists and is not this domain's (choose another <target dev>, or remove it)", name)
		}
		return err
	}
}

func applyAddrs(h *netlink.Handle, link netlink.Link, addrs []*netlink.Addr, routes []route) error {
	for _, a := range addrs {
		if err := h.AddrAdd(link, a); err != nil {
			return fmt.Errorf("add address %s to %s: %w", a.IPNet, link.Attrs().Name, err)
		}
	}
	for _, r := range routes {
		rt := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: r.dst, Gw: r.gw, Priority: r.metric}
		if err := h.RouteAdd(rt); err != nil {
			what := "default"
			if r.dst != nil {
				what = r.dst.String()
			}
			return fmt.Errorf("add route %s via %s on %s: %w (is the gateway inside one of the interface's subnets?)", what, r.gw, link.Attrs().Name, err)
		}
	}
	return nil
}

// ConfigureNetNS sets addresses, link state and routes of the container's
// interfaces from outside, while init waits to exec: init's first
// instruction already sees its network ready, as with libvirt.
//
// It keeps the namespace open (Release closes it): the macvlans and
// hostdevs in it are then still reachable once init is gone.
func (p *Plan) ConfigureNetNS(pid int) error {
	if len(p.ifaces) == 0 && len(p.hostdevs) == 0 {
		return nil
	}
	ns, err := netns.GetFromPath(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return fmt.Errorf("container network namespace: %w", err)
	}
	if p.ns.IsOpen() {
		p.ns.Close()
	}
	p.ns = ns
	// A handle whose socket lives in the container's namespace: no setns,
	// so no OS thread ends up in the wrong namespace.
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("container network namespace: %w", err)
	}
	defer h.Close()
	for _, ni := range p.ifaces {
		link, err := h.LinkByName(ni.guest)
		if err != nil {
			return fmt.Errorf("interface %s in the container: %w", ni.guest, err)
		}
		// libcontainer sets every moved device up; libvirt leaves one
		// without address (or with <link state='down'/>) down.
		if !ni.up {
			if err := h.LinkSetDown(link); err != nil {
				return fmt.Errorf("set %s down in the container: %w", ni.guest, err)
			}
			continue
		}
		if err := applyAddrs(h, link, ni.ips, ni.routes); err != nil {
			return fmt.Errorf("in the container: %w", err)
		}
	}
	// A macvlan has no host end: its bandwidth is set on it, in the
	// container, directions swapped (libvirt does the same on a macvtap).
	for _, ni := range p.ifaces {
		if ni.parent == "" || ni.bw == nil {
			continue
		}
		link, err := h.LinkByName(ni.guest)
		if err != nil {
			return fmt.Errorf("interface %s in the container: %w", ni.guest, err)
		}
		if err := applyBandwidth(h, link, ni.bw, true); err != nil {
			return fmt.Errorf("in the container: %w", err)
		}
	}
	for _, hd := range p.hostdevs {
		link, err := h.LinkByName(hd.name)
		if err != nil {
			return fmt.Errorf("<hostdev type='net'> %s in the container: %w", hd.name, err)
		}
		// libcontainer brings the host's addresses of the device along:
		// one the hostdev also lists is there already.
		var ips []*netlink.Addr
		have, _ := h.AddrList(link, netlink.FAMILY_ALL)
		for _, a := range hd.ips {
			if !slices.ContainsFunc(have, func(x netlink.Addr) bool { return x.IPNet.String() == a.IPNet.String() }) {
				ips = append(ips, a)
			}
		}
		if err := applyAddrs(h, link, ips, hd.routes); err != nil {
			return fmt.Errorf("<hostdev type='net'> in the container: %w", err)
		}
	}
	return nil
}

// RemoveVeths deletes the host ends of the domain's veths (which takes
// the container ends with them) and macvlans not moved yet: every link
// carrying this domain's mark.
func (p *Plan) RemoveVeths() error { return removeMarked(p.l, p.name) }

// removeMarked deletes every veth on the host marked as domain name's in
// root l. Which links go is decided by the mark alone, never by a name
// from a record: a forged or stale status cannot make it delete anything
// else.
func removeMarked(l state.Layout, name string) error {
	links, err := linkList()
	if err != nil {
		return err
	}
	var errs []error
	for _, link := range links {
		// A macvlan is on the host only between its creation and its
		// move into the container: one left here is a failed start's.
		if (link.Type() != "veth" && link.Type() != "macvlan") || !isVethOf(link.Attrs().Alias, l, name) {
			continue
		}
		if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("remove %s %s: %w", link.Type(), link.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

// Cleanup removes what a domain's networking left on the host: its veths
// (found by their mark) and its leases. Controller teardown and sweep
// both call it; it needs nothing from the domain's records.
func Cleanup(l state.Layout, name string) error {
	var errs []error
	if err := removeMarked(l, name); err != nil {
		errs = append(errs, err)
	}
	if err := l.ReleaseLeases(name); err != nil {
		errs = append(errs, fmt.Errorf("release the leases of '%s': %w", name, err))
	}
	return errors.Join(errs...)
}
