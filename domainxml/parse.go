package domainxml

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// Parse reads a domain document: well-formedness, then each element, then
// the checks that span elements. It fills in no defaults (SetDefaults does)
// so that what a user wrote stays distinguishable from what lxctl added.
//
// Warnings name what is kept but not acted on: unknown elements and
// features lxctl cannot run yet. Every error is an *Error wrapping
// ErrInvalid.
func Parse(data []byte) (*Domain, []Warning, error) {
	// Callers read with ReadDocument; this keeps bytes from elsewhere
	// (an editor's file, a test) to the same bound.
	if len(data) > MaxDocumentSize {
		return nil, nil, TooLarge("the document", int64(len(data)), "a domain definition is a few kB")
	}
	root, lines, err := readTree(data)
	if err != nil {
		return nil, nil, err
	}
	p := &parser{lines: lines, at: make(map[string]int)}
	d, err := p.domain(root)
	if err != nil {
		return nil, nil, err
	}
	for _, is := range d.unsupported() {
		p.warnings = append(p.warnings, Warning{Element: is.elem, Line: p.at[is.key], Message: is.msg})
	}
	return d, p.warnings, nil
}

type parser struct {
	lines map[*etree.Element]int
	// at holds the line of modelled items that later checks and warnings
	// refer to, keyed as in issue.key ("devices/filesystem[2]").
	at       map[string]int
	warnings []Warning
	ns       map[string]string // xmlns prefix -> URI, from <domain>
}

func (p *parser) errorf(e *etree.Element, elem, value, format string, args ...any) *Error {
	return &Error{Element: elem, Value: value, Line: p.lines[e], Msg: fmt.Sprintf(format, args...)}
}

// childKind says what walk should do with a child element.
type childKind int

const (
	modelled  childKind = iota // parsed into the model
	unknown                    // kept verbatim in Extra, with a warning
	keepQuiet                  // kept verbatim in Extra; a warning comes from Unsupported if due
	dropQuiet                  // live-only state (a console's pty path): not kept
	dropLoud                   // not kept, with a warning (no Extra at that level)
)

// walk visits e's child elements in order. fn parses a child and says what
// it did; tags listed in singles may appear once. Kept elements record the
// last modelled sibling before them, so Marshal puts them back in place.
func (p *parser) walk(e *etree.Element, at string, extra *[]Unknown, fn func(c *etree.Element, tag string) (childKind, error), singles ...string) error {
	last := ""
	var seen []string
	for _, c := range e.ChildElements() {
		tag := c.FullTag()
		if slices.Contains(singles, tag) {
			if slices.Contains(seen, tag) {
				return p.errorf(c, join(at, tag), tag, "<%s> given twice (only one is allowed)", tag)
			}
			seen = append(seen, tag)
		}
		kind, err := fn(c, tag)
		if err != nil {
			return err
		}
		switch kind {
		case modelled:
			last = tag
		case unknown, keepQuiet:
			if extra == nil {
				p.unknown(c, at, false)
				continue
			}
			*extra = append(*extra, Unknown{After: last, Elem: c.Copy()})
			if kind == unknown {
				p.unknown(c, at, true)
			}
		case dropLoud:
			p.unknown(c, at, false)
		}
	}
	return nil
}

func (p *parser) unknown(c *etree.Element, at string, kept bool) {
	what := "<" + c.FullTag() + ">"
	if at != "" {
		what += " in <" + path.Base(at) + ">"
	}
	if kept {
		what += " is kept but ignored"
	} else {
		what += " is ignored and dropped"
	}
	p.warnings = append(p.warnings, Warning{Element: join(at, c.FullTag()), Line: p.lines[c], Message: "unknown element " + what})
}

func join(at, tag string) string {
	if at == "" {
		return tag
	}
	return at + "/" + tag
}

// textOf is the element's own character data. Leaf elements in domain XML
// hold plain text; anything nested inside one is ignored, as libvirt does.
func textOf(e *etree.Element) string {
	var b strings.Builder
	for _, t := range e.Child {
		if cd, ok := t.(*etree.CharData); ok {
			b.WriteString(cd.Data)
		}
	}
	return b.String()
}

// attr returns an unprefixed attribute; etree's SelectAttr would also match
// "foo:key".
func attr(e *etree.Element, key string) (string, bool) {
	for _, a := range e.Attr {
		if a.Space == "" && a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

func attrTrim(e *etree.Element, key string) string {
	v, _ := attr(e, key)
	return strings.TrimSpace(v)
}

// oneOf checks an enumerated value; "" is accepted when allowed lists it.
func (p *parser) oneOf(e *etree.Element, elem, what, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	var use []string
	for _, a := range allowed {
		if a != "" {
			use = append(use, a)
		}
	}
	return p.errorf(e, elem, v, "unknown %s '%s' (use %s)", what, v, orList(use))
}

func orList(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// uintVal parses a whole number in [lo, hi]; what names it in messages.
func (p *parser) uintVal(e *etree.Element, elem, what, raw string, lo, hi uint64) (uint64, error) {
	v := strings.TrimSpace(raw)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, p.errorf(e, elem, raw, "invalid %s '%s' (use a whole number from %d to %d)", what, v, lo, hi)
	}
	return n, nil
}

// size parses a size element (<memory unit='MiB'>512</memory>) into KiB.
func (p *parser) sizeKiB(e *etree.Element, elem string) (uint64, error) {
	unit, _ := attr(e, "unit")
	b, err := ParseSize(textOf(e), unit, "KiB")
	if err != nil {
		return 0, p.relabel(err, e, elem, "")
	}
	return kibUp(b), nil
}

// relabel gives an error from ParseSize its element and line.
func (p *parser) relabel(err error, e *etree.Element, elem, prefix string) error {
	if pe, ok := err.(*Error); ok {
		return &Error{Element: elem, Value: pe.Value, Line: p.lines[e], Msg: prefix + pe.Msg}
	}
	return err
}

var lifecycleActions = []string{"destroy", "restart", "preserve", "rename-restart"}

func (p *parser) domain(root *etree.Element) (*Domain, error) {
	if root.FullTag() != "domain" {
		return nil, p.errorf(root, "", root.FullTag(), "the root element is <%s>, expected <domain type='lxc'>", root.FullTag())
	}
	typ, ok := attr(root, "type")
	if !ok {
		return nil, p.errorf(root, "domain", "", "missing type attribute (lxctl runs <domain type='lxc'>)")
	}
	if strings.TrimSpace(typ) != "lxc" {
		return nil, p.errorf(root, "domain", typ, "type '%s' is not supported: lxctl only runs type='lxc' (Linux containers)", typ)
	}
	d := &Domain{Type: "lxc"}
	p.ns = make(map[string]string)
	for _, a := range root.Attr {
		switch {
		case a.Space == "xmlns":
			d.Namespaces = append(d.Namespaces, Namespace{Prefix: a.Key, URI: a.Value})
			p.ns[a.Key] = a.Value
		case a.Space == "" && a.Key == "xmlns":
			d.Namespaces = append(d.Namespaces, Namespace{URI: a.Value})
		}
	}
	err := p.walk(root, "", &d.Extra, func(c *etree.Element, tag string) (childKind, error) {
		var err error
		switch tag {
		case "name":
			d.Name = textOf(c)
			switch {
			case strings.Contains(d.Name, "/"):
				err = p.errorf(c, "name", d.Name, "'%s' must not contain '/'", d.Name)
			case strings.ContainsAny(d.Name, "\n\r"):
				err = p.errorf(c, "name", d.Name, "%q must not contain a newline", d.Name)
			}
		case "uuid":
			u, ok := parseUUID(textOf(c))
			if !ok {
				err = p.errorf(c, "uuid", textOf(c), "malformed uuid '%s' (use 32 hex digits, dashed or not, e.g. 4dea22b3-1d52-d8f3-2516-782e98ab3fa0)", strings.TrimSpace(textOf(c)))
			}
			d.UUID = u
		case "title":
			d.Title = textOf(c)
			if strings.ContainsAny(d.Title, "\n\r") {
				err = p.errorf(c, "title", d.Title, "%q must not contain a newline (use <description> for longer text)", d.Title)
			}
		case "description":
			d.Description = textOf(c)
		case "metadata":
			d.Metadata = c.Copy()
			err = p.security(c, &d.Security)
		case "memory":
			p.at["memory"] = p.lines[c]
			d.Memory, err = p.sizeKiB(c, "memory")
			if err == nil && d.Memory == 0 {
				err = p.errorf(c, "memory", textOf(c), "size '%s' is not allowed: memory size must be given: <memory unit='KiB'>N</memory> with N > 0", strings.TrimSpace(textOf(c)))
			}
		case "currentMemory":
			d.CurrentMemory, err = p.sizeKiB(c, "currentMemory")
		case "memtune":
			err = p.memtune(c, &d.MemTune)
		case "blkiotune":
			err = p.blkiotune(c, &d.BlkioTune)
		case "vcpu":
			p.at["vcpu"] = p.lines[c]
			err = p.vcpu(c, &d.VCPU)
		case "cputune":
			err = p.cputune(c, &d.CPUTune)
		case "numatune":
			p.at["numatune"] = p.lines[c]
			d.NUMATune = &NUMATune{}
			err = p.numatune(c, d.NUMATune)
		case "resource":
			err = p.walk(c, "resource", &d.Resource.Extra, func(c *etree.Element, tag string) (childKind, error) {
				if tag != "partition" {
					return unknown, nil
				}
				d.Resource.Partition = textOf(c)
				if !strings.HasPrefix(d.Resource.Partition, "/") {
					return modelled, p.errorf(c, "resource/partition", d.Resource.Partition, "'%s' must start with '/' (e.g. /machine)", d.Resource.Partition)
				}
				return modelled, nil
			}, "partition")
		case "os":
			p.at["os"] = p.lines[c]
			err = p.os(c, &d.OS)
		case "idmap":
			err = p.idmap(c, &d.IDMap)
		case "features":
			d.Features.Present = true
			err = p.features(c, &d.Features)
		case "clock":
			err = p.clock(c, &d.Clock)
		case "on_poweroff", "on_reboot", "on_crash":
			v := strings.TrimSpace(textOf(c))
			allowed := lifecycleActions
			if tag == "on_crash" {
				allowed = append(slices.Clip(allowed), "coredump-destroy", "coredump-restart")
			} else if strings.HasPrefix(v, "coredump-") {
				return modelled, p.errorf(c, tag, v, "action '%s' is only allowed in <on_crash> (use %s)", v, strings.Join(lifecycleActions, ", "))
			}
			if !slices.Contains(allowed, v) {
				return modelled, p.errorf(c, tag, v, "unknown action '%s' (use %s)", v, strings.Join(allowed, ", "))
			}
			switch tag {
			case "on_poweroff":
				d.OnPoweroff = v
			case "on_reboot":
				d.OnReboot = v
			default:
				d.OnCrash = v
			}
		case "devices":
			err = p.devices(c, &d.Devices)
		default:
			// seclabel and <lxc:namespace> are known to libvirt but
			// not modelled: Unsupported warns when they matter.
			if tag == "seclabel" || p.isLXCNamespace(c) {
				p.at[fmt.Sprintf("extra[%d]", len(d.Extra))] = p.lines[c]
				return keepQuiet, nil
			}
			p.at[fmt.Sprintf("extra[%d]", len(d.Extra))] = p.lines[c]
			return unknown, nil
		}
		return modelled, err
	}, "name", "uuid", "title", "description", "metadata", "memory", "currentMemory",
		"memtune", "blkiotune", "vcpu", "cputune", "numatune", "resource", "os", "idmap",
		"features", "clock", "on_poweroff", "on_reboot", "on_crash", "devices")
	if err != nil {
		return nil, err
	}
	if err := p.check(d); err != nil {
		return nil, err
	}
	return d, nil
}

const lxcNamespaceURI = "http://libvirt.org/schemas/domain/lxc/1.0"

func (p *parser) isLXCNamespace(c *etree.Element) bool {
	if c.Tag != "namespace" || c.Space == "" {
		return false
	}
	uri, ok := p.ns[c.Space]
	return uri == lxcNamespaceURI || (!ok && c.Space == "lxc")
}

// check runs the rules that span elements, after everything is read, in
// the order libvirt's post-parse reports them.
func (p *parser) check(d *Domain) error {
	if d.Name == "" {
		return &Error{Element: "name", Msg: "missing: every domain needs a name, e.g. <name>vm1</name>"}
	}
	if d.Memory == 0 {
		return &Error{Element: "memory", Msg: "memory size must be given: <memory unit='KiB'>N</memory>"}
	}
	if _, ok := p.at["os"]; !ok {
		return &Error{Element: "os", Msg: "missing: add <os><type>exe</type><init>/sbin/init</init></os>"}
	}
	if d.OS.Type == "" {
		return &Error{Element: "os/type", Line: p.at["os"], Msg: "an os <type> must be specified: add <type>exe</type> to <os>"}
	}
	if d.OS.Init == "" {
		return &Error{Element: "os/init", Line: p.at["os"], Msg: "init binary must be specified: add <init>/sbin/init</init> to <os>"}
	}
	// libvirt silently caps the balloon at the maximum.
	if d.CurrentMemory > d.Memory {
		d.CurrentMemory = d.Memory
	}
	if d.VCPU.Current > d.VCPU.Count {
		return &Error{Element: "vcpu", Value: strconv.Itoa(d.VCPU.Current), Line: p.at["vcpu"],
			Msg: fmt.Sprintf("current '%d' is more than the %d vcpus given", d.VCPU.Current, d.VCPU.Count)}
	}
	roots := 0
	targets := make(map[string]int)
	for i, fs := range d.Devices.Filesystems {
		line := p.at[fmt.Sprintf("devices/filesystem[%d]", i)]
		if fs.Target == "/" {
			roots++
			if roots > 1 {
				return &Error{Element: "devices/filesystem/target", Value: "/", Line: line,
					Msg: "dir '/' is given twice: only one filesystem can be the root (target dir='/'); keep one"}
			}
		}
		if prev, dup := targets[fs.Target]; dup {
			return &Error{Element: "devices/filesystem/target", Value: fs.Target, Line: line,
				Msg: fmt.Sprintf("dir '%s' is already the target of the filesystem on line %d (each target can be mounted once)", fs.Target, prev)}
		}
		targets[fs.Target] = line
	}
	m := d.IDMap
	if len(m.UIDs) > 0 || len(m.GIDs) > 0 {
		line := p.at["idmap"]
		if len(m.UIDs) == 0 || len(m.GIDs) == 0 {
			missing := "uid"
			if len(m.GIDs) == 0 {
				missing = "gid"
			}
			return &Error{Element: "idmap", Line: line, Value: missing,
				Msg: fmt.Sprintf("uid and gid must both be mapped: add a <%s start='0' target='...' count='...'/> line", missing)}
		}
		for _, k := range []struct {
			name string
			m    []IDMapEntry
		}{{"uid", m.UIDs}, {"gid", m.GIDs}} {
			if k.m[0].Start != 0 {
				return &Error{Element: "idmap/" + k.name, Line: line, Value: strconv.FormatUint(uint64(k.m[0].Start), 10),
					Msg: fmt.Sprintf("the lowest %s start is %d: the container's root must be mapped (add <%s start='0' .../>)", k.name, k.m[0].Start, k.name)}
			}
		}
	}
	return nil
}
