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
// The attached client is lent the master (lease.go): it reads the output
// itself and sends the server a copy for the log, so the output crosses
// one relay, as with runc or LXC, not two. The server reads the master
// whenever no client holds it: before the first attach, after a detach,
// between a takeover's Revoke and the new lease, for a client that did
// not ask for it, and for the final drain when the container stops.
//
// Invariants:
//   - The relay never decides liveness. EIO, EAGAIN or HUP on the master
//     only mean "no slave is open right now" (init may close and reopen
//     /dev/console); the relay waits for the next edge-triggered event and
//     never spins. A client with a lent master gives it back on EIO. It also holds a slave fd of its own (TIOCGPTPEER), so
//     the master does not hang up in the first place. Death is init's
//     exit, which the caller sees through the pid and reports with
//     Server.Close.
//   - Output is drained even with no client attached, so a container never
//     blocks on a full pty, and one stream is never split between readers:
//     one client at a time, a second is refused or (with force) replaces it.
//     The server reads nothing while the master is lent; a takeover, a
//     detach of the pty and Close first revoke the lease and wait (up to
//     farewellTimeout) for the client to give the master back. A lent
//     descriptor cannot be taken back by force: a client that does not
//     answer (stopped, or stuck on its terminal) is dropped, and if it is
//     ever resumed it sees its connection closed before it reads again,
//     except for the one batch (at most 20 KiB) it may have been reading
//     when it stopped; that batch then misses the log and the new reader.
//   - The log gets everything: what the server read, and what a client read
//     from a lent master, which the client sends back in Log packets (at
//     most 32 KiB or 20 ms behind). A client killed while it holds the
//     master takes that last part with it.
//   - An attached client back-pressures the container like a terminal
//     does, for at most a few seconds without progress; then it is dropped
//     and the output goes on to the log. For a lent master, progress is
//     what the client logs while output waits in the pty.
//   - Server and client share proto.go, so the two ends cannot drift.
//
// The package knows nothing of domains, prints nothing and never exits;
// callers add names and words for the user.
package console
