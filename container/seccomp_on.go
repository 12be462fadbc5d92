//go:build cgo && seccomp

package container

// seccompBuilt: libcontainer can load seccomp filters (libseccomp linked in).
const seccompBuilt = true
