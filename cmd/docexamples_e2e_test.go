package cmd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDocExamples runs the two examples of libvirt's LXC driver
// documentation as shipped in testdata/domains, on a fresh root with no
// net-* command first: the first start defines and starts the built-in
// network 'default' (and says so on stderr), the second uses it. Only
// what must be unique on a shared host changes: the names (cgroups are
// host-wide) and vm2's root directory. Each is its own pid 1 with the
// domain's hostname, gets an address on the default network from inside
// its own network namespace, reaches the bridge, and destroy leaves
// nothing. The default network is this root's: another root running at
// the same time (another test, another worktree) gets a bridge and subnet
// of its own.
func TestDocExamples(t *testing.T) {
	e := newEnv(t)
	defaultNetCleanup(e)
	var names []string
	for _, doc := range []string{"vm1", "vm2"} {
		name := e.name(doc)
		names = append(names, name)
		data, err := os.ReadFile(filepath.Join("..", "testdata", "domains", doc+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		xml := strings.Replace(string(data), "<name>"+doc+"</name>", "<name>"+name+"</name>", 1)
		if doc == "vm2" {
			root := filepath.Join(e.root, "vm2-root")
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			guest, _ := os.ReadFile(guestBin)
			if err := os.WriteFile(filepath.Join(root, "init"), guest, 0o755); err != nil {
				t.Fatal(err)
			}
			xml = strings.Replace(xml, "<source dir='/opt/vm-1-root'/>", "<source dir='"+root+"'/>", 1)
		}
		e.define(xml)
	}
	r := e.run("", "start", names[0])
	if r.code != 0 {
		t.Fatalf("start %s on a fresh root: %s", names[0], r.stderr)
	}
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "built-in network 'default'") {
		t.Errorf("the first start should say, in one line, that it made network 'default': %q", r.stderr)
	}
	if r := e.run("", "start", names[1]); r.code != 0 || r.stderr != "" {
		t.Fatalf("start %s: exit %d %q", names[1], r.code, r.stderr)
	}
	dump := e.ok("net-dumpxml", "default")
	m := regexp.MustCompile(`<bridge name='(lxctlbr\d+)'[\s\S]*<ip address='(192\.168\.\d+)\.1'`).FindStringSubmatch(dump)
	if m == nil {
		t.Fatalf("net-dumpxml default:\n%s", dump)
	}
	bridge, prefix := m[1], m[2]
	if out := e.ok("net-list"); !regexp.MustCompile(`default\s+active\s+yes\s+yes`).MatchString(out) {
		t.Errorf("net-list:\n%s", out)
	}
	if r := natChain(t, bridge); r == nil || r.Subnet.String() != prefix+".0/24" {
		t.Errorf("default's NAT chain: %+v", r)
	}
	addr := hostListener(t, prefix+".1")
	for _, name := range names {
		st := e.status(name)
		if h := hostnameOf(t, st.InitPID); h != name {
			t.Errorf("hostname %q, want %q", h, name)
		}
		if nsOf(t, st.InitPID, "pid") == nsOf(t, os.Getpid(), "pid") || nsOf(t, st.InitPID, "net") == nsOf(t, os.Getpid(), "net") {
			t.Errorf("%s shares the host's pid or network namespace", name)
		}
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(st.InitPID), "-n", "ip", "-4", "-o", "addr", "show", "dev", "eth0").Output()
		if err != nil || !strings.Contains(string(out), "inet "+prefix+".") {
			t.Errorf("eth0 in %s: %q %v", name, out, err)
		}
		if out, _ := exec.Command("ip", "-o", "link", "show", st.Veths[0]).Output(); !strings.Contains(string(out), "master "+bridge) {
			t.Errorf("%s's veth should be on %s: %s", name, bridge, out)
		}
		reply, err := exec.Command("nsenter", "-t", strconv.Itoa(st.InitPID), "-n", guestBin, "connect", addr).CombinedOutput()
		if err != nil || !strings.Contains(string(reply), "hello from the bridge") {
			t.Errorf("connect to the bridge from %s: %q %v", name, reply, err)
		}
	}
	for _, name := range names {
		st := e.status(name)
		e.ok("destroy", name)
		if alive(st.InitPID) {
			t.Errorf("init survived destroy")
		}
		if vs := vethsOf(st.UUID); len(vs) > 0 {
			t.Errorf("destroy left veths %v", vs)
		}
	}
}

// defaultNetCleanup removes, at the end of the test, the network
// 'default' a domain start made in e's root, and checks nothing of it is
// left: bridge, chain, leases. ip_forward is put back as it was.
func defaultNetCleanup(e *env) {
	fwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	e.t.Cleanup(func() {
		_ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", fwd, 0o644)
		dump := e.run("", "net-dumpxml", "default").stdout
		e.destroyAll()
		r := e.run("", "net-destroy", "default")
		if r.code != 0 && !strings.Contains(r.stderr, "not active") && !strings.Contains(r.stderr, "not defined") {
			e.t.Errorf("cleanup: net-destroy default: %s", r.stderr)
		}
		if m := regexp.MustCompile(`<bridge name='([^']+)'`).FindStringSubmatch(dump); m != nil {
			e.checkNoNetLeaks(testNet{name: "default", bridge: m[1]})
		}
	})
}
