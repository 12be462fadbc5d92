package console

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func packetPair(t *testing.T) (a, b *net.UnixConn) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "sp")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

// TestReadAfterReset: a server closing with the client's input unread must
// not cost the client the Done packet sent just before.
func TestReadAfterReset(t *testing.T) {
	closedWithUnread := func() *net.UnixConn {
		cl, srv := packetPair(t)
		t.Cleanup(func() { cl.Close() })
		cl.Write([]byte{PktIn, 'x'}) // never read by srv
		srv.Write(textPacket(PktDone, "shutdown"))
		srv.Close()
		return cl
	}
	buf := make([]byte, 1+MaxPayload)
	// The kernel behaviour readPacket copes with.
	if _, err := closedWithUnread().Read(buf); !errors.Is(err, unix.ECONNRESET) {
		t.Logf("the kernel did not report ECONNRESET first (%v)", err)
	}
	cl := closedWithUnread()
	p, err := readPacket(cl, buf)
	if err != nil || p[0] != PktDone || string(p[1:]) != "shutdown" {
		t.Fatalf("readPacket = %q, %v; want the Done packet", p, err)
	}
	if _, err := readPacket(cl, buf); !errors.Is(err, io.EOF) {
		t.Fatalf("then %v; want EOF", err)
	}
}

func TestResizePacket(t *testing.T) {
	rows, cols, ok := decodeResize(encodeResize(40, 100))
	if !ok || rows != 40 || cols != 100 {
		t.Fatal(rows, cols, ok)
	}
	if _, _, ok := decodeResize([]byte{PktResize, 1}); ok {
		t.Fatal("short resize accepted")
	}
}

// TestSendSplits: a socket whose buffer cannot take a whole packet (small
// wmem settings) gets the data in several packets of the same type.
func TestSendSplits(t *testing.T) {
	a, b := packetPair(t)
	defer a.Close()
	defer b.Close()
	if err := a.SetWriteBuffer(4096); err != nil {
		t.Fatal(err)
	}
	c := &client{conn: a, maxPkt: packetLimit(a)}
	if c.maxPkt >= 1+MaxPayload {
		t.Fatalf("packetLimit = %d with a 4 KiB send buffer", c.maxPkt)
	}
	data := make([]byte, MaxPayload)
	for i := range data {
		data[i] = byte(i * 7)
	}
	go func() {
		if err := c.send(append([]byte{PktOut}, data...), time.Second); err != nil {
			t.Error(err)
		}
	}()
	var got []byte
	buf := make([]byte, 1+MaxPayload)
	for len(got) < len(data) {
		p, err := readPacket(b, buf)
		if err != nil {
			t.Fatal(err)
		}
		if p[0] != PktOut || len(p) > c.maxPkt {
			t.Fatalf("packet type %d, %d bytes (limit %d)", p[0], len(p), c.maxPkt)
		}
		got = append(got, p[1:]...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
}
