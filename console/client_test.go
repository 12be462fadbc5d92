package console

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// terminal is the user's terminal for a raw client: the client gets the
// slave as In and Out, the test types into the master and reads the screen
// from it.
type terminal struct {
	master, slave *os.File
	screen        *syncBuffer
}

func newTerminal(t *testing.T, rows, cols uint16) *terminal {
	m, s, _ := openPTY(t)
	t.Cleanup(func() { m.Close(); s.Close() })
	if err := unix.IoctlSetWinsize(fd(t, m), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	term := &terminal{master: m, slave: s, screen: &syncBuffer{}}
	go func() { // drain the screen, or the client blocks on a full pty
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			term.screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	return term
}

func termios(t *testing.T, f *os.File) unix.Termios {
	t.Helper()
	fd, _ := fdOf(f)
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return *tio
}

func TestRawClient(t *testing.T) {
	fx := newFixture(t, 0)
	tm := newTerminal(t, 40, 100)
	before := termios(t, tm.slave)
	ch := attachAsync(context.Background(), fx.sock, ClientOptions{
		In: tm.slave, Out: tm.slave, Raw: true, Escape: DefaultEscape,
	})
	waitAttached(t, fx.srv, true)

	// The terminal's size reaches the container on attach...
	waitFor(t, "40x100 in the container", 5*time.Second, func() bool {
		ws, err := unix.IoctlGetWinsize(fd(t, fx.slave), unix.TIOCGWINSZ)
		return err == nil && ws.Row == 40 && ws.Col == 100
	})
	// ...and on SIGWINCH.
	unix.IoctlSetWinsize(fd(t, tm.master), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 132})
	syscall.Kill(os.Getpid(), syscall.SIGWINCH)
	waitFor(t, "50x132 in the container", 5*time.Second, func() bool {
		ws, err := unix.IoctlGetWinsize(fd(t, fx.slave), unix.TIOCGWINSZ)
		return err == nil && ws.Row == 50 && ws.Col == 132
	})

	if tio := termios(t, tm.slave); tio.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
		t.Errorf("terminal not in raw mode while attached: lflag %#x", tio.Lflag)
	}
	// ^C is a byte for the container in raw mode, not a signal for us
	// (the container's console is raw here too, so it arrives as is).
	if _, err := term.MakeRaw(fd(t, fx.slave)); err != nil {
		t.Fatal(err)
	}
	tm.master.WriteString("ls -l\x03\r")
	readUntil(t, fx.slave, "ls -l\x03\r")
	fx.slave.WriteString("total 0\n")
	waitContains(t, tm.screen, "total 0\n")

	tm.master.WriteString("abc\x1ddef") // bytes before ^] are sent, the rest is not
	r := waitResult(t, ch)
	if r.err != nil || r.res.End != Detached {
		t.Fatalf("Attach = %+v, %v; want Detached", r.res, r.err)
	}
	if got := readUntil(t, fx.slave, "abc"); strings.Contains(got, "def") {
		t.Errorf("bytes after the escape were sent: %q", got)
	}
	if after := termios(t, tm.slave); after != before {
		t.Errorf("terminal not restored:\nbefore %+v\nafter  %+v", before, after)
	}
	waitAttached(t, fx.srv, false)
	// The container keeps running: a new client gets its output.
	out := &syncBuffer{}
	pr, pw, _ := os.Pipe()
	defer pw.Close()
	defer pr.Close()
	ch = attachAsync(context.Background(), fx.sock, ClientOptions{In: pr, Out: out})
	waitAttached(t, fx.srv, true)
	fx.slave.WriteString("still here\n")
	waitContains(t, out, "still here")
	fx.srv.Close("shutdown")
	waitResult(t, ch)
}

func TestRawClientRestoresOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			fx := newFixture(t, 0)
			tm := newTerminal(t, 24, 80)
			before := termios(t, tm.slave)
			ch := attachAsync(context.Background(), fx.sock, ClientOptions{
				In: tm.slave, Out: tm.slave, Raw: true, Escape: DefaultEscape,
			})
			waitAttached(t, fx.srv, true)
			waitFor(t, "raw mode", 5*time.Second, func() bool { return termios(t, tm.slave).Lflag&unix.ICANON == 0 })
			syscall.Kill(os.Getpid(), sig)
			r := waitResult(t, ch)
			if r.err == nil {
				t.Fatalf("Attach = %+v after %v; want an error", r.res, sig)
			}
			if after := termios(t, tm.slave); after != before {
				t.Errorf("terminal not restored after %v", sig)
			}
		})
	}
}

func TestRawClientStopped(t *testing.T) {
	fx := newFixture(t, 0)
	tm := newTerminal(t, 24, 80)
	before := termios(t, tm.slave)
	ch := attachAsync(context.Background(), fx.sock, ClientOptions{In: tm.slave, Out: tm.slave, Raw: true, Escape: DefaultEscape})
	waitAttached(t, fx.srv, true)
	fx.srv.Close("crashed")
	r := waitResult(t, ch)
	if r.err != nil || r.res.End != Stopped || r.res.Reason != "crashed" {
		t.Fatalf("%+v %v", r.res, r.err)
	}
	if after := termios(t, tm.slave); after != before {
		t.Error("terminal not restored")
	}
}

// TestPipedClient is `printf 'echo hi\nexit\n' | lxctl console vm1`.
func TestPipedClient(t *testing.T) {
	t.Run("done", func(t *testing.T) {
		fx := newFixture(t, 0)
		go fakeShell(fx, true)
		out := &syncBuffer{}
		r, err := Attach(context.Background(), fx.sock, ClientOptions{
			Reader: strings.NewReader("echo hi\nexit\n"), Out: out, Escape: DefaultEscape,
		})
		if err != nil || r.End != Stopped {
			t.Fatalf("Attach = %+v, %v; want Stopped", r, err)
		}
		if !strings.Contains(out.String(), "hi\r\n") {
			t.Errorf("output %q", out.String())
		}
	})
	t.Run("grace", func(t *testing.T) {
		fx := newFixture(t, 0)
		go fakeShell(fx, false)
		out := &syncBuffer{}
		// A pipe as a file (In), the way a shell hands one over; the
		// escape byte is data when not raw.
		pr, pw, _ := os.Pipe()
		pw.WriteString("echo \x1d\necho hi\n")
		pw.Close()
		defer pr.Close()
		start := time.Now()
		r, err := Attach(context.Background(), fx.sock, ClientOptions{In: pr, Out: out, Escape: DefaultEscape})
		if err != nil || r.End != InputEnded {
			t.Fatalf("Attach = %+v, %v; want InputEnded", r, err)
		}
		if d := time.Since(start); d < DefaultGrace || d > 5*time.Second {
			t.Errorf("returned after %v", d)
		}
		if !strings.Contains(out.String(), "\x1d\r\n") || !strings.Contains(out.String(), "hi\r\n") {
			t.Errorf("output %q", out.String())
		}
	})
}

// fakeShell plays a shell on the container's console: it answers
// "echo X" with X and, if stop, stops the container on "exit".
func fakeShell(fx *fixture, stop bool) {
	buf := make([]byte, 4096)
	var line []byte
	for {
		n, err := fx.slave.Read(buf)
		if err != nil {
			return
		}
		line = append(line, buf[:n]...)
		for {
			i := strings.IndexByte(string(line), '\n')
			if i < 0 {
				break
			}
			cmd := strings.TrimRight(string(line[:i]), "\r")
			line = line[i+1:]
			switch {
			case strings.HasPrefix(cmd, "echo "):
				fx.slave.WriteString(cmd[5:] + "\n")
			case cmd == "exit" && stop:
				time.Sleep(50 * time.Millisecond)
				fx.srv.Close("shutdown")
				return
			}
		}
	}
}

func TestAttachContext(t *testing.T) {
	fx := newFixture(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw, _ := os.Pipe()
	defer pw.Close()
	defer pr.Close()
	ch := attachAsync(ctx, fx.sock, ClientOptions{In: pr})
	waitAttached(t, fx.srv, true)
	cancel()
	if r := waitResult(t, ch); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("%+v %v", r.res, r.err)
	}
	waitAttached(t, fx.srv, false)
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct {
		in   string
		b    byte
		name string
		hint string
	}{
		{"^]", 0x1d, "^]", "^] (Ctrl + ])"},
		{"^a", 0x01, "^A", "^A (Ctrl + A)"},
		{"^A", 0x01, "^A", "^A (Ctrl + A)"},
		{"^[", 0x1b, "^[", "^[ (Ctrl + [)"},
		{"^?", 0x7f, "^?", "^? (Ctrl + ?)"},
		{"~", '~', "~", "~"},
		{"", 0, "none", ""},
		{"none", 0, "none", ""},
	} {
		b, err := ParseEscape(tc.in)
		if err != nil || b != tc.b {
			t.Errorf("ParseEscape(%q) = %#x, %v; want %#x", tc.in, b, err, tc.b)
		}
		if n := EscapeName(tc.b); n != tc.name {
			t.Errorf("EscapeName(%#x) = %q; want %q", tc.b, n, tc.name)
		}
		if h := EscapeHint(tc.b); h != tc.hint {
			t.Errorf("EscapeHint(%#x) = %q; want %q", tc.b, h, tc.hint)
		}
	}
	for _, bad := range []string{"^1", "ab", "^]]", "\x01", "é"} {
		if _, err := ParseEscape(bad); err == nil {
			t.Errorf("ParseEscape(%q) accepted", bad)
		}
	}
}
