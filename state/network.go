package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/lxctl/lxctl/domainxml"
)

// Named networks live next to the domains: <Domains>/../networks/<name>.xml
// (/var/lib/lxctl/networks, or <root>/networks), and their runtime state
// under Run/.networks/, a dot-dir no domain name can clash with. Leases are
// runtime state too: the bridge and every container on it are gone after a
// reboot, and so are the addresses they held.
const (
	networksDirName   = "networks"
	netRunDirName     = ".networks"
	autostartSuffix   = ".autostart"
	netStateSuffix    = ".json"
	leasesSuffix      = ".leases"
	netLockSuffix     = ".lock"
	leasesLockSuffix  = ".leases.lock"
	leaseLockWaitTime = 10 * time.Second
)

// NetworksDir is where network definitions are stored.
func (l Layout) NetworksDir() string {
	return filepath.Join(filepath.Dir(l.Domains), networksDirName)
}

func (l Layout) netRunDir() string { return filepath.Join(l.Run, netRunDirName) }

// NetworkPath is NetworksDir/<name>.xml.
func (l Layout) NetworkPath(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.NetworksDir(), name+".xml"), nil
}

func (l Layout) netRunPath(name, suffix string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return filepath.Join(l.netRunDir(), name+suffix), nil
}

func netNotDefined(name string, cause error) error {
	return newError(ErrNotFound, cause, fmt.Sprintf("network '%s' is not defined (define it with lxctl net-define FILE)", name))
}

// SaveNetwork stores a network definition atomically.
func (l Layout) SaveNetwork(name string, xml []byte) error {
	p, err := l.NetworkPath(name)
	if err != nil {
		return err
	}
	if err := mkdirAll(l.NetworksDir()); err != nil {
		return err
	}
	return WriteFileAtomic(p, xml, filePerm)
}

// LoadNetwork reads a network definition; a missing one wraps ErrNotFound.
func (l Layout) LoadNetwork(name string) ([]byte, error) {
	p, err := l.NetworkPath(name)
	if err != nil {
		return nil, err
	}
	data, err := ReadXMLFile(p, "network definition file "+p,
		fmt.Sprintf("lxctl never writes one that large: net-define network '%s' again, or remove the file", name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, netNotDefined(name, err)
	}
	if errors.Is(err, domainxml.ErrInvalid) {
		return nil, newError(ErrCorrupt, err, err.Error())
	}
	if err != nil {
		return nil, fmt.Errorf("read network '%s': %w", name, err)
	}
	return data, nil
}

// RemoveNetwork forgets a network definition and its autostart flag.
func (l Layout) RemoveNetwork(name string) error {
	p, err := l.NetworkPath(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return netNotDefined(name, err)
		}
		return fmt.Errorf("remove network '%s': %w", name, err)
	}
	_ = os.Remove(p[:len(p)-len(".xml")] + autostartSuffix)
	return nil
}

// ListNetworks returns the defined network names, sorted.
func (l Layout) ListNetworks() ([]string, error) {
	ents, err := os.ReadDir(l.NetworksDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var names []string
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".xml")
		if ok && e.Type().IsRegular() && ValidateName(name) == nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// SetNetworkAutostart turns the autostart flag on or off. lxctl has no
// daemon, so "autostart" means: started by the first domain start that
// needs it.
func (l Layout) SetNetworkAutostart(name string, on bool) error {
	p, err := l.NetworkPath(name)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p); err != nil {
		return netNotDefined(name, err)
	}
	flag := p[:len(p)-len(".xml")] + autostartSuffix
	if !on {
		if err := os.Remove(flag); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return WriteFileAtomic(flag, nil, filePerm)
}

// NetworkAutostart reports the autostart flag.
func (l Layout) NetworkAutostart(name string) bool {
	p, err := l.NetworkPath(name)
	if err != nil {
		return false
	}
	_, err = os.Stat(p[:len(p)-len(".xml")] + autostartSuffix)
	return err == nil
}

// NetworkState is the runtime record of an active network. net-start
// writes it last, once the bridge, its address and its NAT chain are all
// there. It is a hint: package network decides whether a network is
// active from its marked bridge on the host, and reports a record that
// disagrees.
type NetworkState struct {
	Name    string    `json:"name"`
	Bridge  string    `json:"bridge"`
	Subnet  string    `json:"subnet,omitempty"`   // masqueraded subnet, "" without NAT
	NATHook string    `json:"nat_hook,omitempty"` // nft chain in lxctl's table
	Started time.Time `json:"started"`
}

// WriteNetworkState records an active network.
func (l Layout) WriteNetworkState(s *NetworkState) error {
	p, err := l.netRunPath(s.Name, netStateSuffix)
	if err != nil {
		return err
	}
	if err := mkdirAll(filepath.Dir(p)); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(p, append(data, '\n'), filePerm)
}

// ReadNetworkState reads the record of an active network; an inactive
// network is an error wrapping ErrNotFound that says how to start it.
func (l Layout) ReadNetworkState(name string) (*NetworkState, error) {
	p, err := l.netRunPath(name, netStateSuffix)
	if err != nil {
		return nil, err
	}
	data, err := readFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, newError(ErrNotFound, err, fmt.Sprintf("network '%s' is not active (start it with lxctl net-start %s)", name, name))
	}
	if err != nil {
		return nil, err
	}
	var s NetworkState
	if err := json.Unmarshal(data, &s); err != nil || s.Name != name {
		return nil, newError(ErrCorrupt, err, fmt.Sprintf("network state %s is corrupt (run lxctl net-destroy %s)", p, name))
	}
	return &s, nil
}

// RemoveNetworkState marks a network inactive.
func (l Layout) RemoveNetworkState(name string) error {
	p, err := l.netRunPath(name, netStateSuffix)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// LockNetwork takes a network's lock (net-start, net-destroy, undefine),
// waiting up to wait.
func (l Layout) LockNetwork(name string, wait time.Duration) (*Lock, error) {
	p, err := l.netRunPath(name, netLockSuffix)
	if err != nil {
		return nil, err
	}
	return lockFile(p, "network '"+name+"'", wait)
}

func lockFile(path, what string, wait time.Duration) (*Lock, error) {
	if err := mkdirAll(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("lock %s: %w", what, err)
	}
	deadline := time.Now().Add(wait)
	backoff := lockBackoffMin
	for {
		f, err := tryLock(path)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", what, err)
		}
		if f != nil {
			return &Lock{f: f, name: what}, nil
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, newError(ErrLocked, nil, fmt.Sprintf("%s is busy: another lxctl command holds its lock", what))
		}
		time.Sleep(min(backoff, remaining))
		backoff = min(2*backoff, lockBackoffMax)
	}
}

// Lease is an address handed out on a network to one interface.
type Lease struct {
	MAC    string `json:"mac"`
	IP     string `json:"ip"`
	Domain string `json:"domain"`
}

func (l Layout) withLeases(network string, fn func(leases []Lease) ([]Lease, error)) error {
	p, err := l.netRunPath(network, leasesSuffix)
	if err != nil {
		return err
	}
	lp, _ := l.netRunPath(network, leasesLockSuffix)
	lk, err := lockFile(lp, "the leases of network '"+network+"'", leaseLockWaitTime)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	var leases []Lease
	data, err := readFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &leases); err != nil {
			return newError(ErrCorrupt, err, fmt.Sprintf("lease file %s is corrupt (remove it once no domain runs on network '%s')", p, network))
		}
	}
	out, err := fn(leases)
	if err != nil {
		return err
	}
	if len(out) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	data, err = json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(p, append(data, '\n'), filePerm)
}

// AllocateLease gives the interface with mac of domain an address of the
// range [start, end] on network, skipping the addresses in taken (the
// bridge's, static ones). The same MAC keeps its address while it holds a
// lease, and otherwise gets the lowest free one, so a domain that is
// restarted with the same MAC gets the same address back when it is free.
func (l Layout) AllocateLease(network, domain, mac string, start, end netip.Addr, taken []netip.Addr) (netip.Addr, error) {
	var got netip.Addr
	err := l.withLeases(network, func(leases []Lease) ([]Lease, error) {
		used := map[netip.Addr]bool{}
		for _, a := range taken {
			used[a] = true
		}
		for _, ls := range leases {
			a, err := netip.ParseAddr(ls.IP)
			if err != nil {
				continue
			}
			if ls.MAC == mac {
				got = a
				// The lease now belongs to this start of the domain.
				return leases, nil
			}
			used[a] = true
		}
		for a := start; a.IsValid() && !end.Less(a); a = a.Next() {
			if !used[a] {
				got = a
				return append(leases, Lease{MAC: mac, IP: a.String(), Domain: domain}), nil
			}
		}
		return nil, fmt.Errorf("network '%s': no free address left in %s-%s (%d leases held; widen the <dhcp><range>, stop a domain, or give the interface a static <ip>)", network, start, end, len(leases))
	})
	return got, err
}

// ReleaseLeases drops every lease domain holds, on every network.
func (l Layout) ReleaseLeases(domain string) error {
	ents, err := os.ReadDir(l.netRunDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		network, ok := strings.CutSuffix(e.Name(), leasesSuffix)
		if !ok || ValidateName(network) != nil {
			continue
		}
		errs = append(errs, l.withLeases(network, func(leases []Lease) ([]Lease, error) {
			out := leases[:0]
			for _, ls := range leases {
				if ls.Domain != domain {
					out = append(out, ls)
				}
			}
			return out, nil
		}))
	}
	return errors.Join(errs...)
}

// Leases lists the leases held on network.
func (l Layout) Leases(network string) ([]Lease, error) {
	var out []Lease
	err := l.withLeases(network, func(leases []Lease) ([]Lease, error) {
		out = append(out, leases...)
		return leases, nil
	})
	return out, err
}

// GlobalLock serialises changes to host-wide state shared by every lxctl
// instance whatever its --root (lxctl's nft table). It lives in /run/lock.
func GlobalLock(what string, wait time.Duration) (*Lock, error) {
	return lockFile(filepath.Join("/run/lock", "lxctl-"+what+".lock"), "lxctl's "+what, wait)
}
