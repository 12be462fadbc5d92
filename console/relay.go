package console

import (
	"errors"
	"fmt"
	"os"
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
type ptyMaster struct {
	f    *os.File // non-blocking, in Go's (edge-triggered) netpoller
	rc   syscall.RawConn
	peer int // a slave fd held by the relay, or -1
	// rawFd is f's descriptor, for the pump only: f is closed only after
	// the pump has stopped.
	rawFd int

	in       chan []byte  // client input the pty could not take at once
	queued   atomic.Int32 // packets in (or being written from) in
	quit     chan struct{}
	pumpDone chan struct{}
	inDone   chan struct{}
}

// openMaster takes its own duplicate of f; the caller keeps f.
func openMaster(f *os.File) (*ptyMaster, error) {
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
	if _, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is not a pty master: %w", f.Name(), err)
	}
	// O_NONBLOCK lives in the open file description, which f shares; the
	// caller is expected to close f once SetMaster returns.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	m := &ptyMaster{
		f:        os.NewFile(uintptr(fd), "pty-master"),
		peer:     -1,
		rawFd:    fd,
		in:       make(chan []byte, 16),
		quit:     make(chan struct{}),
		pumpDone: make(chan struct{}),
		inDone:   make(chan struct{}),
	}
	// A non-blocking fd is registered with the netpoller by os.NewFile;
	// deadlines work only then, and the relay needs them.
	if err := m.f.SetReadDeadline(time.Time{}); err != nil {
		m.f.Close()
		return nil, fmt.Errorf("pty master cannot be polled: %w", err)
	}
	if m.rc, err = m.f.SyscallConn(); err != nil {
		m.f.Close()
		return nil, err
	}
	if holdPeer {
		// O_NOCTTY: the controller is a session leader without a
		// controlling terminal and must not acquire the container's.
		// Failure is not fatal: the EIO path below copes without it.
		_ = m.rc.Control(func(raw uintptr) {
			p, _, errno := unix.Syscall(unix.SYS_IOCTL, raw, unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
			if errno == 0 {
				m.peer = int(p)
			}
		})
	}
	return m, nil
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

// read reads what the master has, parking the goroutine until the next
// edge-triggered event when there is nothing. EIO (no slave open: init
// closed /dev/console, or nothing opened it yet) and EAGAIN are the same
// to the relay: wait. Go's netpoller registers the fd with EPOLLET, so a
// master stuck in HUP does not wake us again until something changes (a
// slave is opened and written to), and an idle relay makes no syscalls.
func (m *ptyMaster) read(p []byte) (int, error) {
	var n int
	var rerr error
	err := m.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), p)
			if rerr != unix.EINTR {
				break
			}
		}
		switch {
		case rerr == unix.EAGAIN, rerr == unix.EIO, rerr == nil && n == 0:
			n, rerr = 0, nil
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
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
	backoff := time.Duration(0)
	for {
		n, err := m.read(buf[1:])
		if n > 0 {
			n += m.readMore(buf[1+n:])
			s.emit(buf[:1+n])
			backoff = 0
			continue
		}
		if err == nil {
			continue
		}
		// stop() expires the read deadline after closing quit. Any other
		// error is unexpected: never spin, and never give up while the
		// container may live.
		backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
		select {
		case <-m.quit:
		case <-time.After(backoff):
			continue
		}
		break
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
// the pump calls it, so rawFd is open.
func (m *ptyMaster) readMore(p []byte) int {
	n := 0
	for len(p)-n >= 4096 {
		k, err := unix.Read(m.rawFd, p[n:])
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
			_, err := m.f.Write(p)
			m.queued.Add(-1)
			if errors.Is(err, os.ErrClosed) {
				return
			}
		case <-m.quit:
			return
		}
	}
}

// tryWrite writes what the master takes now, without waiting; errors
// count as nothing written (the queued path sorts them out).
func (m *ptyMaster) tryWrite(p []byte) int {
	n := 0
	_ = m.rc.Control(func(fd uintptr) {
		for n < len(p) {
			k, err := unix.Write(int(fd), p[n:])
			if err == unix.EINTR {
				continue
			}
			if k <= 0 || err != nil {
				return
			}
			n += k
		}
	})
	return n
}

// stop ends the goroutines of m after a final drain and closes its fds.
func (m *ptyMaster) stop() {
	close(m.quit)
	_ = m.f.SetReadDeadline(time.Unix(1, 0)) // wake the pump
	<-m.pumpDone
	m.f.Close() // wakes a writer blocked on a full pty
	<-m.inDone
	if m.peer >= 0 {
		unix.Close(m.peer)
		m.peer = -1
	}
}
