package console

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Wire protocol of the console socket: SOCK_SEQPACKET, so message
// boundaries come free. Every packet starts with a one-byte type.
//
// A session: the client sends Hello; the server answers Attached (the
// client is now the one attached client) or Error (then closes). After
// Attached the client sends In and Resize packets and the server sends Out
// packets until one side closes, the server sends Notice (the session was
// taken over; then closes) or Done (the container stopped; then closes).
//
// A client that says HelloDirect may be lent the pty master: Master
// carries it (SCM_RIGHTS), and from then on the client reads the
// container's output itself, as a terminal of its own, and sends what it
// read back in Log packets for the console log, until it gives the master
// back with Returned, on its own (it leaves, or the pty hung up) or when
// the server sends Revoke. Meanwhile the server reads nothing from the
// master, so one stream is never split between readers. Input, resize and
// everything else stay as above. One relay instead of two: the container's
// output goes pty -> client -> terminal, the way runc and LXC relay it.
const (
	PktDone     byte = 0  // server→client: the container stopped; payload: reason; then close
	PktIn       byte = 1  // client→server: bytes for the container
	PktOut      byte = 2  // server→client: bytes from the container
	PktResize   byte = 3  // client→server: rows, cols (uint16 big endian each)
	PktNotice   byte = 4  // server→client: the session ends, not by error; payload: why (a takeover); then close
	PktError    byte = 5  // server→client: the session is refused or failed; payload: why; then close
	PktHello    byte = 6  // client→server: first packet; payload: version, flags
	PktAttached byte = 7  // server→client: answer to Hello; the client is attached
	PktMaster   byte = 8  // server→client: the pty master (SCM_RIGHTS); read the output from it
	PktLog      byte = 9  // client→server: output read from the master, for the console log
	PktRevoke   byte = 10 // server→client: stop reading the master, send its Log, close it, answer Returned
	PktReturned byte = 11 // client→server: the master is closed; nothing more is read from it
)

// ProtoVersion is the Hello version this package speaks.
const ProtoVersion byte = 1

// Hello's flags.
const (
	HelloForce  byte = 1 << 0 // take the console over from an attached client
	HelloDirect byte = 1 << 1 // the client can be lent the pty master (Master, Log, Revoke, Returned)
)

// MaxPayload bounds the payload of a packet; a packet is one byte longer.
// 64 KiB is well below the socket buffer (net.core.wmem_default, 208 KiB
// by default); where the buffer is smaller, senders split (packetLimit).
const MaxPayload = 64 << 10

// Texts the server sends; the client recognises msgInUse.
const (
	msgInUse    = "console for domain is in use (use --force)"
	msgTakeover = "console taken over by another client"
)

func encodeHello(force bool) []byte {
	var flags byte
	if force {
		flags |= HelloForce
	}
	return []byte{PktHello, ProtoVersion, flags}
}

func encodeResize(rows, cols uint16) []byte {
	p := []byte{PktResize, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(p[1:], rows)
	binary.BigEndian.PutUint16(p[3:], cols)
	return p
}

func decodeResize(p []byte) (rows, cols uint16, ok bool) {
	if len(p) != 5 || p[0] != PktResize {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(p[1:]), binary.BigEndian.Uint16(p[3:]), true
}

func textPacket(typ byte, text string) []byte {
	if len(text) > MaxPayload {
		text = text[:MaxPayload]
	}
	p := make([]byte, 1+len(text))
	p[0] = typ
	copy(p[1:], text)
	return p
}

// packetLimit is the largest packet c can send: SOCK_SEQPACKET refuses a
// packet larger than the send buffer (less a little overhead) with
// EMSGSIZE, and a system with a small net.core.wmem_default or wmem_max
// may make that smaller than 1+MaxPayload.
func packetLimit(c *net.UnixConn) int {
	limit := 1 + MaxPayload
	rc, err := c.SyscallConn()
	if err != nil {
		return limit
	}
	_ = rc.Control(func(fd uintptr) {
		if n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil {
			limit = max(min(limit, n-512), 64)
		}
	})
	return limit
}

// errShort is a packet with no type byte (EOF on SEQPACKET is reported as
// io.EOF by the net package, so this only guards against odd peers).
var errShort = errors.New("empty console packet")

// readPacket reads one packet into buf (which must hold 1+MaxPayload bytes).
//
// A peer that closes with packets of ours unread makes the kernel report
// ECONNRESET on our next read, before the packets it had sent us (a Done
// packet, the last keystrokes before a detach). The error is reported
// once; reading again yields those packets and then EOF.
func readPacket(c *net.UnixConn, buf []byte) ([]byte, error) {
	n, err := c.Read(buf)
	for i := 0; errors.Is(err, syscall.ECONNRESET) && i < 2; i++ {
		n, err = c.Read(buf)
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errShort
	}
	return buf[:n], nil
}
