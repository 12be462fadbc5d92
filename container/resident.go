package container

import (
	"bufio"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"

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
// them MADV_DONTNEED would throw data away.
//
// The heap is left as it is, without a collection: see idleGC.
func trimResident() {
	idleGC()
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

// idleHeadroom is how much an idle controller may allocate before the
// collector runs: the Go runtime's own smallest heap goal.
const idleHeadroom = 4 << 20

// idleGC turns the collector's pacing from GOGC to a memory limit for the
// rest of the controller's life. A controller after setup allocates next
// to nothing, yet with GOGC the runtime forces a collection every two
// minutes, and a collection makes the collector's own bookkeeping
// resident (mark bits, span queues, the mark workers' stacks) for good:
// measured at 10 running, 140 s after start, 2980 kB private per
// controller with GOGC against 2480 with the collector paced by this
// limit (and 2616 with one collection at setup's end, which frees less
// heap than it adds bookkeeping, so there is none). Without GOGC the
// idle controller is also never woken for those collections. The limit is
// what the runtime holds now plus the headroom, so a controller that does
// work (console traffic, lxctl enter, a reboot) collects about as often as
// with GOGC's smallest goal. The limit is set once, after the first
// setup: a reboot's setup allocates about as much again, and a limit
// taken after it would only grow with every reboot.
func idleGC() { idleGCOnce.Do(setIdleGC) }

var idleGCOnce sync.Once

func setIdleGC() {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return // an unknown metric: keep GOGC
	}
	held := s[0].Value.Uint64() - s[1].Value.Uint64()
	debug.SetMemoryLimit(int64(held) + idleHeadroom)
	debug.SetGCPercent(-1)
}
