package domainxml

import (
	"strconv"
	"strings"
)

// maxSizeBytes caps every size: the kernel's memory and tmpfs limits are
// signed 64-bit byte counts, so anything above would wrap at start.
const maxSizeBytes = 1<<63 - 1

const unitHelp = "use b, KiB, MiB, GiB, TiB, KB, MB, GB, ..."

// ParseSize converts a size as libvirt writes it (a whole number plus a
// unit attribute) to bytes. The unit is case-insensitive: "b" and "bytes"
// mean 1; one letter (k, M, G, T, P, E) or the letter plus "iB" means a
// power of 1024; the letter plus "B" means a power of 1000. An empty unit
// means defaultUnit (libvirt's default is KiB for memory, bytes for some
// limits). Errors wrap ErrInvalid and name the bad value.
func ParseSize(value, unit, defaultUnit string) (uint64, error) {
	u := strings.TrimSpace(unit)
	if u == "" {
		u = strings.TrimSpace(defaultUnit)
	}
	scale, ok := unitScale(u)
	if !ok {
		return 0, &Error{Value: unit, Msg: "unknown unit '" + u + "' (" + unitHelp + ")"}
	}
	v := strings.TrimSpace(value)
	switch {
	case v == "":
		return 0, &Error{Value: value, Msg: "no size given (use a whole number, e.g. 512 with unit='MiB')"}
	case v[0] == '-':
		return 0, &Error{Value: value, Msg: "size '" + v + "' is negative (use a whole number, e.g. 512 with unit='MiB')"}
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, &Error{Value: value, Msg: "size '" + v + "' is not a whole number (use digits only, e.g. 512 with unit='MiB')"}
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > maxSizeBytes/scale {
		return 0, &Error{Value: value, Msg: "size '" + v + "' " + u + " is too large (the limit is 8 EiB)"}
	}
	return n * scale, nil
}

// unitScale follows libvirt's virScaleInteger.
func unitScale(unit string) (uint64, bool) {
	u := strings.ToLower(unit)
	switch u {
	case "b", "byte", "bytes":
		return 1, true
	case "":
		return 0, false
	}
	var base uint64
	switch u[1:] {
	case "", "ib":
		base = 1024
	case "b":
		base = 1000
	default:
		return 0, false
	}
	power := strings.IndexByte("kmgtpe", u[0]) + 1
	if power == 0 {
		return 0, false
	}
	scale := uint64(1)
	for range power {
		scale *= base
	}
	return scale, true
}

// kibUp converts bytes to KiB rounding up, as libvirt stores memory.
func kibUp(b uint64) uint64 { return b/1024 + min(b%1024, 1) }
