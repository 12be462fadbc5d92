package domainxml

import (
	"bytes"
	"os"
	"regexp"
	"testing"
)

// TestGolden defines the two examples of libvirt's LXC driver
// documentation the way define does (Parse, SetDefaults, Marshal) and
// compares with testdata/domains/*.golden.xml. go test -update rewrites
// the goldens.
func TestGolden(t *testing.T) {
	fixed := map[string]struct{ uuid, mac string }{
		"vm1": {"5c7bd9a4-4f3e-4a8c-9d43-0a1b2c3d4e51", "52:54:00:a1:b2:01"},
		"vm2": {"5c7bd9a4-4f3e-4a8c-9d43-0a1b2c3d4e52", "52:54:00:a1:b2:02"},
	}
	uuidV4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	libvirtMAC := regexp.MustCompile(`^52:54:00(:[0-9a-f]{2}){3}$`)
	for name, f := range fixed {
		t.Run(name, func(t *testing.T) {
			d, warns := mustParse(t, readFile(t, "../testdata/domains/"+name+".xml"))
			if len(warns) != 0 {
				t.Errorf("warnings: %v", warns)
			}
			d.SetDefaults("x86_64", "/usr/libexec/lxctl")
			if !uuidV4.MatchString(d.UUID) {
				t.Errorf("generated uuid %q is not a random (v4) uuid", d.UUID)
			}
			mac := d.Devices.Interfaces[0].MAC
			if !libvirtMAC.MatchString(mac) {
				t.Errorf("generated mac %q is not 52:54:00:xx:xx:xx", mac)
			}
			// The generated values are random: pin them for the golden.
			d.UUID, d.Devices.Interfaces[0].MAC = f.uuid, f.mac
			got := mustMarshal(t, d)
			golden := "../testdata/domains/" + name + ".golden.xml"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, golden); !bytes.Equal(got, want) {
				t.Errorf("%s differs (go test -update rewrites it):\n%s", golden, diff(want, got))
			}
		})
	}
}
