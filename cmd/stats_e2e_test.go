package cmd_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// domstats runs lxctl domstats --json for one domain and returns its stats.
func (e *env) domstats(name string, flags ...string) map[string]any {
	e.t.Helper()
	var out []struct {
		Name  string         `json:"name"`
		Stats map[string]any `json:"stats"`
	}
	raw := e.ok(append(append([]string{"domstats", "--json"}, flags...), name)...)
	if err := json.Unmarshal([]byte(raw), &out); err != nil || len(out) != 1 || out[0].Name != name {
		e.t.Fatalf("domstats --json %s: %v\n%s", name, err, raw)
	}
	return out[0].Stats
}

func num(t *testing.T, stats map[string]any, key string) float64 {
	t.Helper()
	v, ok := stats[key].(float64)
	if !ok {
		t.Fatalf("domstats has no number %s: %v", key, stats)
	}
	return v
}

// TestStats checks that the statistics commands report what the container
// does: CPU time after it burns CPU, memory after it allocates, packets
// after it talks to the bridge, and the address it really has.
func TestStats(t *testing.T) {
	e := newEnv(t)
	n := e.network("", 10, 200)
	host := hostListener(t, n.addr(1))
	name, idle := e.name("stats"), e.name("statsoff")
	goFile := "/tmp/go-" + name
	e.define(e.guestDomain(name, "", fmt.Sprintf(`<interface type='network'><source network='%s'/></interface>`, n.name),
		"print", "ready", "wait", goFile, "burn", "2", "alloc", "64", "connect", host, "print", "done", "sleep"))
	e.define(minimalXML(idle, ""))
	e.ok("start", name)
	e.waitConsole(name, "ready")

	before := e.domstats(name)
	if num(t, before, "state.state") != 1 || num(t, before, "state.reason") != 1 {
		t.Errorf("running domain: state %v reason %v, want 1 1 (running, booted)", before["state.state"], before["state.reason"])
	}
	if num(t, before, "cpu.time") >= 1e9 {
		t.Errorf("cpu.time %v before the container burned any CPU", before["cpu.time"])
	}
	if num(t, before, "balloon.maximum") != 256*1024 || num(t, before, "balloon.current") != 256*1024 {
		t.Errorf("balloon: %v", before)
	}
	if num(t, before, "net.count") != 1 || !strings.HasPrefix(before["net.0.name"].(string), "vnet") {
		t.Errorf("net: %v", before)
	}
	if err := os.WriteFile(filepath.Join(e.privateRoot(), goFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitConsole(name, "done")
	after := e.domstats(name)
	if c := num(t, after, "cpu.time"); c < 2e9 {
		t.Errorf("cpu.time %v after burning 2 s of CPU", c)
	}
	if u, s := num(t, after, "cpu.user"), num(t, after, "cpu.system"); u+s < 1.5e9 || u < s {
		t.Errorf("cpu.user %v cpu.system %v after burning 2 s in user space", u, s)
	}
	// The kernel flushes memory.stat's counters lazily (rstat, rate
	// limited), so a read just after the allocation may lag: wait, bounded,
	// for it to show; the page counter (usage) is exact at once.
	if num(t, before, "balloon.rss") >= 64*1024 {
		t.Errorf("balloon.rss %v before a 64 MiB allocation", before["balloon.rss"])
	}
	e.waitFor("balloon.rss to show the 64 MiB allocation", func() bool {
		return num(t, e.domstats(name, "--balloon"), "balloon.rss") >= 64*1024
	})
	for _, k := range []string{"net.0.tx.pkts", "net.0.rx.pkts", "net.0.tx.bytes", "net.0.rx.bytes"} {
		if num(t, after, k) <= num(t, before, k) {
			t.Errorf("%s did not move after a TCP exchange: %v -> %v", k, before[k], after[k])
		}
	}
	vnet := after["net.0.name"].(string)

	// The text form is virsh's.
	out := e.ok("domstats", "--cpu-total", name)
	if !regexp.MustCompile(`^Domain: '` + name + `'\n  cpu.time=\d+\n  cpu.user=\d+\n  cpu.system=\d+\n\n$`).MatchString(out) {
		t.Errorf("domstats --cpu-total:\n%s", out)
	}
	out = e.ok("domstats", "--state", "--list-inactive", name, idle)
	if out != fmt.Sprintf("Domain: '%s'\n  state.state=5\n  state.reason=0\n\n", idle) {
		t.Errorf("domstats --state --list-inactive:\n%s", out)
	}

	out = e.ok("dommemstat", name)
	m := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 {
			m[f[0]], _ = strconv.Atoi(f[1])
		}
	}
	if m["actual"] != 256*1024 || m["rss"] < 64*1024 || m["usage"] < 64*1024 {
		t.Errorf("dommemstat:\n%s", out)
	}

	out = e.ok("cpu-stats", name)
	if !strings.Contains(out, "CPU0:\n\tcpu_time ") || !regexp.MustCompile(`Total:\n\tcpu_time +[2-9]\.\d{9} seconds\n\tuser_time +\d+\.\d{9} seconds\n\tsystem_time +\d+\.\d{9} seconds\n$`).MatchString(out) {
		t.Errorf("cpu-stats:\n%s", out)
	}
	if out = e.ok("cpu-stats", "--total", name); strings.Contains(out, "CPU0") || !strings.HasPrefix(out, "Total:") {
		t.Errorf("cpu-stats --total:\n%s", out)
	}

	st := e.status(name)
	mac := regexp.MustCompile(`<mac address='([0-9a-f:]+)'/>`).FindStringSubmatch(e.ok("dumpxml", name))[1]
	out = e.ok("domiflist", name)
	if !regexp.MustCompile(`(?m)^ ` + vnet + ` +network +` + n.name + ` +- +` + mac + `$`).MatchString(out) {
		t.Errorf("domiflist:\n%s", out)
	}
	out = e.ok("domifstat", name, vnet)
	if !regexp.MustCompile(`^`+vnet+` rx_bytes [1-9]\d*\n`+vnet+` rx_packets [1-9]\d*\n`).MatchString(out) || !strings.Contains(out, vnet+" tx_drop ") {
		t.Errorf("domifstat:\n%s", out)
	}
	if out2 := e.ok("domifstat", name, strings.ToUpper(mac)); !strings.HasPrefix(out2, vnet+" rx_bytes") {
		t.Errorf("domifstat by MAC:\n%s", out2)
	}
	out = e.ok("domifaddr", name)
	if !regexp.MustCompile(`(?m)^ eth0 +`+mac+` +ipv4 +`+regexp.QuoteMeta(n.addr(10))+`/24$`).MatchString(out) || strings.Contains(out, "127.0.0.1") {
		t.Errorf("domifaddr (init %d):\n%s", st.InitPID, out)
	}
	if out = e.ok("domifaddr", "--full", name); !strings.Contains(out, "127.0.0.1/8") {
		t.Errorf("domifaddr --full lacks loopback:\n%s", out)
	}
	out = e.ok("net-dhcp-leases", n.name)
	if !regexp.MustCompile(`(?m)^ - +` + mac + ` +ipv4 +` + regexp.QuoteMeta(n.addr(10)) + `/24 +` + name + ` +-$`).MatchString(out) {
		t.Errorf("net-dhcp-leases:\n%s", out)
	}

	// Bad input: clear errors, exit 1.
	for _, args := range [][]string{{"dommemstat", idle}, {"cpu-stats", idle}, {"domifaddr", idle}} {
		if r := e.run("", args...); r.code != 1 || !strings.Contains(r.stderr, "is not running") {
			t.Errorf("%v on a shut off domain: exit %d %q", args, r.code, r.stderr)
		}
	}
	if r := e.run("", "domifstat", name, "vnet-nope"); r.code != 1 || !strings.Contains(r.stderr, `no interface "vnet-nope"`) || !strings.Contains(r.stderr, vnet) {
		t.Errorf("domifstat of an unknown interface: exit %d %q", r.code, r.stderr)
	}
	if r := e.run("", "domstats", "no-such-"+name); r.code != 1 || !strings.Contains(r.stderr, "no domain") {
		t.Errorf("domstats of an unknown domain: exit %d %q", r.code, r.stderr)
	}
	if r := e.run("", "net-dhcp-leases", "../etc"); r.code != 1 {
		t.Errorf("net-dhcp-leases with a path for a name: exit %d", r.code)
	}
}
