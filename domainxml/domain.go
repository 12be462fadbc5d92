package domainxml

import (
	"strconv"

	"github.com/beevik/etree"
)

// Domain is one <domain type='lxc'> definition. Sizes are held in KiB (as
// libvirt stores them) unless a field says otherwise; optional tunables are
// pointers so that "absent" and "zero" stay distinct through a round trip.
type Domain struct {
	Type string // always "lxc" once parsed
	// ID is the live id (the controller's pid); 0 means none. It is only
	// written, never read from input: an inactive definition has no id.
	ID int

	Name        string
	UUID        string // canonical: dashed, lower case
	Title       string
	Description string
	// Metadata is kept verbatim (a copy of the <metadata> element), nil if absent.
	Metadata *etree.Element
	// Security is lxctl's own <lxctl:security> element of Metadata, parsed.
	Security Security

	Memory        uint64 // KiB, > 0 after validation
	CurrentMemory uint64 // KiB; defaults to Memory
	MemTune       MemTune
	BlkioTune     BlkioTune
	VCPU          VCPU
	CPUTune       CPUTune
	Resource      Resource

	OS       OS
	IDMap    IDMap
	Features Features
	Clock    Clock

	OnPoweroff string // destroy|restart|rename-restart|preserve (coredump-* only for crash)
	OnReboot   string
	OnCrash    string

	Devices Devices

	// Extra holds elements lxctl does not model at this level, kept for
	// dumpxml and reported as warnings at define.
	Extra []Unknown

	// NUMATune is nil when <numatune> is absent. Kept and written back;
	// lxctl does not apply it yet (see Unsupported).
	NUMATune *NUMATune
	// Namespaces are the xmlns declarations of <domain> (e.g. prefix
	// "lxc" for <lxc:namespace>), kept so prefixed Extra elements stay
	// well formed in the output.
	Namespaces []Namespace
}

// Namespace is one xmlns declaration; Prefix "" is the default namespace.
type Namespace struct {
	Prefix string
	URI    string
}

// NUMATune is <numatune><memory mode nodeset placement/></numatune>; other
// children (<memnode>) stay in Extra.
type NUMATune struct {
	Mode      string // strict (default), preferred, interleave, restrictive
	Nodeset   string // as written, e.g. "0-1"
	Placement string // "", static, auto
	Extra     []Unknown
}

// Unknown is an element lxctl does not model. After names the modelled
// sibling it followed in the input ("" for the first position), so the
// writer can put it back in the same place and output stays canonical.
type Unknown struct {
	After string
	Elem  *etree.Element
}

type MemTune struct {
	HardLimit     *uint64 // KiB
	SoftLimit     *uint64
	SwapHardLimit *uint64
	MinGuarantee  *uint64
	Extra         []Unknown
}

type BlkioTune struct {
	Weight  *uint64
	Devices []BlkioDevice
	Extra   []Unknown
}

type BlkioDevice struct {
	Path          string
	Weight        *uint64
	ReadIOPS      *uint64
	WriteIOPS     *uint64
	ReadBytesSec  *uint64
	WriteBytesSec *uint64
}

type VCPU struct {
	Count     int    // default 1
	Placement string // static|auto, default static
	CPUSet    string // as written, e.g. "1-2,5"; "" = all
	Current   int    // 0 = same as Count
}

type CPUTune struct {
	Shares *uint64
	Period *uint64 // µs, 1000..1000000
	Quota  *int64  // µs, -1 or 1000..17592186044415
	Extra  []Unknown
}

type Resource struct {
	Partition string // "" = /machine at start
	Extra     []Unknown
}

type OS struct {
	Type      string // "exe"
	Arch      string // host arch by default
	Init      string
	InitArgs  []string
	InitEnv   []EnvVar
	InitDir   string
	InitUser  string
	InitGroup string
	Cmdline   string
	Extra     []Unknown
}

type EnvVar struct {
	Name  string
	Value string
}

type IDMap struct {
	UIDs  []IDMapEntry // sorted by Start, as libvirt keeps them
	GIDs  []IDMapEntry
	Extra []Unknown
}

type IDMapEntry struct {
	Start  uint32 // id inside the container
	Target uint32 // id on the host
	Count  uint32
}

type Features struct {
	Present bool // <features> was given (kept so output matches input)
	PrivNet bool
	// Capabilities is nil when <capabilities> is absent.
	Capabilities *Capabilities
	Extra        []Unknown
}

type Capabilities struct {
	Policy string // default|allow|deny
	// Caps lists the per-capability switches in input order; name is the
	// lower-case libvirt name without CAP_ (e.g. "sys_admin").
	Caps []CapState
}

type CapState struct {
	Name string
	On   bool
}

type Clock struct {
	Offset string // utc (default), localtime, timezone, variable, absolute
	Timers []Timer
	// Timezone, Adjustment and Basis are only kept for the output: they
	// mean nothing to a container.
	Timezone   string
	Adjustment string
	Basis      string
	Extra      []Unknown
}

type Timer struct {
	Name    string
	Present string // "", yes, no
}

type Devices struct {
	Emulator    string
	Filesystems []Filesystem
	Interfaces  []Interface
	Consoles    []Console
	Serials     []Console
	Hostdevs    []Hostdev
	Extra       []Unknown
}

type Filesystem struct {
	Type       string // mount (default), bind, ram, block, file, template, volume
	AccessMode string // passthrough (default), mapped, squash
	Source     FSSource
	Target     string // absolute path inside the container
	ReadOnly   bool
	Driver     *FSDriver
	Extra      []Unknown
}

type FSSource struct {
	Dir        string // mount, bind
	Dev        string // block
	File       string // file
	UsageBytes uint64 // ram: tmpfs size in bytes (written back in KiB)
	Name       string // template
	Pool       string // volume
	Volume     string // volume
}

type FSDriver struct {
	Type   string // loop, nbd
	Format string // raw, qcow2, ...
}

type Interface struct {
	Type      string // network, bridge, ethernet, direct
	MAC       string // lower case, 52:54:00:xx:xx:xx generated when absent
	Source    IfSource
	Target    string // host-side device name
	Guest     string // container-side device name
	IPs       []IP   // configured inside the container
	Routes    []Route
	LinkState string // "", up, down
	MTU       int    // 0 = default
	Extra     []Unknown
}

type IfSource struct {
	Network string
	Bridge  string
	Dev     string // direct
	Mode    string // direct: vepa, bridge, private, passthrough
	// IPs and Routes on the host-side veth (type ethernet only).
	IPs    []IP
	Routes []Route
}

type IP struct {
	Address string
	Family  string // "", ipv4, ipv6
	Prefix  int    // 0 = derived from the address
	Peer    string
}

type Route struct {
	Family  string
	Address string
	Prefix  int
	Gateway string
	Metric  int
}

type Console struct {
	Type       string // pty
	TargetType string // lxc
	Port       int
	Extra      []Unknown
}

type Hostdev struct {
	Mode      string // capabilities (subsystem accepted but unsupported)
	Type      string // storage, misc, net
	Block     string // storage: host block device
	Char      string // misc: host char device
	Interface string // net: host interface to move in
	IPs       []IP
	Routes    []Route
	Extra     []Unknown
}

// Warning is a non-fatal finding at define: an element lxctl keeps but does
// not act on, or a feature it cannot run yet. define --validate makes it fatal.
type Warning struct {
	Element string // e.g. "devices/hostdev", "bogus_element"
	Line    int    // 0 when unknown
	Message string
}

func (w Warning) String() string {
	if w.Line > 0 {
		return Printable("line " + strconv.Itoa(w.Line) + ": " + w.Message)
	}
	return Printable(w.Message)
}
