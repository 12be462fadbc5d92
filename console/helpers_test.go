package console

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY makes a real pty pair from /dev/ptmx; neither end becomes the
// test's controlling terminal.
func openPTY(t testing.TB) (master, slave *os.File, slavePath string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	fd, err := fdOf(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slavePath = fmt.Sprintf("/dev/pts/%d", n)
	s, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", slavePath, err)
	}
	return m, s, slavePath
}

// shortDir is a temp dir with a short path: t.TempDir() under a long test
// name can exceed sun_path.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "cons")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

type fixture struct {
	srv    *Server
	sock   string
	log    string
	master *os.File
	slave  *os.File
	pts    string
}

// newFixture starts a server and gives it the master of a fresh pty; the
// test plays the container on fx.slave.
func newFixture(t testing.TB, limit int64) *fixture {
	t.Helper()
	dir := shortDir(t)
	fx := &fixture{sock: dir + "/c.sock", log: dir + "/c.log"}
	srv, err := NewServer(ServerConfig{SocketPath: fx.sock, LogPath: fx.log, LogLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	fx.srv = srv
	t.Cleanup(func() { srv.Close("test end") })
	m, s, p := openPTY(t)
	fx.slave, fx.pts = s, p
	t.Cleanup(func() { s.Close() })
	if err := srv.SetMaster(m); err != nil {
		t.Fatal(err)
	}
	m.Close() // the server keeps its own duplicate
	return fx
}

// syncBuffer is a goroutine-safe bytes.Buffer with waiting.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitContains(t testing.TB, b *syncBuffer, s string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%q in output (have %q)", s, tail(b.String())), 5*time.Second, func() bool {
		return strings.Contains(b.String(), s)
	})
}

func tail(s string) string {
	if len(s) > 200 {
		return "…" + s[len(s)-200:]
	}
	return s
}

// readUntil reads f until the accumulated bytes contain want.
func readUntil(t testing.TB, f *os.File, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	f.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer f.SetReadDeadline(time.Time{})
	for !bytes.Contains(got, []byte(want)) {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("reading for %q: %v (have %q)", want, err, got)
		}
	}
	return string(got)
}

type attachResult struct {
	res Result
	err error
}

// attachAsync runs Attach in a goroutine.
func attachAsync(ctx context.Context, sock string, opts ClientOptions) chan attachResult {
	ch := make(chan attachResult, 1)
	go func() {
		r, err := Attach(ctx, sock, opts)
		ch <- attachResult{r, err}
	}()
	return ch
}

func waitResult(t testing.TB, ch chan attachResult) attachResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Attach did not return")
	}
	return attachResult{}
}

// waitAttached waits until the server has an attached client.
func waitAttached(t testing.TB, srv *Server, want bool) {
	t.Helper()
	waitFor(t, fmt.Sprintf("attached=%v", want), 5*time.Second, func() bool { return (srv.cur.Load() != nil) == want })
}

// rawDial speaks the protocol directly: hello, then the first answer.
func rawDial(t testing.TB, sock string, force bool) (*net.UnixConn, byte, string) {
	t.Helper()
	c, err := net.Dial("unixpacket", sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(encodeHello(force)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1+MaxPayload)
	p, err := readPacket(c.(*net.UnixConn), buf)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.UnixConn), p[0], string(p[1:])
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fd is f's descriptor without f.Fd(), which would switch f to blocking
// mode and break its read deadlines.
func fd(t testing.TB, f *os.File) int {
	t.Helper()
	n, err := fdOf(f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writeUnblocked writes data as the container would and fails with msg if
// the write has not returned within d: the relay must keep draining the
// pty whether or not a client reads.
func writeUnblocked(t *testing.T, w io.Writer, data []byte, d time.Duration, msg string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := w.Write(data); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d):
		t.Fatal(msg)
	}
}
