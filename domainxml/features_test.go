package domainxml

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// featureCase states what each of lxctl's own feature documents
// (testdata/domains/features/NAME.xml) does. A canonical document is
// written back byte for byte, defaults included; any other one has the
// expected result of define (Parse, SetDefaults, Marshal) in out/NAME.xml.
type featureCase struct {
	canonical bool
	// warnings counts the warnings Parse gives: every element of a
	// document with none is modelled, not just kept.
	warnings int
	check    func(t *testing.T, d *Domain)
}

var features = map[string]featureCase{
	"identity.xml": {canonical: true, check: func(t *testing.T, d *Domain) {
		eq(t, "name", d.Name, "ident-1")
		eq(t, "uuid", d.UUID, "0c9e4f7a-3b21-4d6e-9a58-1f2e3d4c5b6a")
		eq(t, "title", d.Title, "Identity and lifecycle")
		eq(t, "description", strings.HasPrefix(d.Description, "Every identity element"), true)
		eq(t, "metadata kept", d.Metadata.FindElement("./owner/team").Text(), "corpus")
		eq(t, "memory", d.Memory, uint64(262144))
		eq(t, "currentMemory", d.CurrentMemory, uint64(131072))
		eq(t, "vcpu", d.VCPU.Count, 2)
		eq(t, "clock", d.Clock.Offset, "localtime")
		eq(t, "actions", []string{d.OnPoweroff, d.OnReboot, d.OnCrash}, []string{"preserve", "rename-restart", "coredump-restart"})
		eq(t, "emulator", d.Devices.Emulator, "/usr/libexec/lxctl")
		eq(t, "console", d.Devices.Consoles, []Console{{Type: "pty", TargetType: "lxc"}})
	}},
	"resources.xml": {canonical: true, check: func(t *testing.T, d *Domain) {
		m := d.MemTune
		eq(t, "memtune", []uint64{*m.HardLimit, *m.SoftLimit, *m.SwapHardLimit}, []uint64{393216, 262144, 786432})
		eq(t, "blkio weight", *d.BlkioTune.Weight, uint64(250))
		eq(t, "blkio device", d.BlkioTune.Devices[0].Path+" "+"400", "/dev/loop0 400")
		eq(t, "blkio device weight", *d.BlkioTune.Devices[0].Weight, uint64(400))
		eq(t, "cpuset", d.VCPU.CPUSet, "0-1,^1")
		c := d.CPUTune
		eq(t, "cputune", []int64{int64(*c.Shares), int64(*c.Period), *c.Quota}, []int64{512, 100000, 50000})
		eq(t, "partition", d.Resource.Partition, "/lxctl-test")
		eq(t, "capability", d.Features.Capabilities.Caps, []CapState{{Name: "sys_time", On: true}})
	}},
	"init.xml": {canonical: true, check: func(t *testing.T, d *Domain) {
		o := d.OS
		eq(t, "arch", o.Arch, "x86_64")
		eq(t, "init", o.Init, "/usr/bin/env")
		eq(t, "initargs", o.InitArgs, []string{"--", "/bin/sh -c 'echo started'"})
		eq(t, "initenv", o.InitEnv, []EnvVar{{"LANG", "C.UTF-8"}, {"GREETING", "hello world"}})
		eq(t, "initdir", o.InitDir, "/srv/work")
		eq(t, "user", o.InitUser+":"+o.InitGroup, "nobody:nogroup")
		eq(t, "uids", d.IDMap.UIDs, []IDMapEntry{{Start: 0, Target: 200000, Count: 65536}})
		eq(t, "gids", d.IDMap.GIDs, []IDMapEntry{{Start: 0, Target: 200000, Count: 65536}})
		eq(t, "privnet", d.Features.PrivNet, true)
		eq(t, "netns", d.NeedsNetNS(), true)
		eq(t, "policy", d.Features.Capabilities.Policy, "deny")
		eq(t, "caps", len(d.Features.Capabilities.Caps), 4)
	}},
	"filesystems.xml": {canonical: true, check: func(t *testing.T, d *Domain) {
		fs := d.Devices.Filesystems
		eq(t, "count", len(fs), 5)
		eq(t, "root", fs[0].Type+" "+fs[0].Source.Dir+" "+fs[0].Target, "mount /srv/lxctl/fs/rootfs /")
		eq(t, "bind", fs[1].Type+" "+fs[1].Target, "bind /data")
		eq(t, "readonly", fs[2].ReadOnly, true)
		eq(t, "ram bytes", fs[3].Source.UsageBytes, uint64(16384*1024))
		eq(t, "has root", d.HasRootFS(), true)
		eq(t, "host network", d.NeedsNetNS(), false)
	}},
	"interfaces.xml": {canonical: true, check: func(t *testing.T, d *Domain) {
		ifs := d.Devices.Interfaces
		eq(t, "types", []string{ifs[0].Type, ifs[1].Type, ifs[2].Type}, []string{"network", "bridge", "ethernet"})
		bw, _ := ifs[1].Bandwidth()
		eq(t, "bandwidth", *bw.Inbound, Rate{Average: 1000, Peak: 2000, Burst: 256})
		tags, _, _, _ := ifs[1].VLANTags()
		eq(t, "vlan", tags, []int{42})
		eq(t, "network", ifs[0].Source.Network, "default")
		b := ifs[1]
		eq(t, "bridge", b.Source.Bridge+" "+b.Target+" "+b.Guest, "br-test0 vnet-t2 lan0")
		eq(t, "ip6", b.IPs[1], IP{Address: "fd00:77::5", Family: "ipv6", Prefix: 64})
		eq(t, "route", b.Routes[0], Route{Family: "ipv4", Address: "0.0.0.0", Gateway: "10.77.0.1"})
		eq(t, "mtu link", []any{b.MTU, b.LinkState}, []any{1400, "up"})
		e := ifs[2]
		eq(t, "host ip", e.Source.IPs[0], IP{Address: "10.78.0.1", Family: "ipv4", Prefix: 32, Peer: "10.78.0.2"})
		eq(t, "host route", e.Source.Routes[0].Prefix, 16)
		eq(t, "down", e.LinkState, "down")
		eq(t, "netns", d.NeedsNetNS(), true)
	}},
	// Everything here is kept and written back, and each is a warning at
	// define: an nbd image, a virtualport, <pm> and <watchdog>. The direct
	// interface and the net hostdev run (eth9 and dummy-t0 are checked at
	// start).
	"unsupported.xml": {canonical: true, warnings: 4, check: func(t *testing.T, d *Domain) {
		fs := d.Devices.Filesystems
		eq(t, "file", fs[1].Type+" "+fs[1].Source.File, "file /srv/lxctl/kept/image.qcow2")
		eq(t, "driver", *fs[1].Driver, FSDriver{Type: "nbd", Format: "qcow2"})
		ifc := d.Devices.Interfaces[0]
		eq(t, "direct", ifc.Type+" "+ifc.Source.Dev+" "+ifc.Source.Mode, "direct eth9 bridge")
		h := d.Devices.Hostdevs
		eq(t, "hostdevs", h[0].Interface, "dummy-t0")
		eq(t, "hostdev mode", h[0].Mode, "capabilities")
		eq(t, "unsupported", len(d.Unsupported()), 2)
		eq(t, "kept", d.Extra[0].Elem.Tag+" "+d.Devices.Extra[0].Elem.Tag, "pm watchdog")
	}},
	// Images (a root, a read-only one), a block device and device nodes:
	// all run, no warning.
	"storage.xml": {canonical: true, check: func(t *testing.T, d *Domain) {
		fs := d.Devices.Filesystems
		eq(t, "root image", fs[0].Type+" "+fs[0].Source.File+" "+fs[0].Target, "file /srv/lxctl/storage/root.img /")
		eq(t, "driver", *fs[0].Driver, FSDriver{Type: "loop", Format: "raw"})
		eq(t, "no driver", fs[1].Driver == nil, true)
		eq(t, "readonly", fs[1].ReadOnly, true)
		eq(t, "block", fs[2].Type+" "+fs[2].Source.Dev, "block /dev/disk/by-label/data")
		h := d.Devices.Hostdevs
		eq(t, "hostdevs", []string{h[0].Type, h[0].Block, h[1].Type, h[1].Char}, []string{"storage", "/dev/sdb", "misc", "/dev/net/tun"})
		eq(t, "root", d.HasRootFS(), true)
		eq(t, "netns", d.NeedsNetNS(), false)
		eq(t, "unsupported", len(d.Unsupported()), 0)
	}},
	// Hand-written: no defaults, no units, another element order.
	// Joins the named network namespace 'red' (libvirt's lxc-sharenet):
	// no warning, no own namespace.
	"sharenet.xml": {canonical: true, check: func(t *testing.T, d *Domain) {
		typ, v := d.ShareNet()
		eq(t, "sharenet", typ+" "+v, "netns red")
		eq(t, "no own netns", d.NeedsNetNS(), false)
		eq(t, "runs", len(d.Unsupported()), 0)
	}},
	"minimal.xml": {check: func(t *testing.T, d *Domain) {
		eq(t, "uuid canonical", d.UUID, "3e0b6a4c-9d2f-4e1a-8b7c-6d5e4f3a2b1c")
		eq(t, "no currentMemory yet", d.CurrentMemory, uint64(0))
		eq(t, "fs type not filled in by Parse", d.Devices.Filesystems[0].Type, "")
	}},
	// Sizes in each unit: stored in KiB, rounded up (tmpfs sizes too).
	"units.xml": {check: func(t *testing.T, d *Domain) {
		eq(t, "1 GB", d.Memory, uint64(976563))
		eq(t, "512 MB", d.CurrentMemory, uint64(500000))
		eq(t, "1 TiB", *d.MemTune.SwapHardLimit, uint64(1<<30))
		var got []uint64
		for _, fs := range d.Devices.Filesystems {
			got = append(got, fs.Source.UsageBytes)
		}
		eq(t, "tmpfs bytes", got, []uint64{16 << 20, 1 << 30, 3907 << 10, 1e12, 977 << 10})
	}},
}

func TestFeatures(t *testing.T) {
	files, err := filepath.Glob(featuresDir + "/*.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(features) {
		t.Errorf("%s has %d documents, the table %d: every file needs a row", featuresDir, len(files), len(features))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			c, ok := features[name]
			if !ok {
				t.Fatalf("no row in the features table")
			}
			in := readFile(t, f)
			d, warns := mustParse(t, in)
			if len(warns) != c.warnings {
				t.Errorf("got %d warnings, want %d: %v", len(warns), c.warnings, warns)
			}
			c.check(t, d)
			if out := mustMarshal(t, d); c.canonical && !bytes.Equal(out, in) {
				t.Errorf("Marshal(Parse(file)) differs from the file:\n%s", diff(in, out))
			}
			d.SetDefaults("x86_64", "/usr/libexec/lxctl")
			got := mustMarshal(t, d)
			want, golden := in, filepath.Join(featuresDir, "out", name)
			if !c.canonical {
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want = readFile(t, golden)
			} else if _, err := os.Stat(golden); err == nil {
				t.Errorf("%s exists, but %s is canonical: remove it", golden, name)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("define's result differs from the expected one (go test -update rewrites out/):\n%s", diff(want, got))
			}
		})
	}
}

// requirement is one thing the README's "Domain XML supported" table lists:
// an element (path below <domain>, "" for <domain> itself), optionally with
// an attribute and, when value is not "", that attribute's value.
type requirement struct {
	path, attr, value string
}

func (r requirement) String() string {
	s := "<domain>/" + r.path
	if r.attr != "" {
		s += "@" + r.attr
		if r.value != "" {
			s += "='" + r.value + "'"
		}
	}
	return s
}

var (
	backticked = regexp.MustCompile("`([^`]+)`")
	braces     = regexp.MustCompile(`^(.*)\{([^}]*)\}$`)
	unitsList  = regexp.MustCompile(`\(units ([^)]*)\)`)
)

// readmeTable reads the first column of each row of the README's "Domain
// XML supported" table into requirements, the units it names, and whether
// it promises that unknown elements are kept ("anything else").
func readmeTable(t *testing.T) (reqs []requirement, units []string, anythingElse bool) {
	t.Helper()
	readme := string(readFile(t, "../README.md"))
	_, table, ok := strings.Cut(readme, "\n## Domain XML supported\n")
	if !ok {
		t.Fatal(`README.md has no "## Domain XML supported" section`)
	}
	table, _, _ = strings.Cut(table, "\n## ")
	rows := 0
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| ") || len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") || strings.TrimSpace(cells[1]) == "element" {
			continue
		}
		rows++
		col := cells[1]
		if strings.TrimSpace(col) == "anything else" {
			anythingElse = true
			continue
		}
		if m := unitsList.FindStringSubmatch(col); m != nil {
			for _, u := range strings.Split(m[1], ",") {
				if u = strings.TrimSpace(u); u != "..." {
					units = append(units, u)
				}
			}
			col = strings.Replace(col, m[0], "", 1)
		}
		before := len(reqs)
		base, typeList := "", false
		rest := col
		for {
			loc := backticked.FindStringSubmatchIndex(rest)
			if loc == nil {
				break
			}
			lead, tok := rest[:loc[0]], rest[loc[2]:loc[3]]
			rest = rest[loc[1]:]
			typeList = base != "" && (strings.HasSuffix(lead, " type ") || typeList && strings.TrimSpace(lead) == ",")
			switch {
			case typeList:
				// "`devices/filesystem` type `mount`, `bind`"
				reqs = append(reqs, requirement{base, "type", tok})
			case strings.HasSuffix(lead, "(+"):
				// "`vcpu` (+`cpuset`)": an attribute of the element before
				reqs = append(reqs, requirement{base, tok, ""})
			default:
				path, attrPart, _ := strings.Cut(tok, " ")
				if p, a, ok := strings.Cut(path, "/@"); ok {
					// "`domain/@type`"
					reqs = append(reqs, requirement{strings.TrimPrefix(p, "domain"), a, ""})
					continue
				}
				if attrPart != "" {
					// "`devices/console type='pty'`"
					k, v, _ := strings.Cut(attrPart, "=")
					reqs = append(reqs, requirement{path, k, strings.Trim(v, `'"`)})
					base = path
					continue
				}
				base = path
				if m := braces.FindStringSubmatch(path); m != nil {
					for _, child := range strings.Split(m[2], ",") {
						reqs = append(reqs, requirement{m[1] + child, "", ""})
					}
				} else {
					reqs = append(reqs, requirement{path, "", ""})
				}
			}
		}
		if len(reqs) == before {
			t.Errorf("README table row %q names no element this test understands: extend readmeTable", strings.TrimSpace(line))
		}
	}
	if rows < 15 {
		t.Fatalf("read only %d rows of the README's table: the parser no longer matches it", rows)
	}
	return reqs, units, anythingElse
}

// TestFeaturesCoverREADME checks that lxctl's own documents use every
// element, attribute value and unit of the README's "Domain XML supported"
// table, so the tests that run over them cover what the README promises
// without libvirt's corpus.
func TestFeaturesCoverREADME(t *testing.T) {
	reqs, units, anythingElse := readmeTable(t)
	if len(reqs) < 40 {
		t.Fatalf("read only %d requirements from the README's table: the parser no longer matches it", len(reqs))
	}
	files, _ := filepath.Glob(featuresDir + "/*.xml")
	var roots []*etree.Element
	warned := false
	for _, f := range files {
		doc := etree.NewDocument()
		if err := doc.ReadFromFile(f); err != nil {
			t.Fatal(err)
		}
		roots = append(roots, doc.Root())
		_, warns := mustParse(t, readFile(t, f))
		for _, w := range warns {
			warned = warned || strings.HasPrefix(w.Message, "unknown element")
		}
	}
	for _, r := range reqs {
		found := false
		for _, root := range roots {
			elems := []*etree.Element{root}
			if r.path != "" {
				elems = root.FindElements("./" + r.path)
			}
			for _, e := range elems {
				a := e.SelectAttr(r.attr)
				if r.attr == "" || a != nil && (r.value == "" || a.Value == r.value) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("the README lists %s, but no document in %s has it", r, featuresDir)
		}
	}
	var used []string
	for _, root := range roots {
		for _, e := range append(root.FindElements("//*[@unit]"), root.FindElements("//*[@units]")...) {
			used = append(used, e.SelectAttrValue("unit", e.SelectAttrValue("units", "")))
		}
	}
	for _, u := range units {
		if !slices.Contains(used, u) {
			t.Errorf("the README lists unit %s, but no document in %s uses it", u, featuresDir)
		}
	}
	if anythingElse && !warned {
		t.Errorf("the README says unknown elements are kept and warned about, but no document in %s has one", featuresDir)
	}
}
