package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

const lockWait = 10 * time.Second

// ErrActive is returned by Start for a network that is already up and
// complete.
var ErrActive = errors.New("network is already active")

// Status is what the host says about a network. Its bridge, found by
// lxctl's mark, is the truth: a network is active exactly when its
// marked bridge exists, whatever its run record says. Problems lists what
// an active network lacks (its address, link up, NAT chain, run record)
// and what a record claims that the host does not show; Start repairs
// them.
type Status struct {
	Active   bool
	Bridge   string // the marked bridge's name, "" when inactive
	Problems []string
}

// Load reads and parses a network definition.
func Load(l state.Layout, name string) (*domainxml.Network, error) {
	data, err := l.LoadNetwork(name)
	if err != nil {
		return nil, err
	}
	return domainxml.ParseNetwork(data)
}

// markedBridge finds the bridge carrying network name's mark.
func markedBridge(l state.Layout, name string) (netlink.Link, error) {
	links, err := linkList()
	if err != nil {
		return nil, err
	}
	for _, link := range links {
		if link.Type() == "bridge" && isBridgeOf(link.Attrs().Alias, l, name) {
			return link, nil
		}
	}
	return nil, nil
}

// Inspect reports the state of network name from the host.
func Inspect(l state.Layout, name string) (*Status, error) {
	if _, err := l.NetworkPath(name); err != nil {
		return nil, err
	}
	br, err := markedBridge(l, name)
	if err != nil {
		return nil, err
	}
	_, recErr := l.ReadNetworkState(name)
	st := &Status{}
	if br == nil {
		if recErr == nil || errors.Is(recErr, state.ErrCorrupt) {
			st.Problems = append(st.Problems, "its run record says active but its bridge is gone")
		}
		return st, nil
	}
	st.Active, st.Bridge = true, br.Attrs().Name
	n, err := Load(l, name)
	if err != nil {
		st.Problems = append(st.Problems, "its definition cannot be read: "+err.Error())
		return st, nil
	}
	st.Problems = append(st.Problems, missing(l, n, br)...)
	if recErr != nil {
		st.Problems = append(st.Problems, "its run record is missing")
	}
	return st, nil
}

// missing lists what the active network n's bridge br lacks.
func missing(l state.Layout, n *domainxml.Network, br netlink.Link) []string {
	var out []string
	if n.IP != nil && !hasAddr(br, n.IP.Prefix) {
		out = append(out, fmt.Sprintf("bridge %s lacks its address %s", br.Attrs().Name, n.IP.Prefix))
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		out = append(out, fmt.Sprintf("bridge %s is down", br.Attrs().Name))
	}
	if n.Forward == "nat" {
		chain, err := natChainOf(l, n.Name)
		if err != nil {
			out = append(out, "its NAT chain cannot be read: "+err.Error())
		} else if chain == "" {
			out = append(out, fmt.Sprintf("its NAT chain %s is missing from nftables table ip %s", NATChain(br.Attrs().Name), Table))
		}
	}
	return out
}

func hasAddr(link netlink.Link, p netip.Prefix) bool {
	addrs, err := addrList(link)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		ones, _ := a.Mask.Size()
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip == p.Addr() && ones == p.Bits() {
			return true
		}
	}
	return false
}

// Active reports whether network name's marked bridge exists.
func Active(l state.Layout, name string) bool {
	st, err := Inspect(l, name)
	return err == nil && st.Active
}

// Start brings a defined network up: its bridge (marked as this
// network's) with its address and, for <forward mode='nat'/>, forwarding
// and the masquerade chain; then its run record. It either does all of it
// or, on any failure, removes what it made and leaves the network
// inactive. An active network with something missing (a net-start killed
// half-way, a chain flushed by hand) is repaired: repaired is true then.
// A complete active network is ErrActive.
func Start(l state.Layout, name string) (repaired bool, retErr error) {
	lk, err := l.LockNetwork(name, lockWait)
	if err != nil {
		return false, err
	}
	defer lk.Unlock()
	return startLocked(l, name)
}

func startLocked(l state.Layout, name string) (repaired bool, retErr error) {
	n, err := Load(l, name)
	if err != nil {
		return false, err
	}
	br, err := markedBridge(l, name)
	if err != nil {
		return false, err
	}
	if br != nil {
		_, recErr := l.ReadNetworkState(name)
		probs := missing(l, n, br)
		if len(probs) == 0 && recErr == nil {
			return false, fmt.Errorf("network '%s': %w", name, ErrActive)
		}
		return true, repair(l, n, br)
	}
	// No bridge: whatever a record or an old chain says is stale.
	if err := removeNAT(l, name); err != nil {
		return false, err
	}
	if err := l.RemoveNetworkState(name); err != nil {
		return false, err
	}
	if old, err := netlink.LinkByName(n.Bridge); err == nil {
		return false, fmt.Errorf("interface '%s' already exists on this host and is not network '%s''s: it cannot create its bridge (choose another <bridge name> in the network XML, or remove the interface)", old.Attrs().Name, name)
	}
	if n.IP != nil {
		if who := subnetInUse(n.IP.Subnet()); who != "" {
			return false, fmt.Errorf("network '%s': subnet %s is already in use on this host (%s): choose another <ip address> in the network XML", name, n.IP.Subnet(), who)
		}
	}
	link, err := createBridge(l, n)
	if err != nil {
		return false, err
	}
	defer func() {
		if retErr != nil {
			_ = netlink.LinkDel(link)
			_ = removeNAT(l, name)
			_ = l.RemoveNetworkState(name)
		}
	}()
	return false, repair(l, n, link)
}

// createBridge makes the bridge under a temporary name, marks it, and
// renames it: the bridge's name is never seen unmarked, so a net-start
// killed half-way leaves a bridge that is recognisably this network's.
func createBridge(l state.Layout, n *domainxml.Network) (netlink.Link, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = tempName("lxb")
	if n.MAC != "" {
		mac, err := net.ParseMAC(n.MAC)
		if err != nil {
			return nil, fmt.Errorf("network '%s': <mac address='%s'>: %w", n.Name, n.MAC, err)
		}
		attrs.HardwareAddr = mac
	}
	br := &netlink.Bridge{LinkAttrs: attrs}
	if err := netlink.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("create bridge %s: %w", n.Bridge, err)
	}
	// The kernel ignores IFLA_IFALIAS in RTM_NEWLINK.
	if err := netlink.LinkSetAlias(br, BridgeMark(l, n.UUID, n.Name)); err != nil {
		_ = netlink.LinkDel(br)
		return nil, fmt.Errorf("mark bridge %s as network '%s''s: %w", n.Bridge, n.Name, err)
	}
	if err := netlink.LinkSetName(br, n.Bridge); err != nil {
		_ = netlink.LinkDel(br)
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("interface '%s' already exists on this host and is not network '%s''s: it cannot create its bridge (choose another <bridge name> in the network XML)", n.Bridge, n.Name)
		}
		return nil, fmt.Errorf("name bridge %s: %w", n.Bridge, err)
	}
	br.Attrs().Name = n.Bridge
	return br, nil
}

// repair gives the marked bridge of n whatever it lacks, then writes the
// run record: a record exists only for a network that is complete.
func repair(l state.Layout, n *domainxml.Network, br netlink.Link) error {
	name := br.Attrs().Name
	if n.IP != nil && !hasAddr(br, n.IP.Prefix) {
		p := n.IP.Prefix
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
		if err := netlink.AddrAdd(br, addr); err != nil {
			return fmt.Errorf("add %s to bridge %s: %w", p, name, err)
		}
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("set bridge %s up: %w", name, err)
	}
	ns := &state.NetworkState{Name: n.Name, Bridge: name, Started: time.Now()}
	if n.Forward == "nat" && n.IP != nil {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("enable IPv4 forwarding for NAT: %w", err)
		}
		chain, err := natChainOf(l, n.Name)
		if err != nil {
			return err
		}
		if chain != NATChain(name) {
			if chain != "" {
				if err := removeNAT(l, n.Name); err != nil {
					return err
				}
			}
			if err := addNAT(l, n.Name, name, n.IP.Subnet()); err != nil {
				return err
			}
		}
		ns.Subnet, ns.NATHook = n.IP.Subnet().String(), NATChain(name)
	}
	return l.WriteNetworkState(ns)
}

// subnetInUse names the interface that has an address or a route in
// subnet, "" when none does, so a network never shadows one the host
// already reaches (libvirt's check for virbr0).
func subnetInUse(subnet netip.Prefix) string {
	addrs, err := addrList(nil)
	if err == nil {
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP.To4())
			ones, _ := a.Mask.Size()
			if ok && netip.PrefixFrom(ip, ones).Masked().Overlaps(subnet) {
				return fmt.Sprintf("address %s/%d on %s", ip, ones, linkName(a.LinkIndex))
			}
		}
	}
	routes, err := routeList()
	if err == nil {
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			ip, ok := netip.AddrFromSlice(r.Dst.IP.To4())
			ones, _ := r.Dst.Mask.Size()
			if ok && ones > 0 && netip.PrefixFrom(ip, ones).Masked().Overlaps(subnet) {
				return fmt.Sprintf("route %s on %s", r.Dst, linkName(r.LinkIndex))
			}
		}
	}
	return ""
}

func linkName(index int) string {
	if l, err := netlink.LinkByIndex(index); err == nil {
		return l.Attrs().Name
	}
	return fmt.Sprintf("interface %d", index)
}

// Stop is net-destroy: remove the network's marked bridge, its NAT chain
// and its run record. Domains still running on it keep their interfaces
// but lose their connectivity, as with libvirt. A network that is not
// active (no marked bridge) is an error, after any stale record or chain
// has been swept.
func Stop(l state.Layout, name string) error {
	if _, err := l.NetworkPath(name); err != nil {
		return err
	}
	lk, err := l.LockNetwork(name, lockWait)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	br, err := markedBridge(l, name)
	if err != nil {
		return err
	}
	var errs []error
	if br != nil {
		if err := netlink.LinkDel(br); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("remove bridge %s: %w", br.Attrs().Name, err))
		}
	}
	if err := removeNAT(l, name); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := l.RemoveNetworkState(name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if br == nil {
		if _, err := l.LoadNetwork(name); err != nil {
			return err
		}
		return fmt.Errorf("network '%s' is not active", name)
	}
	return nil
}

// EnsureActive is what a domain start asks for a network it uses: the
// network, started first when it is marked autostart, repaired when
// something of it is missing; its bridge's name.
func EnsureActive(l state.Layout, name string) (*domainxml.Network, string, error) {
	n, err := Load(l, name)
	if err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return nil, "", fmt.Errorf("%w, then start it with lxctl net-start %s", err, name)
		}
		return nil, "", err
	}
	lk, err := l.LockNetwork(name, lockWait)
	if err != nil {
		return nil, "", err
	}
	defer lk.Unlock()
	br, err := markedBridge(l, name)
	if err != nil {
		return nil, "", err
	}
	if br == nil && !l.NetworkAutostart(name) {
		return nil, "", fmt.Errorf("network '%s' is not active (start it with lxctl net-start %s)", name, name)
	}
	if br == nil || len(missing(l, n, br)) > 0 || !hasRecord(l, name) {
		if _, err := startLocked(l, name); err != nil && !errors.Is(err, ErrActive) {
			return nil, "", fmt.Errorf("start network '%s': %w", name, err)
		}
		if br, err = markedBridge(l, name); err != nil || br == nil {
			return nil, "", fmt.Errorf("network '%s' has no bridge after its start", name)
		}
	}
	return n, br.Attrs().Name, nil
}

func hasRecord(l state.Layout, name string) bool {
	_, err := l.ReadNetworkState(name)
	return err == nil
}

// Undefine forgets network name; it must not be active.
func Undefine(l state.Layout, name string) error {
	if _, err := l.NetworkPath(name); err != nil {
		return err
	}
	lk, err := l.LockNetwork(name, lockWait)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	if br, err := markedBridge(l, name); err != nil {
		return err
	} else if br != nil {
		return fmt.Errorf("network '%s' is active: stop it first with lxctl net-destroy %s", name, name)
	}
	if err := l.RemoveNetwork(name); err != nil {
		return err
	}
	// Whatever a killed command left of it goes with the definition.
	_ = l.RemoveNetworkState(name)
	return removeNAT(l, name)
}

// Describe is a one-line summary of a network's state problems, for
// warnings.
func (s *Status) Describe() string { return strings.Join(s.Problems, "; ") }
