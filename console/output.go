package console

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// clientDirect: Attach asks to be lent the pty master (HelloDirect).
// Tests turn it off to exercise the relayed path.
var clientDirect = true

const (
	// logSendAt: output read from a lent master goes to the server's log
	// in packets of about this size, so the controller wakes once per
	// packet, not once per pty read.
	logSendAt = 32 << 10
	// logSendDelay: a smaller rest is sent after this much quiet.
	logSendDelay = 20 * time.Millisecond
	// yieldEvery: see outLoop.run.
	yieldEvery = 5 * time.Millisecond
	// readBatch bounds what the loop reads from a lent master before it
	// looks at its socket again (a pty read returns at most 4 KiB).
	readBatch = 16 << 10
)

// outLoop is the client's output side: it writes Out packets to Out and,
// while the server lends it the master, reads the container's output
// from the master itself (one relay, as runc and LXC do) and sends a copy
// to the server for the console log. It waits in poll(2) on its own
// descriptors, not in Go's netpoller, so a burst of output costs one
// wake-up of this thread and no scheduler round trips.
//
// Every wake-up looks at the session's end first, then at the socket,
// then at the master (about readBatch of it): a client that was dropped or
// taken over while it was stopped sees the end of its connection before
// it reads the master again, except for the one batch it may have been
// reading when it was stopped.
type outLoop struct {
	s      *session
	sock   int // a duplicate of the connection's fd, owned by the loop
	master int // the lent master, or -1
	wake   *wakeFd
	pkt    []byte
	oob    []byte
	log    []byte // PktLog, then output read from the master not yet sent
	maxLog int    // payload limit of one Log packet
	final  *event // Done, Notice or Error: reported once the loop ended
	// logSince is when the oldest byte in log was read.
	logSince time.Time
}

// wakeFd is an eventfd that ends a wait in poll(2) (the client's output
// loop, its stdin reader); safe against a wake-up after close.
type wakeFd struct {
	mu     sync.Mutex
	fd     int
	closed bool
}

func newWakeFd() (*wakeFd, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("console: eventfd: %w", err)
	}
	return &wakeFd{fd: fd}, nil
}

func (w *wakeFd) wakeUp() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		_, _ = unix.Write(w.fd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
}

func (w *wakeFd) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		unix.Close(w.fd)
	}
}

func newOutLoop(s *session) (*outLoop, error) {
	rc, err := s.conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	sock, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { sock, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, fmt.Errorf("console: %w", derr)
	}
	w, err := newWakeFd()
	if err != nil {
		unix.Close(sock)
		return nil, err
	}
	o := &outLoop{
		s: s, sock: sock, master: -1, wake: w,
		pkt:    make([]byte, 1+MaxPayload),
		oob:    make([]byte, unix.CmsgSpace(4*4)),
		log:    make([]byte, 1, 1+MaxPayload),
		maxLog: min(MaxPayload, packetLimit(s.conn)-1),
	}
	o.log[0] = PktLog
	return o, nil
}

// run writes output until the session ends, then gives a lent master
// back and closes the loop's descriptors.
func (o *outLoop) run() {
	defer func() {
		o.giveBack()
		unix.Close(o.sock)
		if o.final != nil {
			o.s.report(*o.final)
		}
	}()
	lastYield := time.Now()
	for {
		// The loop never parks in the Go scheduler, so to the runtime it
		// is one goroutine running for ever: every 10 ms sysmon would
		// preempt it with a signal and take its P away in a system call,
		// and then poll every 20 µs for a while, on a CPU the container
		// and the terminal need. A yield every few milliseconds keeps it
		// an ordinary goroutine (one per wake-up costs more: each wakes
		// an idle thread).
		if now := time.Now(); now.Sub(lastYield) > yieldEvery {
			runtime.Gosched()
			lastYield = now
		}
		fds := [3]unix.PollFd{
			{Fd: int32(o.wake.fd), Events: unix.POLLIN},
			{Fd: int32(o.sock), Events: unix.POLLIN},
			{Fd: int32(o.master), Events: unix.POLLIN}, // ignored while -1
		}
		timeout := -1
		if len(o.log) > 1 {
			timeout = int(logSendDelay / time.Millisecond)
		}
		n, err := unix.Poll(fds[:], timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			o.s.report(event{kind: evLost, err: err})
			return
		}
		if n == 0 {
			if !o.sendLog() {
				return
			}
			continue
		}
		if fds[0].Revents != 0 {
			return // the session is over
		}
		if fds[1].Revents != 0 && !o.readSocket() {
			return
		}
		if o.master >= 0 && fds[2].Revents != 0 && !o.readMaster() {
			return
		}
	}
}

// readSocket handles the packets the server sent, until none is left;
// false ends the loop (the event is reported).
func (o *outLoop) readSocket() bool {
	resets := 0
	for {
		n, oobn, _, _, err := unix.Recvmsg(o.sock, o.pkt, o.oob, unix.MSG_CMSG_CLOEXEC)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return true
		case err == unix.ECONNRESET && resets < 2:
			// Reported before the packets the server sent (see readPacket).
			resets++
			continue
		case err != nil:
			o.s.report(event{kind: evLost, err: err})
			return false
		case n == 0 && oobn == 0:
			o.s.report(event{kind: evLost, err: io.EOF})
			return false
		}
		var fds []int
		if oobn > 0 {
			if msgs, err := unix.ParseSocketControlMessage(o.oob[:oobn]); err == nil {
				for _, m := range msgs {
					if r, err := unix.ParseUnixRights(&m); err == nil {
						fds = append(fds, r...)
					}
				}
			}
		}
		if n > 0 && o.pkt[0] == PktMaster && len(fds) == 1 {
			o.giveBack() // never two
			o.master, fds = fds[0], nil
			continue
		}
		for _, fd := range fds { // not ours to keep
			unix.Close(fd)
		}
		if n == 0 {
			continue
		}
		p := o.pkt[:n]
		switch p[0] {
		case PktOut:
			o.s.lastOut.Store(time.Now().UnixNano())
			if _, err := o.s.opts.Out.Write(p[1:]); err != nil {
				o.s.report(event{kind: evOutErr, err: err})
				return false
			}
		case PktRevoke:
			o.giveBack()
		case PktDone:
			o.final = &event{kind: evDone, text: string(p[1:])}
			return false
		case PktNotice:
			o.final = &event{kind: evNotice, text: string(p[1:])}
			return false
		case PktError:
			o.final = &event{kind: evError, text: string(p[1:])}
			return false
		}
	}
}

// readMaster copies what the lent master holds to Out, read by read, and
// queues it for the log. Each read goes out at once, as a terminal
// emulator's would: while this process writes it to the terminal, the
// kernel refills the pty for the next read (reading on until EAGAIN first
// and then writing one batch measured slower: the container waits on a
// full pty while the batch is written). A master with no slave open (EIO)
// is given back: the server's relay waits for the pty to come back
// without polling it, which poll(2) here cannot.
func (o *outLoop) readMaster() bool {
	// At most readBatch per wake-up, so a Revoke waits neither behind a
	// container that writes without pause nor long behind a slow terminal.
	for got := 0; got < readBatch; {
		// The log also goes out logSendDelay after its first byte while
		// the terminal is slow to take the output: the server measures a
		// client's progress by its Log packets (see watchLease).
		full := len(o.log)-1 >= min(logSendAt, o.maxLog-4096)
		if (full || len(o.log) > 1 && time.Since(o.logSince) > logSendDelay) && !o.sendLog() {
			return false
		}
		start := len(o.log)
		k, err := unix.Read(o.master, o.log[start:1+o.maxLog])
		if err == unix.EINTR {
			continue
		}
		if k <= 0 {
			if err != unix.EAGAIN {
				// EIO: no slave open; 0 or anything else: the same to us.
				o.giveBack()
			}
			return true
		}
		o.log = o.log[:start+k]
		got += k
		now := time.Now()
		if start == 1 {
			o.logSince = now
		}
		o.s.lastOut.Store(now.UnixNano())
		if _, err := o.s.opts.Out.Write(o.log[start:]); err != nil {
			o.s.report(event{kind: evOutErr, err: err})
			return false
		}
	}
	return true
}

// sendLog sends the queued output to the server's log; false ends the
// loop (the session is over while the socket was full, or it failed).
func (o *outLoop) sendLog() bool {
	if len(o.log) <= 1 {
		return true
	}
	ok := o.send(o.log)
	o.log = o.log[:1]
	return ok
}

// send writes one packet, waiting in poll(2) for room in the socket.
func (o *outLoop) send(p []byte) bool {
	for {
		_, err := unix.Write(o.sock, p)
		switch {
		case err == nil:
			return true
		case err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			o.s.report(event{kind: evLost, err: err})
			return false
		}
		fds := [2]unix.PollFd{{Fd: int32(o.wake.fd), Events: unix.POLLIN}, {Fd: int32(o.sock), Events: unix.POLLOUT}}
		if _, err := unix.Poll(fds[:], -1); err != nil && err != unix.EINTR {
			return false
		}
		if fds[0].Revents != 0 {
			return false
		}
	}
}

// giveBack returns a lent master: the last output goes to the log, the
// master is closed, then Returned tells the server it may read again.
func (o *outLoop) giveBack() {
	if o.master < 0 {
		return
	}
	o.sendLog()
	unix.Close(o.master)
	o.master = -1
	o.send([]byte{PktReturned})
}
