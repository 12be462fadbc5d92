package domainxml

// The element parsers for resource tuning, <os>, <idmap>, <features> and
// <clock>; parse_devices.go has <devices>.

import (
	"cmp"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

func (p *parser) memtune(e *etree.Element, m *MemTune) error {
	return p.walk(e, "memtune", &m.Extra, func(c *etree.Element, tag string) (childKind, error) {
		var dst **uint64
		switch tag {
		case "hard_limit":
			dst = &m.HardLimit
		case "soft_limit":
			dst = &m.SoftLimit
		case "swap_hard_limit":
			dst = &m.SwapHardLimit
		case "min_guarantee":
			dst = &m.MinGuarantee
		default:
			return unknown, nil
		}
		v, err := p.sizeKiB(c, "memtune/"+tag)
		*dst = &v
		return modelled, err
	}, "hard_limit", "soft_limit", "swap_hard_limit", "min_guarantee")
}

func (p *parser) blkiotune(e *etree.Element, b *BlkioTune) error {
	return p.walk(e, "blkiotune", &b.Extra, func(c *etree.Element, tag string) (childKind, error) {
		switch tag {
		case "weight":
			w, err := p.uintVal(c, "blkiotune/weight", "weight", textOf(c), 1, 10000)
			b.Weight = &w
			return modelled, err
		case "device":
			var dev BlkioDevice
			err := p.walk(c, "blkiotune/device", nil, func(c *etree.Element, tag string) (childKind, error) {
				var dst **uint64
				switch tag {
				case "path":
					dev.Path = textOf(c)
					if !path.IsAbs(dev.Path) {
						return modelled, p.errorf(c, "blkiotune/device/path", dev.Path, "'%s' is not an absolute path (use the block device, e.g. /dev/sda)", dev.Path)
					}
					return modelled, nil
				case "weight":
					w, err := p.uintVal(c, "blkiotune/device/weight", "weight", textOf(c), 1, 10000)
					dev.Weight = &w
					return modelled, err
				case "read_iops_sec":
					dst = &dev.ReadIOPS
				case "write_iops_sec":
					dst = &dev.WriteIOPS
				case "read_bytes_sec":
					dst = &dev.ReadBytesSec
				case "write_bytes_sec":
					dst = &dev.WriteBytesSec
				default:
					return dropLoud, nil
				}
				v, err := p.uintVal(c, "blkiotune/device/"+tag, tag, textOf(c), 0, math.MaxInt64)
				*dst = &v
				return modelled, err
			}, "path", "weight", "read_iops_sec", "write_iops_sec", "read_bytes_sec", "write_bytes_sec")
			if err == nil && dev.Path == "" {
				err = p.errorf(c, "blkiotune/device", "", "missing <path> (the block device, e.g. <path>/dev/sda</path>)")
			}
			b.Devices = append(b.Devices, dev)
			return modelled, err
		}
		return unknown, nil
	}, "weight")
}

func (p *parser) vcpu(e *etree.Element, v *VCPU) error {
	n, err := p.uintVal(e, "vcpu", "count", textOf(e), 1, math.MaxInt32)
	if err != nil {
		return err
	}
	v.Count = int(n)
	v.Placement = attrTrim(e, "placement")
	if err := p.oneOf(e, "vcpu", "placement", v.Placement, "", "static", "auto"); err != nil {
		return err
	}
	if cs, ok := attr(e, "cpuset"); ok {
		v.CPUSet = strings.TrimSpace(cs)
		if _, err := ParseCPUSet(v.CPUSet); err != nil {
			return p.errorf(e, "vcpu", cs, "cpuset %s", err.(*Error).Msg)
		}
	}
	if cur, ok := attr(e, "current"); ok {
		n, err := p.uintVal(e, "vcpu", "current", cur, 1, math.MaxInt32)
		if err != nil {
			return err
		}
		v.Current = int(n)
	}
	return nil
}

// The kernel's CFS bandwidth limits, which libvirt enforces at define.
const (
	minCFS      = 1000
	maxPeriod   = 1000000
	maxCFSQuota = 17592186044415
)

func (p *parser) cputune(e *etree.Element, t *CPUTune) error {
	return p.walk(e, "cputune", &t.Extra, func(c *etree.Element, tag string) (childKind, error) {
		raw := strings.TrimSpace(textOf(c))
		switch tag {
		case "shares":
			v, err := p.uintVal(c, "cputune/shares", "shares", raw, 0, math.MaxInt64)
			t.Shares = &v
			return modelled, err
		case "period":
			v, err := strconv.ParseUint(raw, 10, 64)
			if err != nil || v < minCFS || v > maxPeriod {
				return modelled, p.errorf(c, "cputune/period", raw, "value '%s' is out of range (use %d to %d microseconds)", raw, minCFS, maxPeriod)
			}
			t.Period = &v
		case "quota":
			v, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || (v != -1 && (v < minCFS || v > maxCFSQuota)) {
				return modelled, p.errorf(c, "cputune/quota", raw, "value '%s' is out of range (use -1 for no limit, or %d to %d microseconds)", raw, minCFS, maxCFSQuota)
			}
			t.Quota = &v
		default:
			return unknown, nil
		}
		return modelled, nil
	}, "shares", "period", "quota")
}

func (p *parser) numatune(e *etree.Element, n *NUMATune) error {
	return p.walk(e, "numatune", &n.Extra, func(c *etree.Element, tag string) (childKind, error) {
		if tag != "memory" {
			return unknown, nil
		}
		n.Mode = attrTrim(c, "mode")
		n.Nodeset = attrTrim(c, "nodeset")
		n.Placement = attrTrim(c, "placement")
		if err := p.oneOf(c, "numatune/memory", "mode", n.Mode, "", "strict", "preferred", "interleave", "restrictive"); err != nil {
			return modelled, err
		}
		if err := p.oneOf(c, "numatune/memory", "placement", n.Placement, "", "static", "auto"); err != nil {
			return modelled, err
		}
		if n.Nodeset != "" {
			if _, err := ParseCPUSet(n.Nodeset); err != nil {
				return modelled, p.errorf(c, "numatune/memory", n.Nodeset, "nodeset %s", err.(*Error).Msg)
			}
		} else if n.Placement != "auto" {
			return modelled, p.errorf(c, "numatune/memory", "", "a nodeset is needed unless placement='auto' (e.g. nodeset='0-1')")
		}
		return modelled, nil
	}, "memory")
}

func (p *parser) os(e *etree.Element, o *OS) error {
	return p.walk(e, "os", &o.Extra, func(c *etree.Element, tag string) (childKind, error) {
		switch tag {
		case "type":
			o.Type = strings.TrimSpace(textOf(c))
			if o.Type != "exe" {
				return modelled, p.errorf(c, "os/type", o.Type, "OS type '%s' is not supported: containers use <type>exe</type>", o.Type)
			}
			o.Arch = attrTrim(c, "arch")
			if o.Arch != "" {
				if msg := checkArch(o.Arch); msg != "" {
					return modelled, p.errorf(c, "os/type", o.Arch, "%s", msg)
				}
			}
		case "init":
			o.Init = textOf(c)
			if !path.IsAbs(o.Init) {
				return modelled, p.errorf(c, "os/init", o.Init, "'%s' is not an absolute path (give the path inside the container, e.g. /sbin/init)", o.Init)
			}
		case "initarg":
			a := textOf(c)
			if a == "" {
				return modelled, p.errorf(c, "os/initarg", "", "empty argument (give a value or remove the <initarg>)")
			}
			o.InitArgs = append(o.InitArgs, a)
		case "initenv":
			name, _ := attr(c, "name")
			val := textOf(c)
			switch {
			case name == "":
				return modelled, p.errorf(c, "os/initenv", val, "missing name attribute (e.g. <initenv name='LANG'>C.UTF-8</initenv>)")
			case !validEnvName(name):
				return modelled, p.errorf(c, "os/initenv", name, "invalid variable name '%s' (use letters, digits and '_', not starting with a digit)", name)
			case val == "":
				return modelled, p.errorf(c, "os/initenv", name, "no value for '%s' (write <initenv name='%s'>value</initenv>)", name, name)
			}
			o.InitEnv = append(o.InitEnv, EnvVar{Name: name, Value: val})
		case "initdir":
			o.InitDir = textOf(c)
			if !path.IsAbs(o.InitDir) {
				return modelled, p.errorf(c, "os/initdir", o.InitDir, "'%s' is not an absolute path (e.g. /root)", o.InitDir)
			}
		case "inituser", "initgroup":
			v := textOf(c)
			if strings.TrimSpace(v) == "" {
				return modelled, p.errorf(c, "os/"+tag, v, "empty %s (give a name or a number, or remove the element)", strings.TrimPrefix(tag, "init"))
			}
			if tag == "inituser" {
				o.InitUser = v
			} else {
				o.InitGroup = v
			}
		case "cmdline":
			o.Cmdline = textOf(c)
		default:
			return unknown, nil
		}
		return modelled, nil
	}, "type", "init", "initdir", "inituser", "initgroup", "cmdline")
}

// maxIDMapLines is the kernel's limit on lines in uid_map (since 4.15).
const maxIDMapLines = 340

func (p *parser) idmap(e *etree.Element, m *IDMap) error {
	p.at["idmap"] = p.lines[e]
	err := p.walk(e, "idmap", &m.Extra, func(c *etree.Element, tag string) (childKind, error) {
		if tag != "uid" && tag != "gid" {
			return unknown, nil
		}
		var ent IDMapEntry
		for _, a := range []struct {
			name string
			dst  *uint32
			lo   uint64
		}{{"start", &ent.Start, 0}, {"target", &ent.Target, 0}, {"count", &ent.Count, 1}} {
			raw, ok := attr(c, a.name)
			if !ok {
				return modelled, p.errorf(c, "idmap/"+tag, "", "missing %s attribute (e.g. <%s start='0' target='100000' count='65536'/>)", a.name, tag)
			}
			v, err := p.uintVal(c, "idmap/"+tag, a.name, raw, a.lo, math.MaxUint32)
			if err != nil {
				return modelled, err
			}
			*a.dst = uint32(v)
		}
		if uint64(ent.Start)+uint64(ent.Count) > 1<<32 || uint64(ent.Target)+uint64(ent.Count) > 1<<32 {
			return modelled, p.errorf(c, "idmap/"+tag, strconv.FormatUint(uint64(ent.Count), 10), "count %d goes past the largest id 4294967295", ent.Count)
		}
		if tag == "uid" {
			m.UIDs = append(m.UIDs, ent)
		} else {
			m.GIDs = append(m.GIDs, ent)
		}
		return modelled, nil
	})
	if err != nil {
		return err
	}
	for _, k := range []struct {
		name string
		m    []IDMapEntry
	}{{"uid", m.UIDs}, {"gid", m.GIDs}} {
		if len(k.m) > maxIDMapLines {
			return p.errorf(e, "idmap/"+k.name, strconv.Itoa(len(k.m)), "%d %s lines is more than the kernel's limit of %d", len(k.m), k.name, maxIDMapLines)
		}
		// libvirt keeps the ranges sorted by start; so does the output.
		slices.SortStableFunc(k.m, func(a, b IDMapEntry) int { return cmp.Compare(a.Start, b.Start) })
		for i := range k.m {
			for j := range i {
				a, b := k.m[j], k.m[i]
				if overlaps(a.Start, a.Count, b.Start, b.Count) || overlaps(a.Target, a.Count, b.Target, b.Count) {
					return p.errorf(e, "idmap/"+k.name, strconv.FormatUint(uint64(b.Start), 10),
						"%s ranges starting at %d and %d overlap (the kernel refuses overlapping ranges)", k.name, a.Start, b.Start)
				}
			}
		}
	}
	return nil
}

func overlaps(a, an, b, bn uint32) bool {
	return uint64(a) < uint64(b)+uint64(bn) && uint64(b) < uint64(a)+uint64(an)
}

func (p *parser) features(e *etree.Element, f *Features) error {
	return p.walk(e, "features", &f.Extra, func(c *etree.Element, tag string) (childKind, error) {
		switch tag {
		case "privnet":
			f.PrivNet = true
		case "capabilities":
			caps := &Capabilities{Policy: attrTrim(c, "policy")}
			f.Capabilities = caps
			if err := p.oneOf(c, "features/capabilities", "policy", caps.Policy, "", "default", "allow", "deny"); err != nil {
				return modelled, err
			}
			for _, cc := range c.ChildElements() {
				name := cc.FullTag()
				if !slices.Contains(capabilityNames, name) {
					return modelled, p.errorf(cc, "features/capabilities", name, "unknown capability <%s> (use a name from capabilities(7) in lower case without CAP_, e.g. <sys_admin state='off'/>)", name)
				}
				if slices.ContainsFunc(caps.Caps, func(s CapState) bool { return s.Name == name }) {
					return modelled, p.errorf(cc, "features/capabilities", name, "capability <%s> given twice", name)
				}
				state := attrTrim(cc, "state")
				if err := p.oneOf(cc, "features/capabilities/"+name, "state", state, "", "on", "off"); err != nil {
					return modelled, err
				}
				caps.Caps = append(caps.Caps, CapState{Name: name, On: state != "off"})
			}
		default:
			return unknown, nil
		}
		return modelled, nil
	}, "privnet", "capabilities")
}

var timerNames = []string{"platform", "pit", "rtc", "hpet", "tsc", "kvmclock", "hypervclock", "armvtimer"}

func (p *parser) clock(e *etree.Element, c *Clock) error {
	c.Offset = attrTrim(e, "offset")
	if err := p.oneOf(e, "clock", "offset", c.Offset, "", "utc", "localtime", "timezone", "variable", "absolute"); err != nil {
		return err
	}
	c.Timezone, _ = attr(e, "timezone")
	c.Adjustment, _ = attr(e, "adjustment")
	c.Basis, _ = attr(e, "basis")
	return p.walk(e, "clock", &c.Extra, func(t *etree.Element, tag string) (childKind, error) {
		if tag != "timer" {
			return unknown, nil
		}
		tm := Timer{Name: attrTrim(t, "name"), Present: attrTrim(t, "present")}
		if tm.Name == "" {
			return modelled, p.errorf(t, "clock/timer", "", "missing name attribute (e.g. <timer name='rtc'/>)")
		}
		if err := p.oneOf(t, "clock/timer", "timer name", tm.Name, timerNames...); err != nil {
			return modelled, err
		}
		if err := p.oneOf(t, "clock/timer", "present value", tm.Present, "", "yes", "no"); err != nil {
			return modelled, err
		}
		c.Timers = append(c.Timers, tm)
		return modelled, nil
	})
}
