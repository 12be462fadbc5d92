package cmd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

// editors numbers the editor scripts, so each has its own call count.
var editors atomic.Int64

// editorScript writes a shell script the tests use as $EDITOR. It is called
// with the file to edit as $1 and counts its calls in calls.
func (e *env) editorScript(body string) string {
	e.t.Helper()
	p := filepath.Join(e.root, fmt.Sprintf("editor-%d.sh", editors.Add(1)))
	script := "#!/bin/sh\nset -e\nn=$(cat \"$0.calls\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$0.calls\"\n" + body + "\n"
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestEdit(t *testing.T) {
	e := newEnv(t)
	name := e.name("edit")
	e.define(minimalXML(name, ""))
	defPath := filepath.Join(e.root, "domains", name+".xml")
	stored := func() string {
		data, err := os.ReadFile(defPath)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}

	// Left as it was: nothing changes, virsh's words.
	before := stored()
	r := e.runWith([]string{"EDITOR=true", "VISUAL="}, "", "edit", name)
	if r.code != 0 || r.stdout != fmt.Sprintf("Domain '%s' XML configuration not changed.\n", name) {
		t.Fatalf("unchanged edit: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if stored() != before {
		t.Error("an unchanged edit rewrote the definition")
	}

	// A valid change is defined; VISUAL wins over EDITOR.
	ed := e.editorScript(`sed -i 's/500000/600000/g' "$1"`)
	r = e.runWith([]string{"VISUAL=" + ed, "EDITOR=false"}, "", "edit", name)
	if r.code != 0 || r.stdout != fmt.Sprintf("Domain '%s' XML configuration edited.\n", name) {
		t.Fatalf("edit: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if x := e.ok("dumpxml", name); !strings.Contains(x, "<memory unit='KiB'>600000</memory>") {
		t.Errorf("dumpxml after edit:\n%s", x)
	}

	// Invalid, and the user declines: error, prompt, exit 1, nothing changed.
	snap := snapshot(t, filepath.Join(e.root, "domains"))
	bad := e.editorScript(`sed -i 's/600000/bogus/g' "$1"`)
	r = e.runWith([]string{"VISUAL=", "EDITOR=" + bad}, "n\n", "edit", name)
	if r.code != 1 || !strings.Contains(r.stderr, "bogus") || !strings.Contains(r.stderr, "Try again? [y,n,f,?]") {
		t.Fatalf("invalid edit declined: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	if !reflect.DeepEqual(snap, snapshot(t, filepath.Join(e.root, "domains"))) {
		t.Error("an abandoned edit changed the stored definitions")
	}
	// End of input is a no as well.
	if r = e.runWith([]string{"VISUAL=", "EDITOR=" + bad}, "", "edit", name); r.code != 1 {
		t.Fatalf("invalid edit with no answer: exit %d %q", r.code, r.stderr)
	}

	// Invalid, then "y": the editor runs again on the edited file and the
	// second attempt fixes it.
	fix := e.editorScript(`if [ "$n" = 1 ]; then sed -i 's/600000/bogus/g' "$1"; else sed -i 's/bogus/700000/g' "$1"; fi`)
	r = e.runWith([]string{"VISUAL=", "EDITOR=" + fix}, "y\n", "edit", name)
	if r.code != 0 || !strings.HasSuffix(r.stdout, "XML configuration edited.\n") {
		t.Fatalf("edit again: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if x := e.ok("dumpxml", name); !strings.Contains(x, "<memory unit='KiB'>700000</memory>") {
		t.Errorf("dumpxml after the second attempt:\n%s", x)
	}

	// "f" starts over from the stored XML; leaving that as it is changes nothing.
	restart := e.editorScript(`if [ "$n" = 1 ]; then sed -i 's/700000/bogus/g' "$1"; elif grep -q bogus "$1"; then exit 9; fi`)
	before = stored()
	r = e.runWith([]string{"VISUAL=", "EDITOR=" + restart}, "f\n", "edit", name)
	if r.code != 0 || !strings.Contains(r.stdout, "not changed") {
		t.Fatalf("edit, force from stored: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if stored() != before {
		t.Error("starting over and leaving the file changed the definition")
	}

	// Renaming to another name with the same uuid is refused, as virsh.
	ren := e.editorScript(`sed -i "s/<name>` + name + `</<name>` + name + `x</" "$1"`)
	r = e.runWith([]string{"VISUAL=", "EDITOR=" + ren}, "n\n", "edit", name)
	if r.code != 1 || !strings.Contains(r.stderr, "uuid") {
		t.Fatalf("rename by edit: exit %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(e.root, "domains", name+"x.xml")); err == nil {
		t.Error("a refused rename left a new definition")
	}

	// A failing editor changes nothing and says so.
	if r = e.runWith([]string{"VISUAL=", "EDITOR=false"}, "", "edit", name); r.code != 1 || !strings.Contains(r.stderr, "unchanged") {
		t.Fatalf("failing editor: exit %d %q", r.code, r.stderr)
	}
	e.fails("edit", "no-such-domain-"+name)
}

func TestNetEdit(t *testing.T) {
	e := newEnv(t)
	net := e.name("ne")
	br := "lxe" + net[len(net)-6:]
	f := filepath.Join(e.root, "n.xml")
	xml := fmt.Sprintf(`<network><name>%s</name><bridge name='%s'/><ip address='10.251.3.1' netmask='255.255.255.0'/></network>`, net, br)
	if err := os.WriteFile(f, []byte(xml), 0o600); err != nil {
		t.Fatal(err)
	}
	e.ok("net-define", f)
	ed := e.editorScript(`sed -i 's/10.251.3.1/10.251.4.1/' "$1"`)
	r := e.runWith([]string{"VISUAL=", "EDITOR=" + ed}, "", "net-edit", net)
	if r.code != 0 || r.stdout != fmt.Sprintf("Network %s XML configuration edited.\n", net) {
		t.Fatalf("net-edit: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if x := e.ok("net-dumpxml", net); !strings.Contains(x, "10.251.4.1") {
		t.Errorf("net-dumpxml after net-edit:\n%s", x)
	}
	r = e.runWith([]string{"VISUAL=", "EDITOR=true"}, "", "net-edit", net)
	if r.code != 0 || r.stdout != fmt.Sprintf("Network %s XML configuration not changed.\n", net) {
		t.Fatalf("unchanged net-edit: exit %d %q", r.code, r.stdout)
	}
	e.ok("net-undefine", net)
}

// complete asks lxctl's cobra completion for the candidates of a command
// line, as the shell scripts do, and returns the names offered.
func (e *env) complete(args ...string) []string {
	e.t.Helper()
	out := e.ok(append([]string{"__complete"}, args...)...)
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, ":") || strings.HasPrefix(line, "Completion ended") {
			continue
		}
		names = append(names, strings.SplitN(line, "\t", 2)[0])
	}
	return names
}

func TestCompletion(t *testing.T) {
	e := newEnv(t)
	on, off := e.name("cmpon"), e.name("cmpoff")
	e.define(e.guestDomain(on, "", "", "print", "ready", "sleep"))
	e.define(minimalXML(off, ""))
	e.ok("start", on)
	e.waitConsole(on, "ready")
	net := e.name("cn")
	f := filepath.Join(e.root, "n.xml")
	if err := os.WriteFile(f, []byte(fmt.Sprintf(`<network><name>%s</name><bridge name='lxc%s'/></network>`, net, net[len(net)-6:])), 0o600); err != nil {
		t.Fatal(err)
	}
	e.ok("net-define", f)

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"start", ""}, []string{off}},
		{[]string{"destroy", ""}, []string{on}},
		{[]string{"console", ""}, []string{on}},
		{[]string{"suspend", ""}, []string{on}},
		{[]string{"resume", ""}, nil},
		{[]string{"dominfo", ""}, []string{on, off}},
		{[]string{"dumpxml", "cmpof"}, []string{off}},
		{[]string{"dominfo", on, ""}, nil}, // one NAME only
		{[]string{"net-start", ""}, []string{net}},
		{[]string{"net-destroy", ""}, nil},
		{[]string{"net-dumpxml", ""}, []string{net}},
	} {
		got := e.complete(tc.args...)
		want := append([]string(nil), tc.want...)
		if len(want) == 2 && want[0] > want[1] {
			want[0], want[1] = want[1], want[0]
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("completion of %q: got %q, want %q", tc.args, got, want)
		}
	}
	e.ok("suspend", on)
	if got := e.complete("resume", ""); !reflect.DeepEqual(got, []string{on}) {
		t.Errorf("completion of resume with %s paused: %q", on, got)
	}
	// The shells' scripts come from the same binary.
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := e.ok("completion", sh); !strings.Contains(out, "__complete") {
			t.Errorf("completion %s does not call back into lxctl:\n%.300s", sh, out)
		}
	}
	e.ok("destroy", on)
	e.ok("net-undefine", net)
}
