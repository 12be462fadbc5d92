package network

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
)

// macvlanModes maps <source mode> to the kernel's macvlan modes. libvirt's
// default for type direct is vepa.
var macvlanModes = map[string]netlink.MacvlanMode{
	"":            netlink.MACVLAN_MODE_VEPA,
	"vepa":        netlink.MACVLAN_MODE_VEPA,
	"bridge":      netlink.MACVLAN_MODE_BRIDGE,
	"private":     netlink.MACVLAN_MODE_PRIVATE,
	"passthrough": netlink.MACVLAN_MODE_PASSTHRU,
}

// planDirect checks an <interface type='direct'>: its parent must exist
// and be an interface a macvlan can sit on.
func planDirect(ni *iface, ifc *domainxml.Interface) error {
	mode, ok := macvlanModes[ifc.Source.Mode]
	if !ok {
		return fmt.Errorf("<source mode='%s'> is not a macvlan mode lxctl supports (use vepa, bridge, private or passthrough)", ifc.Source.Mode)
	}
	parent, err := netlink.LinkByName(ifc.Source.Dev)
	if err != nil {
		return fmt.Errorf("<source dev='%s'>: no such interface on this host (give the host interface the macvlan sits on, e.g. eth0)", ifc.Source.Dev)
	}
	switch parent.Type() {
	case "bridge":
		return fmt.Errorf("<source dev='%s'> is a bridge: use <interface type='bridge'><source bridge='%s'/> for it", ifc.Source.Dev, ifc.Source.Dev)
	case "macvlan":
		return fmt.Errorf("<source dev='%s'> is itself a macvlan: give its parent interface", ifc.Source.Dev)
	}
	ni.parent, ni.mode = ifc.Source.Dev, mode
	// libvirt names the macvlan itself; lxctl's lives on the host only
	// until it is moved in, under a temporary name.
	ni.auto = true
	return nil
}

// createMacvlan makes the macvlan of an <interface type='direct'> on its
// parent, with the domain's MAC and MTU, under a temporary name, marked as
// the domain's (the veths' mark): libcontainer then moves it into the
// container under its guest name. Should the start fail before that, the
// mark lets RemoveVeths and Cleanup find it on the host.
func (p *Plan) createMacvlan(ni *iface) error {
	parent, err := netlink.LinkByName(ni.parent)
	if err != nil {
		return fmt.Errorf("<source dev='%s'> is gone: %w", ni.parent, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = tempName("lxm")
	attrs.ParentIndex = parent.Attrs().Index
	attrs.HardwareAddr = ni.mac
	if ni.mtu > 0 {
		attrs.MTU = ni.mtu
	}
	mv := &netlink.Macvlan{LinkAttrs: attrs, Mode: ni.mode}
	if err := netlink.LinkAdd(mv); err != nil {
		switch {
		case errors.Is(err, unix.EADDRINUSE):
			return fmt.Errorf("create a macvlan on %s: MAC %s is already used by another macvlan on it (give <mac address> another value)", ni.parent, ni.mac)
		case errors.Is(err, unix.EBUSY) && ni.mode == netlink.MACVLAN_MODE_PASSTHRU:
			return fmt.Errorf("create a macvlan on %s: mode passthrough allows one macvlan per device, and %s has one already: %w", ni.parent, ni.parent, err)
		case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL):
			return fmt.Errorf("create a macvlan on %s (a %s interface): %w (the kernel needs the macvlan module, and a parent that takes one: e.g. an ethernet device, not a loopback or a tun)", ni.parent, parent.Type(), err)
		}
		return fmt.Errorf("create a macvlan on %s: %w", ni.parent, err)
	}
	if err := netlink.LinkSetAlias(mv, p.mark); err != nil {
		_ = netlink.LinkDel(mv)
		return fmt.Errorf("mark macvlan %s as lxctl's: %w", attrs.Name, err)
	}
	ni.peer, ni.host = attrs.Name, attrs.Name
	return nil
}

// Release lets go of the network namespace of the init that ran last,
// once it is gone or about to be replaced: its hostdevs go back to the
// host (hostdev.go), and the macvlans in it, marked as
// the domain's, are deleted now rather than when the kernel gets round to
// dismantling the namespace (a restart's new macvlan with the same MAC
// would otherwise find the old one still on the parent: EADDRINUSE).
// Safe to call more than once, and on a nil plan.
func (p *Plan) Release() error {
	if p == nil || !p.ns.IsOpen() {
		return nil
	}
	defer func() { p.ns.Close(); p.ns = netns.None() }()
	h, err := netlink.NewHandleAt(p.ns)
	if err != nil {
		return fmt.Errorf("container network namespace: %w", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return fmt.Errorf("list the container's interfaces: %w", err)
	}
	// Hostdevs first: they are the host's.
	errs := []error{p.returnHostdevs(h)}
	for _, link := range links {
		if link.Type() == "macvlan" && isVethOf(link.Attrs().Alias, p.l, p.name) {
			if err := h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("remove macvlan %s in the container: %w", link.Attrs().Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
