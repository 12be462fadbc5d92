package domainxml

import (
	"fmt"
	"io"
	"strconv"
)

// MaxDocumentSize is the largest domain or network document lxctl reads,
// parses or writes. Real definitions are a few kB (libvirt's largest LXC
// test document is under 2 kB); without a bound, a 100 MB file was read
// whole and parsed into about 4.6 GB of memory at define, and stored in a
// form that could not be read back.
const MaxDocumentSize = 1 << 20

const maxDocumentText = "1 MiB"

// TooLarge is the error for a document over MaxDocumentSize. what names the
// document ("domain XML vm1.xml"), size is its length in bytes or -1 when
// only known to be larger, and fix says what to do.
func TooLarge(what string, size int64, fix string) *Error {
	is, value := "is more than "+maxDocumentText, ""
	if size >= 0 {
		is, value = fmt.Sprintf("is %d bytes", size), strconv.FormatInt(size, 10)
	}
	return &Error{Value: value, Msg: fmt.Sprintf("%s %s; lxctl accepts at most %s (%s)", what, is, maxDocumentText, fix)}
}

// ReadDocument reads a whole document from r, never more than
// MaxDocumentSize+1 bytes, so memory stays bounded whatever r holds. size
// is r's length when known (a regular file's), -1 otherwise; a known size
// over the limit fails before anything is read. what and fix are for
// TooLarge.
func ReadDocument(r io.Reader, what string, size int64, fix string) ([]byte, error) {
	if size > MaxDocumentSize {
		return nil, TooLarge(what, size, fix)
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if len(data) > MaxDocumentSize {
		return nil, TooLarge(what, size, fix)
	}
	return data, nil
}
