package cmd

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/lxctl/lxctl/cgroup"
	"github.com/lxctl/lxctl/domain"
	"github.com/lxctl/lxctl/domainxml"
)

// The statistics commands read the kernel, never a record: CPU and memory
// from the domain's cgroups, interface counters from the host end of each
// veth, addresses from the container's network namespace. libvirt's LXC
// driver has no domstats at all and prints an empty domifaddr table; these
// use its field names and layouts so scripts written for virsh read them.

func statsCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newDomStatsCmd(g), newDomMemStatCmd(g), newCPUStatsCmd(g),
		newDomIfListCmd(g), newDomIfStatCmd(g), newDomIfAddrCmd(g), newNetDHCPLeasesCmd(g),
	}
}

// virDomainState and its reasons, the numbers domstats prints.
var stateCodes = map[string]int{"running": 1, "paused": 3, "in shutdown": 4, "shut off": 5}

var reasonCodes = map[string]map[string]int{
	"running":     {"unknown": 0, "booted": 1, "unpaused": 5},
	"paused":      {"unknown": 0, "user": 1},
	"in shutdown": {"unknown": 0},
	"shut off":    {"unknown": 0, "shutdown": 1, "destroyed": 2, "crashed": 3, "failed": 6},
}

type domStatsOptions struct {
	state, cpu, balloon, iface, block bool
	active, inactive, asJSON          bool
}

func newDomStatsCmd(g *globals) *cobra.Command {
	o := &domStatsOptions{}
	c := &cobra.Command{
		Use:   "domstats [NAME...]",
		Short: "Print statistics of domains (all of them without NAME)",
		Long: `Print libvirt's bulk statistics (virsh domstats) of the named domains, or of
every domain: state.*, cpu.* (nanoseconds), balloon.* (KiB), net.* (counters of
each interface as the container sees them) and block.count. Without a group
flag every group is printed.`,
		Example: "  lxctl domstats vm1\n  lxctl domstats --list-active --cpu-total --json",
		RunE:    func(c *cobra.Command, args []string) error { return runDomStats(g, o, args) },
	}
	f := c.Flags()
	f.BoolVar(&o.state, "state", false, "state.state and state.reason")
	f.BoolVar(&o.cpu, "cpu-total", false, "cpu.time, cpu.user, cpu.system")
	f.BoolVar(&o.balloon, "balloon", false, "balloon.current, balloon.maximum, balloon.rss")
	f.BoolVar(&o.iface, "interface", false, "net.count and net.N.*")
	f.BoolVar(&o.block, "block", false, "block.count (containers have no block devices of their own)")
	f.BoolVar(&o.active, "list-active", false, "only running and paused domains")
	f.BoolVar(&o.inactive, "list-inactive", false, "only domains that are shut off")
	f.BoolVar(&o.asJSON, "json", false, "print a JSON array of {name, stats}")
	return c
}

// stat is one "key=value" of domstats, in order.
type stat struct {
	key string
	val any
}

func runDomStats(g *globals, o *domStatsOptions, args []string) error {
	if !(o.state || o.cpu || o.balloon || o.iface || o.block) {
		o.state, o.cpu, o.balloon, o.iface, o.block = true, true, true, true, true
	}
	var doms []*domain.Domain
	if len(args) == 0 {
		names, _, ctls, err := g.domainNames()
		if err != nil {
			return err
		}
		sort.Strings(names)
		h, o := g.host(), domain.Opts{ParseDef: true, ParseLive: true, Controllers: ctls}
		all, _ := inspectAll(names, func(name string) (*domain.Domain, error) { return h.Inspect(name, o) })
		for _, d := range all {
			if d != nil {
				g.warn(d.Warnings)
				doms = append(doms, d)
			}
		}
	}
	for _, a := range args {
		d, err := g.lookup(a)
		if err != nil {
			return err
		}
		doms = append(doms, d)
	}
	type entry struct {
		Name  string         `json:"name"`
		Stats map[string]any `json:"stats"`
	}
	var entries []entry
	for _, d := range doms {
		if (o.active && !d.Active()) || (o.inactive && d.Active()) {
			continue
		}
		stats := domainStats(g, d, o)
		if o.asJSON {
			m := map[string]any{}
			for _, s := range stats {
				m[s.key] = s.val
			}
			entries = append(entries, entry{d.Name, m})
			continue
		}
		fmt.Fprintf(g.io.Out, "Domain: '%s'\n", d.Name)
		for _, s := range stats {
			fmt.Fprintf(g.io.Out, "  %s=%v\n", s.key, s.val)
		}
		fmt.Fprintln(g.io.Out)
	}
	if o.asJSON {
		if entries == nil {
			entries = []entry{}
		}
		enc := json.NewEncoder(g.io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	return nil
}

func domainStats(g *globals, d *domain.Domain, o *domStatsOptions) []stat {
	var out []stat
	x := d.Config()
	if o.state {
		out = append(out, stat{"state.state", stateCodes[d.State]}, stat{"state.reason", reasonCodes[d.State][d.Reason]})
	}
	paths := map[string]string(nil)
	if d.Active() {
		paths = g.cgroupDirs(d)
	}
	if o.cpu && paths != nil {
		if t, err := cgroup.CPUTime(paths); err == nil {
			out = append(out, stat{"cpu.time", t.Nanoseconds()})
		}
		if u, s, err := cgroup.CPUSplit(paths); err == nil {
			out = append(out, stat{"cpu.user", u.Nanoseconds()}, stat{"cpu.system", s.Nanoseconds()})
		}
	}
	if o.balloon {
		cur := x.CurrentMemory
		var rss *uint64
		if paths != nil {
			if m, err := cgroup.MemoryStat(paths); err == nil {
				if m.Limit < cur*1024 {
					cur = m.Limit / 1024 // a live setmem shows here
				}
				r := (m.RSS + 1023) / 1024
				rss = &r
			}
		}
		out = append(out, stat{"balloon.current", cur}, stat{"balloon.maximum", x.Memory})
		if rss != nil {
			out = append(out, stat{"balloon.rss", *rss})
		}
	}
	if o.iface && d.Active() {
		ifs := x.Devices.Interfaces
		out = append(out, stat{"net.count", len(ifs)})
		for i, ifc := range ifs {
			p := fmt.Sprintf("net.%d.", i)
			out = append(out, stat{p + "name", ifc.Target})
			c, err := ifaceCounters(ifc.Target)
			if err != nil {
				continue
			}
			for _, k := range []string{"rx.bytes", "rx.pkts", "rx.errs", "rx.drop", "tx.bytes", "tx.pkts", "tx.errs", "tx.drop"} {
				out = append(out, stat{p + k, c[k]})
			}
		}
	}
	if o.block {
		out = append(out, stat{"block.count", 0})
	}
	return out
}

// ifaceCounters reads the counters of a host-side veth and turns them
// round, as libvirt does for veths: what the host end transmits is what the
// container receives.
func ifaceCounters(host string) (map[string]uint64, error) {
	if host == "" || strings.ContainsAny(host, "/.") {
		return nil, fmt.Errorf("interface name %q", host)
	}
	dir := filepath.Join("/sys/class/net", host, "statistics")
	read := func(f string) (uint64, error) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return 0, err
		}
		return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	out := map[string]uint64{}
	for k, f := range map[string]string{
		"rx.bytes": "tx_bytes", "rx.pkts": "tx_packets", "rx.errs": "tx_errors", "rx.drop": "tx_dropped",
		"tx.bytes": "rx_bytes", "tx.pkts": "rx_packets", "tx.errs": "rx_errors", "tx.drop": "rx_dropped",
	} {
		v, err := read(f)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", host, err)
		}
		out[k] = v
	}
	return out, nil
}

// running looks a domain up and insists that it runs.
func (g *globals) running(arg string) (*domain.Domain, error) {
	d, err := g.lookup(arg)
	if err != nil {
		return nil, err
	}
	if !d.Active() {
		return nil, fmt.Errorf("domain '%s' is not running (start it with lxctl start %s)", d.Name, d.Name)
	}
	return d, nil
}

func newDomMemStatCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "dommemstat NAME",
		Short: "Print a running domain's memory statistics (KiB)",
		Long: `Print the memory statistics of a running domain, in KiB, as virsh does for LXC:
actual (the limit in force), swap_in (swap in use), rss (anonymous memory of
the container's processes), usage (all memory charged to it, page cache included).`,
		Args: exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := g.running(args[0])
			if err != nil {
				return err
			}
			m, err := cgroup.MemoryStat(g.cgroupDirs(d))
			if err != nil {
				return err
			}
			actual := d.Config().CurrentMemory
			if m.Limit/1024 < actual {
				actual = m.Limit / 1024
			}
			kib := func(b uint64) uint64 { return (b + 1023) / 1024 }
			fmt.Fprintf(g.io.Out, "actual %d\nswap_in %d\nrss %d\nusage %d\n\n", actual, kib(m.Swap), kib(m.RSS), kib(m.Usage))
			return nil
		},
	}
}

func newCPUStatsCmd(g *globals) *cobra.Command {
	var total bool
	c := &cobra.Command{
		Use:   "cpu-stats NAME",
		Short: "Print a running domain's CPU time, per host CPU and in total",
		Args:  exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := g.running(args[0])
			if err != nil {
				return err
			}
			paths := g.cgroupDirs(d)
			secs := func(t time.Duration) string { return fmt.Sprintf("%d.%09d seconds", t/time.Second, t%time.Second) }
			if !total {
				per, err := cgroup.PerCPUTime(paths)
				if err != nil && err != cgroup.ErrNoPerCPU {
					return err
				}
				for i, t := range per {
					fmt.Fprintf(g.io.Out, "CPU%d:\n\t%-20s %s\n", i, "cpu_time", secs(t))
				}
			}
			t, err := cgroup.CPUTime(paths)
			if err != nil {
				return err
			}
			u, s, err := cgroup.CPUSplit(paths)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.io.Out, "Total:\n\t%-20s %s\n\t%-20s %s\n\t%-20s %s\n", "cpu_time", secs(t), "user_time", secs(u), "system_time", secs(s))
			return nil
		},
	}
	c.Flags().BoolVar(&total, "total", false, "only the total, not each CPU")
	return c
}

func newDomIfListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "domiflist NAME",
		Short: "List a domain's network interfaces",
		Args:  exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := g.lookup(args[0])
			if err != nil {
				return err
			}
			var rows [][]string
			for _, ifc := range d.Config().Devices.Interfaces {
				src := ifc.Source.Network + ifc.Source.Bridge + ifc.Source.Dev
				rows = append(rows, []string{dash(ifc.Target), ifc.Type, dash(src), "-", ifc.MAC})
			}
			writeTable(g.io.Out, []string{"Interface", "Type", "Source", "Model", "MAC"}, rows, false)
			fmt.Fprintln(g.io.Out)
			return nil
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// findIface picks the interface a virsh user names: its host device or MAC.
func findIface(d *domain.Domain, which string) (*domainxml.Interface, error) {
	ifs := d.Config().Devices.Interfaces
	for i := range ifs {
		if ifs[i].Target == which || strings.EqualFold(ifs[i].MAC, which) {
			return &ifs[i], nil
		}
	}
	var names []string
	for _, ifc := range ifs {
		names = append(names, ifc.Target)
	}
	return nil, fmt.Errorf("domain '%s' has no interface %q (its interfaces: %s; see lxctl domiflist %s)", d.Name, which, strings.Join(names, ", "), d.Name)
}

func newDomIfStatCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "domifstat NAME INTERFACE",
		Short: "Print the traffic counters of a running domain's interface (host device or MAC)",
		Args:  exactArgs("name", "interface"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := g.running(args[0])
			if err != nil {
				return err
			}
			ifc, err := findIface(d, args[1])
			if err != nil {
				return err
			}
			cn, err := ifaceCounters(ifc.Target)
			if err != nil {
				return err
			}
			for _, k := range []string{"rx.bytes", "rx.pkts", "rx.errs", "rx.drop", "tx.bytes", "tx.pkts", "tx.errs", "tx.drop"} {
				name := strings.NewReplacer(".pkts", "_packets", ".", "_").Replace(k)
				fmt.Fprintf(g.io.Out, "%s %s %d\n", ifc.Target, name, cn[k])
			}
			fmt.Fprintln(g.io.Out)
			return nil
		},
	}
}

func newDomIfAddrCmd(g *globals) *cobra.Command {
	var iface string
	var full bool
	c := &cobra.Command{
		Use:   "domifaddr NAME",
		Short: "Print the addresses configured in a running domain's network namespace",
		Long: `Print the addresses the container's interfaces really have, read from its
network namespace (libvirt prints an empty table for LXC domains). Loopback is
left out unless --full.`,
		Args: exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := g.running(args[0])
			if err != nil {
				return err
			}
			rows, err := netnsAddrs(d.InitPID(), iface, full)
			if err != nil {
				return fmt.Errorf("domain '%s': %w", d.Name, err)
			}
			writeTable(g.io.Out, []string{"Name", "MAC address", "Protocol", "Address"}, rows, false)
			fmt.Fprintln(g.io.Out)
			return nil
		},
	}
	c.Flags().StringVar(&iface, "interface", "", "only this interface (its name inside the container)")
	c.Flags().BoolVar(&full, "full", false, "include loopback")
	return c
}

// netnsAddrs lists the addresses in the network namespace of pid, read
// through a netlink socket opened in that namespace (no thread changes
// namespace).
func netnsAddrs(pid int, only string, full bool) ([][]string, error) {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, fmt.Errorf("network namespace of init (pid %d): %w", pid, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in the container's namespace: %w", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	sort.Slice(links, func(i, j int) bool { return links[i].Attrs().Index < links[j].Attrs().Index })
	var rows [][]string
	for _, l := range links {
		a := l.Attrs()
		if (only != "" && a.Name != only) || (!full && a.Flags&net.FlagLoopback != 0) {
			continue
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			proto := "ipv4"
			if ad.IP.To4() == nil {
				proto = "ipv6"
			}
			ones, _ := ad.Mask.Size()
			rows = append(rows, []string{a.Name, dash(a.HardwareAddr.String()), proto, fmt.Sprintf("%s/%d", ad.IP, ones)})
		}
	}
	if only != "" && rows == nil {
		return nil, fmt.Errorf("no interface %q with an address in the container", only)
	}
	return rows, nil
}

func newNetDHCPLeasesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "net-dhcp-leases NAME",
		Short: "Print the addresses lxctl handed out on a network",
		Long: `Print the leases of a network: the address each running domain's interface got
from the network's range. lxctl hands addresses out itself while the domain
runs (no DHCP daemon), so leases do not expire: the Expiry Time column is "-".`,
		Args: exactArgs("network"),
		RunE: func(c *cobra.Command, args []string) error {
			l := g.layout()
			if _, err := l.NetworkPath(args[0]); err != nil {
				return err
			}
			n, err := loadNetwork(l, args[0])
			if err != nil {
				return err
			}
			leases, err := l.Leases(n.Name)
			if err != nil {
				return err
			}
			bits := 24
			if n.IP != nil {
				bits = n.IP.Prefix.Bits()
			}
			var rows [][]string
			for _, ls := range leases {
				rows = append(rows, []string{"-", ls.MAC, "ipv4", fmt.Sprintf("%s/%d", ls.IP, bits), ls.Domain, "-"})
			}
			writeTable(g.io.Out, []string{"Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID"}, rows, false)
			fmt.Fprintln(g.io.Out)
			return nil
		},
	}
}
