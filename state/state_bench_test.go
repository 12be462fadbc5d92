package state

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func BenchmarkReadStatus(b *testing.B) {
	l := NewLayout(b.TempDir())
	s := &Status{
		Name: "vm1", UUID: "c7a5fdbd-edaf-9455-926a-d65c16db1809", State: StateRunning,
		Reason: "booted", Persistent: true, ControllerPID: 4242, ControllerStart: 123456,
		InitPID: 4250, InitStart: 123460, Started: time.Now(), CgroupPath: "/machine/vm1.lxctl",
		CgroupPaths: map[string]string{
			"": "/sys/fs/cgroup/unified/machine/vm1.lxctl", "memory": "/sys/fs/cgroup/memory/machine/vm1.lxctl",
			"cpu": "/sys/fs/cgroup/cpu,cpuacct/machine/vm1.lxctl", "pids": "/sys/fs/cgroup/pids/machine/vm1.lxctl",
			"devices": "/sys/fs/cgroup/devices/machine/vm1.lxctl", "freezer": "/sys/fs/cgroup/freezer/machine/vm1.lxctl",
		},
		ControlSocket: "/run/lxctl/vm1/control.sock", ConsoleSocket: "/run/lxctl/vm1/console.sock",
	}
	if err := l.WriteStatus(s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.ReadStatus("vm1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListDefinitions lists a domains dir holding 1000 definitions,
// what `lxctl list --all` does first.
func BenchmarkListDefinitions(b *testing.B) {
	l := NewLayout(b.TempDir())
	if err := os.MkdirAll(l.Domains, 0o700); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		name := fmt.Sprintf("bench-%04d", i)
		doc := fmt.Sprintf("<domain type='lxc'><name>%s</name></domain>\n", name)
		if err := os.WriteFile(filepath.Join(l.Domains, name+".xml"), []byte(doc), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		names, err := l.ListDefinitions()
		if err != nil {
			b.Fatal(err)
		}
		if len(names) != 1000 {
			b.Fatalf("got %d names", len(names))
		}
	}
}

// BenchmarkFindControllers is the cost of rediscovering controllers from
// /proc, which list pays once and other commands pay when a domain has no
// record that leads to its controller. It grows with the host's process
// count (reported as procs).
func BenchmarkFindControllers(b *testing.B) {
	for _, n := range []int{0, 50} {
		b.Run(fmt.Sprintf("controllers=%d", n), func(b *testing.B) { benchFind(b, n) })
	}
}

// benchFind runs n stand-in controllers of one root and times the scan.
func benchFind(b *testing.B, n int) {
	l := NewLayout(b.TempDir())
	for i := range n {
		fakeController(b, l.ControllerArgs(fmt.Sprintf("vm%d", i)))
	}
	ents, _ := os.ReadDir("/proc")
	procs := 0
	for _, e := range ents {
		if e.Name()[0] >= '0' && e.Name()[0] <= '9' {
			procs++
		}
	}
	b.ReportMetric(float64(procs), "procs")
	b.ReportAllocs()
	for b.Loop() {
		found, err := l.FindControllers()
		if err != nil || len(found) != n {
			b.Fatalf("found %d controllers, want %d: %v", len(found), n, err)
		}
	}
}

// BenchmarkIsController is what verifying a recorded controller adds per
// running domain: a stat and a read of /proc/<pid>/cmdline beyond Alive.
func BenchmarkIsController(b *testing.B) {
	l := NewLayout(b.TempDir())
	start, err := ProcStartTime(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	p := Proc{PID: os.Getpid(), Start: start}
	b.ReportAllocs()
	for b.Loop() {
		_ = l.IsController(p, "vm1")
	}
}
