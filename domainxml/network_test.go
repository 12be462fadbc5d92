package domainxml

import (
	"os"
	"strings"
	"testing"
)

func TestParseNetworkShipped(t *testing.T) {
	data, err := os.ReadFile("../testdata/networks/default.xml")
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseNetwork(data)
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "default" || n.Bridge != "lxctlbr0" || n.Forward != "nat" || n.IP == nil || !n.IP.HasRange() {
		t.Fatalf("parsed %+v", n)
	}
	if got := n.IP.Subnet().String(); got != "192.168.124.0/24" {
		t.Errorf("subnet %s", got)
	}
	// Canonical: writing and parsing again gives the same bytes.
	n.UUID = NewUUID()
	out, _ := n.Marshal()
	n2, err := ParseNetwork(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out2, _ := n2.Marshal()
	if string(out) != string(out2) {
		t.Errorf("not canonical:\n%s\n%s", out, out2)
	}
}

func TestParseNetworkPrefixAndLibvirtDefault(t *testing.T) {
	// libvirt's own default network, as virsh net-dumpxml prints it.
	n, err := ParseNetwork([]byte(`<network>
  <name>default</name>
  <uuid>0A4C4D1B-7E0B-4A53-9D9B-4C1A6E5F7A10</uuid>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <mac address='52:54:00:0a:cd:21'/>
  <ip address='192.168.122.1' prefix='24'>
    <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>
  </ip>
</network>`))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := n.Marshal()
	for _, want := range []string{"<uuid>0a4c4d1b-7e0b-4a53-9d9b-4c1a6e5f7a10</uuid>", "netmask='255.255.255.0'", "stp='on' delay='0'", "<mac address='52:54:00:0a:cd:21'/>"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
}

func TestParseNetworkErrors(t *testing.T) {
	for _, c := range []struct{ xml, want string }{
		{`<domain/>`, "root element must be <network>"},
		{`<network><bridge name='b0'/></network>`, "missing <name>"},
		{`<network><name>n</name></network>`, "missing <bridge"},
		{`<network><name>n</name><bridge name='waytoolongbridgename'/></network>`, "15 characters"},
		{`<network><name>n</name><bridge name='b0'/><forward mode='route'/></network>`, "mode='route'> is not supported"},
		{`<network><name>n</name><bridge name='b0'/><forward mode='nat'/></network>`, "needs an <ip"},
		{`<network><name>n</name><bridge name='b0'/><ip address='10.0.0.1' netmask='255.0.255.0'/></network>`, "contiguous"},
		{`<network><name>n</name><bridge name='b0'/><ip address='10.0.0.1'/></network>`, "missing netmask"},
		{`<network><name>n</name><bridge name='b0'/><ip address='10.0.0.0' prefix='24'/></network>`, "network's own or broadcast"},
		{`<network><name>n</name><bridge name='b0'/><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.1.2' end='10.0.1.9'/></dhcp></ip></network>`, "must lie inside 10.0.0.0/24"},
		{`<network><name>n</name><bridge name='b0'/><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.9' end='10.0.0.2'/></dhcp></ip></network>`, "is after end"},
		{`<network><name>n</name><bridge name='b0'/><ip family='ipv6' address='fd00::1' prefix='64'/></network>`, "IPv4 only"},
		{`<network><name>n</name><bridge name='b0'/><dns/></network>`, "<dns> is not supported"},
		{`<network><name>n</name><name>m</name><bridge name='b0'/></network>`, "given twice"},
	} {
		_, err := ParseNetwork([]byte(c.xml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.xml, err, c.want)
		}
	}
}
