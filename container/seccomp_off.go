//go:build !cgo || !seccomp

package container

// seccompBuilt: built without the seccomp tag, libcontainer cannot load
// seccomp filters; a confined domain is refused with instructions.
const seccompBuilt = false
