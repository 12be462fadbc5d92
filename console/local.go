package console

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// LocalOptions configures a Local relay.
type LocalOptions struct {
	In     *os.File  // stdin (nil: no input)
	Out    io.Writer // what the pty's process writes (nil: discarded)
	ErrOut io.Writer // warnings, such as a terminal that could not be restored (nil: discarded)
	// Raw: In is a terminal. It is put in raw mode until Finish, so that
	// every key, ^C and ^Z included, reaches the pty, whose line
	// discipline turns them into signals for its foreground process
	// group; its size is copied to the pty now and on every SIGWINCH.
	// Without Raw, the end of In is passed on as the pty's EOF character.
	Raw bool
}

// Local relays between this process's own stdin/stdout and a pty master
// it holds (lxctl enter): the process on the pty's other side is a child
// of this process, so there is no socket and no controller in between.
type Local struct {
	master *os.File
	mfd    int // master's fd, for ioctls
	opts   LocalOptions
	inFd   int
	old    *term.State
	sigc   chan os.Signal
	fr     *fileReader

	exited  atomic.Bool
	outDone chan struct{}
	inDone  chan struct{}
	once    sync.Once
}

// drainIdle: once the process has exited, output still buffered in the
// pty is copied until the pty hangs up (every holder of its other side is
// gone) or stays quiet this long (a background process inherited it).
const drainIdle = 100 * time.Millisecond

// StartLocal starts relaying. master is taken over: Finish closes it.
func StartLocal(master *os.File, opts LocalOptions) (_ *Local, retErr error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.ErrOut == nil {
		opts.ErrOut = io.Discard
	}
	// A non-blocking master goes through Go's poller, so the relay can be
	// stopped with a deadline however the process on the other side
	// behaves (one that never reads its input blocks a plain write).
	// The fd is a duplicate (File.Fd would put a pollable file back in
	// blocking mode), and ioctls go to mfd for the same reason.
	mfd, err := unix.FcntlInt(master.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	master.Close()
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	if err := unix.SetNonblock(mfd, true); err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("terminal: %w", err)
	}
	m := os.NewFile(uintptr(mfd), "pty master")
	l := &Local{master: m, mfd: mfd, opts: opts, inFd: -1, outDone: make(chan struct{})}
	defer func() {
		if retErr != nil {
			m.Close()
		}
	}()
	if opts.In != nil {
		fd, err := fdOf(opts.In)
		if err != nil {
			return nil, err
		}
		l.inFd = fd
	}
	if opts.Raw {
		if l.inFd < 0 {
			return nil, errors.New("terminal: raw mode needs a terminal as In")
		}
		l.sigc = make(chan os.Signal, 4)
		signal.Notify(l.sigc, unix.SIGWINCH)
		old, err := term.MakeRaw(l.inFd)
		if err != nil {
			signal.Stop(l.sigc)
			return nil, fmt.Errorf("terminal: raw mode: %w", err)
		}
		l.old = old
		l.resize()
		go func() {
			for range l.sigc {
				l.resize()
			}
		}()
	}
	go l.outLoop()
	if l.inFd >= 0 {
		fr, err := newFileReader(l.inFd)
		if err != nil {
			l.Finish()
			return nil, err
		}
		l.fr = fr
		l.inDone = make(chan struct{})
		go l.inLoop()
	}
	return l, nil
}

// resize copies the terminal's size to the pty; the kernel sends SIGWINCH
// to the pty's foreground process group when it changes.
func (l *Local) resize() {
	ws, err := unix.IoctlGetWinsize(l.inFd, unix.TIOCGWINSZ)
	if err != nil || ws.Row == 0 || ws.Col == 0 {
		return
	}
	_ = unix.IoctlSetWinsize(l.mfd, unix.TIOCSWINSZ, ws)
}

func (l *Local) outLoop() {
	defer close(l.outDone)
	buf := make([]byte, 32<<10)
	for {
		n, err := l.master.Read(buf)
		if n > 0 {
			if l.exited.Load() {
				_ = l.master.SetReadDeadline(time.Now().Add(drainIdle))
			}
			if _, werr := l.opts.Out.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			// EIO: the pty hung up, every holder of its other side is
			// gone. A deadline: Finish's drain is over.
			return
		}
	}
}

func (l *Local) inLoop() {
	defer close(l.inDone)
	buf := make([]byte, 32<<10)
	for {
		n, err := l.fr.Read(buf)
		if n > 0 {
			if _, werr := l.master.Write(buf[:n]); werr != nil {
				return
			}
		}
		if errors.Is(err, io.EOF) && !l.opts.Raw {
			// Piped input ended: what a user would type, ^D (the pty's
			// VEOF), so a reader in canonical mode sees its end.
			eof := byte(4)
			if t, terr := unix.IoctlGetTermios(l.mfd, unix.TCGETS); terr == nil && t.Cc[unix.VEOF] != 0 {
				eof = t.Cc[unix.VEOF]
			}
			_, _ = l.master.Write([]byte{eof})
			return
		}
		if err != nil {
			return
		}
	}
}

// Finish is called once the process has exited: it copies what output is
// left, stops the relay, closes the master and restores the terminal. It
// is safe to call more than once.
func (l *Local) Finish() {
	l.once.Do(func() {
		l.exited.Store(true)
		_ = l.master.SetReadDeadline(time.Now().Add(drainIdle))
		<-l.outDone
		if l.fr != nil {
			l.fr.wakeUp()
			// A write blocked on a pty nobody reads ends with the deadline.
			_ = l.master.SetWriteDeadline(time.Now())
			<-l.inDone
			l.fr.Close()
		}
		_ = l.master.Close()
		if l.sigc != nil {
			signal.Stop(l.sigc)
			close(l.sigc)
		}
		if l.old != nil {
			if err := term.Restore(l.inFd, l.old); err != nil {
				fmt.Fprintf(l.opts.ErrOut, "warning: could not restore the terminal: %v\n", err)
			}
		}
	})
}
