// Package state owns everything lxctl keeps on disk: where it lives, what a
// domain may be called, the per-domain locks, atomic writes, the runtime
// status record and exit record of a domain, and the liveness of recorded
// pids.
//
// Its job is to make the disk a trustworthy source of truth for short-lived
// commands that never share memory. The invariants every function keeps:
//
//   - Names are validated (ValidateName) before they are joined into any
//     path, so no name can escape its directory or clash with the package's
//     own dot-files (.locks, .exit, temp files).
//   - Every write goes through WriteFileAtomic: a temp file in the same
//     directory, fsync, chmod, rename, fsync of the directory. A reader sees
//     the old file or the new one, never half of one. Runtime records
//     (status, live XML, exit records) use WriteRuntimeFile, the same
//     without the fsyncs: the processes they describe do not outlive a
//     crash either.
//   - Locks are flock(2) locks on files that are never renamed or removed
//     (Run/.locks/<name>.lock), because a rename replaces the inode and a lock
//     held on the old inode protects nothing. Lock fds are close-on-exec.
//   - A recorded pid is alive only if /proc/<pid>/stat shows the recorded
//     start time and the process is not a zombie (see Alive). It is a
//     domain's controller only if, besides, it runs as root and its command
//     line is ControllerArgs of this root and that name (IsController);
//     FindControllers finds controllers from /proc alone, for when the
//     records are gone.
//   - A root has an identity (Layout.Root, canonical; Key): it names the
//     domains' cgroups (CgroupLeaf, "<name>.lxctl-<key>"), so two roots
//     never share one.
//   - The root and its directories must be trusted (CheckTrusted: owned by
//     root, not writable by group or others, no symlinks), and nothing under
//     them is opened through a symlink in any component of its path
//     (openat2 RESOLVE_NO_SYMLINKS).
//   - Stored files that cannot be read back are reported as ErrCorrupt,
//     naming the file and the fix; nothing here panics on bad input.
//
// The package never prints and never exits; errors are lower-case, name the
// object and say what to do. Classify them with errors.Is against ErrNotFound,
// ErrInvalidName, ErrLocked and ErrCorrupt.
package state
