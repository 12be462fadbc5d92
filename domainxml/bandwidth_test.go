package domainxml

import (
	"strings"
	"testing"
)

func TestInterfaceBandwidthVLAN(t *testing.T) {
	ifc := func(inner string) string {
		return devs("<interface type='bridge'><source bridge='br0'/>" + inner + "</interface>")
	}
	d, warns := mustParse(t, []byte(ifc(`<bandwidth><inbound average='1000' peak='2000' burst='256'/><outbound average='500'/></bandwidth><vlan trunk='yes'><tag id='42' nativeMode='untagged'/><tag id='7'/></vlan>`)))
	if len(warns) != 0 {
		t.Errorf("bandwidth and vlan run: no warning, got %v", warns)
	}
	i := &d.Devices.Interfaces[0]
	bw, err := i.Bandwidth()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "inbound", *bw.Inbound, Rate{Average: 1000, Peak: 2000, Burst: 256})
	eq(t, "outbound", *bw.Outbound, Rate{Average: 500})
	tags, trunk, native, err := i.VLANTags()
	eq(t, "vlan", []any{tags, trunk, native, err}, []any{[]int{42, 7}, true, 42, error(nil)})
	out, _ := d.Marshal()
	if !strings.Contains(string(out), "<inbound average='1000' peak='2000' burst='256'/>") {
		t.Errorf("bandwidth not written back:\n%s", out)
	}

	// What cannot run is a warning at define.
	d, _ = mustParse(t, []byte(ifc(`<virtualport type='openvswitch'/><bandwidth><inbound average='1' floor='10'/></bandwidth>`)))
	eq(t, "unsupported", len(d.Unsupported()), 2)

	for x, want := range map[string]string{
		`<bandwidth><inbound peak='10'/></bandwidth>`:             "average is required",
		`<bandwidth><outbound average='x'/></bandwidth>`:          "not a whole number of KiB/s",
		`<bandwidth><inbound average='10' peak='5'/></bandwidth>`: "peak 5 is below average 10",
		`<bandwidth><sideways average='1'/></bandwidth>`:          "unknown direction",
		`<vlan><tag id='5000'/></vlan>`:                           "not a VLAN id",
		`<vlan/>`:                                                 "needs at least one <tag",
	} {
		_, _, err := Parse([]byte(ifc(x)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", x, err, want)
		}
	}
}
