package container

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// NFTTable is lxctl's own nftables table. Each NAT network gets a base
// chain of its own in it, named after its bridge (unique on the host
// whatever the --root), so networks never touch each other's rules and
// nothing outside the table is changed.
const NFTTable = "lxctl"

const (
	bridgeAliasPrefix = "lxctl-net/"
	networkLockWait   = 10 * time.Second
)

var errNetworkActive = errors.New("network is already active")

// NATChain is the nft chain of the network whose bridge is br.
func NATChain(br string) string { return "nat_" + br }

// NetworkActive reports whether a network has been started.
func NetworkActive(l state.Layout, name string) bool {
	_, err := l.ReadNetworkState(name)
	return err == nil
}

// StartNetwork brings a defined network up: its bridge with its address
// and, for <forward mode='nat'/>, forwarding and a masquerade rule. On any
// failure nothing is left.
func StartNetwork(l state.Layout, name string) (retErr error) {
	lk, err := l.LockNetwork(name, networkLockWait)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	data, err := l.LoadNetwork(name)
	if err != nil {
		return err
	}
	n, err := domainxml.ParseNetwork(data)
	if err != nil {
		return err
	}
	if _, err := l.ReadNetworkState(name); err == nil {
		return fmt.Errorf("network '%s': %w", name, errNetworkActive)
	}
	alias := bridgeAliasPrefix + n.UUID
	if old, err := netlink.LinkByName(n.Bridge); err == nil {
		if old.Attrs().Alias != alias || NetworkActive(l, name) {
			return fmt.Errorf("interface '%s' already exists on this host: network '%s' cannot create its bridge (choose another <bridge name> in the network XML)", n.Bridge, name)
		}
		// Left by a net-start that was killed half-way.
		_ = netlink.LinkDel(old)
	}
	ns := &state.NetworkState{Name: name, Bridge: n.Bridge, Started: time.Now()}
	if n.Forward == "nat" {
		ns.Subnet, ns.NATHook = n.IP.Subnet().String(), NATChain(n.Bridge)
	}
	// Recorded before anything exists, so net-destroy can undo a half-done start.
	if err := l.WriteNetworkState(ns); err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			_ = teardownNetwork(l, ns, n.UUID)
		}
	}()
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.Alias = n.Bridge, alias
	if n.MAC != "" {
		if attrs.HardwareAddr, err = net.ParseMAC(n.MAC); err != nil {
			return err
		}
	}
	br := &netlink.Bridge{LinkAttrs: attrs}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s: %w", n.Bridge, err)
	}
	// The kernel ignores the alias at creation; it marks the bridge as
	// this network's for net-destroy.
	if err := netlink.LinkSetAlias(br, alias); err != nil {
		return fmt.Errorf("mark bridge %s as lxctl's: %w", n.Bridge, err)
	}
	link, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	if n.IP != nil {
		p := n.IP.Prefix
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
		if err := netlink.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add %s to bridge %s: %w", p, n.Bridge, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set bridge %s up: %w", n.Bridge, err)
	}
	if n.Forward == "nat" {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("enable IPv4 forwarding for NAT: %w", err)
		}
		if err := addNAT(ns.NATHook, ns.Subnet, name); err != nil {
			return err
		}
	}
	return nil
}

// StopNetwork is net-destroy: remove the bridge and the NAT rule. Domains
// still running on it lose their connectivity, as with libvirt.
func StopNetwork(l state.Layout, name string) error {
	lk, err := l.LockNetwork(name, networkLockWait)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	ns, err := l.ReadNetworkState(name)
	if err != nil {
		return err
	}
	uuid := ""
	if data, err := l.LoadNetwork(name); err == nil {
		if n, err := domainxml.ParseNetwork(data); err == nil {
			uuid = n.UUID
		}
	}
	return teardownNetwork(l, ns, uuid)
}

func teardownNetwork(l state.Layout, ns *state.NetworkState, uuid string) error {
	var errs []error
	if link, err := netlink.LinkByName(ns.Bridge); err == nil {
		// Only the bridge lxctl made: a definition edited to name someone
		// else's bridge must not delete it.
		// The state is written only after checking no link has the name,
		// so an unmarked bridge is one a killed net-start made.
		if a := link.Attrs().Alias; link.Type() == "bridge" && (a == "" || uuid == "" || a == bridgeAliasPrefix+uuid) {
			if err := netlink.LinkDel(link); err != nil {
				errs = append(errs, fmt.Errorf("remove bridge %s: %w", ns.Bridge, err))
			}
		}
	}
	if ns.NATHook != "" {
		errs = append(errs, removeNAT(ns.NATHook))
	}
	if len(errs) == 0 {
		errs = append(errs, l.RemoveNetworkState(ns.Name))
	}
	return errors.Join(errs...)
}

func nft(script string) error {
	c := exec.Command("nft", "-f", "-")
	c.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return errors.New("nft is not installed: NAT networks need nftables (apt-get install nftables), or drop <forward mode='nat'/> from the network")
		}
		return fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

func addNAT(chain, subnet, network string) error {
	lk, err := state.GlobalLock("nft", networkLockWait)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	return nft(fmt.Sprintf(`table ip %[1]s {
	chain %[2]s {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[3]s ip daddr != %[3]s masquerade comment "lxctl network %[4]s"
	}
}
`, NFTTable, chain, subnet, network))
}

// removeNAT deletes the network's chain, and lxctl's table once it is
// empty, under a host-wide lock so no other lxctl adds a chain between the
// check and the delete.
func removeNAT(chain string) error {
	lk, err := state.GlobalLock("nft", networkLockWait)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	out, err := exec.Command("nft", "list", "table", "ip", NFTTable).CombinedOutput()
	if err != nil {
		return nil // no table: nothing of ours is left
	}
	if strings.Contains(string(out), "chain "+chain+" ") {
		if err := nft(fmt.Sprintf("flush chain ip %[1]s %[2]s\ndelete chain ip %[1]s %[2]s\n", NFTTable, chain)); err != nil {
			return err
		}
		out, _ = exec.Command("nft", "list", "table", "ip", NFTTable).CombinedOutput()
	}
	if !strings.Contains(string(out), "chain ") {
		return nft(fmt.Sprintf("delete table ip %s\n", NFTTable))
	}
	return nil
}
