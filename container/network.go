package container

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/sirupsen/logrus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// vethAliasPrefix marks the host end of every veth lxctl makes with the
// domain's UUID (IFLA_IFALIAS, set right after creation: the kernel ignores
// it in RTM_NEWLINK). Cleanup deletes a recorded name only when it is such
// a veth, or an unmarked veth (killed between creation and marking): a
// name is recorded only after checking no link has it, so the unmarked
// veth is ours too.
const vethAliasPrefix = "lxctl/"

// netIface is one <interface> as it is set up: names, addresses and routes
// resolved at the start of the controller.
type netIface struct {
	host, guest string // host-side veth and container-side name
	peer        string // temporary host name of the container end
	mac         net.HardwareAddr
	mtu         int
	bridge      string // "" for type ethernet
	up          bool
	ips         []*netlink.Addr
	routes      []route
	hostIPs     []*netlink.Addr // type ethernet: on the host end
	hostRoutes  []route
}

type route struct {
	dst    *net.IPNet // nil: default route
	gw     net.IP
	metric int
}

// planNetwork resolves every <interface> before anything is created:
// networks must exist and be active, bridges must exist, addresses come
// from leases. The live XML gets the names and MAC libvirt shows
// (<target dev='vnet0'/>, <guest dev='eth0'/>).
func (c *controller) planNetwork() error {
	ifs := c.dom.Devices.Interfaces
	if len(ifs) == 0 {
		return nil
	}
	used := map[string]bool{}
	for _, ifc := range ifs {
		if ifc.Guest != "" {
			used[ifc.Guest] = true
		}
	}
	next := 0
	hostNames := map[string]bool{}
	for i := range ifs {
		ifc := &ifs[i]
		if ifc.Guest == "" {
			for used[fmt.Sprintf("eth%d", next)] {
				next++
			}
			ifc.Guest = fmt.Sprintf("eth%d", next)
			used[ifc.Guest] = true
		}
		if ifc.Target == "" {
			name, err := freeVnetName(hostNames)
			if err != nil {
				return err
			}
			ifc.Target = name
		}
		hostNames[ifc.Target] = true
		ni, err := c.planIface(ifc)
		if err != nil {
			return fmt.Errorf("<interface type='%s'> %s: %w", ifc.Type, ifc.Guest, err)
		}
		c.ifaces = append(c.ifaces, ni)
	}
	out, err := c.dom.Marshal()
	if err != nil {
		return err
	}
	return state.WriteRuntimeFile(filepath.Join(c.runDir, LiveXMLFile), out, 0o600)
}

func (c *controller) planIface(ifc *domainxml.Interface) (*netIface, error) {
	mac, err := net.ParseMAC(ifc.MAC)
	if err != nil {
		return nil, fmt.Errorf("mac address '%s': %w", ifc.MAC, err)
	}
	ni := &netIface{host: ifc.Target, guest: ifc.Guest, mac: mac, mtu: ifc.MTU, peer: "lxp" + randHex(6)}
	var gw *netip.Prefix
	switch ifc.Type {
	case "bridge":
		if err := checkBridge(ifc.Source.Bridge); err != nil {
			return nil, err
		}
		ni.bridge = ifc.Source.Bridge
	case "network":
		n, ns, err := activeNetwork(c.l, ifc.Source.Network)
		if err != nil {
			return nil, err
		}
		if err := checkBridge(ns.Bridge); err != nil {
			return nil, fmt.Errorf("network '%s': %w (restart it: lxctl net-destroy %s; lxctl net-start %s)", n.Name, err, n.Name, n.Name)
		}
		ni.bridge = ns.Bridge
		if n.IP != nil {
			p := n.IP.Prefix
			gw = &p
			if len(ifc.IPs) == 0 && n.IP.HasRange() {
				a, err := c.l.AllocateLease(n.Name, c.name, ifc.MAC, n.IP.RangeStart, n.IP.RangeEnd, append(staticAddrs(c.dom, n.Name), p.Addr()))
				if err != nil {
					return nil, err
				}
				ni.ips = append(ni.ips, &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}})
				// The gateway becomes the default route, once per container
				// (a second interface on a network would clash: EEXIST).
				if len(ifc.Routes) == 0 && !c.hasDefaultRoute() {
					ni.routes = append(ni.routes, route{gw: p.Addr().AsSlice()})
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
	default:
		return nil, fmt.Errorf("type '%s' is not supported (use network, bridge or ethernet)", ifc.Type)
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
	// libvirt's rule: the container end comes up when it has an address or
	// <link state='up'/>, and never with <link state='down'/>.
	ni.up = ifc.LinkState == "up" || (ifc.LinkState == "" && len(ni.ips) > 0)
	return ni, nil
}

func (c *controller) hasDefaultRoute() bool {
	for _, ni := range c.ifaces {
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
		p, err := netip.ParseAddr(ip.Peer)
		if err != nil {
			return nil, fmt.Errorf("ip peer '%s': %w", ip.Peer, err)
		}
		addr.Peer = &net.IPNet{IP: p.AsSlice(), Mask: net.CIDRMask(p.BitLen(), p.BitLen())}
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

func randHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freeVnetName returns the lowest vnetN no host link (and no name in
// taken) has. Two controllers may pick the same one at once; creation then
// fails with EEXIST and createVeths picks again.
func freeVnetName(taken map[string]bool) (string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return "", fmt.Errorf("list host interfaces: %w", err)
	}
	have := map[string]bool{}
	for _, l := range links {
		have[l.Attrs().Name] = true
	}
	for i := 0; i < 100000; i++ {
		n := fmt.Sprintf("vnet%d", i)
		if !have[n] && !taken[n] {
			return n, nil
		}
	}
	return "", errors.New("no free vnetN interface name")
}

func checkBridge(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("bridge '%s' does not exist on this host (create it, e.g. 'ip link add %s type bridge', or use <interface type='network'> with an lxctl network)", name, name)
	}
	if l.Type() != "bridge" {
		return fmt.Errorf("'%s' is a %s interface, not a bridge", name, l.Type())
	}
	return nil
}

// activeNetwork loads a named network and its runtime state, starting it
// first when it is marked autostart.
func activeNetwork(l state.Layout, name string) (*domainxml.Network, *state.NetworkState, error) {
	data, err := l.LoadNetwork(name)
	if err != nil {
		return nil, nil, fmt.Errorf("%w, then start it with lxctl net-start %s", err, name)
	}
	n, err := domainxml.ParseNetwork(data)
	if err != nil {
		return nil, nil, err
	}
	ns, err := l.ReadNetworkState(name)
	if errors.Is(err, state.ErrNotFound) && l.NetworkAutostart(name) {
		if err := StartNetwork(l, name); err != nil && !errors.Is(err, errNetworkActive) {
			return nil, nil, fmt.Errorf("autostart network '%s': %w", name, err)
		}
		ns, err = l.ReadNetworkState(name)
	}
	if err != nil {
		return nil, nil, err
	}
	return n, ns, nil
}

func vethAlias(uuid string) string { return vethAliasPrefix + uuid }

// createVeths makes the veth pairs of this start and returns what
// libcontainer must move into the container (host name of the container
// end → name inside). The host names are in the status record before any
// link exists, so a controller killed half-way leaves destroy a trail.
func (c *controller) createVeths() (devs map[string]*configs.LinuxNetDevice, retErr error) {
	if len(c.ifaces) == 0 {
		return nil, nil
	}
	alias := vethAlias(c.st.UUID)
	c.st.Veths = c.st.Veths[:0]
	for _, ni := range c.ifaces {
		// A link of ours with that name is the previous container's, whose
		// network namespace the kernel is still dismantling (restart): go.
		if old, err := netlink.LinkByName(ni.host); err == nil {
			if old.Attrs().Alias != alias {
				return nil, fmt.Errorf("host interface '%s' already exists and is not this domain's (choose another <target dev>, or remove it)", ni.host)
			}
			if err := netlink.LinkDel(old); err != nil {
				return nil, fmt.Errorf("remove the previous veth %s: %w", ni.host, err)
			}
		}
		c.st.Veths = append(c.st.Veths, ni.host)
	}
	if err := c.l.WriteStatus(c.st); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			_ = removeVeths(c.st.Veths, c.st.UUID)
		}
	}()
	devs = map[string]*configs.LinuxNetDevice{}
	for _, ni := range c.ifaces {
		if err := c.createVeth(ni); err != nil {
			return nil, fmt.Errorf("interface %s (host end %s): %w", ni.guest, ni.host, err)
		}
		devs[ni.peer] = &configs.LinuxNetDevice{Name: ni.guest}
	}
	return devs, nil
}

func (c *controller) createVeth(ni *netIface) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.Flags = ni.host, net.FlagUp
	if ni.mtu > 0 {
		attrs.MTU = ni.mtu
	}
	if ni.bridge != "" {
		br, err := netlink.LinkByName(ni.bridge)
		if err != nil {
			return fmt.Errorf("bridge '%s' is gone: %w", ni.bridge, err)
		}
		attrs.MasterIndex = br.Attrs().Index
	}
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: ni.peer, PeerHardwareAddr: ni.mac, PeerMTU: uint32(ni.mtu)}
	if err := netlink.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create veth pair: an interface named '%s' or '%s' already exists (choose another <target dev>)", ni.host, ni.peer)
		}
		return fmt.Errorf("create veth pair: %w", err)
	}
	if err := netlink.LinkSetAlias(veth, vethAlias(c.st.UUID)); err != nil {
		return fmt.Errorf("mark veth %s as lxctl's: %w", ni.host, err)
	}
	if len(ni.hostIPs) == 0 && len(ni.hostRoutes) == 0 {
		return nil
	}
	link, err := netlink.LinkByName(ni.host)
	if err != nil {
		return err
	}
	return applyAddrs(&netlink.Handle{}, link, ni.hostIPs, ni.hostRoutes)
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

// configureNetNS sets addresses, link state and routes of the container's
// interfaces from outside, while init waits for lc.Exec: init's first
// instruction already sees its network ready, as with libvirt.
func (c *controller) configureNetNS(pid int) error {
	if len(c.ifaces) == 0 {
		return nil
	}
	ns, err := netns.GetFromPath(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return fmt.Errorf("container network namespace: %w", err)
	}
	defer ns.Close()
	// A handle whose socket lives in the container's namespace: no setns,
	// so no OS thread ends up in the wrong namespace.
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("container network namespace: %w", err)
	}
	defer h.Close()
	for _, ni := range c.ifaces {
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
	return nil
}

// removeVeths deletes the host ends lxctl recorded for the domain with
// uuid (which takes the container ends with them). A name that is gone is
// fine; one that is not marked as this domain's is left alone.
func removeVeths(names []string, uuid string) error {
	var errs []error
	for _, n := range names {
		l, err := netlink.LinkByName(n)
		if err != nil {
			continue
		}
		if a := l.Attrs().Alias; l.Type() != "veth" || (a != "" && a != vethAlias(uuid)) {
			continue
		}
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("remove veth %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// cleanupNetwork removes what a domain's networking left on the host: its
// veths and its leases. Controller teardown and Sweep both call it.
func cleanupNetwork(l state.Layout, st *state.Status) error {
	if st == nil {
		return nil
	}
	err := removeVeths(st.Veths, st.UUID)
	if lerr := l.ReleaseLeases(st.Name); lerr != nil {
		logrus.Warnf("release leases of '%s': %v", st.Name, lerr)
		err = errors.Join(err, lerr)
	}
	return err
}

// checkNetworkSupported is the start-time check of the interfaces: direct
// (macvlan) is refused with a message, everything else is planned later.
func checkNetworkSupported(d *domainxml.Domain) error {
	for _, ifc := range d.Devices.Interfaces {
		switch ifc.Type {
		case "network", "bridge", "ethernet":
		default:
			return fmt.Errorf("<interface type='%s'> is not supported (use type network, bridge or ethernet)", ifc.Type)
		}
	}
	return nil
}
