package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// DefaultGrace is how long a piped client waits, after its stdin ended,
// for the container to stay quiet before it returns.
const DefaultGrace = 300 * time.Millisecond

// ClientOptions configures Attach.
type ClientOptions struct {
	// In is stdin when it is a file (needed for raw mode and the window
	// size, and to stop reading it when the session ends). Reader is used
	// when In is nil; a Reader blocked in Read cannot be interrupted, so
	// its goroutine may outlive Attach until the Reader returns.
	In     *os.File
	Reader io.Reader
	Out    io.Writer // console output (nil: discarded)
	ErrOut io.Writer // warnings, such as a terminal that could not be restored (nil: discarded)

	Escape byte // detach key in raw mode (DefaultEscape is ^]); 0: none
	Force  bool // take the console over from an attached client
	// Raw: In is a terminal. It is put in raw mode (restored on every
	// way out, SIGTERM, SIGINT and SIGHUP included), its size is sent on
	// attach and on every SIGWINCH, and Escape detaches. Without Raw
	// there is no escape processing: bytes are piped as they are.
	Raw bool
	// Grace: after stdin ends (without Raw), Attach returns once the
	// container has been quiet this long (DefaultGrace when 0), or at Done.
	Grace time.Duration
}

// End says why a console session ended.
type End int

const (
	Detached   End = iota + 1 // the escape key was pressed
	Stopped                   // the container stopped (Done); Result.Reason says why
	TakenOver                 // another client attached with force
	InputEnded                // stdin ended (and, piped, the output went quiet)
)

func (e End) String() string {
	switch e {
	case Detached:
		return "detached"
	case Stopped:
		return "stopped"
	case TakenOver:
		return "taken over"
	case InputEnded:
		return "input ended"
	}
	return fmt.Sprintf("End(%d)", int(e))
}

// Result is how a session ended.
type Result struct {
	End    End
	Reason string // Stopped: the controller's reason; TakenOver: the server's notice
}

// Message is a line for the user about the end of the session on the
// named domain, or "" when there is nothing to say (a detach, or the end
// of piped input).
func (r Result) Message(domain string) string {
	switch r.End {
	case Stopped:
		if r.Reason != "" {
			return fmt.Sprintf("Domain '%s' stopped (%s)", domain, r.Reason)
		}
		return fmt.Sprintf("Domain '%s' stopped", domain)
	case TakenOver:
		return fmt.Sprintf("Console of domain '%s' taken over by another client", domain)
	}
	return ""
}

// ErrLost: the controller closed the connection without saying why (it
// died, or dropped this client because it accepted no output for long).
var ErrLost = errors.New("console connection to the controller lost")

const handshakeTimeout = 10 * time.Second

// Attach connects to the console socket and relays until the escape key,
// the container's end, a takeover, the end of piped stdin, a signal (Raw)
// or ctx. An attached client that another already holds gets ErrInUse
// unless Force. The terminal is restored before Attach returns.
func Attach(ctx context.Context, socketPath string, opts ClientOptions) (Result, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.ErrOut == nil {
		opts.ErrOut = io.Discard
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Raw && opts.In == nil {
		return Result{}, errors.New("console: raw mode needs a terminal as In")
	}
	conn, err := dial(ctx, socketPath)
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	if res, err := handshake(ctx, conn, opts.Force); err != nil || res.End != 0 {
		return res, err
	}
	s := &session{conn: conn, opts: opts, events: make(chan event, 8)}
	return s.run(ctx)
}

func dial(ctx context.Context, path string) (*net.UnixConn, error) {
	if len(path) > MaxSocketPath {
		return nil, fmt.Errorf("console socket %s: %w", path, ErrSocketPathTooLong)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", path)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
			return nil, fmt.Errorf("console socket %s: %w", path, ErrNoServer)
		}
		return nil, fmt.Errorf("connect to console socket %s: %w", path, err)
	}
	return c.(*net.UnixConn), nil
}

// handshake sends Hello and reads the answer. A non-zero Result means the
// session is already over (the container stopped meanwhile).
func handshake(ctx context.Context, conn *net.UnixConn, force bool) (Result, error) {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	hello := encodeHello(force)
	if clientDirect {
		hello[2] |= HelloDirect
	}
	if _, err := conn.Write(hello); err != nil {
		return Result{}, fmt.Errorf("console handshake: %w", err)
	}
	buf := make([]byte, 4096) // the answer is a type and a short text
	p, err := readPacket(conn, buf)
	if !stop() {
		return Result{}, context.Cause(ctx)
	}
	if errors.Is(err, io.EOF) {
		return Result{}, ErrLost
	}
	if err != nil {
		return Result{}, fmt.Errorf("console handshake: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	switch text := string(p[1:]); p[0] {
	case PktAttached:
		return Result{}, nil
	case PktDone:
		return Result{End: Stopped, Reason: text}, nil
	case PktError:
		if text == msgInUse {
			return Result{}, ErrInUse
		}
		return Result{}, errors.New(text)
	default:
		return Result{}, fmt.Errorf("console handshake: unexpected packet type %d", p[0])
	}
}

type evKind int

const (
	evDetach evKind = iota + 1
	evInputEOF
	evInputErr
	evDone
	evNotice
	evError
	evLost
	evOutErr
)

type event struct {
	kind evKind
	text string
	err  error
}

type session struct {
	conn    *net.UnixConn
	opts    ClientOptions
	events  chan event
	lastOut atomic.Int64 // unix nanoseconds of the last output packet
}

func (s *session) report(ev event) {
	select {
	case s.events <- ev:
	default: // the session is over already
	}
}

func (s *session) run(ctx context.Context) (res Result, retErr error) {
	opts := s.opts
	var sigc chan os.Signal
	var inFd = -1
	if opts.In != nil {
		fd, err := fdOf(opts.In)
		if err != nil {
			return Result{}, err
		}
		inFd = fd
	}
	if opts.Raw {
		// Signals first: a SIGTERM right after raw mode must find us ready
		// to restore the terminal.
		sigc = make(chan os.Signal, 4)
		signal.Notify(sigc, unix.SIGWINCH, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
		defer signal.Stop(sigc)
		old, err := term.MakeRaw(inFd)
		if err != nil {
			return Result{}, fmt.Errorf("console: raw mode: %w", err)
		}
		defer func() {
			if err := term.Restore(inFd, old); err != nil {
				fmt.Fprintf(opts.ErrOut, "warning: could not restore the terminal: %v\n", err)
			}
		}()
		s.sendSize(inFd)
	}

	out, err := newOutLoop(s)
	if err != nil {
		return Result{}, err
	}
	outDone := make(chan struct{})
	go func() { defer close(outDone); out.run() }()

	var inDone chan struct{}
	var fr *fileReader
	var in io.Reader = opts.Reader
	if opts.In != nil {
		var err error
		if fr, err = newFileReader(inFd); err != nil {
			out.wake.wakeUp()
			<-outDone
			out.wake.close()
			return Result{}, err
		}
		in = fr
	}
	if in != nil {
		inDone = make(chan struct{})
		esc := byte(0)
		if opts.Raw {
			esc = opts.Escape
		}
		go func() { defer close(inDone); s.inLoop(in, esc) }()
	}

	defer func() {
		// Stop both directions before the terminal is restored, so no
		// output is written after Attach returns.
		out.wake.wakeUp()
		select {
		case <-outDone:
			out.wake.close()
		case <-time.After(time.Second): // Out is stuck; do not hang on it
		}
		// The loop holds a duplicate of the socket: shut the connection
		// down, so the server sees the end even if the loop is stuck.
		if rc, err := s.conn.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _ = unix.Shutdown(int(fd), unix.SHUT_RDWR) })
		}
		s.conn.Close()
		if fr != nil {
			fr.wakeUp()
			<-inDone
			fr.Close()
		}
	}()

	var grace *time.Timer
	var graceC <-chan time.Time
	var eofAt int64
	for {
		select {
		case ev := <-s.events:
			switch ev.kind {
			case evDetach:
				return Result{End: Detached}, nil
			case evDone:
				return Result{End: Stopped, Reason: ev.text}, nil
			case evNotice:
				return Result{End: TakenOver, Reason: ev.text}, nil
			case evError:
				return Result{}, errors.New(ev.text)
			case evLost:
				if errors.Is(ev.err, io.EOF) {
					return Result{}, ErrLost
				}
				return Result{}, fmt.Errorf("%w: %v", ErrLost, ev.err)
			case evOutErr:
				return Result{}, fmt.Errorf("console output: %w", ev.err)
			case evInputErr:
				return Result{}, fmt.Errorf("console input: %w", ev.err)
			case evInputEOF:
				if opts.Raw { // the terminal went away
					return Result{End: InputEnded}, nil
				}
				eofAt = time.Now().UnixNano()
				grace = time.NewTimer(opts.Grace)
				defer grace.Stop()
				graceC = grace.C
			}
		case <-graceC:
			last := max(s.lastOut.Load(), eofAt)
			idle := time.Duration(time.Now().UnixNano() - last)
			if idle >= opts.Grace {
				return Result{End: InputEnded}, nil
			}
			grace.Reset(opts.Grace - idle)
		case sig := <-sigc:
			if sig == unix.SIGWINCH {
				s.sendSize(inFd)
				continue
			}
			return Result{}, fmt.Errorf("console: %v", sig)
		case <-ctx.Done():
			return Result{}, context.Cause(ctx)
		}
	}
}

func (s *session) sendSize(fd int) {
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil || ws.Row == 0 || ws.Col == 0 {
		return
	}
	_, _ = s.conn.Write(encodeResize(ws.Row, ws.Col))
}

// inLoop sends stdin to the container; in raw mode it stops at the escape.
func (s *session) inLoop(r io.Reader, esc byte) {
	buf := make([]byte, min(1+32<<10, packetLimit(s.conn)))
	buf[0] = PktIn
	for {
		n, err := r.Read(buf[1:])
		if n > 0 {
			data := buf[1 : 1+n]
			if esc != 0 {
				if i := bytes.IndexByte(data, esc); i >= 0 {
					if i > 0 {
						_, _ = s.conn.Write(buf[:1+i])
					}
					s.report(event{kind: evDetach})
					return
				}
			}
			if _, werr := s.conn.Write(buf[:1+n]); werr != nil {
				return // the session is ending; outLoop says why
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, errWoken):
			return
		case errors.Is(err, io.EOF):
			s.report(event{kind: evInputEOF})
			return
		default:
			s.report(event{kind: evInputErr, err: err})
			return
		}
	}
}

func fdOf(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("console: %s: %w", f.Name(), err)
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1, err
	}
	return fd, nil
}

var errWoken = errors.New("reader woken")

// fileReader reads a file descriptor and can be interrupted: poll(2) on the
// fd and an eventfd. It leaves the fd's blocking mode alone, since stdin's
// open file description is shared with the shell.
type fileReader struct {
	fd   int
	wake *wakeFd
}

func newFileReader(fd int) (*fileReader, error) {
	wake, err := newWakeFd()
	if err != nil {
		return nil, err
	}
	return &fileReader{fd: fd, wake: wake}, nil
}

func (r *fileReader) Read(p []byte) (int, error) {
	fds := [2]unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}, {Fd: int32(r.wake.fd), Events: unix.POLLIN}}
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds[:], -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return 0, err
		}
		if fds[1].Revents != 0 {
			return 0, errWoken
		}
		if fds[0].Revents&unix.POLLNVAL != 0 {
			return 0, os.ErrClosed
		}
		if fds[0].Revents == 0 {
			continue
		}
		n, err := unix.Read(r.fd, p)
		switch {
		case err == unix.EINTR || err == unix.EAGAIN:
			continue
		case err == unix.EIO: // a terminal that hung up
			return 0, io.EOF
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (r *fileReader) wakeUp() { r.wake.wakeUp() }

func (r *fileReader) Close() { r.wake.close() }
