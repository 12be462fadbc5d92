package cmd_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func minimalXML(name, uuid string) string {
	u := ""
	if uuid != "" {
		u = "<uuid>" + uuid + "</uuid>"
	}
	return fmt.Sprintf(`<domain type='lxc'><name>%s</name>%s<memory>500000</memory>
<os><type>exe</type><init>/bin/sh</init></os><devices><console type='pty'/></devices></domain>`, name, u)
}

// snapshot returns every file under dir with its content, to prove that a
// failed command changed nothing on disk.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "/.locks/") {
			data, _ := os.ReadFile(p)
			m[p] = string(data)
		}
		return nil
	})
	return m
}

func TestDefineAndInspect(t *testing.T) {
	e := newEnv(t)
	name := e.name("def")
	f := filepath.Join(e.root, "v.xml")
	if err := os.WriteFile(f, []byte(minimalXML(name, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := e.ok("define", f); out != fmt.Sprintf("Domain '%s' defined from %s\n", name, f) {
		t.Errorf("define printed %q", out)
	}
	// The stored file is root-only.
	p := filepath.Join(e.root, "domains", name+".xml")
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("definition file %s: %v %v", p, fi.Mode(), err)
	}
	xml := e.ok("dumpxml", name)
	uuid := regexp.MustCompile(`<uuid>([0-9a-f-]{36})</uuid>`).FindStringSubmatch(xml)
	if uuid == nil {
		t.Fatalf("dumpxml has no generated uuid:\n%s", xml)
	}
	for _, want := range []string{"<memory unit='KiB'>500000</memory>", "<currentMemory unit='KiB'>500000</currentMemory>",
		"<vcpu placement='static'>1</vcpu>", "<on_poweroff>destroy</on_poweroff>", "<on_reboot>restart</on_reboot>",
		"<on_crash>destroy</on_crash>", "<clock offset='utc'/>", "<target type='lxc' port='0'/>"} {
		if !strings.Contains(xml, want) {
			t.Errorf("dumpxml lacks %s:\n%s", want, xml)
		}
	}
	// Name and uuid lookups go both ways; a uuid works wherever a name does.
	if got := strings.TrimSpace(e.ok("domuuid", name)); got != uuid[1] {
		t.Errorf("domuuid = %q, want %q", got, uuid[1])
	}
	if got := strings.TrimSpace(e.ok("domname", uuid[1])); got != name {
		t.Errorf("domname = %q", got)
	}
	if got := e.ok("domstate", "--reason", uuid[1]); got != "shut off (unknown)\n\n" {
		t.Errorf("domstate = %q", got)
	}
	info := e.ok("dominfo", name)
	for _, want := range []string{"Id:             -", "Name:           " + name, "UUID:           " + uuid[1], "OS Type:        exe",
		"State:          shut off", "CPU(s):         1", "Max memory:     500000 KiB", "Persistent:     yes", "Autostart:      disable"} {
		if !strings.Contains(info, want+"\n") {
			t.Errorf("dominfo lacks %q:\n%s", want, info)
		}
	}
	// virsh's table: inactive domains only with --all.
	if out := e.ok("list"); strings.Contains(out, name) {
		t.Errorf("list without --all shows a shut-off domain:\n%s", out)
	}
	want := fmt.Sprintf(" Id   Name%s   State\n%s\n -    %s   shut off\n\n", strings.Repeat(" ", len(name)-4), strings.Repeat("-", 5+len(name)+3+11), name)
	if out := e.ok("list", "--all"); out != want {
		t.Errorf("list --all:\n%q\nwant\n%q", out, want)
	}
	if out := e.ok("list", "--all", "--name"); out != name+"\n" {
		t.Errorf("list --name = %q", out)
	}
	if out := e.ok("list", "--all", "--json"); !strings.Contains(out, `"id": null`) || !strings.Contains(out, `"state": "shut off"`) {
		t.Errorf("list --json:\n%s", out)
	}
	if out := e.ok("list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("list --json with nothing running = %q, want []", out)
	}

	// Redefining from XML without a uuid keeps the stored uuid.
	e.ok("define", f)
	if got := strings.TrimSpace(e.ok("domuuid", name)); got != uuid[1] {
		t.Errorf("redefine without uuid changed it: %q", got)
	}
	if out := e.ok("undefine", name); out != fmt.Sprintf("Domain '%s' has been undefined\n", name) {
		t.Errorf("undefine printed %q", out)
	}
	if _, err := os.Stat(p); err == nil {
		t.Errorf("definition still on disk")
	}
	if msg := e.fails("dominfo", name); !strings.Contains(msg, "failed to get domain '"+name+"'") {
		t.Errorf("unknown domain: %q", msg)
	}
}

func TestDefineRejects(t *testing.T) {
	e := newEnv(t)
	name := e.name("rej")
	uuidA := "afec998a-addb-4aa2-93b3-3a66df2a06c2"
	e.define(minimalXML(name, uuidA))
	before := snapshot(t, e.root)

	cases := []struct{ what, xml, want string }{
		{"malformed", "<domain type='lxc'><name>x</name><memory>1000</memory", "line"},
		{"no name", "<domain type='lxc'><memory>1</memory><os><type>exe</type><init>/bin/sh</init></os></domain>", "name"},
		{"name ..", minimalXML("..", ""), "'..'"},
		{"name with space", minimalXML("a b", ""), "' '"},
		{"name with slash", minimalXML("a/b", ""), "/"},
		{"long name", minimalXML(strings.Repeat("x", 65), ""), "64"},
		{"same name other uuid", minimalXML(name, "11111111-2222-3333-4444-555555555555"), "already exists with uuid " + uuidA},
		{"same uuid other name", minimalXML(name+"x", uuidA), "is already defined with uuid " + uuidA},
		{"memory unit", strings.Replace(minimalXML(name, ""), "<memory>", "<memory unit='bogus'>", 1), "bogus"},
		{"memory zero", strings.Replace(minimalXML(name, ""), "500000", "0", 1), "memory"},
		{"kvm", strings.Replace(minimalXML(name, ""), "type='lxc'", "type='kvm'", 1), "kvm"},
		{"hvm", strings.Replace(minimalXML(name, ""), "<type>exe", "<type>hvm", 1), "hvm"},
		{"on_poweroff", strings.Replace(minimalXML(name, ""), "<devices>", "<on_poweroff>explode</on_poweroff><devices>", 1), "explode"},
		{"unknown element with --validate", strings.Replace(minimalXML(name, ""), "<devices>", "<bogus_element/><devices>", 1), "bogus_element"},
	}
	for _, c := range cases {
		f := filepath.Join(t.TempDir(), "bad.xml")
		if err := os.WriteFile(f, []byte(c.xml), 0o600); err != nil {
			t.Fatal(err)
		}
		msg := e.fails("define", "--validate", f)
		if !strings.Contains(msg, "Failed to define domain from "+f) || !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q lacks %q", c.what, msg, c.want)
		}
		if strings.Contains(msg, "panic") {
			t.Errorf("%s: %s", c.what, msg)
		}
	}
	if after := snapshot(t, e.root); !mapsEqual(before, after) {
		t.Errorf("failed defines changed files on disk")
	}
	// Without --validate an unknown element is a warning, kept in dumpxml.
	r := e.run(strings.Replace(minimalXML(name, uuidA), "<devices>", "<bogus_element/><devices>", 1), "define", "-")
	if r.code != 0 || !strings.Contains(r.stderr, "bogus_element") {
		t.Errorf("unknown element: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(e.ok("dumpxml", name), "<bogus_element/>") {
		t.Errorf("unknown element not kept")
	}
	if msg := e.fails("--connect", "qemu:///system", "list"); !strings.Contains(msg, "lxc:///") {
		t.Errorf("bad connect URI: %q", msg)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestConcurrentDefines: 50 distinct names all land; 50 defines of one name
// leave exactly one valid definition.
func TestConcurrentDefines(t *testing.T) {
	e := newEnv(t)
	base := e.name("cc")
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := 0; i < 50; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if r := e.run(minimalXML(fmt.Sprintf("%s-%d", base, i), ""), "define", "-"); r.code != 0 {
				errs <- r.stderr
			}
		}()
		go func() {
			defer wg.Done()
			xml := strings.Replace(minimalXML(base, ""), "500000", fmt.Sprint(1000+i), 1)
			if r := e.run(xml, "define", "-"); r.code != 0 {
				errs <- r.stderr
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Errorf("concurrent define failed: %s", msg)
	}
	names := strings.Fields(e.ok("list", "--all", "--name"))
	if len(names) != 51 {
		t.Errorf("%d domains defined, want 51", len(names))
	}
	xml := e.ok("dumpxml", base)
	if !regexp.MustCompile(`<memory unit='KiB'>10[0-4][0-9]</memory>`).MatchString(xml) {
		t.Errorf("the one-name definition is not one of the defines:\n%s", xml)
	}
	entries, _ := os.ReadDir(filepath.Join(e.root, "domains"))
	for _, en := range entries {
		if !strings.HasSuffix(en.Name(), ".xml") || bytes.Contains([]byte(en.Name()), []byte("tmp")) {
			t.Errorf("stray file in domains/: %s", en.Name())
		}
	}
}
