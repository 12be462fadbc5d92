package domainxml

import (
	"slices"

	"github.com/beevik/etree"
)

// Clone returns a deep copy: nothing, not even a kept element, is shared
// with d, so the copy can be changed (live state, setmem) freely.
func (d *Domain) Clone() *Domain {
	if d == nil {
		return nil
	}
	c := *d
	c.Metadata = copyElem(d.Metadata)
	c.MemTune = MemTune{
		HardLimit: ptr(d.MemTune.HardLimit), SoftLimit: ptr(d.MemTune.SoftLimit),
		SwapHardLimit: ptr(d.MemTune.SwapHardLimit), MinGuarantee: ptr(d.MemTune.MinGuarantee),
		Extra: cloneExtra(d.MemTune.Extra),
	}
	c.BlkioTune = BlkioTune{Weight: ptr(d.BlkioTune.Weight), Extra: cloneExtra(d.BlkioTune.Extra)}
	for _, dev := range d.BlkioTune.Devices {
		c.BlkioTune.Devices = append(c.BlkioTune.Devices, BlkioDevice{
			Path: dev.Path, Weight: ptr(dev.Weight), ReadIOPS: ptr(dev.ReadIOPS), WriteIOPS: ptr(dev.WriteIOPS),
			ReadBytesSec: ptr(dev.ReadBytesSec), WriteBytesSec: ptr(dev.WriteBytesSec),
		})
	}
	c.CPUTune = CPUTune{Shares: ptr(d.CPUTune.Shares), Period: ptr(d.CPUTune.Period), Quota: ptr(d.CPUTune.Quota), Extra: cloneExtra(d.CPUTune.Extra)}
	c.Resource.Extra = cloneExtra(d.Resource.Extra)
	if d.NUMATune != nil {
		n := *d.NUMATune
		n.Extra = cloneExtra(n.Extra)
		c.NUMATune = &n
	}
	c.Namespaces = slices.Clone(d.Namespaces)

	c.OS.InitArgs = slices.Clone(d.OS.InitArgs)
	c.OS.InitEnv = slices.Clone(d.OS.InitEnv)
	c.OS.Extra = cloneExtra(d.OS.Extra)
	c.IDMap = IDMap{UIDs: slices.Clone(d.IDMap.UIDs), GIDs: slices.Clone(d.IDMap.GIDs), Extra: cloneExtra(d.IDMap.Extra)}
	c.Features.Extra = cloneExtra(d.Features.Extra)
	if caps := d.Features.Capabilities; caps != nil {
		c.Features.Capabilities = &Capabilities{Policy: caps.Policy, Caps: slices.Clone(caps.Caps)}
	}
	c.Clock.Timers = slices.Clone(d.Clock.Timers)
	c.Clock.Extra = cloneExtra(d.Clock.Extra)

	dv := d.Devices
	c.Devices = Devices{Emulator: dv.Emulator, Extra: cloneExtra(dv.Extra)}
	for _, fs := range dv.Filesystems {
		if fs.Driver != nil {
			drv := *fs.Driver
			fs.Driver = &drv
		}
		fs.Extra = cloneExtra(fs.Extra)
		c.Devices.Filesystems = append(c.Devices.Filesystems, fs)
	}
	for _, ifc := range dv.Interfaces {
		ifc.Source.IPs = slices.Clone(ifc.Source.IPs)
		ifc.Source.Routes = slices.Clone(ifc.Source.Routes)
		ifc.IPs = slices.Clone(ifc.IPs)
		ifc.Routes = slices.Clone(ifc.Routes)
		ifc.Extra = cloneExtra(ifc.Extra)
		c.Devices.Interfaces = append(c.Devices.Interfaces, ifc)
	}
	c.Devices.Consoles = cloneConsoles(dv.Consoles)
	c.Devices.Serials = cloneConsoles(dv.Serials)
	for _, hd := range dv.Hostdevs {
		hd.IPs = slices.Clone(hd.IPs)
		hd.Routes = slices.Clone(hd.Routes)
		hd.Extra = cloneExtra(hd.Extra)
		c.Devices.Hostdevs = append(c.Devices.Hostdevs, hd)
	}
	c.Extra = cloneExtra(d.Extra)
	return &c
}

func ptr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func copyElem(e *etree.Element) *etree.Element {
	if e == nil {
		return nil
	}
	return e.Copy()
}

func cloneExtra(x []Unknown) []Unknown {
	if x == nil {
		return nil
	}
	out := make([]Unknown, len(x))
	for i, u := range x {
		out[i] = Unknown{After: u.After, Elem: copyElem(u.Elem)}
	}
	return out
}

func cloneConsoles(cs []Console) []Console {
	if cs == nil {
		return nil
	}
	out := make([]Console, len(cs))
	for i, c := range cs {
		c.Extra = cloneExtra(c.Extra)
		out[i] = c
	}
	return out
}
