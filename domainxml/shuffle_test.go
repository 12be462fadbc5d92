package domainxml

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestShuffledDocsStable builds documents from valid fragments in random
// order with unknown elements between them, and checks that writing is
// canonical: write(parse(write(parse(doc)))) == write(parse(doc)). Byte
// mutation fuzzing rarely produces such documents; this covers the
// placement of kept elements among reordered siblings.
func TestShuffledDocsStable(t *testing.T) {
	top := []string{
		"<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>", "<title>t</title>", "<description>d</description>",
		"<metadata><m:a xmlns:m='urn:m'>x</m:a></metadata>", "<currentMemory>100</currentMemory>",
		"<blkiotune><weight>100</weight>%s<device><path>/dev/sda</path><weight>200</weight></device></blkiotune>",
		"<memtune>%s<hard_limit>1</hard_limit><swap_hard_limit unit='MiB'>2</swap_hard_limit>%s</memtune>",
		"<vcpu placement='static' cpuset='0-1'>2</vcpu>", "<cputune><shares>10</shares>%s<quota>-1</quota></cputune>",
		"<numatune>%s<memory mode='strict' nodeset='0'/>%s</numatune>", "<resource>%s<partition>/machine</partition></resource>",
		"<idmap>%s<uid start='0' target='1000' count='10'/><gid start='0' target='1000' count='10'/>%s</idmap>",
		"<features>%s<privnet/>%s<capabilities policy='allow'><mknod state='off'/></capabilities>%s</features>",
		"<clock offset='localtime'>%s<timer name='rtc'/>%s</clock>", "<on_poweroff>preserve</on_poweroff>",
		"<on_reboot>destroy</on_reboot>", "<on_crash>coredump-restart</on_crash>", "<seclabel type='none'/>",
	}
	devices := []string{
		"<emulator>/e</emulator>",
		"<filesystem type='mount'>%s<source dir='/s'/>%s<target dir='/'/>%s<readonly/>%s</filesystem>",
		"<filesystem type='ram' accessmode='squash'><source usage='1' units='GiB'/>%s<target dir='/tmp'/></filesystem>",
		"<interface type='bridge'>%s<mac address='52:54:00:00:00:01'/><source bridge='br0'/>%s<ip address='10.0.0.2' prefix='8'/>%s<route address='0.0.0.0' gateway='10.0.0.1'/><target dev='v1'/><guest dev='eth0'/>%s<link state='down'/><mtu size='1400'/>%s</interface>",
		"<interface type='ethernet'><source><ip address='10.1.0.1'/><route address='10.2.0.0' prefix='16' gateway='10.1.0.2' metric='5'/></source>%s</interface>",
		"<console type='pty'>%s<target type='lxc' port='0'/>%s</console>", "<console type='pty'/>",
		"<serial type='pty'>%s<target port='0'/></serial>",
		"<hostdev mode='capabilities' type='net'>%s<source><interface>eth1</interface></source><ip address='10.3.0.1'/>%s</hostdev>",
	}
	osFrag := "<os>%s<type arch='i686'>exe</type>%s<init>/sbin/init</init><initarg>-a</initarg>%s<initenv name='A'>b</initenv><initdir>/</initdir><inituser>u</inituser><initgroup>g</initgroup><cmdline>c</cmdline>%s</os>"
	rng := rand.New(rand.NewPCG(1, 2))
	unknown := func() string {
		if rng.IntN(3) > 0 {
			return ""
		}
		return []string{"<u1/>", "<u2 a='1'>text</u2>", "<u3><u4/></u3>", "<!-- c -->", "<p:u5 xmlns:p='urn:p'/>"}[rng.IntN(5)]
	}
	fill := func(s string) string {
		for strings.Contains(s, "%s") {
			s = strings.Replace(s, "%s", unknown(), 1)
		}
		return s
	}
	pick := func(frags []string) []string {
		var out []string
		for _, f := range frags {
			if rng.IntN(2) == 0 {
				out = append(out, fill(f))
			}
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	for i := range 1000 {
		parts := append(pick(top), "<name>n</name>", "<memory>1000</memory>", fill(osFrag))
		dev := pick(devices)
		parts = append(parts, "<devices>"+unknown()+strings.Join(dev, unknown())+unknown()+"</devices>")
		rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		var b strings.Builder
		b.WriteString("<domain type='lxc'>")
		for _, p := range parts {
			b.WriteString(unknown() + p)
		}
		b.WriteString(unknown() + "</domain>")
		d, _, err := Parse([]byte(b.String()))
		if err != nil {
			t.Fatalf("case %d rejected: %v\n%s", i, err, b.String())
		}
		stable(t, d)
		d.SetDefaults("x86_64", "/usr/libexec/lxctl")
		stable(t, d)
	}
}
