package cmd_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// TestXMLSizeLimit: define, create and net-define refuse a document over
// 1 MiB with a message naming the file, its size and the limit, read no
// more of it than that (a 100 MB file used to cost 4.6 GB of memory), and
// change nothing on disk. Stored definitions over the limit are state's
// test (TestStoredXMLSizeLimit).
func TestXMLSizeLimit(t *testing.T) {
	e := newEnv(t)
	name := e.name("big")
	e.define(minimalXML(name, ""))
	before := snapshot(t, e.root)
	huge := filepath.Join(t.TempDir(), "huge.xml")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	// A valid start, then 100 MB of a comment that never ends: sparse, so
	// it costs no disk.
	if _, err := f.WriteString("<domain type='lxc'><name>" + name + "</name><!-- "); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, c := range []struct{ cmd, kind string }{{"define", "domain"}, {"create", "domain"}, {"net-define", "network"}} {
		r, maxRSS := runRusage(t, e, "", c.cmd, huge)
		want := fmt.Sprintf("error: %s XML %s is 104857600 bytes; lxctl accepts at most 1 MiB (a %s definition is a few kB: check that this is the right file)\n", c.kind, huge, c.kind)
		if r.code != 1 || !strings.HasSuffix(r.stderr, want) {
			t.Errorf("%s of 100 MB: exit %d, stderr %q\nwant it to end with %q", c.cmd, r.code, r.stderr, want)
		}
		t.Logf("%s of a 100 MB file: max RSS %d KiB", c.cmd, maxRSS)
		if maxRSS > 64<<10 {
			t.Errorf("%s of a 100 MB file used %d KiB of memory", c.cmd, maxRSS)
		}
	}
	// On stdin the size is unknown: the read stops after 1 MiB.
	r, maxRSS := runRusage(t, e, strings.Repeat(" ", 3<<20), "define", "-")
	if want := "error: domain XML on stdin is more than 1 MiB; lxctl accepts at most 1 MiB (a domain definition is a few kB: check that this is the right file)\n"; r.code != 1 || !strings.HasSuffix(r.stderr, want) {
		t.Errorf("define - of 3 MiB: exit %d, stderr %q", r.code, r.stderr)
	}
	t.Logf("define - of 3 MiB: max RSS %d KiB", maxRSS)
	if after := snapshot(t, e.root); !mapsEqual(before, after) {
		t.Errorf("refused documents changed files under the root")
	}
	// Just under the limit is a definition like any other.
	desc := strings.Repeat("d", 1<<20-2048)
	doc := strings.Replace(minimalXML(name, ""), "<memory>", "<description>"+desc+"</description><memory>", 1)
	e.define(doc)
	if out := e.ok("dumpxml", name); !strings.Contains(out, desc) {
		t.Errorf("a %d-byte definition did not round-trip", len(doc))
	}
}

// runRusage runs lxctl like env.run and also returns its peak memory (KiB).
func runRusage(t *testing.T, e *env, stdin string, args ...string) (result, int64) {
	t.Helper()
	c := exec.Command(lxctlBin, append([]string{"--root", e.root}, args...)...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	err := c.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("lxctl %v: %v", args, err)
	}
	return result{out.String(), errb.String(), c.ProcessState.ExitCode()}, c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

// TestErrorsEscapeInput: names, paths and XML values echoed in errors are
// escaped, so they cannot colour or clear the terminal or forge lines of
// output: each error is exactly its own "error: " lines.
func TestErrorsEscapeInput(t *testing.T) {
	e := newEnv(t)
	evil := "a\x1b[31mred\nerror: forged"
	shown := `a\x1b[31mred\nerror: forged`
	check := func(what, stderr string, lines int, want ...string) {
		t.Helper()
		if strings.ContainsAny(stderr, "\x1b\r\u009b") || strings.Count(stderr, "\n") != lines {
			t.Errorf("%s: stderr is not %d escaped lines: %q", what, lines, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q lacks %q", what, stderr, w)
			}
		}
	}
	check("dominfo", e.fails("dominfo", evil), 1, "failed to get domain '"+shown+"'")
	check("destroy", e.fails("destroy", evil), 2, "Failed to destroy domain '"+shown+"'", "failed to get domain '"+shown+"'")
	check("start", e.fails("start", evil), 2, "Failed to start domain '"+shown+"'")
	check("shutdown --signal", e.fails("shutdown", "--signal", evil, "x"), 2, "unknown signal '"+shown+"'")
	missing := filepath.Join(t.TempDir(), evil+".xml")
	check("define of a missing file", e.fails("define", missing), 2, "open "+filepath.Dir(missing)+"/"+shown+".xml: no such file")
	// XML forbids ESC, but a C1 CSI (U+009B) and a newline are legal text.
	r := e.run("<domain type='lxc'><name>x</name><memory>1\u009b31m\nerror: forged</memory><os><type>exe</type><init>/i</init></os></domain>", "define", "-")
	check("define with a bad value", r.stderr, 2, `size '1\u009b31m\nerror: forged' is not a whole number`)
	r = e.run("<domain type='lxc'><name>x\u009b2J</name><memory>1</memory><os><type>exe</type><init>/i</init></os></domain>", "define", "-")
	check("define with a bad name", r.stderr, 2, `invalid name 'x\u009b2J'`)
	r = e.run("<network><name>n</name><bridge name='b\u009b31m\nx'/></network>", "net-define", "-")
	check("net-define", r.stderr, 2, `bridge name 'b\u009b31m\nx'`)
	if r.code != 1 {
		t.Errorf("net-define: exit %d", r.code)
	}
}

// TestLiveXMLSizeLimit: a running domain's live config over 1 MiB (lxctl
// never writes one) is reported, with its size, without being read whole;
// destroy still works.
func TestLiveXMLSizeLimit(t *testing.T) {
	e := newEnv(t)
	name := e.name("live")
	e.define(e.guestDomain(name, "", ""))
	e.ok("start", name)
	runDir, err := e.layout().RunDir(name)
	if err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(runDir, "live.xml")
	if err := os.Truncate(live, 100<<20); err != nil {
		t.Fatal(err)
	}
	r, maxRSS := runRusage(t, e, "", "dumpxml", name)
	if want := "the live config " + live + " is 104857600 bytes; lxctl accepts at most 1 MiB"; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("dumpxml: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
	t.Logf("dumpxml with a 100 MB live config: max RSS %d KiB", maxRSS)
	if maxRSS > 64<<10 {
		t.Errorf("dumpxml used %d KiB of memory", maxRSS)
	}
	if out := e.ok("dumpxml", "--inactive", name); !strings.Contains(out, "<name>"+name+"</name>") {
		t.Errorf("dumpxml --inactive: %q", out)
	}
	e.ok("destroy", name)
}
