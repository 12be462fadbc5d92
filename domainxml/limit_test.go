package domainxml

import (
	"errors"
	"strings"
	"testing"
)

// endless is a reader that never ends, counting what was taken from it.
type endless struct{ n int64 }

func (r *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestReadDocumentBounded(t *testing.T) {
	r := &endless{}
	_, err := ReadDocument(r, "domain XML on stdin", -1, "check it")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v (%T), want an *Error wrapping ErrInvalid", err, err)
	}
	if want := "domain XML on stdin is more than 1 MiB; lxctl accepts at most 1 MiB (check it)"; err.Error() != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
	// io.ReadAll asks for 512 bytes at least; nothing near the input's size.
	if r.n > MaxDocumentSize+4096 {
		t.Errorf("read %d bytes of an endless input, want about %d", r.n, MaxDocumentSize+1)
	}

	// A known size over the limit fails before reading anything.
	r = &endless{}
	_, err = ReadDocument(r, "domain XML big.xml", 100<<20, "check it")
	if want := "domain XML big.xml is 104857600 bytes; lxctl accepts at most 1 MiB (check it)"; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %q", err, want)
	}
	if r.n != 0 {
		t.Errorf("read %d bytes of a document known to be too large", r.n)
	}

	// Exactly the limit is accepted, one byte more is not.
	for size, ok := range map[int]bool{MaxDocumentSize: true, MaxDocumentSize + 1: false} {
		data, err := ReadDocument(strings.NewReader(strings.Repeat("x", size)), "doc", -1, "")
		if ok != (err == nil) || ok && len(data) != size {
			t.Errorf("%d bytes: got %d bytes, error %v", size, len(data), err)
		}
	}
	if _, err := ReadDocument(iotestErr{}, "doc", -1, ""); err == nil || !strings.Contains(err.Error(), "read doc: boom") {
		t.Errorf("read error: %v", err)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestParseSizeLimit(t *testing.T) {
	head := "<domain type='lxc'><name>x</name><memory>1</memory><os><type>exe</type><init>/i</init></os><description>"
	tail := "</description></domain>"
	fill := MaxDocumentSize - len(head) - len(tail)
	if _, _, err := Parse([]byte(head + strings.Repeat("d", fill) + tail)); err != nil {
		t.Fatalf("a document of exactly 1 MiB: %v", err)
	}
	_, _, err := Parse([]byte(head + strings.Repeat("d", fill+1) + tail))
	if want := "the document is 1048577 bytes; lxctl accepts at most 1 MiB (a domain definition is a few kB)"; err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
		t.Errorf("got %v\nwant %q", err, want)
	}
	big := "<network><name>n</name><bridge name='b'/>" + strings.Repeat("<!-- -->", MaxDocumentSize/8) + "</network>"
	if _, err := ParseNetwork([]byte(big)); err == nil || !strings.Contains(err.Error(), "network XML: the document is") {
		t.Errorf("network: %v", err)
	}
}

// TestMarshalSizeLimit: kept elements are re-indented, so a deeply nested
// document under the limit can be written many times larger; Marshal
// refuses instead of storing what Parse would not read back.
func TestMarshalSizeLimit(t *testing.T) {
	inner := strings.Repeat("<a>", 60) + strings.Repeat("</a>", 60)
	head := "<domain type='lxc'><name>x</name><memory>1</memory><os><type>exe</type><init>/i</init></os>"
	n := (MaxDocumentSize - len(head) - 100) / (len(inner) + len("<u></u>"))
	doc := head + strings.Repeat("<u>"+inner+"</u>", n) + "</domain>"
	d, _ := mustParse(t, []byte(doc))
	_, err := d.Marshal()
	if err == nil || !strings.Contains(err.Error(), "the domain's XML as lxctl writes it (indented) is ") || !strings.Contains(err.Error(), "at most 1 MiB") {
		t.Fatalf("Marshal of a %d-byte deeply nested document: %v", len(doc), err)
	}
	// A few of them are fine.
	d, _ = mustParse(t, []byte(head+strings.Repeat("<u>"+inner+"</u>", 10)+"</domain>"))
	mustMarshal(t, d)
}
