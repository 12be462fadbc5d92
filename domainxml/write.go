package domainxml

import (
	"slices"
	"strconv"
)

// Marshal writes the domain in libvirt's canonical format: two-space
// indentation, single-quoted attributes, libvirt's element order, sizes in
// KiB, and unknown elements put back after the sibling they followed. It
// writes what the model holds; SetDefaults first gives what dumpxml shows.
// The output ends with a newline.
func (d *Domain) Marshal() ([]byte, error) {
	w := &writer{}
	attrs := []kv{{"type", "lxc"}}
	if d.Type != "" {
		attrs[0].v = d.Type
	}
	if d.ID > 0 {
		attrs = append(attrs, kv{"id", strconv.Itoa(d.ID)})
	}
	for _, ns := range d.Namespaces {
		if ns.Prefix == "" {
			attrs = append(attrs, kv{"xmlns", ns.URI})
		} else {
			attrs = append(attrs, kv{"xmlns:" + ns.Prefix, ns.URI})
		}
	}
	w.block("domain", attrs, openClose, func() {
		x := w.place(d.Extra)
		x.after("")
		w.textOpt("name", d.Name)
		x.after("name")
		w.textOpt("uuid", d.UUID)
		x.after("uuid")
		w.textOpt("title", d.Title)
		x.after("title")
		w.textOpt("description", d.Description)
		x.after("description")
		if d.Metadata != nil {
			// libvirt has libxml2 format <metadata>: double quotes.
			w.raw(d.Metadata, '"')
		}
		x.after("metadata")
		w.size("memory", d.Memory)
		x.after("memory")
		w.size("currentMemory", d.CurrentMemory)
		x.after("currentMemory")
		d.writeBlkio(w)
		x.after("blkiotune")
		d.writeMemtune(w)
		x.after("memtune")
		if v := d.VCPU; v.Count > 0 {
			a := []kv{{"placement", v.Placement}, {"cpuset", v.CPUSet}}
			if v.Current > 0 && v.Current != v.Count {
				a = append(a, kv{"current", strconv.Itoa(v.Current)})
			}
			w.text("vcpu", strconv.Itoa(v.Count), a...)
		}
		x.after("vcpu")
		d.writeCPUTune(w)
		x.after("cputune")
		if n := d.NUMATune; n != nil {
			w.block("numatune", nil, omitEmpty, func() {
				y := w.place(n.Extra)
				y.after("")
				if n.Mode != "" || n.Nodeset != "" || n.Placement != "" {
					w.leaf("memory", kv{"mode", n.Mode}, kv{"nodeset", n.Nodeset}, kv{"placement", n.Placement})
				}
				y.after("memory")
				y.rest()
			})
		}
		x.after("numatune")
		w.block("resource", nil, omitEmpty, func() {
			y := w.place(d.Resource.Extra)
			y.after("")
			w.textOpt("partition", d.Resource.Partition)
			y.after("partition")
			y.rest()
		})
		x.after("resource")
		d.writeOS(w)
		x.after("os")
		d.writeIDMap(w)
		x.after("idmap")
		d.writeFeatures(w)
		x.after("features")
		d.writeClock(w)
		x.after("clock")
		w.textOpt("on_poweroff", d.OnPoweroff)
		x.after("on_poweroff")
		w.textOpt("on_reboot", d.OnReboot)
		x.after("on_reboot")
		w.textOpt("on_crash", d.OnCrash)
		x.after("on_crash")
		d.Devices.write(w)
		x.after("devices")
		x.rest()
	})
	// Kept elements are re-indented, so a deeply nested document within
	// MaxDocumentSize can come out many times larger: refuse to write what
	// could not be read back.
	if w.b.Len() > MaxDocumentSize {
		return nil, TooLarge("the domain's XML as lxctl writes it (indented)", int64(w.b.Len()),
			"remove unknown elements lxctl keeps, or nest them less deeply")
	}
	return w.b.Bytes(), nil
}

func (d *Domain) writeBlkio(w *writer) {
	b := d.BlkioTune
	w.block("blkiotune", nil, omitEmpty, func() {
		x := w.place(b.Extra)
		x.after("")
		w.uintOpt("weight", b.Weight)
		x.after("weight")
		for _, dev := range b.Devices {
			w.block("device", nil, omitEmpty, func() {
				w.textOpt("path", dev.Path)
				w.uintOpt("weight", dev.Weight)
				w.uintOpt("read_iops_sec", dev.ReadIOPS)
				w.uintOpt("write_iops_sec", dev.WriteIOPS)
				w.uintOpt("read_bytes_sec", dev.ReadBytesSec)
				w.uintOpt("write_bytes_sec", dev.WriteBytesSec)
			})
		}
		x.after("device")
		x.rest()
	})
}

func (d *Domain) writeMemtune(w *writer) {
	m := d.MemTune
	w.block("memtune", nil, omitEmpty, func() {
		x := w.place(m.Extra)
		x.after("")
		for _, l := range []struct {
			tag string
			v   *uint64
		}{{"hard_limit", m.HardLimit}, {"soft_limit", m.SoftLimit}, {"min_guarantee", m.MinGuarantee}, {"swap_hard_limit", m.SwapHardLimit}} {
			if l.v != nil {
				w.size(l.tag, *l.v)
			}
			x.after(l.tag)
		}
		x.rest()
	})
}

func (d *Domain) writeCPUTune(w *writer) {
	t := d.CPUTune
	w.block("cputune", nil, omitEmpty, func() {
		x := w.place(t.Extra)
		x.after("")
		w.uintOpt("shares", t.Shares)
		x.after("shares")
		w.uintOpt("period", t.Period)
		x.after("period")
		if t.Quota != nil {
			w.text("quota", strconv.FormatInt(*t.Quota, 10))
		}
		x.after("quota")
		x.rest()
	})
}

func (d *Domain) writeOS(w *writer) {
	o := d.OS
	w.block("os", nil, omitEmpty, func() {
		x := w.place(o.Extra)
		x.after("")
		if o.Type != "" {
			w.text("type", o.Type, kv{"arch", o.Arch})
		}
		x.after("type")
		w.textOpt("init", o.Init)
		x.after("init")
		for _, a := range o.InitArgs {
			w.text("initarg", a)
		}
		x.after("initarg")
		for _, e := range o.InitEnv {
			w.text("initenv", e.Value, kv{"name", e.Name})
		}
		x.after("initenv")
		w.textOpt("initdir", o.InitDir)
		x.after("initdir")
		w.textOpt("inituser", o.InitUser)
		x.after("inituser")
		w.textOpt("initgroup", o.InitGroup)
		x.after("initgroup")
		w.textOpt("cmdline", o.Cmdline)
		x.after("cmdline")
		x.rest()
	})
}

func (d *Domain) writeIDMap(w *writer) {
	m := d.IDMap
	w.block("idmap", nil, omitEmpty, func() {
		x := w.place(m.Extra)
		x.after("")
		for _, k := range []struct {
			tag string
			m   []IDMapEntry
		}{{"uid", m.UIDs}, {"gid", m.GIDs}} {
			for _, e := range k.m {
				w.leaf(k.tag, kv{"start", utoa(e.Start)}, kv{"target", utoa(e.Target)}, kv{"count", utoa(e.Count)})
			}
			x.after(k.tag)
		}
		x.rest()
	})
}

func (d *Domain) writeFeatures(w *writer) {
	f := d.Features
	mode := omitEmpty
	if f.Present {
		mode = leafEmpty
	}
	w.block("features", nil, mode, func() {
		x := w.place(f.Extra)
		x.after("")
		if f.PrivNet {
			w.leaf("privnet")
		}
		x.after("privnet")
		if c := f.Capabilities; c != nil {
			// libvirt writes the switches in its own order, not the
			// input's.
			caps := slices.Clone(c.Caps)
			slices.SortStableFunc(caps, func(a, b CapState) int { return capIndex(a.Name) - capIndex(b.Name) })
			w.block("capabilities", []kv{{"policy", c.Policy}}, leafEmpty, func() {
				for _, s := range caps {
					state := "off"
					if s.On {
						state = "on"
					}
					w.leaf(s.Name, kv{"state", state})
				}
			})
		}
		x.after("capabilities")
		x.rest()
	})
}

func capIndex(name string) int {
	if i := slices.Index(capabilityNames, name); i >= 0 {
		return i
	}
	return len(capabilityNames)
}

func (d *Domain) writeClock(w *writer) {
	c := d.Clock
	attrs := []kv{{"offset", c.Offset}, {"timezone", c.Timezone}, {"adjustment", c.Adjustment}, {"basis", c.Basis}}
	mode := omitEmpty
	if c.Offset != "" || c.Timezone != "" || c.Adjustment != "" || c.Basis != "" {
		mode = leafEmpty
	}
	w.block("clock", attrs, mode, func() {
		x := w.place(c.Extra)
		x.after("")
		for _, t := range c.Timers {
			w.leaf("timer", kv{"name", t.Name}, kv{"present", t.Present})
		}
		x.after("timer")
		x.rest()
	})
}

func (dv *Devices) write(w *writer) {
	w.block("devices", nil, openClose, func() {
		x := w.place(dv.Extra)
		x.after("")
		w.textOpt("emulator", dv.Emulator)
		x.after("emulator")
		for _, fs := range dv.Filesystems {
			fs.write(w)
		}
		x.after("filesystem")
		for _, ifc := range dv.Interfaces {
			ifc.write(w)
		}
		x.after("interface")
		// libvirt writes serial ports before consoles.
		for _, s := range dv.Serials {
			s.write(w, "serial")
		}
		x.after("serial")
		for _, c := range dv.Consoles {
			c.write(w, "console")
		}
		x.after("console")
		for _, hd := range dv.Hostdevs {
			hd.write(w)
		}
		x.after("hostdev")
		x.rest()
	})
}

func (fs *Filesystem) write(w *writer) {
	w.block("filesystem", []kv{{"type", fs.Type}, {"accessmode", fs.AccessMode}}, leafEmpty, func() {
		x := w.place(fs.Extra)
		x.after("")
		if dr := fs.Driver; dr != nil {
			w.leaf("driver", kv{"type", dr.Type}, kv{"format", dr.Format})
		}
		x.after("driver")
		s := fs.Source
		src := []kv{{"dir", s.Dir}, {"dev", s.Dev}, {"file", s.File}, {"name", s.Name}, {"pool", s.Pool}, {"volume", s.Volume}}
		if s.UsageBytes > 0 || fs.Type == "ram" {
			// Written in KiB as libvirt does; Parse holds whole KiB.
			src = append(src, kv{"usage", strconv.FormatUint(kibUp(s.UsageBytes), 10)}, kv{"units", "KiB"})
		}
		if hasAttr(src) {
			w.leaf("source", src...)
		}
		x.after("source")
		if fs.Target != "" {
			w.leaf("target", kv{"dir", fs.Target})
		}
		x.after("target")
		if fs.ReadOnly {
			w.leaf("readonly")
		}
		x.after("readonly")
		x.rest()
	})
}

func (ifc *Interface) write(w *writer) {
	w.block("interface", []kv{{"type", ifc.Type}}, leafEmpty, func() {
		x := w.place(ifc.Extra)
		x.after("")
		if ifc.MAC != "" {
			w.leaf("mac", kv{"address", ifc.MAC})
		}
		x.after("mac")
		s := ifc.Source
		w.block("source", []kv{{"network", s.Network}, {"bridge", s.Bridge}, {"dev", s.Dev}, {"mode", s.Mode}}, leafIfAttrs, func() {
			writeIPs(w, s.IPs)
			writeRoutes(w, s.Routes)
		})
		x.after("source")
		writeIPs(w, ifc.IPs)
		x.after("ip")
		writeRoutes(w, ifc.Routes)
		x.after("route")
		if ifc.Target != "" {
			w.leaf("target", kv{"dev", ifc.Target})
		}
		x.after("target")
		if ifc.Guest != "" {
			w.leaf("guest", kv{"dev", ifc.Guest})
		}
		x.after("guest")
		if ifc.LinkState != "" {
			w.leaf("link", kv{"state", ifc.LinkState})
		}
		x.after("link")
		if ifc.MTU > 0 {
			w.leaf("mtu", kv{"size", strconv.Itoa(ifc.MTU)})
		}
		x.after("mtu")
		x.rest()
	})
}

func writeIPs(w *writer, ips []IP) {
	for _, ip := range ips {
		a := []kv{{"address", ip.Address}, {"family", ip.Family}}
		if ip.Prefix > 0 {
			a = append(a, kv{"prefix", strconv.Itoa(ip.Prefix)})
		}
		w.leaf("ip", append(a, kv{"peer", ip.Peer})...)
	}
}

func writeRoutes(w *writer, routes []Route) {
	for _, r := range routes {
		a := []kv{{"family", r.Family}, {"address", r.Address}}
		if r.Prefix > 0 {
			a = append(a, kv{"prefix", strconv.Itoa(r.Prefix)})
		}
		a = append(a, kv{"gateway", r.Gateway})
		if r.Metric > 0 {
			a = append(a, kv{"metric", strconv.Itoa(r.Metric)})
		}
		w.leaf("route", a...)
	}
}

func (c *Console) write(w *writer, tag string) {
	w.block(tag, []kv{{"type", c.Type}}, leafEmpty, func() {
		x := w.place(c.Extra)
		x.after("")
		if c.TargetType != "" || c.Port != 0 {
			w.leaf("target", kv{"type", c.TargetType}, kv{"port", strconv.Itoa(c.Port)})
		}
		x.after("target")
		x.rest()
	})
}

func (hd *Hostdev) write(w *writer) {
	w.block("hostdev", []kv{{"mode", hd.Mode}, {"type", hd.Type}}, leafEmpty, func() {
		x := w.place(hd.Extra)
		x.after("")
		w.block("source", nil, omitEmpty, func() {
			w.textOpt("block", hd.Block)
			w.textOpt("char", hd.Char)
			w.textOpt("interface", hd.Interface)
		})
		x.after("source")
		writeIPs(w, hd.IPs)
		x.after("ip")
		writeRoutes(w, hd.Routes)
		x.after("route")
		x.rest()
	})
}
