package domainxml

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"net/netip"
	"strings"

	"github.com/beevik/etree"
)

// Network is the subset of libvirt's network XML lxctl runs: a bridge with
// one IPv4 address, optional NAT to the outside, and an address range that
// lxctl hands out itself (there is no DHCP daemon):
//
//	<network>
//	  <name>default</name>
//	  <forward mode='nat'/>
//	  <bridge name='lxcbr0'/>
//	  <ip address='192.168.122.1' netmask='255.255.255.0'>
//	    <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>
//	  </ip>
//	</network>
type Network struct {
	Name    string
	UUID    string
	Forward string // "" (isolated) or "nat"
	Bridge  string
	STP     string // kept as written: on, off or ""
	Delay   string
	MAC     string // of the bridge, optional
	IP      *NetIP // nil: a bridge without an address
}

// NetIP is the network's address: the bridge's address (the containers'
// gateway) in Prefix, plus the range handed out to interfaces without <ip>.
type NetIP struct {
	Prefix     netip.Prefix // the bridge address with the subnet's length
	RangeStart netip.Addr   // invalid when there is no <dhcp><range>
	RangeEnd   netip.Addr
}

// Subnet is the network the bridge address is in, e.g. 192.168.122.0/24.
func (ip *NetIP) Subnet() netip.Prefix { return ip.Prefix.Masked() }

// HasRange reports whether addresses are handed out from a range.
func (ip *NetIP) HasRange() bool { return ip.RangeStart.IsValid() }

// ParseNetwork reads, checks and fills in a network definition. Errors name
// the element and say what to write instead, with the values they echo
// escaped (Printable).
func ParseNetwork(data []byte) (*Network, error) {
	n, err := parseNetwork(data)
	if err != nil {
		return nil, printableError{err}
	}
	return n, nil
}

// printableError shows err's message through Printable; errors.Is and As
// still see err.
type printableError struct{ err error }

func (e printableError) Error() string { return Printable(e.err.Error()) }
func (e printableError) Unwrap() error { return e.err }

func parseNetwork(data []byte) (*Network, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("network XML: %w", TooLarge("the document", int64(len(data)), "a network definition is a few hundred bytes"))
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("network XML: %w", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "network" {
		return nil, fmt.Errorf("network XML: the root element must be <network>")
	}
	n := &Network{}
	seen := map[string]bool{}
	for _, c := range root.ChildElements() {
		if seen[c.Tag] {
			return nil, fmt.Errorf("network XML: <%s> given twice (lxctl networks take one)", c.Tag)
		}
		seen[c.Tag] = true
		switch c.Tag {
		case "name":
			n.Name = strings.TrimSpace(c.Text())
		case "uuid":
			n.UUID = strings.ToLower(strings.TrimSpace(c.Text()))
		case "forward":
			n.Forward = c.SelectAttrValue("mode", "nat")
			if n.Forward != "nat" {
				return nil, fmt.Errorf("network XML: <forward mode='%s'> is not supported (use mode='nat', or no <forward> for an isolated network)", n.Forward)
			}
		case "bridge":
			n.Bridge = c.SelectAttrValue("name", "")
			n.STP = c.SelectAttrValue("stp", "")
			n.Delay = c.SelectAttrValue("delay", "")
		case "mac":
			mac, msg := parseMAC(c.SelectAttrValue("address", ""))
			if msg != "" {
				return nil, fmt.Errorf("network XML: <mac>: %s", msg)
			}
			n.MAC = mac
		case "ip":
			ip, err := parseNetIP(c)
			if err != nil {
				return nil, fmt.Errorf("network XML: %w", err)
			}
			n.IP = ip
		default:
			return nil, fmt.Errorf("network XML: <%s> is not supported by lxctl networks (they take name, uuid, forward, bridge, mac and one IPv4 ip)", c.Tag)
		}
	}
	// A missing <uuid> stays empty here: net-define keeps the one of the
	// definition it replaces, or calls NewUUID.
	return n, n.Validate()
}

func parseNetIP(e *etree.Element) (*NetIP, error) {
	if f := e.SelectAttrValue("family", "ipv4"); f != "ipv4" {
		return nil, fmt.Errorf("<ip family='%s'>: lxctl networks are IPv4 only (remove the family attribute)", f)
	}
	raw := e.SelectAttrValue("address", "")
	a, err := netip.ParseAddr(raw)
	if err != nil || !a.Is4() {
		return nil, fmt.Errorf("<ip address='%s'>: not an IPv4 address (e.g. address='192.168.122.1')", raw)
	}
	bits := -1
	if m := e.SelectAttr("netmask"); m != nil {
		mask, err := netip.ParseAddr(m.Value)
		if err == nil && mask.Is4() {
			bits = netmaskBits(mask.As4())
		}
		if bits < 0 {
			return nil, fmt.Errorf("<ip netmask='%s'>: not a contiguous IPv4 netmask (e.g. netmask='255.255.255.0')", m.Value)
		}
	}
	if p := e.SelectAttr("prefix"); p != nil {
		if bits >= 0 {
			return nil, fmt.Errorf("<ip>: give netmask or prefix, not both")
		}
		if _, err := fmt.Sscanf(p.Value, "%d", &bits); err != nil || bits < 0 || bits > 32 {
			return nil, fmt.Errorf("<ip prefix='%s'>: not a prefix length 0-32", p.Value)
		}
	}
	if bits < 0 {
		return nil, fmt.Errorf("<ip address='%s'>: missing netmask (e.g. netmask='255.255.255.0')", raw)
	}
	ip := &NetIP{Prefix: netip.PrefixFrom(a, bits)}
	for _, c := range e.ChildElements() {
		if c.Tag != "dhcp" {
			return nil, fmt.Errorf("<ip><%s> is not supported (only <dhcp><range start end/></dhcp>)", c.Tag)
		}
		for _, r := range c.ChildElements() {
			if r.Tag != "range" || ip.RangeStart.IsValid() {
				return nil, fmt.Errorf("<dhcp><%s>: lxctl takes exactly one <range start='...' end='...'/> (static <host> entries: give the domain's interface an <ip>)", r.Tag)
			}
			s, err1 := netip.ParseAddr(r.SelectAttrValue("start", ""))
			t, err2 := netip.ParseAddr(r.SelectAttrValue("end", ""))
			if err1 != nil || err2 != nil || !s.Is4() || !t.Is4() {
				return nil, fmt.Errorf("<range start='%s' end='%s'>: both must be IPv4 addresses", r.SelectAttrValue("start", ""), r.SelectAttrValue("end", ""))
			}
			ip.RangeStart, ip.RangeEnd = s, t
		}
	}
	return ip, nil
}

func netmaskBits(m [4]byte) int {
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	bits := 0
	for v&0x80000000 != 0 {
		bits++
		v <<= 1
	}
	if v != 0 {
		return -1
	}
	return bits
}

// Validate checks what the kernel and the address allocator rely on.
func (n *Network) Validate() error {
	if n.Name == "" {
		return fmt.Errorf("network XML: missing <name> (e.g. <name>default</name>)")
	}
	if n.Bridge == "" {
		return fmt.Errorf("network '%s': missing <bridge name='...'/> (e.g. <bridge name='lxcbr0'/>)", n.Name)
	}
	if msg := checkIfName(n.Bridge); msg != "" {
		return fmt.Errorf("network '%s': bridge name %s", n.Name, msg)
	}
	if n.Forward == "nat" && n.IP == nil {
		return fmt.Errorf("network '%s': <forward mode='nat'> needs an <ip address netmask> to masquerade", n.Name)
	}
	ip := n.IP
	if ip == nil {
		return nil
	}
	sub := ip.Subnet()
	if ip.Prefix.Bits() > 30 {
		return fmt.Errorf("network '%s': a /%d network has no room for containers (use a netmask of /30 or shorter)", n.Name, ip.Prefix.Bits())
	}
	bcast := broadcast(sub)
	if a := ip.Prefix.Addr(); a == sub.Addr() || a == bcast {
		return fmt.Errorf("network '%s': the bridge address %s is the network's own or broadcast address (use e.g. %s)", n.Name, a, sub.Addr().Next())
	}
	if !ip.HasRange() {
		return nil
	}
	s, e := ip.RangeStart, ip.RangeEnd
	if !sub.Contains(s) || !sub.Contains(e) || s == sub.Addr() || e == bcast {
		return fmt.Errorf("network '%s': <range start='%s' end='%s'> must lie inside %s, without its network and broadcast addresses", n.Name, s, e, sub)
	}
	if e.Less(s) {
		return fmt.Errorf("network '%s': <range> start %s is after end %s", n.Name, s, e)
	}
	return nil
}

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Marshal writes the network in canonical form (libvirt's element order,
// netmask rather than prefix), so that define then dumpxml is stable.
func (n *Network) Marshal() ([]byte, error) {
	var b bytes.Buffer
	esc := func(s string) string {
		var x bytes.Buffer
		_ = xml.EscapeText(&x, []byte(s))
		return strings.ReplaceAll(x.String(), "'", "&apos;")
	}
	b.WriteString("<network>\n")
	fmt.Fprintf(&b, "  <name>%s</name>\n", esc(n.Name))
	if n.UUID != "" {
		fmt.Fprintf(&b, "  <uuid>%s</uuid>\n", esc(n.UUID))
	}
	if n.Forward != "" {
		fmt.Fprintf(&b, "  <forward mode='%s'/>\n", esc(n.Forward))
	}
	fmt.Fprintf(&b, "  <bridge name='%s'", esc(n.Bridge))
	if n.STP != "" {
		fmt.Fprintf(&b, " stp='%s'", esc(n.STP))
	}
	if n.Delay != "" {
		fmt.Fprintf(&b, " delay='%s'", esc(n.Delay))
	}
	b.WriteString("/>\n")
	if n.MAC != "" {
		fmt.Fprintf(&b, "  <mac address='%s'/>\n", n.MAC)
	}
	if ip := n.IP; ip != nil {
		mask := uint32(0)
		if ip.Prefix.Bits() > 0 {
			mask = ^uint32(0) << (32 - ip.Prefix.Bits())
		}
		m := netip.AddrFrom4([4]byte{byte(mask >> 24), byte(mask >> 16), byte(mask >> 8), byte(mask)})
		fmt.Fprintf(&b, "  <ip address='%s' netmask='%s'", ip.Prefix.Addr(), m)
		if ip.HasRange() {
			fmt.Fprintf(&b, ">\n    <dhcp>\n      <range start='%s' end='%s'/>\n    </dhcp>\n  </ip>\n", ip.RangeStart, ip.RangeEnd)
		} else {
			b.WriteString("/>\n")
		}
	}
	b.WriteString("</network>\n")
	return b.Bytes(), nil
}
