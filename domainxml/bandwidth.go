package domainxml

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// Bandwidth is an interface's <bandwidth>, in libvirt's units. It is kept
// verbatim in Interface.Extra (so it is written back as given) and read
// from there; the parser checks it at define.
type Bandwidth struct {
	Inbound  *Rate // to the domain
	Outbound *Rate // from the domain
}

// Rate is one direction of a <bandwidth>: average and peak in KiB/s,
// burst in KiB, floor in KiB/s (inbound only). 0 is unset.
type Rate struct {
	Average, Peak, Burst, Floor uint64
}

// Bandwidth reads the interface's <bandwidth>; nil without one.
func (ifc *Interface) Bandwidth() (*Bandwidth, error) {
	for _, u := range ifc.Extra {
		if u.Elem != nil && u.Elem.Space == "" && u.Elem.Tag == "bandwidth" {
			return parseBandwidth(u.Elem)
		}
	}
	return nil, nil
}

// extraElem is the kept child tag of an interface, nil without one.
func (ifc *Interface) extraElem(tag string) *etree.Element {
	for _, u := range ifc.Extra {
		if u.Elem != nil && u.Elem.Space == "" && u.Elem.Tag == tag {
			return u.Elem
		}
	}
	return nil
}

// VLANTags are the interface's <vlan><tag id/> ids, whether it is a trunk
// (<vlan trunk='yes'>) and which tag is native (nativeMode untagged);
// no tags without <vlan>.
func (ifc *Interface) VLANTags() (tags []int, trunk bool, native int, err error) {
	e := ifc.extraElem("vlan")
	if e == nil {
		return nil, false, 0, nil
	}
	trunk = e.SelectAttrValue("trunk", "") == "yes"
	for _, c := range e.ChildElements() {
		if c.Tag != "tag" {
			continue
		}
		id, err := strconv.Atoi(strings.TrimSpace(c.SelectAttrValue("id", "")))
		if err != nil || id < 0 || id > 4095 {
			return nil, false, 0, fmt.Errorf("<vlan><tag id='%s'>: not a VLAN id (use 0 to 4095)", c.SelectAttrValue("id", ""))
		}
		tags = append(tags, id)
		switch m := c.SelectAttrValue("nativeMode", ""); m {
		case "":
		case "untagged":
			native = id
		default:
			return nil, false, 0, fmt.Errorf("<vlan><tag id='%d' nativeMode='%s'>: lxctl supports nativeMode='untagged' only", id, m)
		}
	}
	if len(tags) == 0 {
		return nil, false, 0, fmt.Errorf("<vlan> needs at least one <tag id='...'/>")
	}
	if len(tags) > 1 {
		trunk = true
	}
	return tags, trunk, native, nil
}

// VirtualPort is the type of the interface's <virtualport>, "" without one.
func (ifc *Interface) VirtualPort() (typ string, ok bool) {
	e := ifc.extraElem("virtualport")
	if e == nil {
		return "", false
	}
	return e.SelectAttrValue("type", ""), true
}

func parseBandwidth(e *etree.Element) (*Bandwidth, error) {
	bw := &Bandwidth{}
	for _, c := range e.ChildElements() {
		var r Rate
		for _, a := range []struct {
			name string
			v    *uint64
		}{{"average", &r.Average}, {"peak", &r.Peak}, {"burst", &r.Burst}, {"floor", &r.Floor}} {
			raw, ok := attr(c, a.name)
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(strings.TrimSpace(raw), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("<bandwidth><%s %s='%s'>: not a whole number of %s (0 to 4294967295)", c.Tag, a.name, raw, map[bool]string{true: "KiB", false: "KiB/s"}[a.name == "burst"])
			}
			*a.v = n
		}
		switch c.Tag {
		case "inbound":
			bw.Inbound = &r
		case "outbound":
			if r.Floor != 0 {
				return nil, fmt.Errorf("<bandwidth><outbound floor>: floor is for inbound only")
			}
			bw.Outbound = &r
		default:
			return nil, fmt.Errorf("<bandwidth><%s>: unknown direction (use inbound or outbound)", c.Tag)
		}
		if r.Average == 0 && r.Floor == 0 {
			return nil, fmt.Errorf("<bandwidth><%s>: average is required (in KiB/s)", c.Tag)
		}
		if r.Peak != 0 && r.Peak < r.Average {
			return nil, fmt.Errorf("<bandwidth><%s>: peak %d is below average %d", c.Tag, r.Peak, r.Average)
		}
	}
	return bw, nil
}
