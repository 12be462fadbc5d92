package container

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimResident shrinks what an idle controller keeps resident, once init
// runs. Starting a container touches nearly all of lxctl's 8 MB binary
// (cobra, libcontainer, netlink, the XML parser) and the kernel maps its
// page cache in large chunks, so a controller that just started has the
// whole binary mapped (10 MB VmRSS measured, 7.9 MB of it the binary);
// its event loop needs a small part of it (5 MB VmRSS after this, because
// ext4 hands out the binary's page cache in large folios and a fault maps
// a whole folio).
// Dropping the read-only file mappings costs nothing that matters: the
// pages stay in the page cache (shared with every other lxctl), become
// reclaimable once nobody maps them, and the few the loop touches fault
// back in. Writable mappings (.data, .bss, heap) are never touched: for
// them MADV_DONTNEED would throw data away. The Go heap left over from
// start-up is returned to the kernel.
func trimResident() {
	debug.FreeOSMemory()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	type span struct{ start, end uintptr }
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00800000 r-xp 00000000 08:01 1234   /usr/bin/lxctl
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		addrs := strings.SplitN(fields[0], "-", 2)
		start, err1 := strconv.ParseUint(addrs[0], 16, 64)
		end, err2 := strconv.ParseUint(addrs[1], 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	for _, s := range spans {
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, unix.MADV_DONTNEED)
	}
}
