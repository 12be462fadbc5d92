package domainxml

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"slices"

	"github.com/google/uuid"
)

// HostArch is the host's architecture under libvirt's name for it.
func HostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "386":
		return "i686"
	case "arm64":
		return "aarch64"
	case "arm":
		return "armv7l"
	case "loong64":
		return "loongarch64"
	case "mipsle":
		return "mipsel"
	case "mips64le":
		return "mips64el"
	}
	return runtime.GOARCH // ppc64, ppc64le, s390x, riscv64, mips, mips64
}

// runningArch is what Parse checks <type arch> against; tests pin it so the
// corpus (written on x86_64) parses on any builder.
var runningArch = HostArch

// arch32 is the 32-bit personality a 64-bit host can run, as libvirt's
// LXC capabilities list it.
var arch32 = map[string]string{
	"x86_64": "i686", "aarch64": "armv7l", "ppc64": "ppc", "ppc64le": "ppcle",
	"s390x": "s390", "sparc64": "sparc", "mips64": "mips", "mips64el": "mipsel",
}

var knownArchs = []string{
	"alpha", "armv6l", "armv7l", "armv7b", "aarch64", "cris", "i686", "ia64",
	"lm32", "loongarch64", "m68k", "microblaze", "microblazeel", "mips",
	"mipsel", "mips64", "mips64el", "openrisc", "parisc", "parisc64", "ppc",
	"ppcle", "ppc64", "ppc64le", "ppcemb", "riscv32", "riscv64", "s390",
	"s390x", "sh4", "sh4eb", "sparc", "sparc64", "unicore32", "x86_64",
	"xtensa", "xtensaeb",
}

// checkArch returns why arch cannot run here, or "".
func checkArch(arch string) string {
	host := runningArch()
	use := host
	if a, ok := arch32[host]; ok {
		use += " or " + a
	}
	switch {
	case !slices.Contains(knownArchs, arch):
		return fmt.Sprintf("unknown architecture '%s' (use %s on this host)", arch, use)
	case arch != host && arch != arch32[host]:
		return fmt.Sprintf("architecture '%s' cannot run on this %s host (use %s)", arch, host, use)
	}
	return ""
}

// SetDefaults fills in what libvirt fills in when a domain is defined, so
// that dumpxml shows what will actually run. It only fills what is empty,
// so calling it again changes nothing. emulator is the controller binary
// recorded in <emulator> when the document names none.
//
// One difference from libvirt: a domain with no console gets one pty
// console, where libvirt refuses to start it.
func (d *Domain) SetDefaults(hostArch, emulator string) {
	d.Type = "lxc"
	if d.UUID == "" {
		d.UUID = uuid.New().String()
	}
	if d.CurrentMemory == 0 || d.CurrentMemory > d.Memory {
		d.CurrentMemory = d.Memory
	}
	if d.VCPU.Count == 0 {
		d.VCPU.Count = 1
	}
	setIfEmpty(&d.VCPU.Placement, "static")
	if n := d.NUMATune; n != nil && (n.Nodeset != "" || n.Placement != "") {
		setIfEmpty(&n.Mode, "strict")
	}
	setIfEmpty(&d.OS.Type, "exe")
	setIfEmpty(&d.OS.Arch, hostArch)
	if c := d.Features.Capabilities; c != nil {
		setIfEmpty(&c.Policy, "default")
	}
	setIfEmpty(&d.Clock.Offset, "utc")
	setIfEmpty(&d.OnPoweroff, "destroy")
	setIfEmpty(&d.OnReboot, "restart")
	setIfEmpty(&d.OnCrash, "destroy")

	dv := &d.Devices
	setIfEmpty(&dv.Emulator, emulator)
	for i := range dv.Filesystems {
		fs := &dv.Filesystems[i]
		setIfEmpty(&fs.Type, "mount")
		setIfEmpty(&fs.AccessMode, "passthrough")
	}
	for i := range dv.Interfaces {
		ifc := &dv.Interfaces[i]
		if ifc.MAC == "" {
			ifc.MAC = randomMAC()
		}
		if ifc.Type == "direct" {
			setIfEmpty(&ifc.Source.Mode, "vepa")
		}
		setFamilies(ifc.IPs)
		setFamilies(ifc.Source.IPs)
	}
	for i := range dv.Hostdevs {
		hd := &dv.Hostdevs[i]
		setIfEmpty(&hd.Mode, "subsystem")
		setFamilies(hd.IPs)
	}
	if len(dv.Consoles) == 0 {
		dv.Consoles = []Console{{Type: "pty", TargetType: "lxc"}}
	}
	// Consoles are numbered in order; an explicit port is kept and later
	// unnumbered ones continue after the highest so far.
	next := 0
	for i := range dv.Consoles {
		c := &dv.Consoles[i]
		setIfEmpty(&c.Type, "pty")
		if c.TargetType == "" || c.TargetType == "none" {
			c.TargetType = "lxc"
		}
		if c.Port == 0 && i > 0 {
			c.Port = next
		}
		next = max(next, c.Port+1)
	}
	for i := range dv.Serials {
		setIfEmpty(&dv.Serials[i].Type, "pty")
	}
}

func setIfEmpty(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// setFamilies writes out the family libvirt derives from each address (it
// does so for <ip>, not for <route>).
func setFamilies(ips []IP) {
	for i := range ips {
		if a, err := parseAddr(ips[i].Address); err == nil {
			setIfEmpty(&ips[i].Family, addrFamily(a))
		}
	}
}

// randomMAC returns an address in the 52:54:00 prefix libvirt (and QEMU)
// use for generated NICs.
func randomMAC() string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand aborts the program instead
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", b[0], b[1], b[2])
}
