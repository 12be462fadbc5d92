// Package domain answers, for every command, "what is domain X now, and
// what may be done to it". lxctl has no daemon: its records (the status
// record, the runtime dir, the exit record) only carry what one command
// knew to the next. This package reconciles them with the host, which is
// the truth:
//
//   - A domain runs while a controller of it runs: a process whose pid,
//     start time and identity (its command line names the hidden
//     controller command, this root and the domain; it runs as root) match
//     (state.Layout.IsController). The recorded pid is tried first; when it
//     does not match, or there is no record, /proc is scanned
//     (state.Layout.FindControllers), so a domain whose records were
//     deleted is still found, reported running and can be destroyed.
//   - Everything lxctl signals, kills or removes is derived from what it
//     owns (layout, name, partition): cgroup dirs, socket paths, files.
//     A record's cgroup paths, socket paths and pids are never obeyed;
//     where the record disagrees with the host the Domain carries a
//     warning saying so.
//   - A domain whose controller is gone is swept (its own cgroups killed
//     and removed, its runtime dir removed) and reported "shut off
//     (failed)", under the domain lock, re-checked once held.
//
// cmd/ parses arguments, calls Host and prints; the answers here are the
// same for every command (and a future Go API). In the dependency order
// it sits between cmd/ and the packages that act: it imports container,
// cgroup, state and domainxml, and only cmd imports it. It never prints;
// what the user should hear about goes in Domain.Warnings or an error.
package domain
