package console

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// lentTo reports whether the server has lent its master to a client that
// received it.
func lentTo(srv *Server) bool {
	srv.mu.Lock()
	l := srv.lease
	srv.mu.Unlock()
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent
}

// numbered is n numbered lines, so that a lost, repeated or reordered
// chunk shows.
func numbered(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "line %07d of the console stream .........................................\n", i)
	}
	return b.Bytes()
}

// TestDirectStreamCompleteAndLogged: a client lent the master gets every
// byte, in order (the exact byte count and content, as the bench
// verifies), and the console log gets the same bytes through the Log
// packets.
func TestDirectStreamCompleteAndLogged(t *testing.T) {
	fx := newFixture(t, 8<<20)
	if _, err := term.MakeRaw(fd(t, fx.slave)); err != nil { // bytes as written, no ONLCR
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	out := &syncBuffer{}
	ch := attachAsync(context.Background(), fx.sock, ClientOptions{Reader: pr, Out: out})
	waitFor(t, "the master to be lent", 5*time.Second, func() bool { return lentTo(fx.srv) })

	data := numbered(40000) // 3.2 MB, far over every buffer on the way
	if _, err := fx.slave.Write(data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all the output", 20*time.Second, func() bool { return len(out.String()) >= len(data) })
	if got := out.String(); got != string(data) {
		t.Fatalf("client got %d bytes, not the %d written in order", len(got), len(data))
	}
	if err := fx.srv.Close("shutdown"); err != nil {
		t.Fatal(err)
	}
	if r := waitResult(t, ch); r.err != nil || r.res.End != Stopped {
		t.Fatalf("Attach = %+v, %v; want Stopped", r.res, r.err)
	}
	var log bytes.Buffer
	if err := ReadLog(fx.log, &log); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(log.Bytes(), data) {
		t.Fatalf("log holds %d bytes, not the %d the client read", log.Len(), len(data))
	}
}

// TestDirectDetachBackToLog: output after the client left (and gave the
// master back) reaches the log, and the container is not held up.
func TestDirectDetachBackToLog(t *testing.T) {
	fx := newFixture(t, 8<<20)
	out := &syncBuffer{}
	pr, pw := io.Pipe()
	ch := attachAsync(context.Background(), fx.sock, ClientOptions{Reader: pr, Out: out, Grace: time.Millisecond})
	waitFor(t, "the master to be lent", 5*time.Second, func() bool { return lentTo(fx.srv) })
	fx.slave.WriteString("while attached\n")
	waitContains(t, out, "while attached")
	pw.Close() // the piped client leaves once its input ended
	if r := waitResult(t, ch); r.err != nil || r.res.End != InputEnded {
		t.Fatalf("Attach = %+v, %v", r.res, r.err)
	}
	waitFor(t, "the master to be given back", 5*time.Second, func() bool { return !lentTo(fx.srv) })

	data := bytes.Repeat([]byte("after the detach\n"), 64<<10/17) // over the pty buffer
	writeUnblocked(t, fx.slave, data, 10*time.Second, "the container blocked after the client left")
	waitFor(t, "the log to hold the output after the detach", 5*time.Second, func() bool {
		var log bytes.Buffer
		ReadLog(fx.log, &log)
		return bytes.Count(log.Bytes(), []byte("after the detach\r\n")) == len(data)/17 &&
			bytes.Contains(log.Bytes(), []byte("while attached\r\n"))
	})
	if strings.Contains(out.String(), "after the detach") {
		t.Error("the client got output after it left")
	}
}

// TestDirectTakeover: --force takes the master from the old client, which
// gives it back before the new one gets it: one reader at a time, and
// nothing lost in between.
func TestDirectTakeover(t *testing.T) {
	fx := newFixture(t, 8<<20)
	ctx := context.Background()
	prA, pwA := io.Pipe()
	defer pwA.Close()
	outA := &syncBuffer{}
	chA := attachAsync(ctx, fx.sock, ClientOptions{Reader: prA, Out: outA})
	waitFor(t, "the master to be lent to A", 5*time.Second, func() bool { return lentTo(fx.srv) })
	a := fx.srv.cur.Load()
	fx.slave.WriteString("for A\n")
	waitContains(t, outA, "for A")

	prC, pwC := io.Pipe()
	defer pwC.Close()
	outC := &syncBuffer{}
	chC := attachAsync(ctx, fx.sock, ClientOptions{Reader: prC, Out: outC, Force: true})
	if r := waitResult(t, chA); r.err != nil || r.res.End != TakenOver {
		t.Fatalf("A: %+v, %v; want TakenOver", r.res, r.err)
	}
	waitFor(t, "the master to be lent to C", 5*time.Second, func() bool {
		c := fx.srv.cur.Load()
		return c != nil && c != a && lentTo(fx.srv)
	})
	fx.slave.WriteString("for C\n")
	waitContains(t, outC, "for C")
	if strings.Contains(outA.String(), "for C") {
		t.Error("the old client got output after the takeover")
	}
	fx.srv.Close("destroyed")
	if r := waitResult(t, chC); r.res.End != Stopped {
		t.Fatalf("C: %+v, %v", r.res, r.err)
	}
}

// TestDirectStalledClientDropped: a client that was lent the master and
// reads nothing (stopped, or its terminal blocked) holds the container
// back only for clientStall; it does not answer the Revoke, so it is
// dropped, and the output flows to the log again.
func TestDirectStalledClientDropped(t *testing.T) {
	defer func(d time.Duration) { clientStall = d }(clientStall)
	clientStall = 200 * time.Millisecond
	fx := newFixture(t, 8<<20)
	nc, err := net.Dial("unixpacket", fx.sock)
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.UnixConn)
	defer c.Close()
	c.Write([]byte{PktHello, ProtoVersion, HelloDirect})
	buf := make([]byte, 1+MaxPayload)
	oob := make([]byte, unix.CmsgSpace(4))
	var master int = -1
	for master < 0 {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && buf[0] == PktMaster {
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			fds, _ := unix.ParseUnixRights(&msgs[0])
			master = fds[0]
		}
	}
	defer unix.Close(master) // held, never read: a stuck client

	done := make(chan error, 1)
	go func() { _, err := fx.slave.Write(bytes.Repeat([]byte("y"), 4<<20)); done <- err }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("a stalled client that holds the master blocked the container for good")
	}
	waitAttached(t, fx.srv, false)
	if lentTo(fx.srv) {
		t.Error("the master is still lent to a dropped client")
	}
}

// TestRelayedMode: a client that does not ask for the master (an older
// lxctl) still gets everything through the server's relay.
func TestRelayedMode(t *testing.T) {
	defer func(v bool) { clientDirect = v }(clientDirect)
	clientDirect = false
	fx := newFixture(t, 8<<20)
	if _, err := term.MakeRaw(fd(t, fx.slave)); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	out := &syncBuffer{}
	ch := attachAsync(context.Background(), fx.sock, ClientOptions{Reader: pr, Out: out})
	waitAttached(t, fx.srv, true)
	data := numbered(20000)
	if _, err := fx.slave.Write(data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all the output", 20*time.Second, func() bool { return len(out.String()) >= len(data) })
	if out.String() != string(data) || lentTo(fx.srv) {
		t.Fatalf("relayed client got %d bytes of %d (lent: %v)", len(out.String()), len(data), lentTo(fx.srv))
	}
	pw.Write([]byte("typed\n"))
	readUntil(t, fx.slave, "typed\n")
	fx.srv.Close("shutdown")
	if r := waitResult(t, ch); r.res.End != Stopped {
		t.Fatalf("%+v %v", r.res, r.err)
	}
}

// slowWriter is a terminal that takes each write slowly.
type slowWriter struct {
	syncBuffer
	delay time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	return w.syncBuffer.Write(p)
}

// TestDirectSlowClientKept: a client whose terminal is slow but takes
// output keeps the master: its Log packets go out as it progresses, not
// only when 32 KiB have gathered, so the stall watch sees progress.
func TestDirectSlowClientKept(t *testing.T) {
	defer func(d time.Duration) { clientStall = d }(clientStall)
	clientStall = 400 * time.Millisecond // under the time a slow terminal takes for 32 KiB
	fx := newFixture(t, 8<<20)
	if _, err := term.MakeRaw(fd(t, fx.slave)); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	out := &slowWriter{delay: 100 * time.Millisecond}
	ch := attachAsync(context.Background(), fx.sock, ClientOptions{Reader: pr, Out: out})
	waitFor(t, "the master to be lent", 5*time.Second, func() bool { return lentTo(fx.srv) })
	c := fx.srv.cur.Load()
	data := numbered(1600) // 128 KB: over 3 s at 4 KiB per 100 ms
	go fx.slave.Write(data)
	waitFor(t, "all the output", 60*time.Second, func() bool { return len(out.String()) >= len(data) })
	if out.String() != string(data) {
		t.Fatalf("slow client got %d bytes of %d", len(out.String()), len(data))
	}
	if fx.srv.cur.Load() != c || !lentTo(fx.srv) {
		t.Error("a slow client that made progress was dropped")
	}
	fx.srv.Close("shutdown")
	waitResult(t, ch)
}
