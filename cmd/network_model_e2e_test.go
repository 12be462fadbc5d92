package cmd_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/lxctl/lxctl/network"
	"github.com/lxctl/lxctl/state"
)

// TestNetworkModel drives lxctl with random sequences of network and
// domain commands, plus faults from outside (a lost run record, a NAT
// chain deleted behind lxctl's back), and after every step checks that
// net-list --all, list --all and the host (bridges, their addresses, the
// nftables chains, leases, veths and what they are attached to) agree
// with a model of what should be. The seed is printed; rerun one with
// LXCTL_MODEL_SEED=N, and change the length with LXCTL_MODEL_STEPS=N
// (default 200; 50 with -short).
func TestNetworkModel(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("LXCTL_MODEL_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	steps := 200
	if testing.Short() {
		steps = 50
	}
	if s := os.Getenv("LXCTL_MODEL_STEPS"); s != "" {
		steps, _ = strconv.Atoi(s)
	}
	t.Logf("seed %d, %d steps (rerun: LXCTL_MODEL_SEED=%d)", seed, steps, seed)
	fwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	t.Cleanup(func() { _ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", fwd, 0o644) })

	e := newEnv(t)
	m := &model{e: e, rng: rand.New(rand.NewSource(seed)), seed: seed}
	octets := map[int]bool{}
	for i, nat := range []bool{true, false, true} {
		o := freeOctet(t)
		for octets[o] {
			o = freeOctet(t)
		}
		octets[o] = true
		n := &mNet{name: fmt.Sprintf("mnet%d-%s", i, randHex(2)), bridge: "lxm" + randHex(4), octet: o, nat: nat}
		fw := ""
		if nat {
			fw = "<forward mode='nat'/>"
		}
		n.file = filepath.Join(e.root, n.name+".xml")
		xml := fmt.Sprintf(`<network><name>%s</name>%s<bridge name='%s'/><ip address='10.213.%d.1' netmask='255.255.255.0'><dhcp><range start='10.213.%[4]d.10' end='10.213.%[4]d.100'/></dhcp></ip></network>`, n.name, fw, n.bridge, o)
		if err := os.WriteFile(n.file, []byte(xml), 0o600); err != nil {
			t.Fatal(err)
		}
		m.nets = append(m.nets, n)
	}
	// d0..d2 on one network each, d3 on two.
	for i, nets := range [][]int{{0}, {1}, {2}, {0, 1}} {
		d := &mDom{name: e.name(fmt.Sprintf("md%d", i)), nets: nets}
		var devs strings.Builder
		for _, k := range nets {
			fmt.Fprintf(&devs, "<interface type='network'><source network='%s'/></interface>\n", m.nets[k].name)
		}
		e.define(e.guestDomain(d.name, "", devs.String(), "sleep"))
		d.uuid = strings.TrimSpace(e.ok("domuuid", d.name))
		m.doms = append(m.doms, d)
	}
	t.Cleanup(m.cleanup)
	m.check()
	for i := 0; i < steps && !t.Failed(); i++ {
		m.step = i
		m.randomStep()
		m.check()
	}
}

type mNet struct {
	name, bridge, file string
	octet              int
	nat                bool
	defined, active    bool
	autostart          bool
	lostRecord         bool // run record removed from outside
	droppedChain       bool // NAT chain deleted from outside
}

type mDom struct {
	name, uuid string
	nets       []int
	running    bool
	attached   []bool // veth k is on its network's bridge
}

type model struct {
	e       *env
	rng     *rand.Rand
	seed    int64
	step    int
	nets    []*mNet
	doms    []*mDom
	history []string
}

func (m *model) fail(format string, args ...any) {
	m.e.t.Helper()
	h := m.history
	if len(h) > 12 {
		h = h[len(h)-12:]
	}
	m.e.t.Fatalf("seed %d, step %d: %s\nlast steps:\n  %s", m.seed, m.step, fmt.Sprintf(format, args...), strings.Join(h, "\n  "))
}

// expect runs lxctl and checks its exit status: ok, or a failure whose
// stderr contains want.
func (m *model) expect(ok bool, want string, args ...string) {
	m.e.t.Helper()
	m.history = append(m.history, fmt.Sprintf("%d: lxctl %s (expect ok=%v)", m.step, strings.Join(args, " "), ok))
	r := m.e.run("", args...)
	if ok && r.code != 0 {
		m.fail("lxctl %s: want success, got exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	if !ok && (r.code != 1 || !strings.Contains(r.stderr, want)) {
		m.fail("lxctl %s: want exit 1 with %q, got exit %d: %s", strings.Join(args, " "), want, r.code, r.stderr)
	}
}

func (m *model) randomStep() {
	n := m.nets[m.rng.Intn(len(m.nets))]
	d := m.doms[m.rng.Intn(len(m.doms))]
	switch op := m.rng.Intn(100); {
	case op < 12:
		m.expect(true, "", "net-define", n.file)
		n.defined = true
	case op < 20:
		switch {
		case !n.defined:
			m.expect(false, "not defined", "net-undefine", n.name)
		case n.active:
			m.expect(false, "is active", "net-undefine", n.name)
		default:
			m.expect(true, "", "net-undefine", n.name)
			n.defined, n.autostart = false, false
		}
	case op < 34:
		switch {
		case !n.defined:
			m.expect(false, "not defined", "net-start", n.name)
		case n.active && !n.lostRecord && !n.droppedChain:
			m.expect(false, "already active", "net-start", n.name)
		default:
			m.expect(true, "", "net-start", n.name)
			n.active, n.lostRecord, n.droppedChain = true, false, false
		}
	case op < 44:
		switch {
		case !n.defined && !n.active:
			m.expect(false, "not defined", "net-destroy", n.name)
		case !n.active:
			m.expect(false, "not active", "net-destroy", n.name)
		default:
			m.expect(true, "", "net-destroy", n.name)
			n.active, n.lostRecord, n.droppedChain = false, false, false
			for _, d := range m.doms {
				for k, i := range d.nets {
					if m.nets[i] == n && d.running {
						d.attached[k] = false
					}
				}
			}
		}
	case op < 52:
		switch {
		case !n.defined:
			m.expect(false, "not defined", "net-autostart", n.name)
		case n.autostart:
			m.expect(true, "", "net-autostart", "--disable", n.name)
			n.autostart = false
		default:
			m.expect(true, "", "net-autostart", n.name)
			n.autostart = true
		}
	case op < 74:
		m.startDomain(d)
	case op < 90:
		if !d.running {
			m.expect(false, "not running", "destroy", d.name)
			return
		}
		m.expect(true, "", "destroy", d.name)
		d.running, d.attached = false, nil
	case op < 95:
		// A fault from outside: the network's run record is lost.
		m.history = append(m.history, fmt.Sprintf("%d: remove the run record of %s", m.step, n.name))
		_ = os.Remove(filepath.Join(m.e.root, "run", ".networks", n.name+".json"))
		if n.active {
			n.lostRecord = true
		}
	default:
		// Another: the NAT chain is deleted behind lxctl's back.
		if !n.active || !n.nat || n.droppedChain {
			return
		}
		m.history = append(m.history, fmt.Sprintf("%d: delete the NAT chain of %s", m.step, n.name))
		c, err := nftables.New()
		if err != nil {
			m.fail("nftables: %v", err)
		}
		c.DelChain(&nftables.Chain{Name: network.NATChain(n.bridge), Table: &nftables.Table{Family: nftables.TableFamilyIPv4, Name: network.Table}})
		if err := c.Flush(); err != nil {
			m.fail("delete chain: %v", err)
		}
		n.droppedChain = true
	}
}

// startDomain: the networks are resolved in interface order; one that
// is inactive but autostart is started (and one missing something is
// repaired) even when a later one then makes the start fail.
func (m *model) startDomain(d *mDom) {
	if d.running {
		m.expect(false, "already running", "start", d.name)
		return
	}
	for _, i := range d.nets {
		n := m.nets[i]
		switch {
		case !n.defined:
			m.expect(false, "not defined", "start", d.name)
			return
		case !n.active && !n.autostart:
			m.expect(false, "is not active", "start", d.name)
			return
		}
		n.active, n.lostRecord, n.droppedChain = true, false, false
	}
	m.expect(true, "", "start", d.name)
	d.running = true
	d.attached = make([]bool, len(d.nets))
	for k := range d.attached {
		d.attached[k] = true
	}
}

// check compares what lxctl says and what the host has with the model.
func (m *model) check() {
	m.e.t.Helper()
	// net-list --all
	want := map[string]string{}
	for _, n := range m.nets {
		if n.defined {
			st, auto := "inactive", "no"
			if n.active {
				st = "active"
			}
			if n.autostart {
				auto = "yes"
			}
			want[n.name] = st + " " + auto + " yes"
		}
	}
	got := map[string]string{}
	nl := m.e.run("", "net-list", "--all")
	if nl.code != 0 {
		m.fail("net-list --all: exit %d: %s", nl.code, nl.stderr)
	}
	// What the host lacks is reported on stderr, and only that.
	for _, n := range m.nets {
		degraded := n.active && (n.lostRecord || n.droppedChain)
		if warned := strings.Contains(nl.stderr, "warning: network "+n.name+":"); warned != degraded {
			m.fail("net-list --all warned about %s: %v, want %v:\n%s", n.name, warned, degraded, nl.stderr)
		}
	}
	for _, line := range strings.Split(nl.stdout, "\n")[2:] {
		if f := strings.Fields(line); len(f) == 4 {
			got[f[0]] = strings.Join(f[1:], " ")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		m.fail("net-list --all says %v, the model %v", got, want)
	}
	// list --all
	list := m.e.ok("list", "--all")
	for _, d := range m.doms {
		st := "shut off"
		if d.running {
			st = "running"
		}
		found := false
		for _, line := range strings.Split(list, "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[1] == d.name {
				found = strings.Join(f[2:], " ") == st
			}
		}
		if !found {
			m.fail("list --all should show %s %s:\n%s", d.name, st, list)
		}
	}
	// The host: bridges, addresses, chains, records, leases.
	rules, err := network.ListNAT()
	if err != nil {
		m.fail("read nftables: %v", err)
	}
	chains := map[string]bool{}
	for _, r := range rules {
		chains[r.Chain] = true
	}
	for i, n := range m.nets {
		ifc, err := net.InterfaceByName(n.bridge)
		if (err == nil) != n.active {
			m.fail("network %s: bridge %s exists=%v, model active=%v", n.name, n.bridge, err == nil, n.active)
		}
		if n.active {
			addrs, _ := ifc.Addrs()
			if !strings.Contains(fmt.Sprint(addrs), fmt.Sprintf("10.213.%d.1/24", n.octet)) || ifc.Flags&net.FlagUp == 0 {
				m.fail("network %s: bridge %s should be up with 10.213.%d.1/24: %v %v", n.name, n.bridge, n.octet, addrs, ifc.Flags)
			}
		}
		if wantChain := n.active && n.nat && !n.droppedChain; chains[network.NATChain(n.bridge)] != wantChain {
			m.fail("network %s: chain %s present=%v, want %v", n.name, network.NATChain(n.bridge), !wantChain, wantChain)
		}
		_, err = os.Stat(filepath.Join(m.e.root, "run", ".networks", n.name+".json"))
		if wantRec := n.active && !n.lostRecord; (err == nil) != wantRec {
			m.fail("network %s: run record present=%v, want %v", n.name, err == nil, wantRec)
		}
		var leases []state.Lease
		data, _ := os.ReadFile(filepath.Join(m.e.root, "run", ".networks", n.name+".leases"))
		if len(data) > 0 {
			if err := json.Unmarshal(data, &leases); err != nil {
				m.fail("leases of %s: %v", n.name, err)
			}
		}
		var holders, wantHolders []string
		for _, l := range leases {
			holders = append(holders, l.Domain)
		}
		for _, d := range m.doms {
			for _, k := range d.nets {
				if k == i && d.running {
					wantHolders = append(wantHolders, d.name)
				}
			}
		}
		sort.Strings(holders)
		sort.Strings(wantHolders)
		if fmt.Sprint(holders) != fmt.Sprint(wantHolders) {
			m.fail("leases of %s held by %v, want %v", n.name, holders, wantHolders)
		}
	}
	// Veths: one per interface of a running domain, on its bridge while
	// the network has not been destroyed since.
	for _, d := range m.doms {
		vs := vethsOf(d.uuid)
		if !d.running {
			if len(vs) > 0 {
				m.fail("%s is shut off but has veths %v", d.name, vs)
			}
			continue
		}
		if len(vs) != len(d.nets) {
			m.fail("%s runs with veths %v, want %d", d.name, vs, len(d.nets))
		}
		st := m.e.status(d.name)
		for k, i := range d.nets {
			master, _ := os.Readlink("/sys/class/net/" + st.Veths[k] + "/master")
			if on := filepath.Base(master) == m.nets[i].bridge; on != d.attached[k] {
				m.fail("%s: veth %s on %s=%v, want %v", d.name, st.Veths[k], m.nets[i].bridge, on, d.attached[k])
			}
		}
	}
}

// cleanup destroys the domains, then every network left active, and
// checks no bridge or chain of the model is left.
func (m *model) cleanup() {
	m.e.destroyAll()
	for _, n := range m.nets {
		if r := m.e.run("", "net-destroy", n.name); r.code != 0 && !strings.Contains(r.stderr, "not active") && !strings.Contains(r.stderr, "not defined") {
			m.e.t.Errorf("cleanup: net-destroy %s: %s", n.name, r.stderr)
		}
		m.e.checkNoNetLeaks(testNet{name: n.name, bridge: n.bridge})
	}
}
