package network

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// DefaultName is the network libvirt's packaging ships defined and
// autostarted, and the one the LXC driver documentation's examples use.
const DefaultName = "default"

// The built-in definition of network 'default' (also in
// testdata/networks/default.xml): bridge lxctlbr0, 192.168.124.0/24, NAT,
// addresses handed out from .2-.254. It avoids libvirt's
// virbr0/192.168.122.0/24 and LXC's lxcbr0/10.0.3.0/24.
const (
	defaultBridgePrefix = "lxctlbr"
	defaultThirdOctet   = 124
)

// UsesDefault reports whether d has an interface on network 'default'.
func UsesDefault(d *domainxml.Domain) bool {
	for _, ifc := range d.Devices.Interfaces {
		if ifc.Type == "network" && ifc.Source.Network == DefaultName {
			return true
		}
	}
	return false
}

// DefaultXML is the built-in definition with bridge lxctlbr<br> on
// 192.168.<octet>.0/24.
func DefaultXML(br, octet int) string {
	return fmt.Sprintf(`<network>
  <name>default</name>
  <forward mode='nat'/>
  <bridge name='%s%d' stp='on' delay='0'/>
  <ip address='192.168.%d.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.%[3]d.2' end='192.168.%[3]d.254'/>
    </dhcp>
  </ip>
</network>
`, defaultBridgePrefix, br, octet)
}

// EnsureDefault defines network 'default' from the built-in definition,
// marks it autostart and starts it, when this root has no network of that
// name: a 'default' the user defined always wins. The built-in takes
// bridge lxctlbr0 and 192.168.124.0/24 when they are free on the host,
// and otherwise the first free lxctlbrN and 192.168.N.0/24 (N from 124
// up), as libvirt's packaging does for virbr0: another lxctl root's
// default, or anything else already on the host, is never fought over. A
// host-wide lock makes the choice and the start one step across roots.
// It returns the new definition, nil when there was nothing to do.
func EnsureDefault(l state.Layout) (*domainxml.Network, error) {
	if _, err := l.LoadNetwork(DefaultName); !errors.Is(err, state.ErrNotFound) {
		return nil, err
	}
	lk, err := state.GlobalLock("default-network", lockWait)
	if err != nil {
		return nil, err
	}
	defer lk.Unlock()
	nlk, err := l.LockNetwork(DefaultName, lockWait)
	if err != nil {
		return nil, err
	}
	if _, err := l.LoadNetwork(DefaultName); !errors.Is(err, state.ErrNotFound) {
		nlk.Unlock()
		return nil, err // defined meanwhile by another command
	}
	br, octet, err := freeDefault()
	if err != nil {
		nlk.Unlock()
		return nil, err
	}
	n, err := domainxml.ParseNetwork([]byte(DefaultXML(br, octet)))
	if err != nil {
		nlk.Unlock()
		return nil, fmt.Errorf("built-in network 'default': %w", err)
	}
	n.UUID = domainxml.NewUUID()
	out, err := n.Marshal()
	if err == nil {
		err = l.SaveNetwork(DefaultName, out)
	}
	if err == nil {
		err = l.SetNetworkAutostart(DefaultName, true)
	}
	nlk.Unlock()
	if err != nil {
		return nil, fmt.Errorf("define the built-in network 'default': %w", err)
	}
	if _, err := Start(l, DefaultName); err != nil && !errors.Is(err, ErrActive) {
		return n, fmt.Errorf("start the built-in network 'default' (defined: see lxctl net-dumpxml default): %w", err)
	}
	return n, nil
}

// freeDefault picks the first lxctlbrN no link is called and the first
// 192.168.N.0/24 (N >= 124) no address or route on the host touches.
func freeDefault() (br, octet int, err error) {
	for br = 0; br < 1000; br++ {
		if _, err := netlink.LinkByName(fmt.Sprintf("%s%d", defaultBridgePrefix, br)); err != nil {
			break
		}
	}
	for octet = defaultThirdOctet; octet < 255; octet++ {
		if subnetInUse(netip.MustParsePrefix(fmt.Sprintf("192.168.%d.0/24", octet))) == "" {
			return br, octet, nil
		}
	}
	return 0, 0, errors.New("built-in network 'default': every 192.168.N.0/24 from N=124 up is in use on this host (define network 'default' yourself with lxctl net-define)")
}
