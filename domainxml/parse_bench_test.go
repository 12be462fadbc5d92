package domainxml

import "testing"

// benchDomain is corpus-sized (about 1.8 kB, like the largest documents in
// the libvirt LXC corpus): a root filesystem, a tmpfs, a read-only bind, a
// bridged interface with addresses and routes, two consoles, tuning and an
// explicit capability policy. It is inline so `make bench` needs nothing
// outside the repository.
const benchDomain = `<domain type='lxc'>
  <name>migrate_test</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='KiB'>65536</memory>
  <currentMemory unit='KiB'>65536</currentMemory>
  <memtune><hard_limit unit='KiB'>131072</hard_limit></memtune>
  <vcpu placement='static'>1</vcpu>
  <cputune><shares>1024</shares><period>100000</period><quota>50000</quota></cputune>
  <os>
    <type arch='x86_64'>exe</type>
    <init>/sbin/init</init>
    <initarg>--log-level=info</initarg>
    <initenv name='FOO'>bar</initenv>
  </os>
  <features>
    <privnet/>
    <capabilities policy='allow'>
      <mac_admin state='off'/>
      <mac_override state='off'/>
      <mknod state='off'/>
      <sys_module state='off'/>
    </capabilities>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/libexec/libvirt_lxc</emulator>
    <filesystem type='mount' accessmode='passthrough'>
      <source dir='/var/lib/lxc/migrate_test/rootfs'/>
      <target dir='/'/>
    </filesystem>
    <filesystem type='ram' accessmode='passthrough'>
      <source usage='8192' units='KiB'/>
      <target dir='/run'/>
    </filesystem>
    <filesystem type='mount' accessmode='passthrough'>
      <source dir='/etc/resolv.conf'/>
      <target dir='/etc/resolv.conf'/>
      <readonly/>
    </filesystem>
    <interface type='bridge'>
      <mac address='02:00:15:8f:05:c1'/>
      <source bridge='virbr0'/>
      <ip address='192.168.122.2' family='ipv4' prefix='24'/>
      <route family='ipv4' address='0.0.0.0' gateway='192.168.122.1'/>
      <guest dev='eth0'/>
    </interface>
    <console type='pty'>
      <target type='lxc' port='0'/>
    </console>
  </devices>
</domain>
`

func BenchmarkParse(b *testing.B) {
	data := []byte(benchDomain)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	d, _, err := Parse([]byte(benchDomain))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}
