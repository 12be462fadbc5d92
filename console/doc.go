// Package console is the pty plumbing of a running domain, on both ends.
//
// The server side (Server) lives in the controller. It owns the
// container's console pty master, drains everything the container writes
// into a size-capped log and to at most one attached client, and serves a
// SOCK_SEQPACKET unix socket that clients attach to. The client side
// (Attach) is what `lxctl console` runs: raw mode on a terminal, an escape
// key, window-size forwarding, and plain piping when stdin is not a
// terminal. ReadLog replays the log.
//
// Invariants:
//   - The relay never decides liveness. EIO, EAGAIN or HUP on the master
//     only mean "no slave is open right now" (init may close and reopen
//     /dev/console); the relay waits for the next edge-triggered event and
//     never spins. It also holds a slave fd of its own (TIOCGPTPEER), so
//     the master does not hang up in the first place. Death is init's
//     exit, which the caller sees through the pid and reports with
//     Server.Close.
//   - Output is drained even with no client attached, so a container never
//     blocks on a full pty, and one stream is never split between readers:
//     one client at a time, a second is refused or (with force) replaces it.
//   - An attached client back-pressures the container like a terminal
//     does, for at most a few seconds without progress; then it is dropped
//     and the output goes on to the log.
//   - Server and client share proto.go, so the two ends cannot drift.
//
// The package knows nothing of domains, prints nothing and never exits;
// callers add names and words for the user.
package console
