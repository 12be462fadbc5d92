package network

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
)

// hostdev is a <hostdev mode='capabilities' type='net'>: a host interface
// lent to the container for its run. It keeps its name inside, as with
// libvirt, and goes back to the host when the container stops.
//
// What the kernel does when the container's network namespace dies
// without lxctl moving it back (the controller killed -9: its hold on the
// namespace goes with it): a physical device (one without rtnl link ops,
// e.g. a NIC) returns to the host's namespace, renamed devN if its name
// is taken there by then; a virtual one (veth, dummy, macvlan, vlan:
// created through rtnl link ops without netns_refund) is destroyed, a
// veth's peer with it. The controller therefore holds the namespace open
// (Plan.ns) and moves the device back itself, at stop and before a
// restart, as libvirt does.
type hostdev struct {
	name   string // on the host, and inside
	index  int    // ifindex when moved in: the kernel keeps it across namespaces unless taken
	mac    string // with the type, how it is told from the container's own links
	typ    string
	wasUp  bool
	ips    []*netlink.Addr
	routes []route
}

// planHostdevs checks the network hostdevs of d: each must be a host
// interface that is not lxctl's own (a domain's veth, a network's bridge)
// nor the loopback.
func (p *Plan) planHostdevs(d *domainxml.Domain) error {
	for _, hd := range d.Devices.Hostdevs {
		if hd.Mode != "capabilities" || hd.Type != "net" {
			continue
		}
		at := fmt.Sprintf("<hostdev type='net'> %s", hd.Interface)
		link, err := netlink.LinkByName(hd.Interface)
		if err != nil {
			return fmt.Errorf("%s: no such interface on this host (give the name of a host interface: ip link shows them)", at)
		}
		a := link.Attrs()
		if a.Flags&net.FlagLoopback != 0 {
			return fmt.Errorf("%s: the loopback cannot be moved into a container", at)
		}
		if strings.HasPrefix(a.Alias, vethMarkPrefix) || strings.HasPrefix(a.Alias, bridgeMarkPrefix) {
			return fmt.Errorf("%s: it is lxctl's own (%s), not a host interface to lend", at, a.Alias)
		}
		h := &hostdev{name: hd.Interface}
		for _, ip := range hd.IPs {
			addr, err := toAddr(ip, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
			h.ips = append(h.ips, addr)
		}
		for _, r := range hd.Routes {
			rt, err := toRoute(r)
			if err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
			h.routes = append(h.routes, rt)
		}
		p.hostdevs = append(p.hostdevs, h)
	}
	return nil
}

// lendHostdevs adds the hostdevs to what libcontainer moves into the
// container (under their own name), noting their index and state first.
func (p *Plan) lendHostdevs(devs map[string]string) error {
	for _, h := range p.hostdevs {
		link, err := netlink.LinkByName(h.name)
		if err != nil {
			return fmt.Errorf("<hostdev type='net'> %s: no such interface on this host any more: %w", h.name, err)
		}
		h.index, h.wasUp = link.Attrs().Index, link.Attrs().Flags&net.FlagUp != 0
		h.mac, h.typ = link.Attrs().HardwareAddr.String(), link.Type()
		devs[h.name] = h.name
	}
	return nil
}

// returnHostdevs moves the hostdevs from the held namespace back to the
// host, under their own name and up if they were. The kernel drops their
// addresses on the way (and libcontainer took the host's addresses in
// with them): the host gets the interface back, not its old addresses.
func (p *Plan) returnHostdevs(h *netlink.Handle) error {
	if len(p.hostdevs) == 0 {
		return nil
	}
	host, err := netns.GetFromPath("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("host network namespace: %w", err)
	}
	defer host.Close()
	var errs []error
	for _, hd := range p.hostdevs {
		link := hd.find(h)
		if link == nil {
			// Not moved in (a start that failed first), or already back.
			continue
		}
		if err := h.LinkSetNsFd(link, int(host)); err != nil {
			errs = append(errs, fmt.Errorf("<hostdev type='net'> %s: move it back to the host: %w", hd.name, err))
			continue
		}
		back, err := netlink.LinkByIndex(link.Attrs().Index)
		if err != nil || back.Attrs().Name != link.Attrs().Name {
			back, err = netlink.LinkByName(link.Attrs().Name)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("<hostdev type='net'> %s: moved back, but not found on the host: %w", hd.name, err))
			continue
		}
		// The container may have renamed it.
		if back.Attrs().Name != hd.name {
			if err := netlink.LinkSetName(back, hd.name); err != nil && !errors.Is(err, unix.EEXIST) {
				errs = append(errs, fmt.Errorf("<hostdev type='net'> %s: back on the host as %s, rename: %w", hd.name, back.Attrs().Name, err))
			}
		}
		if hd.wasUp {
			if err := netlink.LinkSetUp(back); err != nil {
				errs = append(errs, fmt.Errorf("<hostdev type='net'> %s: set it up again on the host: %w", hd.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// find is the hostdev in the container's namespace: by its index, name or
// anywhere, but always with its type and MAC, so that a container link
// that took its index or name is never taken for it.
func (hd *hostdev) find(h *netlink.Handle) netlink.Link {
	is := func(l netlink.Link) bool {
		return l != nil && l.Type() == hd.typ && l.Attrs().HardwareAddr.String() == hd.mac
	}
	if l, err := h.LinkByIndex(hd.index); err == nil && is(l) {
		return l
	}
	if l, err := h.LinkByName(hd.name); err == nil && is(l) {
		return l
	}
	links, _ := h.LinkList()
	for _, l := range links {
		if is(l) {
			return l
		}
	}
	return nil
}
