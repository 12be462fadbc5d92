package cmd_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/network"
)

// Networking tests. Everything they create is theirs alone: bridges named
// lxt<random>, subnets 10.213.<random>.0/24 that only ever sit on those
// bridges, networks in the test's own --root. No traffic leaves the
// test's bridges and namespaces; nothing is routed off the host.

// testNet is a network (or a bare bridge) made for one test.
type testNet struct {
	name, bridge string
	octet        int // 10.213.<octet>.0/24
}

func (n testNet) addr(host int) string { return fmt.Sprintf("10.213.%d.%d", n.octet, host) }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freeOctet picks a 10.213.x.0/24 no host interface uses.
func freeOctet(t *testing.T) int {
	t.Helper()
	for try := 0; try < 100; try++ {
		b := make([]byte, 1)
		_, _ = rand.Read(b)
		o := 10 + int(b[0])%240
		used := false
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if strings.HasPrefix(a.String(), fmt.Sprintf("10.213.%d.", o)) {
				used = true
			}
		}
		if !used {
			return o
		}
	}
	t.Fatal("no free 10.213.x.0/24")
	return 0
}

// network defines and starts an lxctl network; cleanup destroys it and
// checks the bridge, leases and nft chain are gone.
// The range is 10.213.x.lo-hi.
func (e *env) network(forward string, lo, hi int) testNet {
	e.t.Helper()
	n := testNet{name: "net-" + randHex(3), bridge: "lxt" + randHex(4), octet: freeOctet(e.t)}
	rangeXML := fmt.Sprintf("<range start='%s' end='%s'/>", n.addr(lo), n.addr(hi))
	xml := fmt.Sprintf(`<network>
  <name>%s</name>
  %s
  <bridge name='%s'/>
  <ip address='%s' netmask='255.255.255.0'><dhcp>%s</dhcp></ip>
</network>`, n.name, forward, n.bridge, n.addr(1), rangeXML)
	f := filepath.Join(e.root, n.name+".xml")
	if err := os.WriteFile(f, []byte(xml), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.ok("net-define", f)
	e.ok("net-start", n.name)
	// Registered after env's cleanup, so it runs first (LIFO): destroy
	// the domains, then the network, then check nothing is left.
	e.t.Cleanup(func() {
		e.destroyAll()
		r := e.run("", "net-destroy", n.name)
		if r.code != 0 && !strings.Contains(r.stderr, "not active") && !strings.Contains(r.stderr, "not defined") {
			e.t.Errorf("cleanup: net-destroy %s: %s", n.name, r.stderr)
		}
		e.checkNoNetLeaks(n)
	})
	return n
}

// destroyAll destroys the test's running domains (env.cleanup does it too,
// but networks must outlive their domains only until then).
func (e *env) destroyAll() {
	for _, n := range e.names {
		if st, err := e.layout().ReadStatus(n); err == nil {
			e.run("", "destroy", n)
			waitGone(st.ControllerPID)
		}
	}
	reapAll()
}

func (e *env) checkNoNetLeaks(n testNet) {
	e.t.Helper()
	if linkExists(n.bridge) {
		e.t.Errorf("leaked bridge %s", n.bridge)
	}
	if m, _ := filepath.Glob(filepath.Join(e.root, "run", ".networks", "*.leases")); len(m) > 0 {
		data, _ := os.ReadFile(m[0])
		e.t.Errorf("leaked leases %v: %s", m, data)
	}
	if r := natChain(e.t, n.bridge); r != nil {
		e.t.Errorf("leaked nft chain for %s: %+v", n.bridge, r)
	}
}

// natChain reads lxctl's nftables table through netlink (no nft binary)
// and returns the chain of bridge br, nil when there is none.
func natChain(t *testing.T, br string) *network.NATRule {
	t.Helper()
	rules, err := network.ListNAT()
	if err != nil {
		t.Fatalf("read nftables: %v", err)
	}
	for _, r := range rules {
		if r.Chain == network.NATChain(br) {
			return &r
		}
	}
	return nil
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// vethsOf lists host links marked as the domain's veths.
func vethsOf(uuid string) []string {
	out, _ := exec.Command("ip", "-o", "-d", "link", "show", "type", "veth").Output()
	var found []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "lxctl/"+uuid) {
			// "vnet0@if123:" names vnet0 (and its peer's index).
			found = append(found, strings.SplitN(strings.TrimSuffix(strings.Fields(l)[1], ":"), "@", 2)[0])
		}
	}
	return found
}

// hostListener serves TCP on addr (a test bridge's address) and says who
// it is, for containers to reach the bridge.
func hostListener(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "hello from the bridge")
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func (e *env) uuid(name string) string {
	e.t.Helper()
	return e.status(name).UUID
}

var ifaceLine = regexp.MustCompile(`(?m)^iface (\S+) (\S*) (\d+) (up|down) ?(.*)$`)

// ifaces parses the guest's "ifaces" output: name → "mac mtu state addrs".
func ifaces(console string) map[string]string {
	m := map[string]string{}
	for _, s := range ifaceLine.FindAllStringSubmatch(console, -1) {
		m[s[1]] = strings.Join(s[2:], " ")
	}
	return m
}

func TestNetworkTwoContainers(t *testing.T) {
	e := newEnv(t)
	n := e.network("", 10, 200)
	host := hostListener(t, n.addr(1))
	a, b := e.name("neta"), e.name("netb")
	// a: an address from the range; b: a static one.
	e.define(e.guestDomain(a, "", fmt.Sprintf(`<interface type='network'><source network='%s'/></interface>`, n.name),
		"ifaces", "listen", "7000", "print", "ready", "sleep"))
	e.define(e.guestDomain(b, "", fmt.Sprintf(`<interface type='network'><source network='%s'/><ip address='%s' prefix='24'/></interface>`, n.name, n.addr(250)),
		"ifaces", "sleep"))
	e.ok("start", a)
	e.waitConsole(a, "ready")
	ifs := ifaces(e.consoleLog(a))
	if len(ifs) != 2 || !strings.Contains(ifs["lo"], "up") || !strings.Contains(ifs["eth0"], " up "+n.addr(10)+"/24") {
		t.Fatalf("container a should see lo and eth0 up with %s/24:\n%s", n.addr(10), e.consoleLog(a))
	}
	xml := e.ok("dumpxml", a)
	for _, want := range []string{"<target dev='vnet", "<guest dev='eth0'/>", "<mac address='52:54:00:"} {
		if !strings.Contains(xml, want) {
			t.Errorf("live XML lacks %s:\n%s", want, xml)
		}
	}
	if vs := vethsOf(e.uuid(a)); len(vs) != 1 {
		t.Errorf("want one veth of %s on the host, got %v", a, vs)
	}
	e.ok("start", b)
	e.waitConsole(b, "ifaces done")
	if ifs := ifaces(e.consoleLog(b)); !strings.Contains(ifs["eth0"], n.addr(250)+"/24") {
		t.Fatalf("container b should have %s:\n%s", n.addr(250), e.consoleLog(b))
	}
	// Reach the other container and the bridge from inside b, with
	// lxctl's own exec-less guest: a fresh container c does the connects.
	c := e.name("netc")
	e.define(e.guestDomain(c, "", fmt.Sprintf(`<interface type='network'><source network='%s'/></interface>`, n.name),
		"connect", n.addr(10)+":7000", "connect", host, "print", "connects done", "sleep"))
	e.ok("start", c)
	e.waitConsole(c, "connects done")
	log := e.consoleLog(c)
	if !strings.Contains(log, "connected "+n.addr(10)+":7000: hello from "+a) || !strings.Contains(log, "connected "+host+": hello from the bridge") {
		t.Fatalf("container c should reach container a and the bridge:\n%s", log)
	}
	// c got the next free address after a's.
	if !strings.Contains(e.ok("dumpxml", c), "<guest dev='eth0'/>") {
		t.Error("live XML of c lacks the guest name")
	}
	leases, _ := os.ReadFile(filepath.Join(e.root, "run", ".networks", n.name+".leases"))
	if !strings.Contains(string(leases), n.addr(11)) || strings.Contains(string(leases), n.addr(250)) {
		t.Errorf("leases should hold a's and c's addresses, not b's static one:\n%s", leases)
	}
	for _, d := range []string{a, b, c} {
		u := e.uuid(d)
		e.ok("destroy", d)
		if vs := vethsOf(u); len(vs) > 0 {
			t.Errorf("destroy %s left veths %v", d, vs)
		}
	}
}

// makeBridge creates a bridge with an address for a test, removed at cleanup.
func makeBridge(t *testing.T) testNet {
	t.Helper()
	n := testNet{bridge: "lxt" + randHex(4), octet: freeOctet(t)}
	for _, args := range [][]string{
		{"link", "add", n.bridge, "type", "bridge"},
		{"addr", "add", n.addr(1) + "/24", "dev", n.bridge},
		{"link", "set", n.bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			exec.Command("ip", "link", "del", n.bridge).Run()
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", n.bridge).Run() })
	return n
}

func TestInterfaceBridgeType(t *testing.T) {
	br := makeBridge(t)
	e := newEnv(t)
	host := hostListener(t, br.addr(1))
	name := e.name("netbr")
	target := "lxv" + randHex(4)
	e.define(e.guestDomain(name, "", fmt.Sprintf(`<interface type='bridge'>
      <mac address='52:54:00:12:34:56'/>
      <source bridge='%s'/>
      <ip address='%s' prefix='24'/>
      <route address='10.213.0.0' prefix='16' gateway='%s'/>
      <target dev='%s'/>
      <guest dev='lan0'/>
      <mtu size='1400'/>
    </interface>
    <interface type='ethernet'><link state='down'/></interface>`, br.bridge, br.addr(2), br.addr(1), target),
		"ifaces", "connect", host, "print", "done", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "done")
	log := e.consoleLog(name)
	ifs := ifaces(log)
	if got := ifs["lan0"]; !strings.HasPrefix(got, "52:54:00:12:34:56 1400 up "+br.addr(2)+"/24") {
		t.Errorf("lan0: got %q\n%s", got, log)
	}
	if got := ifs["eth0"]; !strings.Contains(got, " down") {
		t.Errorf("the ethernet interface with <link state='down'/> should be eth0 and down: %q\n%s", got, log)
	}
	if !strings.Contains(log, "connected "+host+": hello from the bridge") {
		t.Errorf("container should reach the bridge:\n%s", log)
	}
	out, _ := exec.Command("ip", "-o", "link", "show", target).Output()
	if !strings.Contains(string(out), "master "+br.bridge) || !strings.Contains(string(out), "mtu 1400") {
		t.Errorf("host end %s should be on %s with mtu 1400: %s", target, br.bridge, out)
	}
	u := e.uuid(name)
	e.ok("destroy", name)
	if vs := vethsOf(u); len(vs) > 0 || linkExists(target) {
		t.Errorf("destroy left veths %v", vs)
	}
}

func TestInterfaceEthernetHostIP(t *testing.T) {
	e := newEnv(t)
	o := freeOctet(t)
	name := e.name("neteth")
	e.define(e.guestDomain(name, "", fmt.Sprintf(`<interface type='ethernet'>
      <source><ip address='10.213.%d.1' prefix='24'/></source>
      <ip address='10.213.%[1]d.2' prefix='24'/>
    </interface>`, o), "listen", "7001", "print", "ready", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "ready")
	// The host end has the <source><ip>: the host reaches the container.
	c, err := net.DialTimeout("tcp", fmt.Sprintf("10.213.%d.2:7001", o), 5*time.Second)
	if err != nil {
		t.Fatalf("host cannot reach the container over the ethernet veth: %v", err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.Contains(line, "hello from "+name) {
		t.Errorf("got %q", line)
	}
	e.ok("destroy", name)
	if addrs, _ := net.InterfaceAddrs(); strings.Contains(fmt.Sprint(addrs), fmt.Sprintf("10.213.%d.", o)) {
		t.Errorf("destroy left the host address: %v", addrs)
	}
}

func TestNetworkPrivnetAndHostNet(t *testing.T) {
	e := newEnv(t)
	priv, hostNet := e.name("netpriv"), e.name("nethost")
	e.define(e.guestDomain(priv, "<features><privnet/></features>", "", "ifaces", "sleep"))
	e.define(e.guestDomain(hostNet, "", "", "ifaces", "sleep"))
	e.ok("start", priv)
	e.ok("start", hostNet)
	e.waitConsole(priv, "ifaces done")
	e.waitConsole(hostNet, "ifaces done")
	if ifs := ifaces(e.consoleLog(priv)); len(ifs) != 1 || !strings.Contains(ifs["lo"], "up") {
		t.Errorf("a privnet container should see only lo, up:\n%s", e.consoleLog(priv))
	}
	// Other tests come and go with their links; the host's own (lo and
	// the first physical-looking one) must be there.
	hostIfs, _ := net.Interfaces()
	got := ifaces(e.consoleLog(hostNet))
	if len(got) < 2 {
		t.Errorf("a host-network container should see the host's links:\n%s", e.consoleLog(hostNet))
	}
	for _, i := range hostIfs[:min(2, len(hostIfs))] {
		if _, ok := got[i.Name]; !ok {
			t.Errorf("a host-network container should see the host's %s:\n%s", i.Name, e.consoleLog(hostNet))
		}
	}
}

func TestNetworkStartErrors(t *testing.T) {
	e := newEnv(t)
	name := e.name("neterr")
	define := func(dev string) {
		e.define(e.guestDomain(name, "", dev, "sleep"))
	}
	define(`<interface type='network'><source network='nosuch'/></interface>`)
	if msg := e.fails("start", name); !strings.Contains(msg, "network 'nosuch' is not defined") || !strings.Contains(msg, "net-define") {
		t.Errorf("undefined network: %s", msg)
	}
	n := e.network("", 10, 200)
	e.ok("net-destroy", n.name)
	define(fmt.Sprintf(`<interface type='network'><source network='%s'/></interface>`, n.name))
	if msg := e.fails("start", name); !strings.Contains(msg, fmt.Sprintf("network '%s' is not active (start it with lxctl net-start %s)", n.name, n.name)) {
		t.Errorf("inactive network: %s", msg)
	}
	define(`<interface type='bridge'><source bridge='lxtnosuch0'/></interface>`)
	if msg := e.fails("start", name); !strings.Contains(msg, "bridge 'lxtnosuch0' does not exist") {
		t.Errorf("missing bridge: %s", msg)
	}
	if _, err := e.layout().ReadStatus(name); err == nil {
		t.Error("a failed start left a status record")
	}
}

func TestNetworkRangeExhausted(t *testing.T) {
	e := newEnv(t)
	n := e.network("", 10, 10)
	a, b := e.name("netx1"), e.name("netx2")
	dev := fmt.Sprintf(`<interface type='network'><source network='%s'/></interface>`, n.name)
	e.define(e.guestDomain(a, "", dev, "sleep"))
	e.define(e.guestDomain(b, "", dev, "sleep"))
	e.ok("start", a)
	msg := e.fails("start", b)
	if !strings.Contains(msg, "no free address left") {
		t.Errorf("exhausted range: %s", msg)
	}
	// Nothing of b is left, and a still holds its lease.
	out, _ := exec.Command("ip", "-o", "link", "show", "master", n.bridge).Output()
	if c := strings.Count(string(out), "\n"); c != 1 {
		t.Errorf("want only a's veth on the bridge:\n%s", out)
	}
	e.ok("destroy", a)
	e.ok("start", b) // the address is free again
}

func TestNetworkCycles(t *testing.T) {
	e := newEnv(t)
	n := e.network("", 10, 200)
	name := e.name("netcyc")
	e.define(e.guestDomain(name, "", fmt.Sprintf(`<interface type='network'><source network='%s'/></interface>
    <interface type='network'><source network='%[1]s'/><ip address='%s' prefix='24'/></interface>`, n.name, n.addr(240)), "sleep"))
	cycles := 30
	if testing.Short() {
		cycles = 5
	}
	for i := 0; i < cycles; i++ {
		e.ok("start", name)
		u := e.uuid(name)
		if vs := vethsOf(u); len(vs) != 2 {
			t.Fatalf("cycle %d: want 2 veths, got %v", i, vs)
		}
		e.ok("destroy", name)
		if vs := vethsOf(u); len(vs) > 0 {
			t.Fatalf("cycle %d: destroy left veths %v", i, vs)
		}
	}
	if out, _ := exec.Command("ip", "-o", "link", "show", "master", n.bridge).Output(); len(out) > 0 {
		t.Errorf("veths left on the bridge:\n%s", out)
	}
	if m, _ := filepath.Glob(filepath.Join(e.root, "run", ".networks", "*.leases")); len(m) > 0 {
		t.Errorf("leases left: %v", m)
	}
}

func TestNetworkControllerKilled(t *testing.T) {
	e := newEnv(t)
	n := e.network("", 10, 200)
	name := e.name("netkill")
	e.define(e.guestDomain(name, "", fmt.Sprintf(`<interface type='network'><source network='%s'/></interface>`, n.name), "sleep"))
	e.ok("start", name)
	st := e.status(name)
	if len(st.Veths) != 1 {
		t.Fatalf("status should record the veth: %+v", st.Veths)
	}
	if err := unix.Kill(st.ControllerPID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(st.ControllerPID)
	reapAll()
	r := e.run("", "destroy", name)
	if r.code != 0 && !strings.Contains(r.stderr, "not running") {
		t.Fatalf("destroy after kill -9: %s", r.stderr)
	}
	if vs := vethsOf(st.UUID); len(vs) > 0 {
		t.Errorf("veths left after kill -9 and destroy: %v", vs)
	}
	if m, _ := filepath.Glob(filepath.Join(e.root, "run", ".networks", "*.leases")); len(m) > 0 {
		t.Errorf("leases left: %v", m)
	}
}

func TestNetworkNAT(t *testing.T) {
	fwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	t.Cleanup(func() { _ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", fwd, 0o644) })
	e := newEnv(t)
	n := e.network("<forward mode='nat'/>", 10, 200)
	r := natChain(t, n.bridge)
	if r == nil || r.Subnet.String() != fmt.Sprintf("10.213.%d.0/24", n.octet) || !r.Masquerade || !strings.HasPrefix(r.Comment, "lxctl network "+n.name+" ") {
		t.Errorf("nat network should have its masquerade chain: %+v", r)
	}
	e.ok("net-destroy", n.name)
	if r := natChain(t, n.bridge); r != nil {
		t.Errorf("net-destroy left the nft chain: %+v", r)
	}
}

func TestNetworkCommands(t *testing.T) {
	e := newEnv(t)
	f := filepath.Join(e.root, "n.xml")
	xml := `<network><name>cmdnet</name><bridge name='lxtcmd0'/><ip address='10.213.1.1' prefix='24'/></network>`
	if err := os.WriteFile(f, []byte(xml), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := e.ok("net-define", f); out != "Network cmdnet defined from "+f+"\n" {
		t.Errorf("net-define: %q", out)
	}
	dump := e.ok("net-dumpxml", "cmdnet")
	if !strings.Contains(dump, "<uuid>") || !strings.Contains(dump, "netmask='255.255.255.0'") {
		t.Errorf("net-dumpxml: %s", dump)
	}
	// Redefining keeps the uuid; dumpxml output defines the same network.
	_ = os.WriteFile(f, []byte(dump), 0o600)
	e.ok("net-define", f)
	if again := e.ok("net-dumpxml", "cmdnet"); again != dump {
		t.Errorf("redefine changed the network:\n%s\n%s", dump, again)
	}
	if out := e.ok("net-list"); strings.Contains(out, "cmdnet") {
		t.Errorf("net-list shows an inactive network without --all:\n%s", out)
	}
	e.ok("net-autostart", "cmdnet")
	if out := e.ok("net-list", "--all"); !strings.Contains(out, " cmdnet   inactive   yes         yes") {
		t.Errorf("net-list --all:\n%s", out)
	}
	e.ok("net-autostart", "--disable", "cmdnet")
	e.ok("net-undefine", "cmdnet")
	if msg := e.fails("net-start", "cmdnet"); !strings.Contains(msg, "not defined") {
		t.Errorf("net-start of an undefined network: %s", msg)
	}
	_ = os.WriteFile(f, []byte(`<network><name>bad</name><bridge name='lxtbad0'/><ip address='10.213.1.1' netmask='255.0.255.0'/></network>`), 0o600)
	if msg := e.fails("net-define", f); !strings.Contains(msg, "netmask") {
		t.Errorf("bad netmask: %s", msg)
	}
}
