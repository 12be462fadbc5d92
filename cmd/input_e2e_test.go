package cmd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPidsLimitFlag: --pids-limit takes -1 (no limit) or a positive number;
// anything else is refused before anything happens, naming the flag and
// the value.
func TestPidsLimitFlag(t *testing.T) {
	e := newEnv(t)
	name := e.name("pids")
	e.define(e.guestDomain(name, "", ""))
	before := snapshot(t, e.root)
	xml := filepath.Join(t.TempDir(), "create.xml")
	if err := os.WriteFile(xml, []byte(e.guestDomain(e.name("pidsc"), "", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"-5", "0", "-2", "ten", "1.5", "99999999999999999999"} {
		for _, args := range [][]string{
			{"start", "--pids-limit", v, name},
			{"start", "--pids-limit=" + v, name},
			{"create", "--pids-limit", v, xml},
		} {
			msg := e.fails(args...)
			if !strings.Contains(msg, `"--pids-limit"`) || !strings.Contains(msg, `"`+v+`"`) || !strings.Contains(msg, "use -1 for no limit or a positive number") {
				t.Errorf("lxctl %s: %q should name the flag, the value and what to use", strings.Join(args, " "), msg)
			}
		}
	}
	if after := snapshot(t, e.root); !mapsEqual(before, after) {
		t.Errorf("refused starts changed files under the root")
	}
	if st := strings.TrimSpace(e.ok("domstate", name)); st != "shut off" {
		t.Errorf("domain is %q after refused starts", st)
	}
	// -1 is libvirt's behaviour: no limit.
	e.ok("start", "--pids-limit", "-1", name)
	st := e.status(name)
	if pl, err := os.ReadFile(filepath.Join(st.CgroupPaths["pids"], "pids.max")); err != nil || strings.TrimSpace(string(pl)) != "max" {
		t.Errorf("--pids-limit -1: pids.max is %q (%v), want max", pl, err)
	}
	e.ok("destroy", name)
	e.ok("start", "--pids-limit", "77", name)
	st = e.status(name)
	if pl, err := os.ReadFile(filepath.Join(st.CgroupPaths["pids"], "pids.max")); err != nil || strings.TrimSpace(string(pl)) != "77" {
		t.Errorf("--pids-limit 77: pids.max is %q (%v)", pl, err)
	}
	e.ok("destroy", name)
}
