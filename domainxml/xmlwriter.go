package domainxml

// The low-level writer behind Marshal: indentation, libvirt's quoting and
// escaping, and kept elements written back verbatim.

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

func utoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// kv is one attribute; attributes with an empty value are not written.
type kv struct{ k, v string }

func hasAttr(a []kv) bool {
	return slices.ContainsFunc(a, func(a kv) bool { return a.v != "" })
}

type writer struct {
	b     bytes.Buffer
	depth int
}

// emptyMode says what block writes when its body wrote nothing.
type emptyMode int

const (
	omitEmpty   emptyMode = iota // nothing at all
	leafEmpty                    // <tag attrs/>
	leafIfAttrs                  // <tag attrs/> if it has attributes, else nothing
	openClose                    // <tag attrs> and </tag> on two lines
)

func (w *writer) indent() {
	for range w.depth {
		w.b.WriteString("  ")
	}
}

func (w *writer) start(name string, attrs []kv) {
	w.indent()
	w.b.WriteString("<" + name)
	for _, a := range attrs {
		if a.v != "" {
			w.b.WriteString(" " + a.k + "='" + escape(a.v, true, '\'') + "'")
		}
	}
}

func (w *writer) leaf(name string, attrs ...kv) {
	w.start(name, attrs)
	w.b.WriteString("/>\n")
}

func (w *writer) text(name, text string, attrs ...kv) {
	w.start(name, attrs)
	w.b.WriteString(">" + escape(text, false, '\'') + "</" + name + ">\n")
}

func (w *writer) textOpt(name, text string) {
	if text != "" {
		w.text(name, text)
	}
}

func (w *writer) uintOpt(name string, v *uint64) {
	if v != nil {
		w.text(name, strconv.FormatUint(*v, 10))
	}
}

func (w *writer) size(name string, kib uint64) {
	if kib > 0 {
		w.text(name, strconv.FormatUint(kib, 10), kv{"unit", "KiB"})
	}
}

// block writes an element whose children body writes; what an empty body
// gives depends on mode. Writing first and looking after keeps every caller
// free of "is there anything to write" logic that could drift from body.
func (w *writer) block(name string, attrs []kv, mode emptyMode, body func()) {
	mark := w.b.Len()
	w.start(name, attrs)
	w.b.WriteString(">\n")
	opened := w.b.Len()
	w.depth++
	body()
	w.depth--
	if w.b.Len() > opened || mode == openClose {
		w.indent()
		w.b.WriteString("</" + name + ">\n")
		return
	}
	w.b.Truncate(mark)
	if mode == leafEmpty || (mode == leafIfAttrs && hasAttr(attrs)) {
		w.leaf(name, attrs...)
	}
}

// placer puts kept unknown elements back after the sibling they followed.
type placer struct {
	w    *writer
	list []Unknown
	done []bool
}

func (w *writer) place(list []Unknown) *placer {
	return &placer{w: w, list: list, done: make([]bool, len(list))}
}

func (p *placer) after(tag string) {
	for i, u := range p.list {
		if !p.done[i] && u.After == tag {
			p.done[i] = true
			p.w.raw(u.Elem, '\'')
		}
	}
}

// rest writes what no after call placed (an After naming a sibling that is
// not written at this level), so nothing kept is ever lost.
func (p *placer) rest() {
	for i, u := range p.list {
		if !p.done[i] {
			p.done[i] = true
			p.w.raw(u.Elem, '\'')
		}
	}
}

// raw writes a kept element. Elements holding only elements are
// re-indented; an element with text in it (mixed content) is written on one
// line exactly as read, since re-indenting would change its text. q is the
// attribute quote: ' for libvirt's own style, " inside <metadata>, which
// libvirt formats with libxml2.
func (w *writer) raw(e *etree.Element, q byte) {
	if e == nil {
		return
	}
	w.indent()
	w.rawStart(e, q)
	empty, mixed := true, false
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				empty, mixed = false, true
			}
		case *etree.Element, *etree.Comment:
			empty = false
		}
	}
	switch {
	case empty:
		w.b.WriteString("/>\n")
	case mixed:
		w.b.WriteString(">")
		for _, t := range e.Child {
			w.inline(t, q)
		}
		w.b.WriteString("</" + e.FullTag() + ">\n")
	default:
		w.b.WriteString(">\n")
		w.depth++
		for _, t := range e.Child {
			switch t := t.(type) {
			case *etree.Element:
				w.raw(t, q)
			case *etree.Comment:
				w.indent()
				w.b.WriteString("<!--" + comment(t.Data) + "-->\n")
			}
		}
		w.depth--
		w.indent()
		w.b.WriteString("</" + e.FullTag() + ">\n")
	}
}

func (w *writer) rawStart(e *etree.Element, q byte) {
	w.b.WriteString("<" + e.FullTag())
	for _, a := range e.Attr {
		w.b.WriteString(" " + a.FullKey() + "=" + string(q) + escape(a.Value, true, q) + string(q))
	}
}

func (w *writer) inline(t etree.Token, q byte) {
	switch t := t.(type) {
	case *etree.CharData:
		w.b.WriteString(escape(t.Data, false, q))
	case *etree.Comment:
		w.b.WriteString("<!--" + comment(t.Data) + "-->")
	case *etree.Element:
		w.rawStart(t, q)
		if len(t.Child) == 0 {
			w.b.WriteString("/>")
			return
		}
		w.b.WriteString(">")
		for _, c := range t.Child {
			w.inline(c, q)
		}
		w.b.WriteString("</" + t.FullTag() + ">")
	}
}

// comment keeps comment text legal: no "--" inside, no "-" at the end.
func comment(s string) string {
	s = validXML(s)
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "- -")
	}
	if strings.HasSuffix(s, "-") {
		s += " "
	}
	return s
}

// escape quotes s for text or an attribute. With q '\” it escapes as
// libvirt does (all five markup characters); with '"' as libxml2 does.
// Carriage returns, and tabs and newlines in attributes, become character
// references, since a parser would otherwise normalise them and the output
// would not read back the same.
func escape(s string, inAttr bool, q byte) string {
	s = validXML(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\'' && q == '\'':
			b.WriteString("&apos;")
		case r == '"' && (q == '\'' || inAttr):
			b.WriteString("&quot;")
		case r == '\r':
			b.WriteString("&#13;")
		case r == '\n' && inAttr:
			b.WriteString("&#10;")
		case r == '\t' && inAttr:
			b.WriteString("&#9;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// validXML drops what XML 1.0 cannot carry (control characters, invalid
// UTF-8), which only a model built in code, not Parse, can contain.
func validXML(s string) string {
	ok := func(r rune) bool {
		return r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xD7FF) ||
			(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
	}
	clean := utf8.ValidString(s)
	for _, r := range s {
		if !ok(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !ok(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}
