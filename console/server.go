package console

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ServerConfig configures the controller's end of a console.
type ServerConfig struct {
	SocketPath string // the console socket, created 0600; at most MaxSocketPath bytes
	LogPath    string // the console log; "" keeps no log
	LogLimit   int64  // log cap in bytes (DefaultLogLimit when 0); disk use stays under 2×LogLimit
}

// MaxSocketPath is the longest socket path a sockaddr_un holds (108 bytes
// of sun_path, one of them the terminating NUL).
const MaxSocketPath = len(unix.RawSockaddrUnix{}.Path) - 1

var (
	// ErrInUse: another client is attached and Force was not given.
	ErrInUse = errors.New("console is in use by another client (use --force)")
	// ErrClosed: the server was closed (the container stopped).
	ErrClosed = errors.New("console server is closed")
	// ErrSocketPathTooLong: the socket path does not fit in sun_path.
	ErrSocketPathTooLong = errors.New("unix socket path too long")
	// ErrNoServer: nothing listens on the socket (the container is not running).
	ErrNoServer = errors.New("no console server is listening (the container is not running)")
)

// Timeouts of the server. Variables so tests can shorten them.
var (
	// clientStall is how long the relay waits for a client that accepts
	// no output (stopped, or its terminal hung) before it drops it. Until
	// then the client back-pressures the container, as a terminal does.
	clientStall = 10 * time.Second
	// helloTimeout bounds the handshake.
	helloTimeout = 5 * time.Second
	// farewellTimeout bounds sending the last packet to a client.
	farewellTimeout = time.Second
)

// Server is the controller's end of a console: the socket, the one
// attached client, the log, and the relay of the current pty master.
type Server struct {
	cfg ServerConfig
	ln  *net.UnixListener
	log *capLog // nil without LogPath

	opMu sync.Mutex // serialises SetMaster, DetachMaster and Close

	mu      sync.Mutex
	m       *ptyMaster
	ws      *unix.Winsize // the attached client's last size, applied to each new master
	pending map[*net.UnixConn]struct{}
	lease   *lease // the master is lent to the attached client (see lease.go)
	closed  bool
	reason  string

	cur   atomic.Pointer[client] // the attached client
	stall atomic.Int64           // clientStall, shortened while a pty is detached
	out   atomic.Int64           // bytes relayed from the container
	wg    sync.WaitGroup         // the accept loop and one goroutine per connection
}

type client struct {
	conn   *net.UnixConn
	rc     syscall.RawConn
	maxPkt int  // the largest packet the socket takes (see packetLimit)
	direct bool // it can be lent the master (HelloDirect)
	gone   chan struct{}
	once   sync.Once
}

// end sends last (if any) with a short deadline and closes the connection.
// It also cuts short a pump blocked writing to this client.
func (c *client) end(last []byte) {
	c.once.Do(func() {
		close(c.gone)
		_ = c.conn.SetWriteDeadline(time.Now().Add(farewellTimeout))
		if last != nil {
			_, _ = c.conn.Write(last)
		}
		_ = c.conn.Close()
	})
}

// alive reports whether the client's end of the connection is still open.
func (c *client) alive() bool {
	if c.rc == nil {
		return false
	}
	alive := true
	if err := c.rc.Control(func(fd uintptr) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, err := unix.Poll(pfd, 0); err == nil && n > 0 && pfd[0].Revents&(unix.POLLHUP|unix.POLLRDHUP|unix.POLLERR) != 0 {
			alive = false
		}
	}); err != nil {
		return false
	}
	return alive
}

// NewServer creates the console socket and starts accepting clients.
// There is no pty yet: output starts flowing with SetMaster.
func NewServer(cfg ServerConfig) (_ *Server, retErr error) {
	if cfg.SocketPath == "" {
		return nil, errors.New("console: no socket path")
	}
	if n := len(cfg.SocketPath); n > MaxSocketPath {
		return nil, fmt.Errorf("console socket %s is %d bytes long, over the %d a unix socket path can hold (use a shorter root directory): %w",
			cfg.SocketPath, n, MaxSocketPath, ErrSocketPathTooLong)
	}
	s := &Server{cfg: cfg, pending: map[*net.UnixConn]struct{}{}}
	s.stall.Store(int64(clientStall))
	if cfg.LogPath != "" {
		l, err := openCapLog(cfg.LogPath, cfg.LogLimit)
		if err != nil {
			return nil, err
		}
		s.log = l
		defer func() {
			if retErr != nil {
				_ = l.Close()
			}
		}()
	}
	ln, err := listenSeqpacket(cfg.SocketPath)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// listenSeqpacket binds a SOCK_SEQPACKET socket at path with mode 0600
// from the start: Linux gives the socket file the mode of the socket inode
// (less the umask), so fchmod before bind leaves no window where the path
// is more open; the process-wide umask is not touched.
func listenSeqpacket(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("console socket %s exists and is not a socket", path)
		}
		// Left by a controller that was killed: nobody listens any more.
		// Anything else is not ours to remove.
		c, err := net.DialTimeout("unixpacket", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("console socket %s is served by another process", path)
		}
		if !errors.Is(err, unix.ECONNREFUSED) {
			return nil, fmt.Errorf("console socket %s exists: %w", path, err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove stale console socket: %w", err)
		}
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close() // FileListener holds its own duplicate
	if err := unix.Fchmod(fd, 0o600); err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, fmt.Errorf("bind console socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("listen on console socket: %w", err)
	}
	l, err := net.FileListener(f)
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return l.(*net.UnixListener), nil
}

// SetMaster makes master the pty the server relays; a previous one is
// detached first (a restarted container brings a new pty). The socket and
// an attached client stay, and the client's window size is applied to the
// new pty. The server keeps its own duplicate: the caller may, and should,
// close master afterwards. The shared open file description is switched to
// non-blocking mode.
func (s *Server) SetMaster(master *os.File) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	m, err := openMaster(master)
	if err != nil {
		return err
	}
	s.detach()
	s.mu.Lock()
	s.m = m
	if s.ws != nil {
		_ = m.setWinsize(s.ws)
	}
	s.mu.Unlock()
	go s.pump(m)
	go m.writeIn()
	if c := s.cur.Load(); c != nil {
		s.offer(c)
	}
	return nil
}

// DetachMaster stops relaying the current pty (the container is gone, for
// example between two boots) after draining what it still holds. An
// attached client stays attached; its input is dropped until SetMaster.
func (s *Server) DetachMaster() {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.detach()
}

func (s *Server) detach() {
	s.mu.Lock()
	m := s.m
	s.m = nil
	l := s.lease
	s.mu.Unlock()
	if l != nil {
		// The client stops reading and gives the master back; the
		// pump's final drain takes the rest, to the log and the client.
		s.revoke(l)
	}
	if m != nil {
		// The final drain must not wait clientStall on a stuck client:
		// the container is gone and the caller is tearing down.
		s.stall.Store(int64(farewellTimeout))
		if c := s.cur.Load(); c != nil {
			_ = c.conn.SetWriteDeadline(time.Now().Add(farewellTimeout))
		}
		m.stop()
		s.stall.Store(int64(clientStall))
	}
	if s.log != nil {
		s.log.Flush()
	}
}

// Close ends the console: the container stopped. The pty is drained, the
// attached client gets a Done packet carrying reason and is closed, the
// socket is removed and the log flushed and closed. It waits for every
// goroutine of the server.
func (s *Server) Close(reason string) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed, s.reason = true, reason
	s.mu.Unlock()

	var errs []error
	if err := s.ln.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := os.Remove(s.cfg.SocketPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove console socket: %w", err))
	}
	s.detach()

	s.mu.Lock()
	c := s.cur.Swap(nil)
	pending := make([]*net.UnixConn, 0, len(s.pending))
	for conn := range s.pending {
		pending = append(pending, conn)
	}
	s.mu.Unlock()
	if c != nil {
		c.end(textPacket(PktDone, reason))
	}
	// Clients in the handshake get Done too once their Hello is in; one
	// that sends nothing is cut off soon.
	for _, conn := range pending {
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	}
	s.wg.Wait()
	if s.log != nil {
		if err := s.log.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of fds and the like: back off, never spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			continue
		}
		s.pending[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(conn)
	}
}

// serve runs one connection: handshake, then the client's input until it
// leaves or is replaced.
func (s *Server) serve(conn *net.UnixConn) {
	defer s.wg.Done()
	// A deeper socket buffer absorbs a client's scheduling hiccups
	// without stalling the container (the kernel caps it at wmem_max).
	_ = conn.SetWriteBuffer(clientSockBuf)
	c := &client{conn: conn, maxPkt: packetLimit(conn), gone: make(chan struct{})}
	c.rc, _ = conn.SyscallConn()
	buf := make([]byte, 1+MaxPayload)
	if !s.handshake(c, buf) {
		return
	}
	s.offer(c)
	for {
		p, err := readPacket(conn, buf)
		if err != nil {
			break
		}
		if s.cur.Load() != c {
			break
		}
		switch p[0] {
		case PktIn:
			s.input(c, p[1:])
		case PktResize:
			if rows, cols, ok := decodeResize(p); ok && rows > 0 && cols > 0 {
				s.resize(&unix.Winsize{Row: rows, Col: cols})
			}
		case PktLog:
			s.clientLog(c, p[1:])
		case PktReturned:
			if l := s.leaseOf(c); l != nil {
				s.endLease(l)
			}
		}
	}
	// A client that leaves closes its copy of a lent master first (and a
	// process that died reads nothing more).
	if l := s.leaseOf(c); l != nil {
		s.endLease(l)
	}
	s.cur.CompareAndSwap(c, nil)
	c.end(nil)
}

// handshake reads Hello and makes c the attached client, or refuses it.
func (s *Server) handshake(c *client, buf []byte) bool {
	refuse := func(msg string) bool {
		s.mu.Lock()
		delete(s.pending, c.conn)
		s.mu.Unlock()
		if msg == "" {
			c.end(nil)
		} else {
			c.end(textPacket(PktError, msg))
		}
		return false
	}
	if err := checkPeer(c.conn); err != nil {
		return refuse(err.Error())
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(helloTimeout))
	s.mu.Lock()
	closing := s.closed
	s.mu.Unlock()
	if closing { // Close may have shortened the deadline before we set it
		_ = c.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	}
	p, err := readPacket(c.conn, buf)
	if err != nil {
		return refuse("")
	}
	_ = c.conn.SetReadDeadline(time.Time{})
	if p[0] != PktHello || len(p) < 3 {
		return refuse("console protocol error: expected hello")
	}
	if p[1] != ProtoVersion {
		return refuse(fmt.Sprintf("console protocol version %d not supported (this controller speaks %d)", p[1], ProtoVersion))
	}
	force := p[2]&HelloForce != 0
	c.direct = p[2]&HelloDirect != 0

	s.mu.Lock()
	delete(s.pending, c.conn)
	if s.closed {
		reason := s.reason
		s.mu.Unlock()
		c.end(textPacket(PktDone, reason))
		return false
	}
	old := s.cur.Load()
	if old != nil && !old.alive() {
		// It closed its end and its reader has not noticed yet: a quick
		// detach and reattach must not be "in use".
		s.cur.CompareAndSwap(old, nil)
		old.end(nil)
		old = nil
	}
	if old != nil && !force {
		s.mu.Unlock()
		c.end(textPacket(PktError, msgInUse))
		return false
	}
	for l := s.lease; old != nil && l != nil && l.c == old; l = s.lease {
		// The old client gives the master back (or is dropped) before the
		// new one is attached: one reader at a time.
		s.mu.Unlock()
		s.revoke(l)
		s.mu.Lock()
		if s.closed {
			reason := s.reason
			s.mu.Unlock()
			c.end(textPacket(PktDone, reason))
			return false
		}
		old = s.cur.Load()
	}
	// Attached goes out before the client becomes current, so no output
	// can overtake it.
	_ = c.conn.SetWriteDeadline(time.Now().Add(farewellTimeout))
	if _, err := c.conn.Write([]byte{PktAttached}); err != nil {
		s.mu.Unlock()
		c.end(nil)
		return false
	}
	s.cur.Store(c)
	s.mu.Unlock()
	if old != nil {
		old.end(textPacket(PktNotice, msgTakeover))
	}
	return true
}

// checkPeer lets in root and the server's own uid only (the socket is 0600
// in a 0700 dir already; this holds if someone loosens those).
func checkPeer(c *net.UnixConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("console: peer credentials: %w", cerr)
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("console: permission denied for uid %d", cred.Uid)
	}
	return nil
}

// input queues client bytes for the container. Without a pty (between two
// boots) they are dropped.
func (s *Server) input(c *client, data []byte) {
	s.mu.Lock()
	m := s.m
	s.mu.Unlock()
	if m == nil || len(data) == 0 {
		return
	}
	// A keystroke goes straight to the pty when nothing is queued before
	// it; what the pty cannot take now is queued for writeIn, in order.
	if m.queued.Load() == 0 {
		n := m.tryWrite(data)
		if n == len(data) {
			return
		}
		data = data[n:]
	}
	m.queued.Add(1)
	select {
	case m.in <- bytes.Clone(data):
	case <-m.quit:
		m.queued.Add(-1)
	case <-c.gone:
		m.queued.Add(-1)
	}
}

func (s *Server) resize(ws *unix.Winsize) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ws = ws
	if s.m != nil {
		_ = s.m.setWinsize(ws)
	}
}

// clientSockBuf is the send buffer asked for on a client connection.
const clientSockBuf = 1 << 20

// emit sends one output packet to the log, then to the attached client.
// The client back-pressures the container like a terminal, for at most
// clientStall per packet; then it is dropped. If the client was replaced
// meanwhile, the packet goes to the new one, so a takeover loses nothing.
func (s *Server) emit(pkt []byte) {
	s.out.Add(int64(len(pkt) - 1))
	if s.log != nil {
		s.log.Write(pkt[1:])
	}
	for {
		c := s.cur.Load()
		if c == nil {
			return
		}
		if err := c.send(pkt, time.Duration(s.stall.Load())); err == nil {
			return
		}
		if s.cur.CompareAndSwap(c, nil) {
			c.end(nil)
			return
		}
	}
}

// send writes a packet, waiting at most stall for room in the socket, and
// splits it into several of the same type if the socket cannot take it
// whole.
func (c *client) send(pkt []byte, stall time.Duration) error {
	if len(pkt) <= c.maxPkt {
		// Most of the time the socket has room: one write, no deadline
		// (a runtime timer) to arm. The socket is non-blocking.
		werr := error(unix.EAGAIN)
		if c.rc != nil {
			_ = c.rc.Control(func(fd uintptr) {
				for {
					_, werr = unix.Write(int(fd), pkt)
					if werr != unix.EINTR {
						break
					}
				}
			})
		}
		if werr == nil {
			return nil
		}
		if werr != unix.EAGAIN {
			return werr
		}
		_ = c.conn.SetWriteDeadline(time.Now().Add(stall))
		_, err := c.conn.Write(pkt)
		return err
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(stall))
	typ := pkt[:1]
	for data := pkt[1:]; len(data) > 0; {
		n := min(len(data), c.maxPkt-1)
		bufs := net.Buffers{typ, data[:n]} // writev: one packet
		if _, err := bufs.WriteTo(c.conn); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}
