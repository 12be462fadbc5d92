// Package domainxml reads, checks, completes and writes the libvirt domain
// XML of an LXC container (<domain type='lxc'>).
//
// Its one job is the document: Parse turns bytes into a Domain (and says
// precisely what is wrong when it cannot), SetDefaults fills in what libvirt
// fills in at define, and Marshal writes the canonical form libvirt itself
// writes, so that a definition round-trips through lxctl and virsh alike.
//
// Invariants:
//   - Every error from Parse wraps ErrInvalid and is an *Error naming the
//     element, the bad value, what is allowed and, where known, the line.
//   - Parse never panics, whatever the input.
//   - Marshal is canonical: Marshal(Parse(Marshal(Parse(x)))) is byte for
//     byte Marshal(Parse(x)), and for a document already in libvirt's
//     canonical form (its test corpus) it is the input itself.
//   - Elements lxctl does not model are kept verbatim, written back where
//     they were, and reported as warnings: nothing is dropped silently.
//
// The package must not print, exit, touch the file system or know about
// containers: it imports nothing of lxctl's own. Checks that need the host
// (does init exist, is the bridge there) belong to the start path.
package domainxml
