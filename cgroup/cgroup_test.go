package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs"
)

func TestCheckRequiredHost(t *testing.T) {
	if err := CheckRequired(); err != nil {
		t.Fatal(err)
	}
}

// mountTable parses mountinfo lines as the kernel writes them.
func mountTable(t *testing.T, lines ...string) []*mountinfo.Info {
	t.Helper()
	mounts, err := mountinfo.GetMountsFromReader(strings.NewReader(strings.Join(lines, "\n")+"\n"), mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		t.Fatal(err)
	}
	return mounts
}

func TestCheckRequiredIn(t *testing.T) {
	const (
		tmpfs   = "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755"
		cpu     = "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu"
		cpuacct = "32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct"
		both    = "32 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct"
		memory  = "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory"
		devices = "35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices"
		systemd = "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd"
		unified = "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw"
	)
	v2root := t.TempDir()
	v2line := "30 22 0:27 / " + v2root + " rw,relatime - cgroup2 cgroup2 rw,nsdelegate"
	write := func(controllers string) {
		if err := os.WriteFile(filepath.Join(v2root, "cgroup.controllers"), []byte(controllers), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name        string
		lines       []string
		root        string
		controllers string
		want        string
	}{
		{name: "hybrid", lines: []string{tmpfs, cpu, cpuacct, memory, devices, systemd, unified}, root: root},
		{name: "co-mounted cpu,cpuacct", lines: []string{tmpfs, both, memory, devices}, root: root},
		{
			name:  "memory missing",
			lines: []string{tmpfs, cpu, cpuacct, devices, systemd, unified},
			root:  root,
			want:  "the cgroup controller 'memory' is required but not mounted (mount it: mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory, or boot with cgroup v2)",
		},
		{
			name:  "cpuacct missing",
			lines: []string{tmpfs, cpu, memory, devices},
			root:  root,
			want:  "the cgroup controller 'cpuacct' is required but not mounted (mount it: mount -t cgroup -o cpuacct cgroup /sys/fs/cgroup/cpuacct, or boot with cgroup v2)",
		},
		{
			name:  "nothing mounted",
			lines: []string{tmpfs},
			root:  root,
			want:  "no cgroup filesystem is mounted (mount one: mount -t cgroup2 none /sys/fs/cgroup)",
		},
		{name: "v2", lines: []string{v2line}, root: v2root, controllers: "cpuset cpu io memory pids\n"},
		{
			name: "v2 without memory", lines: []string{v2line}, root: v2root, controllers: "cpuset cpu io pids\n",
			want: "the cgroup controller 'memory' is required but not available in the cgroup v2 hierarchy at " + v2root +
				" (is it disabled with cgroup_disable=memory on the kernel command line, or bound to a cgroup v1 hierarchy?)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.controllers)
			err := checkRequiredIn(mountTable(t, tc.lines...), tc.root)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	paths, err := Paths("/x/y")
	if err != nil {
		t.Fatal(err)
	}
	if cgroups.IsCgroup2UnifiedMode() {
		if want := map[string]string{"": "/sys/fs/cgroup/x/y"}; !mapsEqual(paths, want) {
			t.Fatalf("got %v, want %v", paths, want)
		}
		return
	}
	// Every v1 controller of this process's /proc/self/cgroup, named ones
	// included, must have its directory.
	own, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for c := range own {
		if c == "" {
			continue
		}
		dir, ok := paths[c]
		if !ok || !strings.HasPrefix(dir, "/sys/fs/cgroup/") || !strings.HasSuffix(dir, "/x/y") {
			t.Errorf("controller %q: got %q", c, dir)
		}
	}
	if cgroups.IsCgroup2HybridMode() && paths[""] != "/sys/fs/cgroup/unified/x/y" {
		t.Errorf(`"": got %q, want /sys/fs/cgroup/unified/x/y`, paths[""])
	}

	// The same map as libcontainer's cgroup manager computes (which is
	// what lxctl records), for every controller libcontainer knows.
	m, err := fs.NewManager(&cgroups.Cgroup{Path: "/x/y", Resources: &cgroups.Resources{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lc := m.GetPaths()
	for c, dir := range lc {
		if paths[c] != dir {
			t.Errorf("libcontainer has %q: %q, Paths has %q", c, dir, paths[c])
		}
	}
	if _, ok := lc[""]; cgroups.IsCgroup2HybridMode() && !ok {
		t.Errorf("libcontainer's map has no unified entry on this hybrid host: %v", lc)
	}
	t.Logf("libcontainer: %v", lc)

	if _, err := Paths("machine/x"); err == nil {
		t.Error("relative path accepted")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// killAndCheck kills the workload through kill, then checks that nothing is
// left: no pid in the cgroup, no process alive, no directory after Remove.
func killAndCheck(t *testing.T, paths map[string]string, w *workload, kill func() error) {
	t.Helper()
	start := time.Now()
	if err := kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Since(start)
	if pids, err := Pids(paths); err != nil || len(pids) != 0 {
		t.Errorf("after KillAll: pids %v, %v", pids, err)
	}
	checkDead(t, w.pids)
	if err := Remove(paths, 5*time.Second); err != nil {
		t.Error(err)
	}
	t.Logf("%d processes: killed in %v, removed in %v", len(w.pids), killed, time.Since(start))
	checkGone(t, paths)
}

func TestKillAll(t *testing.T) {
	paths := newTestCgroup(t)
	w := start(t, paths, forkScript(500))
	if len(w.pids) != 501 {
		t.Fatalf("%d processes in the cgroup, want 501", len(w.pids))
	}
	killAndCheck(t, paths, w, func() error { return KillAll(paths, 5*time.Second) })
	// The shell, this test's child, is not reaped yet: a zombie is out of
	// its cgroups, which is why a dead controller's unreaped init does not
	// keep a cgroup busy.
	if st := procState(w.cmd.Process.Pid); st != "Z" {
		t.Errorf("the shell is in state %q, want a zombie", st)
	}
}

func TestKillAllFrozen(t *testing.T) {
	paths := newTestCgroup(t)
	w := start(t, paths, forkScript(500))
	if err := Freeze(paths); err != nil {
		t.Fatal(err)
	}
	if frozen, err := IsFrozen(paths); err != nil || !frozen {
		t.Fatalf("IsFrozen after Freeze: %v, %v", frozen, err)
	}
	killAndCheck(t, paths, w, func() error { return KillAll(paths, 5*time.Second) })
}

// The path for kernels without cgroup.kill: freeze, kill, thaw, repeat. A
// shell forking as fast as it can runs beside the sleeps.
func TestKillAllWithoutKillFile(t *testing.T) {
	paths := newTestCgroup(t)
	w := start(t, paths, "(while :; do /bin/true; done) &\n"+forkScript(200))
	killAndCheck(t, paths, w, func() error { return killAll(newDirs(paths), 5*time.Second, false) })
}

func TestKillAllFrozenWithoutKillFile(t *testing.T) {
	paths := newTestCgroup(t)
	w := start(t, paths, forkScript(200))
	if err := Freeze(paths); err != nil {
		t.Fatal(err)
	}
	killAndCheck(t, paths, w, func() error { return killAll(newDirs(paths), 5*time.Second, false) })
}

// A map as libcontainer reports it on a v1-only host: no cgroup2 entry, so
// the v1 freezer path runs.
func TestKillAllV1Map(t *testing.T) {
	paths := newTestCgroup(t)
	w := start(t, paths, forkScript(200))
	v1 := without(paths, "")
	killAndCheck(t, paths, w, func() error { return KillAll(v1, 5*time.Second) })
}

// Processes only in the v1 directories are out of reach of cgroup.kill on a
// hybrid host; KillAll must notice and kill them anyway.
func TestKillAllV1OnlyProcesses(t *testing.T) {
	if !cgroups.IsCgroup2HybridMode() {
		t.Skip("only a hybrid host has v1 and cgroup2 directories side by side")
	}
	paths := newTestCgroup(t)
	w := start(t, without(paths, ""), forkScript(100))
	if pids, _ := Pids(map[string]string{"": paths[""]}); len(pids) != 0 {
		t.Fatalf("cgroup2 directory not empty: %v", pids)
	}
	killAndCheck(t, paths, w, func() error { return KillAll(paths, 5*time.Second) })
}

// Processes that cannot die in time: their SIGKILL waits while a parent
// cgroup, which KillAll does not own and does not thaw, stays frozen. The
// error must name them; once the parent thaws they die.
func TestKillAllSurvivors(t *testing.T) {
	parent := newTestCgroup(t)
	child := sub(parent, "payload")
	mkdirs(t, child)
	w := start(t, child, forkScript(10))
	if err := Freeze(without(parent, "")); err != nil { // the v1 freezer only
		t.Fatal(err)
	}
	err := KillAll(child, 200*time.Millisecond)
	if err == nil {
		t.Fatal("KillAll succeeded with its processes frozen by a parent cgroup")
	}
	msg := err.Error()
	// A task stopped by the freezer shows as D. Under load a child can be
	// frozen between fork and exec, so it may still be called sh.
	want := fmt.Sprintf("cgroup %s: 11 processes survived SIGKILL after 200ms: ", cgroupName(child))
	if !strings.HasPrefix(msg, want) || strings.Count(msg, " (D, ") != 11 || !strings.Contains(msg, " (D, sleep)") {
		t.Errorf("got  %s\nwant %s...", msg, want)
	}
	t.Log(msg)
	if err := Thaw(parent); err != nil {
		t.Fatal(err)
	}
	killAndCheck(t, parent, w, func() error { return KillAll(child, 5*time.Second) })
}

// cgroup.kill would kill the caller along with the container, and the v1
// freezer would freeze it for good, so KillAll and Freeze refuse to run from
// inside.
func TestFromInside(t *testing.T) {
	if !cgroups.IsCgroup2HybridMode() {
		t.Skip("moves the test process within the hybrid cgroup2 and the v1 freezer")
	}
	paths := newTestCgroup(t)
	own, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string       // the hierarchy the test process moves into
		home string       // where it returns to
		call func() error // what must refuse
		want string
	}{
		{"", "/sys/fs/cgroup/unified", func() error { return KillAll(paths, time.Second) }, "refusing to kill it from inside"},
		{"freezer", "/sys/fs/cgroup/freezer", func() error { return KillAll(without(paths, ""), time.Second) }, "refusing to kill it from inside"},
		{"freezer", "/sys/fs/cgroup/freezer", func() error { return Freeze(paths) }, "refusing to freeze it from inside"},
	} {
		if err := cgroups.WriteCgroupProc(paths[tc.key], os.Getpid()); err != nil {
			t.Fatal(err)
		}
		err := tc.call()
		if err := cgroups.WriteCgroupProc(filepath.Join(tc.home, own[tc.key]), os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("in %q: got %v, want %q", tc.key, err, tc.want)
		}
	}
	if err := Remove(paths, time.Second); err != nil {
		t.Error(err)
	}
}

// Processes in child cgroups are killed, and the child cgroups removed, with
// the cgroup they are in.
func TestKillAllNested(t *testing.T) {
	for _, tc := range []struct {
		name        string
		useKillFile bool
	}{{"cgroup.kill", true}, {"freeze-kill-thaw", false}} {
		t.Run(tc.name, func(t *testing.T) {
			paths := newTestCgroup(t)
			child := sub(paths, "payload")
			mkdirs(t, child)
			mkdirs(t, sub(child, "deeper"))
			w := start(t, sub(child, "deeper"), forkScript(50))
			if pids, _ := Pids(paths); len(pids) != 51 {
				t.Fatalf("Pids of the parent cgroup: %d processes, want 51", len(pids))
			}
			killAndCheck(t, paths, w, func() error { return killAll(newDirs(paths), 5*time.Second, tc.useKillFile) })
		})
	}
}

func TestRemoveBusy(t *testing.T) {
	paths := newTestCgroup(t)
	w := start(t, paths, "echo ready\nexec sleep 1000")
	pid := w.pids[0]
	// "ready" comes before the exec: wait until the process is sleep,
	// asleep, so the error's "(S, sleep)" is what the kernel shows.
	stat := fmt.Sprintf("/proc/%d/stat", pid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		data, _ := os.ReadFile(stat)
		if strings.Contains(string(data), "(sleep) S ") || time.Now().After(deadline) {
			break
		}
	}

	err := Remove(paths, 20*time.Millisecond)
	if err == nil {
		t.Fatal("Remove succeeded with a live process in the cgroup")
	}
	msg := err.Error()
	for _, want := range []string{"10 directories still busy after 20ms", paths["memory"], paths[""], strconv.Itoa(pid) + " (S, sleep)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	t.Log(msg)
	removeWhileDying(t, paths, w)
	// A second Remove of what is gone is fine.
	if err := Remove(paths, time.Second); err != nil {
		t.Error(err)
	}
}

// The same where only the v1 directories hold the process: no cgroup2 event
// to wait for, so Remove re-checks with a backoff.
func TestRemoveBusyV1(t *testing.T) {
	paths := newTestCgroup(t)
	w := start(t, without(paths, ""), "echo ready\nexec sleep 1000")
	removeWhileDying(t, paths, w)
}

// removeWhileDying makes a process that is killed but cannot finish exiting
// for 50 ms (SIGKILL while frozen, thawed 50 ms later), then calls Remove:
// its rmdirs fail with EBUSY until the process is gone, and it must wait.
func removeWhileDying(t *testing.T, paths map[string]string, w *workload) {
	t.Helper()
	if err := Freeze(paths); err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	thawed := make(chan time.Time, 1)
	thawErr := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		// The time the thaw begins: the process can finish exiting (and
		// Remove succeed) before Thaw itself returns.
		thawed <- time.Now()
		thawErr <- Thaw(paths)
	}()
	err := Remove(paths, 5*time.Second)
	end := time.Now()
	thawedAt := <-thawed
	if err := <-thawErr; err != nil {
		t.Error(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if end.Before(thawedAt) {
		t.Errorf("Remove returned %v after the SIGKILL, before the thaw", end.Sub(start))
	} else {
		t.Logf("removed %v after the thaw", end.Sub(thawedAt))
	}
	checkGone(t, paths)
}

func TestSurvivorsError(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// Wait for the exec so that the command name is "sleep".
	for range 1000 {
		if describeProcess(cmd.Process.Pid) == strconv.Itoa(cmd.Process.Pid)+" (S, sleep)" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	pid := cmd.Process.Pid
	// The state letter is whatever the process is doing at that instant
	// (S normally, R or D for a moment on a loaded machine).
	got := survivorsError("/machine/vm1.lxctl", []int{pid}, 5*time.Second).Error()
	want := regexp.MustCompile(`^cgroup /machine/vm1\.lxctl: 1 process survived SIGKILL after 5s: ` + strconv.Itoa(pid) + ` \([SRD], sleep\)$`)
	if !want.MatchString(got) {
		t.Errorf("got  %q\nwant %s", got, want)
	}
	got = survivorsError("/x", []int{pid, 999999999}, time.Second).Error()
	want = regexp.MustCompile(`^cgroup /x: 2 processes survived SIGKILL after 1s: ` + strconv.Itoa(pid) + ` \([SRD], sleep\), 999999999 \(gone\)$`)
	if !want.MatchString(got) {
		t.Errorf("got  %q\nwant %s", got, want)
	}
}

func TestFreezeThaw(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys func(map[string]string) map[string]string
	}{
		{"v1 freezer", func(p map[string]string) map[string]string { return p }},
		{"cgroup2", func(p map[string]string) map[string]string { return map[string]string{"": p[""]} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paths := newTestCgroup(t)
			if tc.name == "cgroup2" && paths[""] == "" {
				t.Skip("no cgroup2")
			}
			w := start(t, paths, "(while :; do :; done) &\necho ready\nexec sleep 1000")
			sub := tc.keys(paths)
			if err := Freeze(sub); err != nil {
				t.Fatal(err)
			}
			if frozen, err := IsFrozen(sub); err != nil || !frozen {
				t.Fatalf("IsFrozen after Freeze: %v, %v", frozen, err)
			}
			if st := procState(w.pids[1]); st != "S" && st != "D" {
				t.Errorf("busy loop not stopped: state %q", st)
			}
			if err := Thaw(sub); err != nil {
				t.Fatal(err)
			}
			if frozen, err := IsFrozen(sub); err != nil || frozen {
				t.Fatalf("IsFrozen after Thaw: %v, %v", frozen, err)
			}
			killAndCheck(t, paths, w, func() error { return KillAll(paths, 5*time.Second) })
		})
	}
}

func TestStats(t *testing.T) {
	paths := newTestCgroup(t)
	w := start(t, paths, "(while :; do :; done) &\necho ready\nexec sleep 1000")
	var cpu time.Duration
	for deadline := time.Now().Add(5 * time.Second); cpu < 10*time.Millisecond && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		var err error
		if cpu, err = CPUTime(paths); err != nil {
			t.Fatal(err)
		}
	}
	if cpu < 10*time.Millisecond {
		t.Errorf("CPUTime %v for a busy loop", cpu)
	}
	mem, err := MemoryUsage(paths)
	if err != nil || mem == 0 {
		t.Errorf("MemoryUsage: %d, %v", mem, err)
	}
	if paths[""] != "" {
		// cpu.stat of the cgroup2 directory counts the same time.
		v2, err := CPUTime(map[string]string{"": paths[""]})
		if err != nil || v2 == 0 {
			t.Errorf("CPUTime from cpu.stat: %v, %v", v2, err)
		}
	}
	t.Logf("cpu %v, memory %d bytes", cpu, mem)
	pids, err := Pids(paths)
	if err != nil || !slices.Equal(pids, w.pids) {
		t.Errorf("Pids: %v, %v; want %v", pids, err, w.pids)
	}
	killAndCheck(t, paths, w, func() error { return KillAll(paths, 5*time.Second) })
}

func TestGone(t *testing.T) {
	requireRoot(t)
	paths, err := Paths("/lxctl-test-never-created.lxctl-test")
	if err != nil {
		t.Fatal(err)
	}
	if err := KillAll(paths, time.Second); err != nil {
		t.Errorf("KillAll: %v", err)
	}
	if err := Remove(paths, time.Second); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if pids, err := Pids(paths); err != nil || len(pids) != 0 {
		t.Errorf("Pids: %v, %v", pids, err)
	}
	if frozen, err := IsFrozen(paths); err != nil || frozen {
		t.Errorf("IsFrozen: %v, %v", frozen, err)
	}
}

// BenchmarkKillAll500 measures KillAll followed by Remove for a cgroup of 501
// processes (the teardown scenario of issue 6); ns/op is that time. Beside
// it, in the same rounds and in rotating order so that the machine's drift
// hits all alike, it times two references: the freeze/kill/thaw loop that
// kernels without cgroup.kill get ("loop"), and the least any tool must
// spend on this machine ("floor": SIGKILL to each known process and a wait
// for each to exit, no cgroup work at all). Run it with -benchtime=20x; it
// reports the median, min and max of each.
func BenchmarkKillAll500(b *testing.B) {
	variants := []struct {
		name string
		kill func(paths map[string]string, w *workload) error
	}{
		{"killall", func(p map[string]string, _ *workload) error { return KillAll(p, 10*time.Second) }},
		{"loop", func(p map[string]string, _ *workload) error { return killAll(newDirs(p), 10*time.Second, false) }},
		{"floor", func(_ map[string]string, w *workload) error {
			fds, _ := killPids(w.pids)
			defer closeAll(fds)
			return waitExit(fds, time.Now().Add(10*time.Second))
		}},
	}
	times := make([][]time.Duration, len(variants))
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		for j := range variants {
			k := (i + j) % len(variants)
			paths := newTestCgroup(b)
			w := start(b, paths, forkScript(500))
			if k == 0 {
				b.StartTimer()
			}
			t0 := time.Now()
			if err := variants[k].kill(paths, w); err != nil {
				b.Fatal(err)
			}
			if err := Remove(paths, 10*time.Second); err != nil {
				b.Fatal(err)
			}
			times[k] = append(times[k], time.Since(t0))
			if k == 0 {
				b.StopTimer()
			}
			w.reap(b)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for k, v := range variants {
		slices.Sort(times[k])
		b.ReportMetric(ms(times[k][len(times[k])/2]), v.name+"-median-ms")
		b.ReportMetric(ms(times[k][0]), v.name+"-min-ms")
		b.ReportMetric(ms(times[k][len(times[k])-1]), v.name+"-max-ms")
	}
}

// TestFewPids: the processes of a cgroup2 subtree are listed up to the
// limit; past it, only "many" is said.
func TestFewPids(t *testing.T) {
	paths := newTestCgroup(t)
	d := newDirs(paths)
	if len(d.v2) == 0 {
		t.Skip("no cgroup2 hierarchy")
	}
	child := sub(paths, "payload")
	mkdirs(t, child)
	w := start(t, child, forkScript(20))
	for _, tc := range []struct {
		limit int
		many  bool
	}{{len(w.pids), false}, {len(w.pids) - 1, true}, {3, true}} {
		pids, many, err := fewPids(d.v2, tc.limit)
		switch {
		case err != nil:
			t.Errorf("limit %d: %v", tc.limit, err)
		case many != tc.many:
			t.Errorf("limit %d with %d processes: many = %v", tc.limit, len(w.pids), many)
		case !many && !sameSet(pids, w.pids):
			t.Errorf("limit %d: pids %v, want %v", tc.limit, pids, w.pids)
		}
	}
	killAndCheck(t, paths, w, func() error { return KillAll(paths, 5*time.Second) })
}

func sameSet(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
