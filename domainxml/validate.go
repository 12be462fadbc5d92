package domainxml

import (
	"encoding/hex"
	"fmt"
	mathbits "math/bits"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
)

// capabilityNames are the children <features><capabilities> accepts, in
// libvirt's order, which is also the order Marshal writes them in.
var capabilityNames = []string{
	"audit_control", "audit_write", "block_suspend", "chown", "dac_override",
	"dac_read_search", "fowner", "fsetid", "ipc_lock", "ipc_owner", "kill",
	"lease", "linux_immutable", "mac_admin", "mac_override", "mknod",
	"net_admin", "net_bind_service", "net_broadcast", "net_raw", "setgid",
	"setfcap", "setpcap", "setuid", "sys_admin", "sys_boot", "sys_chroot",
	"sys_module", "sys_nice", "sys_pacct", "sys_ptrace", "sys_rawio",
	"sys_resource", "sys_time", "sys_tty_config", "syslog", "wake_alarm",
}

// parseUUID accepts 32 hex digits, bare or in the 8-4-4-4-12 form, and
// returns the dashed lower-case form libvirt writes.
func parseUUID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) == 36 {
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return "", false
		}
		s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	if len(s) != 32 {
		return "", false
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", false
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
}

// parseMAC returns the canonical lower-case address, or a message saying
// what is wrong with raw.
func parseMAC(raw string) (string, string) {
	parts := strings.Split(strings.TrimSpace(raw), ":")
	if len(parts) != 6 {
		return "", fmt.Sprintf("invalid address '%s' (use six hex bytes, e.g. 52:54:00:12:34:56)", raw)
	}
	var b [6]byte
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil || p == "" || len(p) > 2 {
			return "", fmt.Sprintf("invalid address '%s' (use six hex bytes, e.g. 52:54:00:12:34:56)", raw)
		}
		b[i] = byte(n)
	}
	if b[0]&1 != 0 {
		return "", fmt.Sprintf("address '%s' is multicast: a NIC needs a unicast address (an even first byte, e.g. 52:54:00:12:34:56)", raw)
	}
	if b == [6]byte{} {
		return "", fmt.Sprintf("address '%s' is all zeros (use e.g. 52:54:00:12:34:56, or leave <mac> out to get one)", raw)
	}
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]), ""
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err == nil && a.Zone() != "" {
		err = fmt.Errorf("zone not allowed")
	}
	return a, err
}

func addrFamily(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// checkIfName applies the kernel's rules for network device names
// (dev_valid_name): 1 to 15 bytes, not . or .., no '/', ':' or space.
func checkIfName(n string) string {
	switch {
	case n == "":
		return "is missing (give an interface name, e.g. 'eth0')"
	case len(n) > 15:
		return fmt.Sprintf("'%s' is longer than 15 characters, the kernel's limit for interface names", n)
	case n == "." || n == "..", strings.ContainsAny(n, "/: \t\n\r\v\f"):
		return fmt.Sprintf("'%s' is not a valid interface name (no '/', ':' or spaces)", n)
	}
	return ""
}

func validEnvName(n string) bool {
	for i, r := range n {
		ok := r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || (i > 0 && '0' <= r && r <= '9')
		if !ok {
			return false
		}
	}
	return n != ""
}

// maxCPUID bounds cpuset and nodeset ids as libvirt's bitmaps do.
const maxCPUID = 16383

// ParseCPUSet parses libvirt's cpuset syntax: comma-separated ids and
// ranges, with ^N excluding an id ("0-3,^2,5"). It returns the selected
// ids in ascending order; an empty selection is an error. The cgroup
// cpuset files do not accept ^, so users of a cpuset go through here.
func ParseCPUSet(s string) ([]int, error) {
	bad := func(why string) error {
		return &Error{Value: s, Msg: fmt.Sprintf("'%s' %s (use ids and ranges like 0-3,^2,5)", s, why)}
	}
	// A bitmap filled a word at a time keeps a hostile list of many
	// wide ranges cheap.
	var on, off [(maxCPUID + 1) / 64]uint64
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		neg := strings.HasPrefix(item, "^")
		item = strings.TrimPrefix(item, "^")
		lo, hi, isRange := strings.Cut(item, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		switch {
		case err1 != nil || err2 != nil || a < 0 || b < 0 || (neg && isRange):
			return nil, bad("is not valid")
		case a > b:
			return nil, bad(fmt.Sprintf("has a reversed range %d-%d", a, b))
		case b > maxCPUID:
			return nil, bad(fmt.Sprintf("names id %d, above the limit of %d", b, maxCPUID))
		case neg:
			off[a/64] |= 1 << (a % 64)
		default:
			for w := a / 64; w <= b/64; w++ {
				mask := ^uint64(0)
				if w == a/64 {
					mask &= ^uint64(0) << (a % 64)
				}
				if w == b/64 {
					mask &= ^uint64(0) >> (63 - b%64)
				}
				on[w] |= mask
			}
		}
	}
	var ids []int
	for w := range on {
		for bits := on[w] &^ off[w]; bits != 0; bits &= bits - 1 {
			ids = append(ids, w*64+mathbits.TrailingZeros64(bits))
		}
	}
	if len(ids) == 0 {
		return nil, bad("selects nothing")
	}
	return ids, nil
}

// FormatCPUSet writes ids as ranges ("0-1,3,5"), the form the cgroup
// cpuset files take.
func FormatCPUSet(ids []int) string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ids[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(ids[j]))
		}
		i = j + 1
	}
	return b.String()
}

// issue is something the model holds that lxctl cannot run yet. key
// locates its line in the parsed document; elem names it for warnings.
type issue struct {
	key, elem, msg string
}

// Unsupported lists, one sentence each, what the domain asks for that
// lxctl keeps but cannot run yet. Define warns with them; start refuses.
func (d *Domain) Unsupported() []string {
	var out []string
	for _, is := range d.unsupported() {
		out = append(out, is.msg)
	}
	return out
}

func (d *Domain) unsupported() []issue {
	var out []issue
	if d.VCPU.Placement == "auto" {
		out = append(out, issue{"vcpu", "vcpu", "<vcpu placement='auto'>: lxctl does not ask numad for a placement (use placement='static', with a cpuset if needed)"})
	}
	if n := d.NUMATune; n != nil && (n.Mode != "" || n.Nodeset != "" || n.Placement != "" || len(n.Extra) > 0) {
		out = append(out, issue{"numatune", "numatune", "<numatune>: NUMA memory placement is not applied by lxctl yet (remove it, or use <vcpu cpuset='...'>)"})
	}
	for i, fs := range d.Devices.Filesystems {
		key := fmt.Sprintf("devices/filesystem[%d]", i)
		switch {
		case fs.Type == "template" || fs.Type == "volume":
			out = append(out, issue{key, "devices/filesystem",
				fmt.Sprintf("<filesystem type='%s'> at %s: lxctl mounts type mount, bind, ram, block and file filesystems only (libvirt's LXC driver cannot mount this type either)", fs.Type, fs.Target)})
		case fs.Type == "file" && fs.Driver != nil && fs.Driver.Type == "nbd":
			out = append(out, issue{key, "devices/filesystem",
				fmt.Sprintf("<filesystem type='file'> at %s: <driver type='nbd'> (qemu-nbd) is not supported by lxctl yet (convert the image: qemu-img convert -O raw IMAGE IMAGE.raw, and use <driver type='loop' format='raw'/>)", fs.Target)})
		}
	}
	for i, ifc := range d.Devices.Interfaces {
		key := fmt.Sprintf("devices/interface[%d]", i)
		if typ, ok := ifc.VirtualPort(); ok {
			out = append(out, issue{key, "devices/interface/virtualport",
				fmt.Sprintf("<interface type='%s'> <virtualport type='%s'>: lxctl drives neither Open vSwitch nor an 802.1Qbg/Qbh switch (lldpad) (remove <virtualport>; use a Linux bridge)", ifc.Type, typ)})
		}
		if bw, _ := ifc.Bandwidth(); bw != nil && bw.Inbound != nil && bw.Inbound.Floor != 0 {
			out = append(out, issue{key, "devices/interface/bandwidth",
				fmt.Sprintf("<interface type='%s'> <bandwidth><inbound floor='%d'>: floor needs a network with its own <bandwidth> (libvirt's QoS), which lxctl networks do not have (remove floor)", ifc.Type, bw.Inbound.Floor)})
		}
	}
	for i := range d.Devices.Serials {
		out = append(out, issue{fmt.Sprintf("devices/serial[%d]", i), "devices/serial",
			"<serial>: serial devices are not wired up for containers (use <console type='pty'/>)"})
	}
	for i, hd := range d.Devices.Hostdevs {
		if hd.Mode == "capabilities" && (hd.Type == "storage" || hd.Type == "misc" || hd.Type == "net") {
			continue // a device node in the container's /dev; an interface moved in
		}
		what := fmt.Sprintf("<hostdev type='%s'>", hd.Type)
		if dev := hd.Block + hd.Char + hd.Interface; dev != "" {
			what += " (" + dev + ")"
		}
		out = append(out, issue{fmt.Sprintf("devices/hostdev[%d]", i), "devices/hostdev",
			what + ": lxctl cannot pass host devices into a container yet"})
	}
	for i, u := range d.Extra {
		if u.Elem == nil {
			continue
		}
		key := fmt.Sprintf("extra[%d]", i)
		switch {
		case u.Elem.Space == "" && u.Elem.Tag == "seclabel":
			if t, _ := attr(u.Elem, "type"); t != "none" {
				out = append(out, issue{key, "seclabel", fmt.Sprintf("<seclabel type='%s'>: lxctl has no SELinux or AppArmor driver; only type='none' is supported", t)})
			}
		case u.Elem.Tag == "namespace" && d.isLXCPrefix(u.Elem.Space):
			for _, c := range u.Elem.ChildElements() {
				typ, _ := attr(c, "type")
				if c.Tag == "sharenet" && (typ == "netns" || typ == "pid" || typ == "name") {
					continue // ShareNet: the container joins that network namespace
				}
				out = append(out, issue{key, u.Elem.FullTag(), fmt.Sprintf("<lxc:namespace><%s type='%s'>: lxctl shares only the network namespace (<lxc:sharenet>) yet", c.Tag, typ)})
				break
			}
		}
	}
	return out
}

// ShareNet is the <lxc:sharenet type value> of <lxc:namespace>: the
// network namespace the container joins instead of getting its own
// (type netns: /run/netns/VALUE; pid: that process's; name: that running
// domain's). typ is "" without one.
func (d *Domain) ShareNet() (typ, value string) {
	for _, u := range d.Extra {
		if u.Elem == nil || u.Elem.Tag != "namespace" || !d.isLXCPrefix(u.Elem.Space) {
			continue
		}
		for _, c := range u.Elem.ChildElements() {
			if c.Tag == "sharenet" {
				typ, _ = attr(c, "type")
				value, _ = attr(c, "value")
				return strings.TrimSpace(typ), strings.TrimSpace(value)
			}
		}
	}
	return "", ""
}

func (d *Domain) isLXCPrefix(prefix string) bool {
	if prefix == "" {
		return false
	}
	for _, ns := range d.Namespaces {
		if ns.Prefix == prefix {
			return ns.URI == lxcNamespaceURI
		}
	}
	return prefix == "lxc"
}

// HasRootFS reports whether a filesystem is mounted at '/'. Without one the
// container shares the host's root, as with libvirt.
func (d *Domain) HasRootFS() bool {
	for _, fs := range d.Devices.Filesystems {
		if path.Clean(fs.Target) == "/" {
			return true
		}
	}
	return false
}

// NeedsNetNS reports whether the container gets its own network namespace:
// with <privnet/>, any <interface> or a network hostdev. Otherwise it
// shares the host's, as with libvirt.
func (d *Domain) NeedsNetNS() bool {
	if typ, _ := d.ShareNet(); typ != "" {
		return false // it joins another one (ShareNet)
	}
	if d.Features.PrivNet || len(d.Devices.Interfaces) > 0 {
		return true
	}
	for _, hd := range d.Devices.Hostdevs {
		if hd.Mode == "capabilities" && hd.Type == "net" {
			return true
		}
	}
	return false
}
