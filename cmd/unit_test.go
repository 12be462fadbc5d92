package cmd

import (
	"os"
	"strings"
	"testing"
	"time"
)

// The boot unit runs lxctl commands that exist, with flags they take, and
// gives ExecStop the time its --timeout needs.
func TestAutostartUnit(t *testing.T) {
	data, err := os.ReadFile("../contrib/systemd/lxctl-autostart.service")
	if err != nil {
		t.Fatal(err)
	}
	var stopTimeout, unitTimeout time.Duration
	seen := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		key, val, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		switch key {
		case "ExecStart", "ExecStop":
			seen[key] = true
			f := strings.Fields(strings.TrimPrefix(val, "-"))
			if f[0] != "@BINDIR@/lxctl" {
				t.Errorf("%s runs %s, not @BINDIR@/lxctl (make install fills it in)", key, f[0])
			}
			root := NewCommand()
			c, args, err := root.Find(f[1:])
			if err != nil || c == root {
				t.Fatalf("%s: no such command: %v", line, err)
			}
			if err := c.ParseFlags(args); err != nil {
				t.Errorf("%s: %v", line, err)
			}
			if key == "ExecStop" {
				if fl := c.Flags().Lookup("timeout"); fl != nil {
					stopTimeout = time.Duration(*fl.Value.(*seconds))
				}
			}
		case "TimeoutStopSec":
			d, err := time.ParseDuration(val + "s")
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			unitTimeout = d
		case "KillMode":
			if val != "process" {
				t.Errorf("KillMode=%s: systemd would kill the controllers (want process)", val)
			}
		}
	}
	if !seen["ExecStart"] || !seen["ExecStop"] {
		t.Fatalf("the unit lacks ExecStart or ExecStop: %v", seen)
	}
	if stopTimeout <= 0 || unitTimeout < stopTimeout+30*time.Second {
		t.Errorf("TimeoutStopSec %s does not cover shutdown-all's --timeout %s and the destroys after it", unitTimeout, stopTimeout)
	}
}
