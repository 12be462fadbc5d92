package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

func TestDataBothWays(t *testing.T) {
	fx := newFixture(t, 0)
	pr, pw := io.Pipe()
	defer pw.Close()
	out := &syncBuffer{}
	ch := attachAsync(context.Background(), fx.sock, ClientOptions{Reader: pr, Out: out})
	waitAttached(t, fx.srv, true)

	fx.slave.WriteString("hello from the container\n")
	waitContains(t, out, "hello from the container\r\n") // ONLCR, as on a real console

	pw.Write([]byte("typed by the user\n"))
	readUntil(t, fx.slave, "typed by the user\n")

	fx.slave.WriteString("last words\n")
	if err := fx.srv.Close("shutdown"); err != nil {
		t.Fatal(err)
	}
	r := waitResult(t, ch)
	if r.err != nil || r.res.End != Stopped || r.res.Reason != "shutdown" {
		t.Fatalf("Attach = %+v, %v; want Stopped(shutdown)", r.res, r.err)
	}
	if !strings.Contains(out.String(), "last words") {
		t.Errorf("output written just before Close was not delivered before Done: %q", out.String())
	}
	if got := r.res.Message("vm1"); got != "Domain 'vm1' stopped (shutdown)" {
		t.Errorf("Message = %q", got)
	}
	if _, err := os.Stat(fx.sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there after Close: %v", err)
	}
}

func TestNoClientDrainsToLog(t *testing.T) {
	fx := newFixture(t, 0)
	data := bytes.Repeat([]byte("0123456789abcdef"), 256<<10/16) // 256 KiB, far over the pty buffer
	writeUnblocked(t, fx.slave, data, 5*time.Second, "a container writing with no client attached blocked")
	var got bytes.Buffer
	waitFor(t, "the log to hold everything", 5*time.Second, func() bool {
		got.Reset()
		ReadLog(fx.log, &got)
		return got.Len() >= len(data)
	})
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("log holds %d bytes, not what was written (%d)", got.Len(), len(data))
	}
}

func TestLogCapKeepsNewest(t *testing.T) {
	const limit = 4096
	fx := newFixture(t, limit)
	if _, err := term.MakeRaw(fd(t, fx.slave)); err != nil { // bytes as written, no ONLCR
		t.Fatal(err)
	}
	var all bytes.Buffer
	for i := range 2000 {
		fmt.Fprintf(&all, "line %05d\n", i)
	}
	if _, err := fx.slave.Write(all.Bytes()); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	waitFor(t, "the last line in the log", 5*time.Second, func() bool {
		got.Reset()
		ReadLog(fx.log, &got)
		return bytes.HasSuffix(got.Bytes(), []byte("line 01999\n"))
	})
	fx.srv.Close("")
	got.Reset()
	ReadLog(fx.log, &got)
	if got.Len() < limit || got.Len() > 2*limit {
		t.Errorf("log holds %d bytes; want between %d and %d", got.Len(), limit, 2*limit)
	}
	if !bytes.HasSuffix(all.Bytes(), got.Bytes()) {
		t.Errorf("log is not the newest bytes: head %q tail %q", got.Bytes()[:40], got.Bytes()[got.Len()-40:])
	}
	for _, p := range []string{fx.log, fx.log + ".1"} {
		if fi, err := os.Stat(p); err == nil && (fi.Size() > limit || fi.Mode().Perm() != 0o600) {
			t.Errorf("%s: %d bytes, mode %v", p, fi.Size(), fi.Mode())
		}
	}
}

func TestInUseAndForce(t *testing.T) {
	fx := newFixture(t, 0)
	ctx := context.Background()
	pr, pw := io.Pipe()
	defer pw.Close()
	outA := &syncBuffer{}
	chA := attachAsync(ctx, fx.sock, ClientOptions{Reader: pr, Out: outA})
	waitAttached(t, fx.srv, true)

	_, err := Attach(ctx, fx.sock, ClientOptions{Reader: strings.NewReader("")})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second client without force: %v; want ErrInUse", err)
	}
	fx.slave.WriteString("for A\n")
	waitContains(t, outA, "for A")

	pr2, pw2 := io.Pipe()
	defer pw2.Close()
	outC := &syncBuffer{}
	chC := attachAsync(ctx, fx.sock, ClientOptions{Reader: pr2, Out: outC, Force: true})
	r := waitResult(t, chA)
	if r.err != nil || r.res.End != TakenOver {
		t.Fatalf("first client: %+v, %v; want TakenOver", r.res, r.err)
	}
	if m := r.res.Message("vm1"); m != "Console of domain 'vm1' taken over by another client" {
		t.Errorf("Message = %q", m)
	}
	fx.slave.WriteString("for C\n")
	waitContains(t, outC, "for C")
	if strings.Contains(outA.String(), "for C") {
		t.Error("the old client got output after the takeover")
	}
	pw2.Write([]byte("from C\n"))
	readUntil(t, fx.slave, "from C\n")
	fx.srv.Close("destroyed")
	if r := waitResult(t, chC); r.res.End != Stopped {
		t.Fatalf("second client: %+v, %v", r.res, r.err)
	}
}

// TestHangupReopen: the container closes its console (every slave fd),
// the relay goes idle without spinning, and output after the container
// reopens /dev/console reaches the client that stayed attached.
func TestHangupReopen(t *testing.T) {
	for _, hold := range []bool{true, false} {
		t.Run(fmt.Sprintf("holdPeer=%v", hold), func(t *testing.T) {
			defer func(v bool) { holdPeer = v }(holdPeer)
			holdPeer = hold
			fx := newFixture(t, 0)
			pr, pw := io.Pipe()
			defer pw.Close()
			out := &syncBuffer{}
			ch := attachAsync(context.Background(), fx.sock, ClientOptions{Reader: pr, Out: out})
			waitAttached(t, fx.srv, true)
			fx.slave.WriteString("before\n")
			waitContains(t, out, "before")

			fx.slave.Close() // the container closes its console
			// Let the runtime finish with earlier tests' garbage first:
			// the measure is of the relay.
			debug.FreeOSMemory()
			time.Sleep(300 * time.Millisecond)
			before := cpuTime()
			time.Sleep(time.Second)
			used := cpuTime() - before
			t.Logf("CPU over 1 s with the console closed: %v", used)
			if used > 20*time.Millisecond {
				t.Errorf("hung-up relay used %v of CPU in 1 s; want ~0", used)
			}

			s, err := os.OpenFile(fx.pts, os.O_RDWR|unix.O_NOCTTY, 0) // init reopens /dev/console
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.WriteString("after reopen\n")
			waitContains(t, out, "after reopen")
			pw.Write([]byte("input after reopen\n"))
			readUntil(t, s, "input after reopen")
			fx.srv.Close("shutdown")
			waitResult(t, ch)
		})
	}
}

func TestResize(t *testing.T) {
	fx := newFixture(t, 0)
	c, typ, _ := rawDial(t, fx.sock, false)
	defer c.Close()
	if typ != PktAttached {
		t.Fatalf("answer to hello: %d", typ)
	}
	c.Write(encodeResize(40, 100))
	waitFor(t, "40x100 on the slave", 5*time.Second, func() bool {
		ws, err := unix.IoctlGetWinsize(fd(t, fx.slave), unix.TIOCGWINSZ)
		return err == nil && ws.Row == 40 && ws.Col == 100
	})
	// A new pty (the container restarted) gets the client's size too.
	m2, s2, _ := openPTY(t)
	defer s2.Close()
	if err := fx.srv.SetMaster(m2); err != nil {
		t.Fatal(err)
	}
	m2.Close()
	ws, err := unix.IoctlGetWinsize(fd(t, s2), unix.TIOCGWINSZ)
	if err != nil || ws.Row != 40 || ws.Col != 100 {
		t.Fatalf("new pty size %+v, %v; want 40x100", ws, err)
	}
}

// TestSetMasterWhileAttached: a reboot brings a new pty; the attached
// client stays and gets its output, and its input goes to the new pty.
func TestSetMasterWhileAttached(t *testing.T) {
	fx := newFixture(t, 0)
	pr, pw := io.Pipe()
	defer pw.Close()
	out := &syncBuffer{}
	ch := attachAsync(context.Background(), fx.sock, ClientOptions{Reader: pr, Out: out})
	waitAttached(t, fx.srv, true)
	fx.slave.WriteString("first boot\n")
	waitContains(t, out, "first boot")

	fx.srv.DetachMaster()
	pw.Write([]byte("typed between boots\n")) // dropped: no container
	time.Sleep(200 * time.Millisecond)        // let the server see it before the new pty comes
	m2, s2, _ := openPTY(t)
	defer s2.Close()
	if err := fx.srv.SetMaster(m2); err != nil {
		t.Fatal(err)
	}
	m2.Close()
	s2.WriteString("second boot\n")
	waitContains(t, out, "second boot")
	pw.Write([]byte("typed on the second boot\n"))
	got := readUntil(t, s2, "typed on the second boot\n")
	if strings.Contains(got, "between boots") {
		t.Errorf("input typed with no container reached the new one: %q", got)
	}
	fx.srv.Close("shutdown")
	if r := waitResult(t, ch); r.res.End != Stopped {
		t.Fatalf("%+v %v", r.res, r.err)
	}
}

func TestAttachDetachCycles(t *testing.T) {
	fx := newFixture(t, 0)
	ctx := context.Background()
	cycle := func() {
		r, err := Attach(ctx, fx.sock, ClientOptions{Reader: strings.NewReader("x"), Grace: time.Millisecond})
		if err != nil || r.End != InputEnded {
			t.Fatalf("Attach = %+v, %v", r, err)
		}
	}
	for range 10 {
		cycle()
	}
	waitAttached(t, fx.srv, false)
	runtime.GC()
	fds, gs := countFDs(t), runtime.NumGoroutine()
	n := 1000
	if testing.Short() {
		n = 100
	}
	for range n {
		cycle()
	}
	waitAttached(t, fx.srv, false)
	var fds2, gs2 int
	waitFor(t, "fds and goroutines to settle", 5*time.Second, func() bool {
		runtime.GC()
		fds2, gs2 = countFDs(t), runtime.NumGoroutine()
		return fds2 == fds && gs2 <= gs+2
	})
	t.Logf("%d cycles: fds %d→%d, goroutines %d→%d", n, fds, fds2, gs, gs2)
}

// TestSlowClientDropped: a client that reads nothing holds the container
// back only for clientStall, then it is dropped and output flows to the log.
func TestSlowClientDropped(t *testing.T) {
	defer func(d time.Duration) { clientStall = d }(clientStall)
	clientStall = 200 * time.Millisecond
	fx := newFixture(t, 0)
	c, typ, _ := rawDial(t, fx.sock, false)
	defer c.Close()
	if typ != PktAttached {
		t.Fatal(typ)
	}
	done := make(chan error, 1)
	go func() { _, err := fx.slave.Write(bytes.Repeat([]byte("y"), 4<<20)); done <- err }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a stuck client blocked the container for good")
	}
	waitAttached(t, fx.srv, false)
}

func TestSocket(t *testing.T) {
	dir := shortDir(t)
	sock := dir + "/c.sock"
	srv, err := NewServer(ServerConfig{SocketPath: sock})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket: %v %v", fi.Mode(), err)
	}
	if _, err := NewServer(ServerConfig{SocketPath: sock}); err == nil {
		t.Fatal("a second server on a live socket")
	}
	// No master yet: clients can attach and wait.
	res, err := Attach(context.Background(), sock, ClientOptions{Reader: strings.NewReader(""), Grace: time.Millisecond})
	if err != nil || res.End != InputEnded {
		t.Fatal(res, err)
	}
	srv.Close("shutdown")
	if _, err := Attach(context.Background(), sock, ClientOptions{}); !errors.Is(err, ErrNoServer) {
		t.Fatalf("Attach after Close: %v; want ErrNoServer", err)
	}
	if err := srv.SetMaster(os.Stdin); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetMaster after Close: %v", err)
	}

	// A stale socket file (a controller killed with -9) is replaced.
	fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	unix.Bind(fd, &unix.SockaddrUnix{Name: sock})
	unix.Close(fd)
	srv, err = NewServer(ServerConfig{SocketPath: sock})
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	srv.Close("")

	long := dir + "/" + strings.Repeat("d", MaxSocketPath) + ".sock"
	if _, err := NewServer(ServerConfig{SocketPath: long}); !errors.Is(err, ErrSocketPathTooLong) {
		t.Fatalf("long path: %v", err)
	}
}

func TestSetMasterRejectsNonPty(t *testing.T) {
	fx := newFixture(t, 0)
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := fx.srv.SetMaster(f); err == nil || !strings.Contains(err.Error(), "not a pty master") {
		t.Fatalf("SetMaster(/dev/null) = %v", err)
	}
}

func TestProtocolVersion(t *testing.T) {
	fx := newFixture(t, 0)
	nc, err := net.Dial("unixpacket", fx.sock)
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.UnixConn)
	defer c.Close()
	c.Write([]byte{PktHello, 99, 0})
	buf := make([]byte, 1+MaxPayload)
	p, err := readPacket(c, buf)
	if err != nil || p[0] != PktError || !strings.Contains(string(p[1:]), "version 99") {
		t.Fatalf("%q %v", p, err)
	}
}

// TestInputInOrder: a paste larger than the pty takes arrives whole and in
// order, though the container reads it slowly.
func TestInputInOrder(t *testing.T) {
	fx := newFixture(t, 0)
	if _, err := term.MakeRaw(fd(t, fx.slave)); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 256<<10)
	for i := range data {
		data[i] = byte(i % 251)
	}
	ch := attachAsync(context.Background(), fx.sock, ClientOptions{Reader: bytes.NewReader(data), Grace: 5 * time.Second})
	got := make([]byte, 0, len(data))
	buf := make([]byte, 1000)
	fx.slave.SetReadDeadline(time.Now().Add(20 * time.Second))
	for len(got) < len(data) {
		n, err := fx.slave.Read(buf)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
		if len(got)%(32<<10) < 1000 {
			time.Sleep(5 * time.Millisecond) // a slow reader
		}
	}
	if !bytes.Equal(got, data) {
		i := 0
		for i < len(got) && got[i] == data[i] {
			i++
		}
		t.Fatalf("input differs from byte %d", i)
	}
	fx.srv.Close("")
	waitResult(t, ch)
}

// TestDetachWithStuckClient: tearing down (a reboot, a stop) does not wait
// clientStall for a client that reads nothing.
func TestDetachWithStuckClient(t *testing.T) {
	fx := newFixture(t, 0)
	c, typ, _ := rawDial(t, fx.sock, false)
	defer c.Close()
	if typ != PktAttached {
		t.Fatal(typ)
	}
	go fx.slave.Write(bytes.Repeat([]byte("z"), 8<<20))
	waitFor(t, "the relay to block on the client", 5*time.Second, func() bool { return fx.srv.out.Load() > 1<<20 })
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	fx.srv.DetachMaster()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("DetachMaster took %v with a stuck client", d)
	}
	start = time.Now()
	fx.srv.Close("shutdown")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v with a stuck client", d)
	}
}
