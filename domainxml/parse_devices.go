package domainxml

import (
	"fmt"
	"math"
	"net/netip"
	"path"
	"strings"

	"github.com/beevik/etree"
)

func (p *parser) devices(e *etree.Element, dv *Devices) error {
	return p.walk(e, "devices", &dv.Extra, func(c *etree.Element, tag string) (childKind, error) {
		var err error
		switch tag {
		case "emulator":
			dv.Emulator = textOf(c)
			if !path.IsAbs(dv.Emulator) {
				err = p.errorf(c, "devices/emulator", dv.Emulator, "'%s' is not an absolute path", dv.Emulator)
			}
		case "filesystem":
			p.at[fmt.Sprintf("devices/filesystem[%d]", len(dv.Filesystems))] = p.lines[c]
			var fs Filesystem
			fs, err = p.filesystem(c)
			dv.Filesystems = append(dv.Filesystems, fs)
		case "interface":
			p.at[fmt.Sprintf("devices/interface[%d]", len(dv.Interfaces))] = p.lines[c]
			var ifc Interface
			ifc, err = p.iface(c)
			dv.Interfaces = append(dv.Interfaces, ifc)
		case "console", "serial":
			var con Console
			con, err = p.console(c, tag)
			if tag == "console" {
				dv.Consoles = append(dv.Consoles, con)
			} else {
				p.at[fmt.Sprintf("devices/serial[%d]", len(dv.Serials))] = p.lines[c]
				dv.Serials = append(dv.Serials, con)
			}
		case "hostdev":
			p.at[fmt.Sprintf("devices/hostdev[%d]", len(dv.Hostdevs))] = p.lines[c]
			var hd Hostdev
			hd, err = p.hostdev(c)
			dv.Hostdevs = append(dv.Hostdevs, hd)
		default:
			return unknown, nil
		}
		return modelled, err
	}, "emulator")
}

var fsTypes = []string{"", "mount", "bind", "ram", "block", "file", "template", "volume"}

func (p *parser) filesystem(e *etree.Element) (Filesystem, error) {
	const at = "devices/filesystem"
	fs := Filesystem{Type: attrTrim(e, "type"), AccessMode: attrTrim(e, "accessmode")}
	if err := p.oneOf(e, at, "type", fs.Type, fsTypes...); err != nil {
		return fs, err
	}
	if err := p.oneOf(e, at, "accessmode", fs.AccessMode, "", "passthrough", "mapped", "squash"); err != nil {
		return fs, err
	}
	var src *etree.Element
	err := p.walk(e, at, &fs.Extra, func(c *etree.Element, tag string) (childKind, error) {
		switch tag {
		case "driver":
			fs.Driver = &FSDriver{Type: attrTrim(c, "type"), Format: attrTrim(c, "format")}
			return modelled, p.oneOf(c, at+"/driver", "type", fs.Driver.Type, "", "default", "path", "handle", "loop", "nbd", "ploop", "virtiofs")
		case "source":
			src = c
		case "target":
			dir, _ := attr(c, "dir")
			if !path.IsAbs(dir) {
				return modelled, p.errorf(c, at+"/target", dir, "dir '%s' is not an absolute path (give the path inside the container, e.g. /srv)", dir)
			}
			// "/srv/" and "/srv" are one mount point: keep one spelling
			// so duplicates and the root are found.
			fs.Target = path.Clean(dir)
		case "readonly":
			fs.ReadOnly = true
		default:
			return unknown, nil
		}
		return modelled, nil
	}, "driver", "source", "target", "readonly")
	if err != nil {
		return fs, err
	}
	if fs.Target == "" {
		return fs, p.errorf(e, at, "", "missing <target dir='...'/> (the path inside the container)")
	}
	return fs, p.fsSource(e, src, &fs)
}

// fsSource reads the <source> attribute that fs.Type uses, and only that
// one, so the output carries no stray attributes.
func (p *parser) fsSource(e, src *etree.Element, fs *Filesystem) error {
	const at = "devices/filesystem/source"
	where := src
	if where == nil {
		where = e
	}
	get := func(key, example string) (string, error) {
		var v string
		if src != nil {
			v, _ = attr(src, key)
		}
		if v == "" {
			return "", p.errorf(where, at, "", "missing %s for the type='%s' filesystem at %s (e.g. <source %s/>)", key, fsTypeName(fs.Type), fs.Target, example)
		}
		return v, nil
	}
	abs := func(key, example string) (string, error) {
		v, err := get(key, example)
		if err == nil && !path.IsAbs(v) {
			err = p.errorf(where, at, v, "%s '%s' is not an absolute path (e.g. <source %s/>)", key, v, example)
		}
		return v, err
	}
	var err error
	switch fs.Type {
	case "", "mount", "bind":
		fs.Source.Dir, err = abs("dir", "dir='/srv/vm1'")
	case "block":
		fs.Source.Dev, err = abs("dev", "dev='/dev/sdb1'")
	case "file":
		fs.Source.File, err = abs("file", "file='/var/lib/vm1.img'")
	case "template":
		fs.Source.Name, err = get("name", "name='debian'")
	case "volume":
		if fs.Source.Pool, err = get("pool", "pool='default' volume='vm1'"); err == nil {
			fs.Source.Volume, err = get("volume", "pool='default' volume='vm1'")
		}
	case "ram":
		var usage string
		if usage, err = get("usage", "usage='65536' units='KiB'"); err != nil {
			return err
		}
		units, _ := attr(src, "units")
		b, err := ParseSize(usage, units, "KiB")
		if err != nil {
			return p.relabel(err, src, at, "usage: ")
		}
		if b == 0 {
			return p.errorf(src, at, usage, "usage '%s' is zero: give the tmpfs size, e.g. usage='65536' units='KiB'", strings.TrimSpace(usage))
		}
		// Held in whole KiB, the unit it is written in, so a
		// round trip never changes the size.
		fs.Source.UsageBytes = kibUp(b) * 1024
	}
	return err
}

func fsTypeName(t string) string {
	if t == "" {
		return "mount"
	}
	return t
}

var ifaceTypes = []string{"network", "bridge", "ethernet", "direct"}

func (p *parser) iface(e *etree.Element) (Interface, error) {
	const at = "devices/interface"
	ifc := Interface{Type: attrTrim(e, "type")}
	if ifc.Type == "" {
		return ifc, p.errorf(e, at, "", "missing type attribute (use %s)", orList(ifaceTypes))
	}
	if err := p.oneOf(e, at, "type", ifc.Type, ifaceTypes...); err != nil {
		return ifc, err
	}
	var src *etree.Element
	err := p.walk(e, at, &ifc.Extra, func(c *etree.Element, tag string) (childKind, error) {
		switch tag {
		case "mac":
			raw, _ := attr(c, "address")
			mac, msg := parseMAC(raw)
			if msg != "" {
				return modelled, p.errorf(c, at+"/mac", raw, "%s", msg)
			}
			ifc.MAC = mac
		case "source":
			src = c
			s := &ifc.Source
			s.Network, _ = attr(c, "network")
			s.Bridge, _ = attr(c, "bridge")
			s.Dev, _ = attr(c, "dev")
			s.Mode = attrTrim(c, "mode")
			return modelled, p.walk(c, at+"/source", nil, func(c *etree.Element, tag string) (childKind, error) {
				switch tag {
				case "ip":
					ip, err := p.ip(c, at+"/source/ip")
					s.IPs = append(s.IPs, ip)
					return modelled, err
				case "route":
					r, err := p.route(c, at+"/source/route")
					s.Routes = append(s.Routes, r)
					return modelled, err
				}
				return dropLoud, nil
			})
		case "ip":
			ip, err := p.ip(c, at+"/ip")
			ifc.IPs = append(ifc.IPs, ip)
			return modelled, err
		case "route":
			r, err := p.route(c, at+"/route")
			ifc.Routes = append(ifc.Routes, r)
			return modelled, err
		case "target", "guest":
			dev, _ := attr(c, "dev")
			if msg := checkIfName(dev); msg != "" {
				return modelled, p.errorf(c, at+"/"+tag, dev, "dev %s", msg)
			}
			if tag == "target" {
				ifc.Target = dev
			} else {
				ifc.Guest = dev
			}
		case "link":
			ifc.LinkState = attrTrim(c, "state")
			return modelled, p.oneOf(c, at+"/link", "state", ifc.LinkState, "up", "down")
		case "mtu":
			size, _ := attr(c, "size")
			n, err := p.uintVal(c, at+"/mtu", "size", size, 68, 65535)
			ifc.MTU = int(n)
			return modelled, err
		case "bandwidth", "vlan", "virtualport":
			// Kept verbatim (Interface.Bandwidth, VLANTags, VirtualPort
			// read them); checked here, acted on at start.
			probe := Interface{Extra: []Unknown{{Elem: c}}}
			var err error
			if tag == "bandwidth" {
				_, err = probe.Bandwidth()
			} else if tag == "vlan" {
				_, _, _, err = probe.VLANTags()
			}
			if err != nil {
				return keepQuiet, p.errorf(c, at+"/"+tag, "", "%s", err)
			}
			return keepQuiet, nil
		default:
			return unknown, nil
		}
		return modelled, nil
	}, "mac", "source", "target", "guest", "link", "mtu", "bandwidth", "vlan", "virtualport")
	if err != nil {
		return ifc, err
	}
	where := src
	if where == nil {
		where = e
	}
	s := ifc.Source
	switch ifc.Type {
	case "network":
		if s.Network == "" {
			return ifc, p.errorf(where, at+"/source", "", "type='network' needs the network name: <source network='default'/>")
		}
	case "bridge":
		if s.Bridge == "" {
			return ifc, p.errorf(where, at+"/source", "", "type='bridge' needs the bridge: <source bridge='br0'/>")
		}
		if msg := checkIfName(s.Bridge); msg != "" {
			return ifc, p.errorf(where, at+"/source", s.Bridge, "bridge %s", msg)
		}
	case "direct":
		if s.Dev == "" {
			return ifc, p.errorf(where, at+"/source", "", "type='direct' needs the host device: <source dev='eth0' mode='bridge'/>")
		}
		if msg := checkIfName(s.Dev); msg != "" {
			return ifc, p.errorf(where, at+"/source", s.Dev, "dev %s", msg)
		}
		if err := p.oneOf(where, at+"/source", "mode", s.Mode, "", "vepa", "private", "bridge", "passthrough"); err != nil {
			return ifc, err
		}
	}
	if ifc.Type != "ethernet" && len(s.IPs)+len(s.Routes) > 0 {
		return ifc, p.errorf(where, at+"/source", ifc.Type, "host-side <ip> and <route> are only for type='ethernet', not type='%s'", ifc.Type)
	}
	return ifc, nil
}

func (p *parser) ip(e *etree.Element, at string) (IP, error) {
	raw, _ := attr(e, "address")
	a, err := parseAddr(raw)
	if err != nil {
		return IP{}, p.errorf(e, at, raw, "invalid address '%s' (use an IPv4 or IPv6 address, e.g. <ip address='192.168.122.2' prefix='24'/>)", raw)
	}
	ip := IP{Address: a.String(), Family: attrTrim(e, "family")}
	if err := p.family(e, at, ip.Family, a); err != nil {
		return ip, err
	}
	if v, ok := attr(e, "prefix"); ok {
		n, err := p.uintVal(e, at, "prefix", v, 0, uint64(a.BitLen()))
		if err != nil {
			return ip, err
		}
		ip.Prefix = int(n)
	}
	if v, ok := attr(e, "peer"); ok {
		peer, err := parseAddr(v)
		if err != nil {
			return ip, p.errorf(e, at, v, "invalid peer '%s' (use an IPv4 or IPv6 address)", v)
		}
		ip.Peer = peer.String()
	}
	return ip, nil
}

func (p *parser) family(e *etree.Element, at, family string, a netip.Addr) error {
	if err := p.oneOf(e, at, "family", family, "", "ipv4", "ipv6"); err != nil {
		return err
	}
	if family != "" && family != addrFamily(a) {
		return p.errorf(e, at, family, "family '%s' does not match address '%s' (use family='%s')", family, a, addrFamily(a))
	}
	return nil
}

func (p *parser) route(e *etree.Element, at string) (Route, error) {
	var r Route
	raw, _ := attr(e, "address")
	a, err := parseAddr(raw)
	if err != nil {
		return r, p.errorf(e, at, raw, "invalid address '%s' (the destination network, e.g. <route address='0.0.0.0' gateway='192.168.122.1'/>)", raw)
	}
	r.Address = a.String()
	r.Family = attrTrim(e, "family")
	if err := p.family(e, at, r.Family, a); err != nil {
		return r, err
	}
	graw, _ := attr(e, "gateway")
	g, err := parseAddr(graw)
	if err != nil {
		return r, p.errorf(e, at, graw, "invalid gateway '%s' (e.g. gateway='192.168.122.1')", graw)
	}
	if addrFamily(g) != addrFamily(a) {
		return r, p.errorf(e, at, graw, "gateway '%s' and address '%s' are of different families", graw, raw)
	}
	r.Gateway = g.String()
	pfx, hasPrefix := attr(e, "prefix")
	mask, hasMask := attr(e, "netmask")
	switch {
	case hasPrefix && hasMask:
		return r, p.errorf(e, at, mask, "give prefix or netmask, not both")
	case hasPrefix:
		n, err := p.uintVal(e, at, "prefix", pfx, 0, uint64(a.BitLen()))
		if err != nil {
			return r, err
		}
		r.Prefix = int(n)
	case hasMask:
		// Held as a prefix: one spelling of the same route.
		n, ok := maskBits(mask)
		if !ok || !a.Is4() {
			return r, p.errorf(e, at, mask, "invalid netmask '%s' (use an IPv4 mask like 255.255.255.0, or prefix='24')", mask)
		}
		r.Prefix = n
	}
	if v, ok := attr(e, "metric"); ok {
		n, err := p.uintVal(e, at, "metric", v, 0, math.MaxUint32)
		if err != nil {
			return r, err
		}
		r.Metric = int(n)
	}
	return r, nil
}

func (p *parser) console(e *etree.Element, kind string) (Console, error) {
	at := "devices/" + kind
	con := Console{Type: attrTrim(e, "type")}
	if con.Type != "" && con.Type != "pty" {
		return con, p.errorf(e, at, con.Type, "type '%s' is not supported: only pty consoles are supported (use <%s type='pty'/>)", con.Type, kind)
	}
	err := p.walk(e, at, &con.Extra, func(c *etree.Element, tag string) (childKind, error) {
		switch tag {
		case "target":
			con.TargetType = attrTrim(c, "type")
			if kind == "console" {
				if err := p.oneOf(c, at+"/target", "type", con.TargetType, "", "lxc", "none"); err != nil {
					return modelled, err
				}
			}
			if v, ok := attr(c, "port"); ok {
				n, err := p.uintVal(c, at+"/target", "port", v, 0, 1<<16-1)
				con.Port = int(n)
				return modelled, err
			}
		case "source", "alias":
			// The pty path and alias of a running domain: live
			// state that a definition does not carry.
			return dropQuiet, nil
		default:
			return unknown, nil
		}
		return modelled, nil
	}, "target")
	return con, err
}

func (p *parser) hostdev(e *etree.Element) (Hostdev, error) {
	const at = "devices/hostdev"
	hd := Hostdev{Mode: attrTrim(e, "mode"), Type: attrTrim(e, "type")}
	switch hd.Mode {
	case "capabilities":
	case "", "subsystem":
		// PCI, USB and SCSI passthrough: kept whole, refused at start.
		if err := p.oneOf(e, at, "type", hd.Type, "usb", "pci", "scsi", "scsi_host", "mdev"); err != nil {
			return hd, err
		}
		return hd, p.walk(e, at, &hd.Extra, func(*etree.Element, string) (childKind, error) { return keepQuiet, nil })
	default:
		return hd, p.errorf(e, at, hd.Mode, "unknown mode '%s' (use capabilities, or subsystem)", hd.Mode)
	}
	if err := p.oneOf(e, at, "type", hd.Type, "storage", "misc", "net"); err != nil {
		return hd, err
	}
	var src *etree.Element
	err := p.walk(e, at, &hd.Extra, func(c *etree.Element, tag string) (childKind, error) {
		switch tag {
		case "source":
			src = c
			return modelled, p.walk(c, at+"/source", nil, func(c *etree.Element, tag string) (childKind, error) {
				switch tag {
				case "block":
					hd.Block = strings.TrimSpace(textOf(c))
				case "char":
					hd.Char = strings.TrimSpace(textOf(c))
				case "interface":
					hd.Interface = strings.TrimSpace(textOf(c))
				default:
					return dropLoud, nil
				}
				return modelled, nil
			}, "block", "char", "interface")
		case "ip":
			ip, err := p.ip(c, at+"/ip")
			hd.IPs = append(hd.IPs, ip)
			return modelled, err
		case "route":
			r, err := p.route(c, at+"/route")
			hd.Routes = append(hd.Routes, r)
			return modelled, err
		}
		return unknown, nil
	}, "source")
	if err != nil {
		return hd, err
	}
	if src == nil {
		return hd, p.errorf(e, at, "", "missing <source> (e.g. <source><block>/dev/sdb1</block></source>)")
	}
	need := map[string]struct{ tag, val, example string }{
		"storage": {"block", hd.Block, "<block>/dev/sdb1</block>"},
		"misc":    {"char", hd.Char, "<char>/dev/ttyS1</char>"},
		"net":     {"interface", hd.Interface, "<interface>eth1</interface>"},
	}[hd.Type]
	switch {
	case need.val == "":
		return hd, p.errorf(src, at+"/source", "", "missing <%s> for type='%s' (e.g. %s)", need.tag, hd.Type, need.example)
	case hd.Type == "net":
		if msg := checkIfName(hd.Interface); msg != "" {
			return hd, p.errorf(src, at+"/source/interface", hd.Interface, "%s", msg)
		}
	case !path.IsAbs(need.val):
		return hd, p.errorf(src, at+"/source/"+need.tag, need.val, "'%s' is not an absolute path (e.g. %s)", need.val, need.example)
	}
	if hd.Type != "net" && len(hd.IPs)+len(hd.Routes) > 0 {
		return hd, p.errorf(e, at, hd.Type, "<ip> and <route> are only for type='net', not type='%s'", hd.Type)
	}
	// Only the element matching the type is kept, as libvirt does.
	switch hd.Type {
	case "storage":
		hd.Char, hd.Interface = "", ""
	case "misc":
		hd.Block, hd.Interface = "", ""
	case "net":
		hd.Block, hd.Char = "", ""
	}
	return hd, nil
}

// maskBits turns a contiguous IPv4 netmask into a prefix length.
func maskBits(mask string) (int, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(mask))
	if err != nil || !a.Is4() {
		return 0, false
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for v&(1<<31) != 0 {
		v <<= 1
		n++
	}
	return n, v == 0
}
