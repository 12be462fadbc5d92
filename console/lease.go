package console

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A lease lends the pty master to the attached client (see PktMaster in
// proto.go): the client reads the container's output itself, so the
// output crosses one relay (pty -> client -> terminal) instead of two
// (pty -> controller -> socket -> client -> terminal). While a lease is
// on, the pump reads nothing; it only watches for a client that stopped
// reading (see watchLease). The lease ends when the client returns the
// master (Returned, or its connection ends) or the server revokes it
// (a takeover, the pty detached, the server closed, the client stalled);
// the pump then reads again, to the log and to whoever is attached.
type lease struct {
	c *client
	m *ptyMaster

	paused   chan struct{} // closed by the pump once it stopped reading for this lease
	returned chan struct{} // closed when the lease ended
	progress atomic.Int64  // bytes the client logged: the stall watch's measure of progress

	mu      sync.Mutex // orders the send of Master against a revoke
	sent    bool       // the client got the master
	revoked bool       // no Master may be sent any more
	once    sync.Once
}

// leaseOf returns c's lease, if it holds one.
func (s *Server) leaseOf(c *client) *lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease != nil && s.lease.c == c {
		return s.lease
	}
	return nil
}

// offer lends the master to c, if c asked for it (HelloDirect) and is the
// attached client, and nobody holds a lease. The pump stops reading first
// and emits what it read, so the Out packets before Master carry every
// byte read before it, in order.
func (s *Server) offer(c *client) {
	if !c.direct {
		return
	}
	s.mu.Lock()
	m := s.m
	if m == nil || s.closed || s.lease != nil || s.cur.Load() != c {
		s.mu.Unlock()
		return
	}
	l := &lease{c: c, m: m, paused: make(chan struct{}), returned: make(chan struct{})}
	s.lease = l
	s.mu.Unlock()

	m.lent.Store(l)
	m.kick()
	select {
	case <-l.paused:
	case <-l.returned: // revoked meanwhile
		return
	case <-m.pumpDone: // the pty is being detached
		s.endLease(l)
		return
	}
	l.mu.Lock()
	var err error = unix.EALREADY
	if !l.revoked {
		_ = c.conn.SetWriteDeadline(time.Now().Add(farewellTimeout))
		_, _, err = c.conn.WriteMsgUnix([]byte{PktMaster}, unix.UnixRights(m.fd), nil)
		l.sent = err == nil
	}
	l.mu.Unlock()
	if err != nil {
		s.endLease(l)
	}
}

// revoke takes the master back: the client is asked to stop reading it
// and answers Returned once it has sent the last of its output and closed
// its copy. A client that does not answer within farewellTimeout (it is
// stopped, or its terminal does not drain) is dropped. Its descriptor
// cannot be taken from it: if it is ever resumed, it sees the end of its
// connection before it reads again, except for one read it may already
// have been woken for (see Attach).
func (s *Server) revoke(l *lease) {
	l.mu.Lock()
	l.revoked = true
	sent := l.sent
	l.mu.Unlock()
	if sent {
		_ = l.c.conn.SetWriteDeadline(time.Now().Add(farewellTimeout))
		if _, err := l.c.conn.Write([]byte{PktRevoke}); err == nil {
			t := time.NewTimer(farewellTimeout)
			select {
			case <-l.returned:
			case <-l.c.gone:
			case <-t.C:
			}
			t.Stop()
		}
		select {
		case <-l.returned:
		default:
			s.cur.CompareAndSwap(l.c, nil)
			l.c.end(nil)
		}
	}
	s.endLease(l)
}

// endLease ends l (once) and lets the pump read again.
func (s *Server) endLease(l *lease) {
	l.once.Do(func() {
		s.mu.Lock()
		if s.lease == l {
			s.lease = nil
		}
		s.mu.Unlock()
		l.mu.Lock()
		l.revoked = true
		l.mu.Unlock()
		close(l.returned)
		l.m.lent.CompareAndSwap(l, nil)
		l.m.kick()
	})
}

// clientLog takes output a client read from a lent master.
func (s *Server) clientLog(c *client, data []byte) {
	l := s.leaseOf(c)
	if l == nil || len(data) == 0 {
		return
	}
	s.out.Add(int64(len(data)))
	if s.log != nil {
		s.log.Write(data)
	}
	l.progress.Add(int64(len(data)))
}

// watchLease is the pump while the master is lent: it reads nothing, and
// wakes only when the pty has new output (edge-triggered) or the lease
// changes. After new output it gives the client the stall time to show
// progress (Log packets); a client that logged nothing while output
// waits in the pty is dropped, as a client that accepts no packets is
// (see emit), and the pump takes over. Returns false on quit.
func (s *Server) watchLease(m *ptyMaster, l *lease) bool {
	for {
		select {
		case <-l.returned:
			return true
		default:
		}
		if !m.wait() {
			return false
		}
		select {
		case <-l.returned:
			return true
		default:
		}
		before := l.progress.Load()
		t := time.NewTimer(time.Duration(s.stall.Load()))
		select {
		case <-l.returned:
			t.Stop()
			return true
		case <-m.quit:
			t.Stop()
			return false
		case <-t.C:
		}
		if l.progress.Load() == before && m.hasOutput() {
			s.revoke(l)
			return true
		}
	}
}
