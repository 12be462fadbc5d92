package domainxml

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goodDoc is a minimal valid document; each bad case changes one thing.
const goodDoc = `<domain type='lxc'>
  <name>vm1</name>
  <memory unit='KiB'>500000</memory>
  <os>
    <type>exe</type>
    <init>/bin/sh</init>
  </os>
  <devices>
    <filesystem type='mount'>
      <source dir='/srv/vm1'/>
      <target dir='/'/>
    </filesystem>
    <console type='pty'/>
  </devices>
</domain>
`

// with returns goodDoc with old replaced by new; old must be in it.
func with(old, new string) string {
	if !strings.Contains(goodDoc, old) {
		panic("bad test: " + old + " is not in goodDoc")
	}
	return strings.Replace(goodDoc, old, new, 1)
}

const (
	root = "<filesystem type='mount'>\n      <source dir='/srv/vm1'/>\n      <target dir='/'/>\n    </filesystem>"
	cons = "<console type='pty'/>"
)

// devs puts extra devices before the console (so they start on line 13).
func devs(x string) string { return with(cons, x+"\n    "+cons) }

type badCase struct {
	name string
	doc  string
	// The message must contain elem and value; line, when set, must
	// match.
	elem, value string
	line        int
}

var badCases = []badCase{
	{name: "malformed", doc: strings.Replace(goodDoc, "500000</memory>", "500000</memory", 1), elem: "not well-formed XML", value: "", line: 4},
	{name: "mismatched-tag", doc: with("<name>vm1</name>", "<name>vm1</nam>"), elem: "not well-formed XML", value: "</nam>", line: 2},
	{name: "empty-document", doc: "  \n", elem: "empty document"},
	{name: "root-not-domain", doc: "<vm type='lxc'><name>x</name></vm>", elem: "<vm>", value: "expected <domain"},
	{name: "two-roots", doc: goodDoc + "<domain type='lxc'/>", elem: "not well-formed XML", value: "after the root element", line: 16},
	{name: "type-missing", doc: with("<domain type='lxc'>", "<domain>"), elem: "domain", value: "missing type"},
	{name: "type-kvm", doc: with("type='lxc'", "type='kvm'"), elem: "domain", value: "'kvm'", line: 1},
	{name: "name-missing", doc: with("<name>vm1</name>\n", ""), elem: "name", value: "missing"},
	{name: "name-empty", doc: with("<name>vm1</name>", "<name></name>"), elem: "name", value: "missing"},
	{name: "name-slash", doc: with("<name>vm1</name>", "<name>a/b</name>"), elem: "name", value: "'a/b'", line: 2},
	{name: "name-twice", doc: with("<name>vm1</name>", "<name>vm1</name><name>vm2</name>"), elem: "name", value: "twice"},
	{name: "title-newline", doc: with("<name>vm1</name>", "<name>vm1</name><title>a\nb</title>"), elem: "title", value: `"a\nb"`},
	{name: "uuid-malformed", doc: with("<name>vm1</name>", "<name>vm1</name><uuid>1234-not-a-uuid</uuid>"), elem: "uuid", value: "'1234-not-a-uuid'", line: 2},
	{name: "memory-missing", doc: with("<memory unit='KiB'>500000</memory>\n", ""), elem: "memory", value: "memory size must be given"},
	{name: "memory-zero", doc: with("500000</memory>", "0</memory>"), elem: "memory", value: "'0'", line: 3},
	{name: "memory-negative", doc: with("500000</memory>", "-1</memory>"), elem: "memory", value: "'-1'"},
	{name: "memory-fraction", doc: with("500000</memory>", "1.5</memory>"), elem: "memory", value: "'1.5'"},
	{name: "memory-overflow", doc: with("<memory unit='KiB'>500000", "<memory unit='EiB'>9"), elem: "memory", value: "'9' EiB is too large"},
	{name: "memory-overflow-digits", doc: with("500000</memory>", "99999999999999999999999</memory>"), elem: "memory", value: "'99999999999999999999999'"},
	{name: "memory-unit-bogus", doc: with("unit='KiB'", "unit='bogus'"), elem: "memory", value: "unknown unit 'bogus' (use b, KiB, MiB, GiB, TiB, KB, MB, GB, ...)", line: 3},
	{name: "currentmemory-bad", doc: with("<os>", "<currentMemory>lots</currentMemory>\n  <os>"), elem: "currentMemory", value: "'lots'"},
	{name: "memtune-unit", doc: with("<os>", "<memtune><hard_limit unit='parsec'>1</hard_limit></memtune>\n  <os>"), elem: "memtune/hard_limit", value: "'parsec'"},
	{name: "vcpu-zero", doc: with("<os>", "<vcpu>0</vcpu>\n  <os>"), elem: "vcpu", value: "'0'", line: 4},
	{name: "vcpu-placement", doc: with("<os>", "<vcpu placement='anywhere'>1</vcpu>\n  <os>"), elem: "vcpu", value: "'anywhere'"},
	{name: "vcpu-cpuset", doc: with("<os>", "<vcpu cpuset='0-x'>1</vcpu>\n  <os>"), elem: "vcpu", value: "'0-x'"},
	{name: "vcpu-cpuset-empty", doc: with("<os>", "<vcpu cpuset='1,^1'>1</vcpu>\n  <os>"), elem: "vcpu", value: "'1,^1' selects nothing"},
	{name: "vcpu-current", doc: with("<os>", "<vcpu current='3'>2</vcpu>\n  <os>"), elem: "vcpu", value: "'3'"},
	{name: "cputune-period", doc: with("<os>", "<cputune><period>100</period></cputune>\n  <os>"), elem: "cputune/period", value: "'100'"},
	{name: "cputune-quota", doc: with("<os>", "<cputune><quota>0</quota></cputune>\n  <os>"), elem: "cputune/quota", value: "'0'"},
	{name: "cputune-shares", doc: with("<os>", "<cputune><shares>many</shares></cputune>\n  <os>"), elem: "cputune/shares", value: "'many'"},
	{name: "numatune-mode", doc: with("<os>", "<numatune><memory mode='loose' nodeset='0'/></numatune>\n  <os>"), elem: "numatune/memory", value: "'loose'"},
	{name: "partition-relative", doc: with("<os>", "<resource><partition>machine</partition></resource>\n  <os>"), elem: "resource/partition", value: "'machine'"},
	{name: "os-missing", doc: with("<os>\n    <type>exe</type>\n    <init>/bin/sh</init>\n  </os>\n", ""), elem: "os", value: "missing"},
	{name: "os-hvm", doc: with("<type>exe</type>", "<type>hvm</type>"), elem: "os/type", value: "'hvm'", line: 5},
	{name: "os-arch", doc: with("<type>exe</type>", "<type arch='ppc64'>exe</type>"), elem: "os/type", value: "'ppc64' cannot run on this x86_64 host (use x86_64 or i686)"},
	{name: "os-arch-unknown", doc: with("<type>exe</type>", "<type arch='z80'>exe</type>"), elem: "os/type", value: "unknown architecture 'z80'"},
	{name: "init-missing", doc: with("<init>/bin/sh</init>", ""), elem: "os/init", value: "init binary must be specified: add <init>/sbin/init</init> to <os>"},
	{name: "init-relative", doc: with("<init>/bin/sh</init>", "<init>bin/sh</init>"), elem: "os/init", value: "'bin/sh'", line: 6},
	{name: "initarg-empty", doc: with("<init>/bin/sh</init>", "<init>/bin/sh</init><initarg></initarg>"), elem: "os/initarg", value: "empty"},
	{name: "initenv-noname", doc: with("<init>/bin/sh</init>", "<init>/bin/sh</init><initenv>x</initenv>"), elem: "os/initenv", value: "missing name"},
	{name: "initenv-badname", doc: with("<init>/bin/sh</init>", "<init>/bin/sh</init><initenv name='1X'>x</initenv>"), elem: "os/initenv", value: "'1X'"},
	{name: "initdir-relative", doc: with("<init>/bin/sh</init>", "<init>/bin/sh</init><initdir>tmp</initdir>"), elem: "os/initdir", value: "'tmp'"},
	{name: "idmap-uid-only", doc: with("<devices>", "<idmap><uid start='0' target='100000' count='65536'/></idmap>\n  <devices>"), elem: "idmap", value: "gid"},
	{name: "idmap-no-root", doc: with("<devices>", "<idmap><uid start='1' target='100000' count='65536'/><gid start='0' target='100000' count='65536'/></idmap>\n  <devices>"), elem: "idmap/uid", value: "start is 1"},
	{name: "idmap-count-zero", doc: with("<devices>", "<idmap><uid start='0' target='100000' count='0'/></idmap>\n  <devices>"), elem: "idmap/uid", value: "count '0'"},
	{name: "idmap-overlap", doc: with("<devices>", "<idmap><uid start='0' target='100000' count='10'/><uid start='5' target='200000' count='10'/><gid start='0' target='100000' count='1'/></idmap>\n  <devices>"), elem: "idmap/uid", value: "0 and 5 overlap"},
	{name: "capability-unknown", doc: with("<devices>", "<features><capabilities policy='default'><sys_everything state='on'/></capabilities></features>\n  <devices>"), elem: "features/capabilities", value: "<sys_everything>"},
	{name: "capability-state", doc: with("<devices>", "<features><capabilities><mknod state='maybe'/></capabilities></features>\n  <devices>"), elem: "features/capabilities/mknod", value: "'maybe'"},
	{name: "capability-policy", doc: with("<devices>", "<features><capabilities policy='some'/></features>\n  <devices>"), elem: "features/capabilities", value: "'some'"},
	{name: "clock-offset", doc: with("<devices>", "<clock offset='martian'/>\n  <devices>"), elem: "clock", value: "'martian'"},
	{name: "on-poweroff-explode", doc: with("<devices>", "<on_poweroff>explode</on_poweroff>\n  <devices>"), elem: "on_poweroff", value: "unknown action 'explode' (use destroy, restart, preserve, rename-restart)"},
	{name: "on-reboot-coredump", doc: with("<devices>", "<on_reboot>coredump-restart</on_reboot>\n  <devices>"), elem: "on_reboot", value: "'coredump-restart' is only allowed in <on_crash>"},
	{name: "on-crash-bogus", doc: with("<devices>", "<on_crash>panic</on_crash>\n  <devices>"), elem: "on_crash", value: "'panic'"},
	{name: "fs-target-relative", doc: with("<target dir='/'/>", "<target dir='srv'/>"), elem: "devices/filesystem/target", value: "'srv'", line: 11},
	{name: "fs-target-missing", doc: with("<target dir='/'/>", ""), elem: "devices/filesystem", value: "missing <target"},
	{name: "fs-target-duplicate", doc: devs("<filesystem><source dir='/a'/><target dir='/data'/></filesystem>\n    <filesystem><source dir='/b'/><target dir='/data/'/></filesystem>"), elem: "devices/filesystem/target", value: "'/data'", line: 14},
	{name: "fs-two-roots", doc: devs("<filesystem><source dir='/other'/><target dir='/'/></filesystem>"), elem: "devices/filesystem/target", value: "only one filesystem can be the root", line: 13},
	{name: "fs-source-relative", doc: with("<source dir='/srv/vm1'/>", "<source dir='srv/vm1'/>"), elem: "devices/filesystem/source", value: "'srv/vm1'", line: 10},
	{name: "fs-source-missing", doc: with("<source dir='/srv/vm1'/>", ""), elem: "devices/filesystem/source", value: "missing dir"},
	{name: "fs-type-unknown", doc: with("<filesystem type='mount'>", "<filesystem type='nfs'>"), elem: "devices/filesystem", value: "'nfs'"},
	{name: "fs-accessmode", doc: with("<filesystem type='mount'>", "<filesystem accessmode='open'>"), elem: "devices/filesystem", value: "'open'"},
	{name: "fs-ram-no-usage", doc: devs("<filesystem type='ram'><source/><target dir='/tmp'/></filesystem>"), elem: "devices/filesystem/source", value: "missing usage"},
	{name: "fs-ram-bad-units", doc: devs("<filesystem type='ram'><source usage='64' units='furlongs'/><target dir='/tmp'/></filesystem>"), elem: "devices/filesystem/source", value: "'furlongs'"},
	{name: "fs-ram-zero", doc: devs("<filesystem type='ram'><source usage='0'/><target dir='/tmp'/></filesystem>"), elem: "devices/filesystem/source", value: "'0'"},
	{name: "interface-type-user", doc: devs("<interface type='user'/>"), elem: "devices/interface", value: "unknown type 'user' (use network, bridge, ethernet or direct)", line: 13},
	{name: "interface-type-missing", doc: devs("<interface/>"), elem: "devices/interface", value: "missing type"},
	{name: "interface-network-nosource", doc: devs("<interface type='network'/>"), elem: "devices/interface/source", value: "<source network='default'/>"},
	{name: "interface-bridge-nosource", doc: devs("<interface type='bridge'><source network='x'/></interface>"), elem: "devices/interface/source", value: "<source bridge='br0'/>"},
	{name: "interface-mac-bad", doc: devs("<interface type='ethernet'><mac address='52:54:00:zz:00:01'/></interface>"), elem: "devices/interface/mac", value: "'52:54:00:zz:00:01'"},
	{name: "interface-mac-multicast", doc: devs("<interface type='ethernet'><mac address='01:00:5e:00:00:01'/></interface>"), elem: "devices/interface/mac", value: "'01:00:5e:00:00:01' is multicast"},
	{name: "interface-ip-bad", doc: devs("<interface type='ethernet'><ip address='300.1.1.1'/></interface>"), elem: "devices/interface/ip", value: "'300.1.1.1'"},
	{name: "interface-ip-prefix", doc: devs("<interface type='ethernet'><ip address='10.0.0.1' prefix='33'/></interface>"), elem: "devices/interface/ip", value: "'33'"},
	{name: "interface-link", doc: devs("<interface type='ethernet'><link state='sideways'/></interface>"), elem: "devices/interface/link", value: "'sideways'"},
	{name: "interface-mtu", doc: devs("<interface type='ethernet'><mtu size='10'/></interface>"), elem: "devices/interface/mtu", value: "'10'"},
	{name: "interface-guest-name", doc: devs("<interface type='ethernet'><guest dev='a-very-long-interface-name'/></interface>"), elem: "devices/interface/guest", value: "'a-very-long-interface-name'"},
	{name: "console-file", doc: with(cons, "<console type='file'/>"), elem: "devices/console", value: "only pty consoles are supported", line: 13},
	{name: "console-target", doc: with(cons, "<console type='pty'><target type='serial'/></console>"), elem: "devices/console/target", value: "'serial'"},
	{name: "serial-tcp", doc: devs("<serial type='tcp'/>"), elem: "devices/serial", value: "'tcp'"},
	{name: "hostdev-no-block", doc: devs("<hostdev mode='capabilities' type='storage'><source/></hostdev>"), elem: "devices/hostdev/source", value: "missing <block>"},
	{name: "hostdev-type", doc: devs("<hostdev mode='capabilities' type='gpu'/>"), elem: "devices/hostdev", value: "'gpu'"},
	{name: "hostdev-mode", doc: devs("<hostdev mode='magic' type='net'/>"), elem: "devices/hostdev", value: "'magic'"},
	{name: "emulator-relative", doc: with("<devices>", "<devices>\n    <emulator>lxctl</emulator>"), elem: "devices/emulator", value: "'lxctl'"},
}

func TestBadInputs(t *testing.T) {
	for _, c := range badCases {
		t.Run(c.name, func(t *testing.T) {
			d, _, err := Parse([]byte(c.doc))
			if err == nil {
				out, _ := d.Marshal()
				t.Fatalf("accepted; wrote:\n%s", out)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, want *Error", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.elem) || !strings.Contains(msg, c.value) {
				t.Errorf("message %q\nshould contain the element %q and %q", msg, c.elem, c.value)
			}
			if c.line != 0 && e.Line != c.line {
				t.Errorf("line %d, want %d (%s)", e.Line, c.line, msg)
			}
		})
	}
}

// TestBadFixtures keeps testdata/bad/NAME.xml and NAME.golden (the exact
// message) in step with the table, so command tests can use them; go test
// -update rewrites them.
func TestBadFixtures(t *testing.T) {
	dir := "../testdata/bad"
	for _, c := range badCases {
		_, _, err := Parse([]byte(c.doc))
		if err == nil {
			continue // TestBadInputs reports it
		}
		xmlPath := filepath.Join(dir, c.name+".xml")
		goldPath := filepath.Join(dir, c.name+".golden")
		if *update {
			if err := os.WriteFile(xmlPath, []byte(c.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(goldPath, []byte(err.Error()+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got := string(readFile(t, xmlPath)); got != c.doc {
			t.Errorf("%s is not the table's document (go test -update rewrites it)", xmlPath)
		}
		if got := string(readFile(t, goldPath)); got != err.Error()+"\n" {
			t.Errorf("%s: got %q, want %q (go test -update rewrites it)", goldPath, err.Error(), strings.TrimSpace(got))
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	if len(files) != len(badCases) {
		t.Errorf("%s has %d documents, the table %d cases: remove the stale ones", dir, len(files), len(badCases))
	}
}
