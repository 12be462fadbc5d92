package domainxml

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"
)

// FuzzParse: Parse never panics and fails only with ErrInvalid; whatever it
// accepts, Marshal writes, Parse reads back, and Marshal then writes the
// same bytes again (with and without SetDefaults). The seeds (lxctl's own
// documents, the bad inputs, and libvirt's corpus when LXCTL_LIBVIRT_CORPUS
// names it) run in every go test.
func FuzzParse(f *testing.F) {
	docs := ownDocs(f)
	for _, name := range slices.Sorted(maps.Keys(docs)) {
		f.Add(docs[name])
	}
	if dir := optionalCorpus(f); dir != "" {
		for _, p := range corpusFiles(f, dir) {
			f.Add(readFile(f, dir+"/"+p))
		}
	}
	for _, c := range badCases {
		f.Add([]byte(c.doc))
	}
	for _, doc := range trickyDocs {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, _, err := Parse(data)
		if err != nil {
			var e *Error
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error wrapping ErrInvalid", err, err)
			}
			return
		}
		stable(t, d)
		d.SetDefaults("x86_64", "/usr/libexec/lxctl")
		stable(t, d)
	})
}

func stable(t *testing.T, d *Domain) {
	t.Helper()
	out, err := d.Marshal()
	if err != nil {
		t.Fatalf("Marshal of a parsed domain failed: %v", err)
	}
	d2, _, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse of Marshal's output failed: %v\n%s", err, out)
	}
	out2, err := d2.Marshal()
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("second write differs (%v):\n%s\n---\n%s", err, out, out2)
	}
	if c, _ := d.Clone().Marshal(); !bytes.Equal(c, out) {
		t.Fatalf("clone writes differently")
	}
}

const trickyHead = "<domain type='lxc'><name>x</name><memory>1</memory><os><type>exe</type><init>/i</init></os>"

// trickyDocs are valid documents at the edges of the writer: empty
// containers, mixed content, comments, character references, prefixes,
// live-only children, unknown elements after elements that are not written.
var trickyDocs = []string{
	trickyHead + "<clock/><resource/><numatune/><features/><bogus>text<b/> </bogus></domain>",
	trickyHead + "<metadata>hello</metadata><description>  </description></domain>",
	trickyHead + "<metadata/><title>\tt</title></domain>",
	trickyHead + "<devices><console type='pty'><alias name='c'/><zz/><target port='3'/></console></devices></domain>",
	trickyHead + "<x a='1&#10;2&#9;3&#13;4'>a&#13;b<!-- c --></x><y><!--only--></y></domain>",
	trickyHead + "<devices><hostdev mode='subsystem' type='usb'><source><vendor id='1'/></source></hostdev><hostdev type='pci'/></devices></domain>",
	trickyHead + "<devices><interface type='ethernet'><source><ip address='::ffff:1.2.3.4'/><bogus/></source></interface></devices></domain>",
	"\xef\xbb\xbf<?xml version='1.0'?>\n<!DOCTYPE domain>\n<!-- c -->\n" + trickyHead + "</domain>\n<!-- trailing -->\n",
	"<domain type='lxc' xmlns='urn:default' xmlns:lxc='http://libvirt.org/schemas/domain/lxc/1.0'><name>x</name><memory>1</memory><os><type>exe</type><init>/i</init></os><lxc:namespace><lxc:sharenet type='netns' value='red'/></lxc:namespace></domain>",
	trickyHead + "<blkiotune><device><path>/dev/sda</path><zz/></device><weight>5</weight></blkiotune></domain>",
	trickyHead + "<devices><filesystem type='ram'><source usage='1' units='b'/><target dir='/a/../b/'/></filesystem></devices></domain>",
	trickyHead + "<vcpu current='1'>1</vcpu><q:r xmlns:q='u'><q:s/>&lt;&amp;&gt;</q:r></domain>",
	trickyHead + "<numatune><memnode cellid='0' mode='strict' nodeset='0'/></numatune><clock timezone='x'><timer name='rtc' present='no' tickpolicy='catchup'/></clock></domain>",
}

func TestTrickyDocsStable(t *testing.T) {
	for _, doc := range trickyDocs {
		d, _ := mustParse(t, []byte(doc))
		stable(t, d)
		d.SetDefaults("x86_64", "/usr/libexec/lxctl")
		stable(t, d)
	}
}
