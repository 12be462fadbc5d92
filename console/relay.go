package console

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// readSize is how much one read of the master may return. The pty hands
// out at most one n_tty buffer (4 KiB) per read, so larger only helps when
// the reader falls behind.
const readSize = MaxPayload

// holdPeer makes the relay keep a slave fd of its own (TIOCGPTPEER), so
// the master never sees EIO/HUP just because the container closed its
// console for a while. Tests turn it off to exercise the hung-up path.
var holdPeer = true

// ptyMaster is one pty master the server relays: its output pump and its
// input writer, each a goroutine that ends when the master is detached.
//
// Both wait in their own system calls on a private epoll instance, not in
// Go's netpoller: with the master in the netpoller every burst of output
// also woke the runtime's poller thread and the scheduler (futex, epoll,
// nanosleep around each 4 KiB pty read), which cost the relay about as
// much CPU as the copying itself.
type ptyMaster struct {
	f    *os.File // non-blocking, not in Go's netpoller (see openMaster)
	rc   syscall.RawConn
	peer int // a slave fd held by the relay, or -1
	// fd is f's descriptor; f is closed only after both goroutines ended.
	fd int
	// ep is the pump's epoll instance: the master (edge-triggered), wake
	// and kick. wake is an eventfd written once by stop; it stays
	// readable. kick wakes the pump when a lease starts or ends.
	ep, wake, kickFd int
	fdMu             sync.Mutex // kick against closeFds
	fdsClosed        bool
	lent             atomic.Pointer[lease] // the master is lent to a client: the pump reads nothing

	in       chan []byte  // client input the pty could not take at once
	queued   atomic.Int32 // packets in (or being written from) in
	quit     chan struct{}
	pumpDone chan struct{}
	inDone   chan struct{}
}

// openMaster takes its own duplicate of f; the caller keeps f.
func openMaster(f *os.File) (_ *ptyMaster, retErr error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, cerr := -1, error(nil)
	if err := rc.Control(func(raw uintptr) {
		fd, cerr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("duplicate the pty master: %w", cerr)
	}
	m := &ptyMaster{
		peer:     -1,
		fd:       fd,
		ep:       -1,
		wake:     -1,
		kickFd:   -1,
		in:       make(chan []byte, 16),
		quit:     make(chan struct{}),
		pumpDone: make(chan struct{}),
		inDone:   make(chan struct{}),
	}
	defer func() {
		if retErr != nil {
			m.closeFds()
		}
	}()
	if _, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN); err != nil {
		return nil, fmt.Errorf("%s is not a pty master: %w", f.Name(), err)
	}
	// os.NewFile puts a non-blocking fd in Go's netpoller, and a blocking
	// one not; the relay wants it out of the netpoller (see ptyMaster) but
	// non-blocking, so the file is made while the fd is still blocking.
	// O_NONBLOCK lives in the open file description, which f shares; the
	// caller is expected to close f once SetMaster returns.
	if err := unix.SetNonblock(fd, false); err != nil {
		return nil, err
	}
	m.f = os.NewFile(uintptr(fd), "pty-master")
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, err
	}
	if m.rc, err = m.f.SyscallConn(); err != nil {
		return nil, err
	}
	if m.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("console relay: eventfd: %w", err)
	}
	if m.kickFd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, fmt.Errorf("console relay: eventfd: %w", err)
	}
	if m.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("console relay: epoll: %w", err)
	}
	// Edge-triggered: a master with no slave open reports HUP for as long
	// as that lasts, and must wake the pump once, not in a loop.
	if err := unix.EpollCtl(m.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}); err != nil {
		return nil, fmt.Errorf("console relay: epoll: %w", err)
	}
	for _, e := range []int{m.wake, m.kickFd} {
		if err := unix.EpollCtl(m.ep, unix.EPOLL_CTL_ADD, e, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(e)}); err != nil {
			return nil, fmt.Errorf("console relay: epoll: %w", err)
		}
	}
	if holdPeer {
		// O_NOCTTY: the controller is a session leader without a
		// controlling terminal and must not acquire the container's.
		// Failure is not fatal: the relay copes with a hung-up master.
		p, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
		if errno == 0 {
			m.peer = int(p)
		}
	}
	return m, nil
}

// kick wakes the pump to look at lent.
func (m *ptyMaster) kick() {
	m.fdMu.Lock()
	defer m.fdMu.Unlock()
	if !m.fdsClosed && m.kickFd >= 0 {
		_, _ = unix.Write(m.kickFd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
}

// hasOutput reports whether the master holds output nobody has read.
func (m *ptyMaster) hasOutput() bool {
	pfd := []unix.PollFd{{Fd: int32(m.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 0)
	return err == nil && n > 0 && pfd[0].Revents&unix.POLLIN != 0
}

// closeFds closes what openMaster opened, once no goroutine uses it.
func (m *ptyMaster) closeFds() {
	m.fdMu.Lock()
	defer m.fdMu.Unlock()
	m.fdsClosed = true
	if m.f != nil {
		m.f.Close()
	} else if m.fd >= 0 {
		unix.Close(m.fd)
	}
	for _, fd := range []*int{&m.ep, &m.wake, &m.kickFd, &m.peer} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

// setWinsize applies a window size to the pty; the kernel sends SIGWINCH
// to the container's foreground process group.
func (m *ptyMaster) setWinsize(ws *unix.Winsize) error {
	var ierr error
	if err := m.rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws)
	}); err != nil {
		return err
	}
	return ierr
}

// wait blocks until the master may have output (an edge: new data, or a
// change of its hung-up state), a kick, or stop; false means stop.
// EIO (no slave open: init closed /dev/console, or nothing opened it yet)
// and EAGAIN are the same to the relay: wait. The master is registered
// edge-triggered, so one stuck in HUP does not wake us again until
// something changes, and an idle relay makes no system calls.
func (m *ptyMaster) wait() bool {
	var evs [2]unix.EpollEvent
	for {
		n, err := unix.EpollWait(m.ep, evs[:], -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// Cannot happen with a valid epoll fd; never spin on it.
			select {
			case <-m.quit:
				return false
			case <-time.After(time.Second):
				continue
			}
		}
		for _, ev := range evs[:n] {
			switch int(ev.Fd) {
			case m.wake:
				return false
			case m.kickFd:
				var b [8]byte
				_, _ = unix.Read(m.kickFd, b[:])
			}
		}
		if n > 0 {
			return true
		}
	}
}

// pump moves container output to the log and the client until quit.
//
// The pty hands out at most 4 KiB (one n_tty buffer) per read and refills
// only after each read, in a kernel worker, so the pump reads greedily
// (readMore) and sends once per batch: fewer, larger packets, and the pty
// emptied sooner. Sending happens inline: a separate sender goroutine
// measured slower on a loaded two-CPU machine, where an extra thread
// competes with the container and the kernel worker. A slow client
// back-pressures the container exactly as a slow terminal does (for at
// most clientStall, see emit).
//
// On quit it drains what the pty still holds, so the last words of a
// stopping container reach the log and the client before Done.
func (s *Server) pump(m *ptyMaster) {
	defer close(m.pumpDone)
	buf := make([]byte, 1+readSize)
	buf[0] = PktOut
	for {
		if l := m.lent.Load(); l != nil {
			// Everything read so far is emitted: the client may read now.
			select {
			case <-l.paused:
			default:
				close(l.paused)
			}
			if !s.watchLease(m, l) {
				break
			}
			continue
		}
		if n := m.readMore(buf[1:]); n > 0 {
			s.emit(buf[:1+n])
			continue
		}
		if !m.wait() {
			break
		}
	}
	// Final drain, bounded so a container still writing cannot hold us.
	for range 64 {
		n := m.readMore(buf[1:])
		if n == 0 {
			return
		}
		s.emit(buf[:1+n])
	}
}

// readMore reads what the master has right now into p, without waiting
// for more: fewer, larger packets, and the pty is emptied sooner. Only
// the pump calls it, so fd is open.
func (m *ptyMaster) readMore(p []byte) int {
	n := 0
	for len(p)-n >= 4096 {
		k, err := unix.Read(m.fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if k <= 0 || err != nil {
			break
		}
		n += k
	}
	return n
}

// writeIn writes the client input the pty could not take at once (see
// Server.input), in order, until the master is detached. A container that
// does not read its console fills the pty and blocks this writer, which
// back-pressures the client, never the output.
func (m *ptyMaster) writeIn() {
	defer close(m.inDone)
	for {
		select {
		case p := <-m.in:
			ok := m.writeAll(p)
			m.queued.Add(-1)
			if !ok {
				return
			}
		case <-m.quit:
			return
		}
	}
}

// writeAll writes p to the master, waiting for room; false means stop.
// Errors other than a full pty (EIO: no slave open) drop the rest of p,
// as a terminal with nobody reading it would.
func (m *ptyMaster) writeAll(p []byte) bool {
	fds := [2]unix.PollFd{{Fd: int32(m.fd), Events: unix.POLLOUT}, {Fd: int32(m.wake), Events: unix.POLLIN}}
	for len(p) > 0 {
		k, err := unix.Write(m.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
		case err != nil:
			return true
		default:
			p = p[k:]
			continue
		}
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds[:], -1); err != nil && err != unix.EINTR {
			return true
		}
		if fds[1].Revents != 0 {
			return false
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 && fds[0].Revents&unix.POLLOUT == 0 {
			return true // no slave: drop, never spin
		}
	}
	return true
}

// tryWrite writes what the master takes now, without waiting; errors
// count as nothing written (the queued path sorts them out).
func (m *ptyMaster) tryWrite(p []byte) int {
	n := 0
	for n < len(p) {
		k, err := unix.Write(m.fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if k <= 0 || err != nil {
			break
		}
		n += k
	}
	return n
}

// stop ends the goroutines of m after a final drain and closes its fds.
func (m *ptyMaster) stop() {
	close(m.quit)
	_, _ = unix.Write(m.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0}) // wakes the pump and writeIn
	<-m.pumpDone
	<-m.inDone
	m.closeFds()
}
