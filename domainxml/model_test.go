package domainxml

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

func TestUnknownElementsKeptInPlace(t *testing.T) {
	in := `<domain type='lxc'>
  <bogus_element/>
  <name>vm1</name>
  <maxMemory slots='16' unit='KiB'>1524288</maxMemory>
  <memory unit='KiB'>500000</memory>
  <os>
    <type>exe</type>
    <boot dev='hd'/>
    <init>/bin/sh</init>
  </os>
  <features>
    <acpi/>
    <privnet/>
  </features>
  <cputune>
    <vcpupin vcpu='0' cpuset='1'/>
  </cputune>
  <devices>
    <disk type='file' device='disk'>
      <source file='/x.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <filesystem type='mount'>
      <source dir='/srv'/>
      <target dir='/'/>
      <space_hard_limit unit='bytes'>1000</space_hard_limit>
    </filesystem>
    <interface type='bridge'>
      <source bridge='br0'/>
      <model type='virtio'/>
    </interface>
    <console type='pty'>
      <log file='/var/log/c.log'/>
    </console>
  </devices>
  <seclabel type='none'/>
  <pm><suspend-to-mem enabled='no'/></pm>
</domain>
`
	d, warns := mustParse(t, []byte(in))
	want := []Warning{
		{Element: "bogus_element", Line: 2, Message: "unknown element <bogus_element> is kept but ignored"},
		{Element: "maxMemory", Line: 4, Message: "unknown element <maxMemory> is kept but ignored"},
		{Element: "os/boot", Line: 8, Message: "unknown element <boot> in <os> is kept but ignored"},
		{Element: "features/acpi", Line: 12, Message: "unknown element <acpi> in <features> is kept but ignored"},
		{Element: "cputune/vcpupin", Line: 16, Message: "unknown element <vcpupin> in <cputune> is kept but ignored"},
		{Element: "devices/disk", Line: 19, Message: "unknown element <disk> in <devices> is kept but ignored"},
		{Element: "devices/filesystem/space_hard_limit", Line: 26, Message: "unknown element <space_hard_limit> in <filesystem> is kept but ignored"},
		{Element: "devices/interface/model", Line: 30, Message: "unknown element <model> in <interface> is kept but ignored"},
		{Element: "devices/console/log", Line: 33, Message: "unknown element <log> in <console> is kept but ignored"},
		{Element: "pm", Line: 37, Message: "unknown element <pm> is kept but ignored"},
	}
	if !reflect.DeepEqual(warns, want) {
		t.Errorf("warnings:\n%v\nwant:\n%v", warns, want)
	}
	if d.Extra[0].After != "" || d.Extra[1].After != "name" || d.OS.Extra[0].After != "type" {
		t.Errorf("After: %q %q %q", d.Extra[0].After, d.Extra[1].After, d.OS.Extra[0].After)
	}
	// Canonical order, with each unknown element after the sibling it
	// followed; seclabel (known, not modelled) gives no warning.
	wantOut := `<domain type='lxc'>
  <bogus_element/>
  <name>vm1</name>
  <maxMemory slots='16' unit='KiB'>1524288</maxMemory>
  <memory unit='KiB'>500000</memory>
  <cputune>
    <vcpupin vcpu='0' cpuset='1'/>
  </cputune>
  <os>
    <type>exe</type>
    <boot dev='hd'/>
    <init>/bin/sh</init>
  </os>
  <features>
    <acpi/>
    <privnet/>
  </features>
  <devices>
    <disk type='file' device='disk'>
      <source file='/x.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <filesystem type='mount'>
      <source dir='/srv'/>
      <target dir='/'/>
      <space_hard_limit unit='bytes'>1000</space_hard_limit>
    </filesystem>
    <interface type='bridge'>
      <source bridge='br0'/>
      <model type='virtio'/>
    </interface>
    <console type='pty'>
      <log file='/var/log/c.log'/>
    </console>
  </devices>
  <seclabel type='none'/>
  <pm>
    <suspend-to-mem enabled='no'/>
  </pm>
</domain>
`
	if out := string(mustMarshal(t, d)); out != wantOut {
		t.Errorf("got:\n%s", diff([]byte(wantOut), []byte(out)))
	}
	checkRoundTrip(t, d)
}

func TestMetadataAndText(t *testing.T) {
	in := with("<name>vm1</name>", `<name>it's "vm1" &amp; co</name>
  <title>A &lt;test&gt; box</title>
  <description>line one
line two</description>
  <metadata>
    <app:info xmlns:app="http://example.org/app" owner='ops'>team &amp; co<app:extra/></app:info>
    <other:x xmlns:other="urn:x"><other:y a="1"/></other:x>
  </metadata>`)
	d, warns := mustParse(t, []byte(in))
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if d.Name != `it's "vm1" & co` || d.Title != "A <test> box" || d.Description != "line one\nline two" {
		t.Errorf("text: %q %q %q", d.Name, d.Title, d.Description)
	}
	out := string(mustMarshal(t, d))
	for _, s := range []string{
		"<name>it&apos;s &quot;vm1&quot; &amp; co</name>",
		"<title>A &lt;test&gt; box</title>",
		"<description>line one\nline two</description>",
		"  <metadata>\n    <app:info xmlns:app=\"http://example.org/app\" owner=\"ops\">team &amp; co<app:extra/></app:info>\n" +
			"    <other:x xmlns:other=\"urn:x\">\n      <other:y a=\"1\"/>\n    </other:x>\n  </metadata>\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	checkRoundTrip(t, d)
}

func TestParseNormalises(t *testing.T) {
	in := with("<name>vm1</name>", `<name>vm1</name>
  <uuid>4DEA22B31D52D8F32516782E98AB3FA0</uuid>
  <currentMemory unit='GiB'>4</currentMemory>`)
	in = strings.Replace(in, cons, `<interface type='ethernet'>
      <mac address='52:54:00:AB:CD:EF'/>
      <ip address='2001:DB8:0:0:0:0:0:1' prefix='64'/>
      <route address='10.1.0.0' netmask='255.255.0.0' gateway='10.0.0.1'/>
    </interface>
    `+cons, 1)
	in = strings.Replace(in, "<devices>", `<idmap>
    <uid start='1000' target='201000' count='10'/>
    <uid start='0' target='200000' count='1000'/>
    <gid start='0' target='200000' count='1010'/>
  </idmap>
  <features>
    <capabilities policy='deny'>
      <sys_admin/>
      <chown state='on'/>
      <audit_control state='off'/>
    </capabilities>
  </features>
  <devices>`, 1)
	d, _ := mustParse(t, []byte(in))
	eq(t, "uuid", d.UUID, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0")
	eq(t, "currentMemory capped at memory", d.CurrentMemory, uint64(500000))
	ifc := d.Devices.Interfaces[0]
	eq(t, "mac", ifc.MAC, "52:54:00:ab:cd:ef")
	eq(t, "ipv6", ifc.IPs[0].Address, "2001:db8::1")
	eq(t, "netmask", ifc.Routes[0].Prefix, 16)
	eq(t, "idmap sorted", d.IDMap.UIDs[0].Start, uint32(0))
	eq(t, "input order", d.Features.Capabilities.Caps[0], CapState{Name: "sys_admin", On: true})
	out := string(mustMarshal(t, d))
	for _, s := range []string{
		"<currentMemory unit='KiB'>500000</currentMemory>",
		"<uid start='0' target='200000' count='1000'/>\n    <uid start='1000'",
		// libvirt's order, not the input's.
		"<audit_control state='off'/>\n      <chown state='on'/>\n      <sys_admin state='on'/>",
		"<route address='10.1.0.0' prefix='16' gateway='10.0.0.1'/>",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	checkRoundTrip(t, d)
}

func TestSetDefaults(t *testing.T) {
	in := with(cons, `<interface type='direct'><source dev='eth0'/><ip address='10.0.0.2'/></interface>
    <filesystem type='ram'><source usage='1' units='MiB'/><target dir='/tmp'/></filesystem>`)
	in = strings.Replace(in, "<devices>", "<features><capabilities/></features>\n  <devices>", 1)
	d, _ := mustParse(t, []byte(in))
	d.SetDefaults("aarch64", "/usr/bin/lxctl")
	eq(t, "type", d.Type, "lxc")
	eq(t, "current", d.CurrentMemory, d.Memory)
	eq(t, "vcpu", d.VCPU, VCPU{Count: 1, Placement: "static"})
	eq(t, "arch", d.OS.Arch, "aarch64")
	eq(t, "clock", d.Clock.Offset, "utc")
	eq(t, "actions", d.OnPoweroff+" "+d.OnReboot+" "+d.OnCrash, "destroy restart destroy")
	eq(t, "emulator", d.Devices.Emulator, "/usr/bin/lxctl")
	eq(t, "fs", d.Devices.Filesystems[1].Type+" "+d.Devices.Filesystems[1].AccessMode, "ram passthrough")
	eq(t, "fs mount", d.Devices.Filesystems[0].Type, "mount")
	eq(t, "console added", d.Devices.Consoles, []Console{{Type: "pty", TargetType: "lxc"}})
	eq(t, "policy", d.Features.Capabilities.Policy, "default")
	ifc := d.Devices.Interfaces[0]
	eq(t, "direct mode", ifc.Source.Mode, "vepa")
	eq(t, "ip family", ifc.IPs[0].Family, "ipv4")
	if !strings.HasPrefix(ifc.MAC, "52:54:00:") || len(d.UUID) != 36 {
		t.Errorf("generated mac %q uuid %q", ifc.MAC, d.UUID)
	}
	before := mustMarshal(t, d)
	d.SetDefaults("x86_64", "/other")
	if after := mustMarshal(t, d); string(after) != string(before) {
		t.Errorf("SetDefaults is not idempotent:\n%s", diff(before, after))
	}
	if d2 := d.Clone(); d2.UUID != d.UUID {
		t.Error("clone lost the uuid")
	}
}

func TestSetDefaultsConsolePorts(t *testing.T) {
	d := &Domain{Devices: Devices{Consoles: []Console{{}, {Type: "pty", TargetType: "none"}, {Port: 7}, {}}}}
	d.SetDefaults("x86_64", "/x")
	var ports []int
	for _, c := range d.Devices.Consoles {
		if c.Type != "pty" || c.TargetType != "lxc" {
			t.Errorf("console %+v", c)
		}
		ports = append(ports, c.Port)
	}
	eq(t, "ports", ports, []int{0, 1, 7, 8})
}

// TestCloneIsDeep changes every value reachable from a clone (each string,
// number, flag, pointed-to value, slice element and kept element) and checks
// that the original still writes the same bytes, for each of lxctl's own
// documents: a field Clone forgets to copy deeply shows up as a change.
func TestCloneIsDeep(t *testing.T) {
	for name, in := range ownDocs(t) {
		t.Run(name, func(t *testing.T) {
			d, _ := mustParse(t, in)
			d.Extra = append(d.Extra, Unknown{After: "name", Elem: etree.NewElement("kept")})
			orig := string(mustMarshal(t, d))
			c := d.Clone()
			mutateAll(reflect.ValueOf(c).Elem())
			if got := string(mustMarshal(t, d)); got != orig {
				t.Errorf("changing the clone changed the original:\n%s", diff([]byte(orig), []byte(got)))
			}
			if changed, err := c.Marshal(); err == nil && string(changed) == orig {
				t.Errorf("mutating the clone changed nothing it writes: the test does not reach the fields")
			}
		})
	}
	var nilDomain *Domain
	if nilDomain.Clone() != nil {
		t.Error("nil clone")
	}
}

// mutateAll changes every settable value reachable from v in place.
func mutateAll(v reflect.Value) {
	if e, ok := v.Interface().(*etree.Element); ok {
		mutateElem(e)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			mutateAll(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				mutateAll(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			mutateAll(v.Index(i))
		}
	case reflect.String:
		v.SetString(v.String() + "~")
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	}
}

func mutateElem(e *etree.Element) {
	if e == nil {
		return
	}
	e.Tag += "-changed"
	for i := range e.Attr {
		e.Attr[i].Value += "~"
	}
	for _, tok := range e.Child {
		switch c := tok.(type) {
		case *etree.Element:
			mutateElem(c)
		case *etree.CharData:
			c.Data += "~"
		}
	}
}

func TestMarshalID(t *testing.T) {
	d, _ := mustParse(t, []byte(with("<domain type='lxc'>", "<domain type='lxc' id='42'>")))
	eq(t, "id is not read from input", d.ID, 0)
	d.ID = 4242
	if out := string(mustMarshal(t, d)); !strings.HasPrefix(out, "<domain type='lxc' id='4242'>\n") || !strings.HasSuffix(out, "</domain>\n") {
		t.Errorf("got:\n%s", out)
	}
}

func TestPredicates(t *testing.T) {
	dev := func(x string) *Domain {
		d, _ := mustParse(t, []byte(devs(x)))
		return d
	}
	base, _ := mustParse(t, []byte(goodDoc))
	eq(t, "root", base.HasRootFS(), true)
	eq(t, "netns", base.NeedsNetNS(), false)
	eq(t, "supported", len(base.Unsupported()), 0)
	noRoot, _ := mustParse(t, []byte(with(root, "")))
	eq(t, "no root", noRoot.HasRootFS(), false)
	eq(t, "veth", dev("<interface type='bridge'><source bridge='br0'/></interface>").NeedsNetNS(), true)
	eq(t, "hostdev net", dev("<hostdev mode='capabilities' type='net'><source><interface>eth1</interface></source></hostdev>").NeedsNetNS(), true)
	eq(t, "hostdev storage", dev("<hostdev mode='capabilities' type='storage'><source><block>/dev/sdb</block></source></hostdev>").NeedsNetNS(), false)
	for _, x := range []string{
		"<filesystem type='block'><source dev='/dev/sdb1'/><target dir='/data'/></filesystem>",
		"<filesystem type='file'><driver type='loop' format='raw'/><source file='/i.img'/><target dir='/data'/></filesystem>",
		"<filesystem type='file'><source file='/i.img'/><target dir='/data'/><readonly/></filesystem>",
		"<hostdev mode='capabilities' type='storage'><source><block>/dev/sdb</block></source></hostdev>",
		"<hostdev mode='capabilities' type='misc'><source><char>/dev/tty0</char></source></hostdev>",
		"<interface type='direct'><source dev='eth0' mode='bridge'/></interface>",
		"<hostdev mode='capabilities' type='net'><source><interface>eth1</interface></source></hostdev>",
	} {
		if un := dev(x).Unsupported(); len(un) != 0 {
			t.Errorf("%s: runs, but Unsupported() = %q", x, un)
		}
	}
	privnet, _ := mustParse(t, []byte(with("<devices>", "<features><privnet/></features><devices>")))
	eq(t, "privnet", privnet.NeedsNetNS(), true)

	for x, want := range map[string]string{
		"<filesystem type='file'><driver type='nbd' format='qcow2'/><source file='/i.qcow2'/><target dir='/data'/></filesystem>": "<filesystem type='file'> at /data: <driver type='nbd'> (qemu-nbd) is not supported by lxctl yet",
		"<filesystem type='template'><source name='debian'/><target dir='/data'/></filesystem>":                                  "<filesystem type='template'> at /data",
		"<filesystem type='volume'><source pool='p' volume='v'/><target dir='/data'/></filesystem>":                              "<filesystem type='volume'> at /data",
		"<serial type='pty'/>": "<serial>: serial devices are not wired up for containers (use <console type='pty'/>)",
		"<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/></source></hostdev>": "<hostdev type='usb'>: lxctl cannot pass host devices into a container yet",
	} {
		un := dev(x).Unsupported()
		if len(un) != 1 || !strings.Contains(un[0], want) {
			t.Errorf("%s: Unsupported() = %q, want %q", x, un, want)
		}
	}
	sec, warns := mustParse(t, []byte(with("</devices>", "</devices>\n  <seclabel type='dynamic' model='selinux'/>")))
	if un := sec.Unsupported(); len(un) != 1 || !strings.Contains(un[0], "<seclabel type='dynamic'>") {
		t.Errorf("seclabel: %q", un)
	}
	if len(warns) != 1 || warns[0].Line != 15 || warns[0].Element != "seclabel" {
		t.Errorf("seclabel warning: %+v", warns)
	}
	auto, _ := mustParse(t, []byte(with("<os>", "<vcpu placement='auto'>2</vcpu><numatune><memory mode='strict' placement='auto'/></numatune><os>")))
	eq(t, "auto placement", len(auto.Unsupported()), 2)
}

func TestCPUSet(t *testing.T) {
	for in, want := range map[string]string{
		"0-3,^2,5":      "0-1,3,5",
		"7":             "7",
		" 1 - 2 , 5-7 ": "1-2,5-7",
		"3,1,2,2":       "1-3",
		"0-16383":       "0-16383",
	} {
		ids, err := ParseCPUSet(in)
		if err != nil || FormatCPUSet(ids) != want {
			t.Errorf("ParseCPUSet(%q) = %v, %v; formatted %q, want %q", in, ids, err, FormatCPUSet(ids), want)
		}
	}
	for _, in := range []string{"", ",", "1,", "a", "3-1", "^1-2", "-1", "16384", "1,^1", "1--2"} {
		if _, err := ParseCPUSet(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseCPUSet(%q) accepted", in)
		}
	}
}

func TestHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"4dea22b3-1d52-d8f3-2516-782e98ab3fa0":    "4dea22b3-1d52-d8f3-2516-782e98ab3fa0",
		"4DEA22B31D52D8F32516782E98AB3FA0":        "4dea22b3-1d52-d8f3-2516-782e98ab3fa0",
		" 4dea22b3-1d52-d8f3-2516-782e98ab3fa0\n": "4dea22b3-1d52-d8f3-2516-782e98ab3fa0",
	} {
		if got, ok := parseUUID(in); !ok || got != want {
			t.Errorf("parseUUID(%q) = %q %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "4dea22b3-1d52-d8f3-2516-782e98ab3fa", "4dea22b31-d52-d8f3-2516-782e98ab3fa0", "zzea22b3-1d52-d8f3-2516-782e98ab3fa0", "{4dea22b3-1d52-d8f3-2516-782e98ab3fa0}"} {
		if _, ok := parseUUID(in); ok {
			t.Errorf("parseUUID(%q) accepted", in)
		}
	}
	for in, want := range map[string]string{"0:1:2:3:4:5": "00:01:02:03:04:05", "FE:ff:00:00:00:01": "fe:ff:00:00:00:01"} {
		if got, msg := parseMAC(in); got != want || msg != "" {
			t.Errorf("parseMAC(%q) = %q %q", in, got, msg)
		}
	}
	for _, in := range []string{"", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "52-54-00-00-00-01", "52:54:00:00:00", "52:54:00:00:00:001"} {
		if _, msg := parseMAC(in); msg == "" {
			t.Errorf("parseMAC(%q) accepted", in)
		}
	}
	want := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l"}[runtime.GOARCH]
	if want != "" && HostArch() != want {
		t.Errorf("HostArch() = %q on %s, want %q", HostArch(), runtime.GOARCH, want)
	}
	e := &Error{Element: "memory", Value: "x", Line: 4, Msg: "bad"}
	eq(t, "error text", e.Error(), "line 4: memory: bad")
	eq(t, "no line", (&Error{Msg: "bad"}).Error(), "bad")
	eq(t, "is", errors.Is(e, ErrInvalid), true)
	eq(t, "warning", Warning{Line: 3, Message: "m"}.String(), "line 3: m")
}

func TestEscapeForModelsBuiltInCode(t *testing.T) {
	d, _ := mustParse(t, []byte(goodDoc))
	d.Description = "bell\a, cr\r, bad utf8 \xff, tab\t ok"
	d.Devices.Filesystems[0].Source.Dir = "/srv/a'b\n\"c"
	out := mustMarshal(t, d)
	d2, _ := mustParse(t, out)
	eq(t, "description", d2.Description, "bell, cr\r, bad utf8 , tab\t ok")
	eq(t, "attr", d2.Devices.Filesystems[0].Source.Dir, "/srv/a'b\n\"c")
	checkRoundTrip(t, d2)
}
