package domainxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/beevik/etree"
)

// maxDepth bounds nesting. Real domain XML is under ten levels deep; the
// limit keeps the recursive writer and Clone safe from hostile input.
const maxDepth = 64

// readTree builds an etree tree from data and records the line each element
// starts on. etree v1.8 does not track lines, so the tree is built here from
// encoding/xml's tokens, which also lets every well-formedness error carry a
// line number.
func readTree(data []byte) (*etree.Element, map[*etree.Element]int, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 BOM
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	lines := make(map[*etree.Element]int)
	var root *etree.Element
	var stack []*etree.Element
	var names []xml.Name
	for {
		line, _ := dec.InputPos()
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, xmlError(err, line)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && root != nil {
				return nil, nil, &Error{Line: line, Value: fullName(t.Name),
					Msg: "not well-formed XML: element <" + fullName(t.Name) + "> after the root element (a document has one <domain>)"}
			}
			if len(stack) >= maxDepth {
				return nil, nil, &Error{Line: line, Value: fullName(t.Name),
					Msg: "not well-formed XML: elements nested deeper than 64 levels"}
			}
			e := &etree.Element{Space: t.Name.Space, Tag: t.Name.Local}
			for i, a := range t.Attr {
				for _, b := range t.Attr[:i] {
					if a.Name == b.Name {
						return nil, nil, &Error{Line: line, Value: fullName(a.Name),
							Msg: "not well-formed XML: attribute '" + fullName(a.Name) + "' given twice in <" + fullName(t.Name) + ">"}
					}
				}
				e.Attr = append(e.Attr, etree.Attr{Space: a.Name.Space, Key: a.Name.Local, Value: a.Value})
			}
			if len(stack) == 0 {
				root = e
			} else {
				stack[len(stack)-1].AddChild(e)
			}
			lines[e] = line
			stack = append(stack, e)
			names = append(names, t.Name)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, nil, &Error{Line: line, Value: fullName(t.Name),
					Msg: "not well-formed XML: unexpected end tag </" + fullName(t.Name) + ">"}
			}
			if open := names[len(names)-1]; open != t.Name {
				return nil, nil, &Error{Line: line, Value: fullName(t.Name),
					Msg: "not well-formed XML: element <" + fullName(open) + "> closed by </" + fullName(t.Name) + ">"}
			}
			stack, names = stack[:len(stack)-1], names[:len(names)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, nil, &Error{Line: line, Msg: "not well-formed XML: text outside the root element"}
				}
				continue
			}
			stack[len(stack)-1].CreateText(string(t))
		case xml.Comment:
			if len(stack) > 0 {
				stack[len(stack)-1].CreateComment(string(t))
			}
		}
		// Processing instructions and directives (<?xml ...?>,
		// <!DOCTYPE ...>) carry nothing lxctl uses.
	}
	if len(stack) > 0 {
		line, _ := dec.InputPos()
		return nil, nil, &Error{Line: line, Value: fullName(names[len(names)-1]),
			Msg: "not well-formed XML: document ends before <" + fullName(names[len(names)-1]) + "> is closed"}
	}
	if root == nil {
		return nil, nil, &Error{Msg: "empty document: expected <domain type='lxc'>...</domain>"}
	}
	return root, lines, nil
}

func xmlError(err error, line int) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &Error{Line: se.Line, Msg: "not well-formed XML: " + se.Msg}
	}
	return &Error{Line: line, Msg: "not well-formed XML: " + strings.TrimPrefix(err.Error(), "xml: ")}
}

func fullName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}
