package cmd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What a boot unit does: autostart-all starts the autostart network, then
// the autostart domains (two of which cannot start), reports each failure
// without stopping the others and exits 1; at host shutdown shutdown-all
// stops every running domain, destroying the one that ignores SIGTERM once
// the timeout has passed.
func TestAutostartAllAndShutdownAll(t *testing.T) {
	e := newEnv(t)
	n := e.network("", 10, 200)
	// An autostart network that is not active: autostart-all starts it.
	e.ok("net-destroy", n.name)
	e.ok("net-autostart", n.name)

	onNet, stubborn, noNet, badInit, manual := e.name("auto-net"), e.name("auto-term"), e.name("auto-nonet"), e.name("auto-badinit"), e.name("manual")
	iface := func(net string) string {
		return fmt.Sprintf(`<interface type='network'><source network='%s'/></interface>`, net)
	}
	e.define(e.guestDomain(onNet, "", iface(n.name), "ifaces", "print", "up", "sleep"))
	e.define(e.guestDomain(stubborn, "", "", "ignoreterm", "print", "up", "sleep"))
	e.define(e.guestDomain(noNet, "", iface("missing-"+randHex(3)), "sleep"))
	e.define(strings.Replace(e.guestDomain(badInit, "", ""), "<init>/guest</init>", "<init>/no/such/init</init>", 1))
	e.define(e.guestDomain(manual, "", "", "sleep"))

	for _, d := range []string{onNet, stubborn, noNet, badInit} {
		if out := e.ok("autostart", d); out != fmt.Sprintf("Domain '%s' marked as autostarted\n", d) {
			t.Fatalf("autostart %s printed %q", d, out)
		}
	}
	if !strings.Contains(e.ok("dominfo", onNet), "Autostart:      enable\n") ||
		!strings.Contains(e.ok("dominfo", manual), "Autostart:      disable\n") {
		t.Fatalf("dominfo should show the autostart mark:\n%s", e.ok("dominfo", onNet))
	}
	names := func(args ...string) []string {
		return strings.Fields(e.ok(append([]string{"list", "--name"}, args...)...))
	}
	if got := names("--all", "--autostart"); len(got) != 4 || strings.Contains(strings.Join(got, " "), manual) {
		t.Fatalf("list --all --autostart: %v", got)
	}
	if got := names("--all", "--no-autostart"); len(got) != 1 || got[0] != manual {
		t.Fatalf("list --all --no-autostart: %v", got)
	}
	// Bad input changes nothing and says what is wrong.
	if msg := e.fails("autostart", "no-such-"+randHex(3)); !strings.Contains(msg, "Failed to mark domain") || !strings.Contains(msg, "no domain with that name") {
		t.Errorf("autostart of an unknown domain: %s", msg)
	}
	if msg := e.fails("autostart", "../../etc"); !strings.Contains(msg, "Failed to mark domain") {
		t.Errorf("autostart of a bad name: %s", msg)
	}

	start := time.Now()
	r := e.run("", "autostart-all")
	t.Logf("autostart-all took %s:\n%s%s", time.Since(start), r.stdout, r.stderr)
	if r.code != 1 {
		t.Fatalf("autostart-all with two domains that cannot start: want exit 1, got %d", r.code)
	}
	for _, want := range []string{"Network " + n.name + " started\n", "Domain '" + onNet + "' started\n", "Domain '" + stubborn + "' started\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("autostart-all stdout lacks %q", want)
		}
	}
	for _, want := range []string{
		"error: Failed to autostart domain '" + noNet + "'\n",
		"error: Failed to autostart domain '" + badInit + "'\n",
		"error: 2 of 5 autostart networks and domains failed to start (see above)\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("autostart-all stderr lacks %q", want)
		}
	}
	state := func(d string) string { return strings.TrimSpace(e.ok("domstate", d)) }
	for d, want := range map[string]string{onNet: "running", stubborn: "running", noNet: "shut off", badInit: "shut off", manual: "shut off"} {
		if got := state(d); got != want {
			t.Errorf("after autostart-all %s is %q, want %q", d, got, want)
		}
	}
	e.waitConsole(onNet, "up")
	e.waitConsole(stubborn, "up")
	if !strings.Contains(e.consoleLog(onNet), " up "+n.addr(10)+"/24") {
		t.Errorf("%s should have an address on the autostarted network:\n%s", onNet, e.consoleLog(onNet))
	}

	// Again, as a restarted unit would: what runs is left alone.
	r = e.run("", "autostart-all")
	if r.code != 1 || !strings.Contains(r.stdout, "Network "+n.name+" is already active\n") ||
		!strings.Contains(r.stdout, "Domain '"+onNet+"' is already running\n") {
		t.Errorf("second autostart-all: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	e.fails("shutdown-all", "--timeout", "0")
	e.fails("shutdown-all", "--timeout", "soon")
	ids := map[string]int{onNet: e.status(onNet).ControllerPID, stubborn: e.status(stubborn).ControllerPID}
	start = time.Now()
	r = e.run("", "shutdown-all", "--timeout", "3")
	took := time.Since(start)
	t.Logf("shutdown-all took %s:\n%s%s", took, r.stdout, r.stderr)
	if r.code != 0 {
		t.Fatalf("shutdown-all: exit %d", r.code)
	}
	for _, want := range []string{
		"Domain '" + onNet + "' is being shutdown\n", "Domain '" + onNet + "' is shut off\n",
		"Domain '" + stubborn + "' is being shutdown\n", "Domain '" + stubborn + "' destroyed: it did not shut down within 3s\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("shutdown-all stdout lacks %q", want)
		}
	}
	if took < 3*time.Second || took > 30*time.Second {
		t.Errorf("shutdown-all took %s; the one that ignores SIGTERM should be destroyed after 3s", took)
	}
	for d, pid := range ids {
		if alive(pid) {
			t.Errorf("the controller of %s (pid %d) is still alive", d, pid)
		}
	}
	if out := e.ok("list", "--name"); strings.TrimSpace(out) != "" {
		t.Errorf("domains still running after shutdown-all: %s", out)
	}
	// Nothing running: nothing to do, and that is not an error.
	if out := e.ok("shutdown-all"); strings.TrimSpace(out) != "" {
		t.Errorf("shutdown-all with nothing running printed %q", out)
	}

	// The mark goes away with --disable and with undefine.
	if out := e.ok("autostart", "--disable", badInit); out != "Domain '"+badInit+"' unmarked as autostarted\n" {
		t.Errorf("autostart --disable printed %q", out)
	}
	e.ok("undefine", noNet)
	if _, err := os.Stat(filepath.Join(e.root, "domains", noNet+".autostart")); !os.IsNotExist(err) {
		t.Errorf("undefine left the autostart flag: %v", err)
	}
	if got := names("--all", "--autostart"); len(got) != 2 {
		t.Errorf("list --all --autostart after --disable and undefine: %v", got)
	}
}
