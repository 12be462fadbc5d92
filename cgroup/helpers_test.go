package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	// The double-forked test processes are orphans. Without a subreaper
	// they would go to PID 1, which never reaps on these machines and
	// would keep them as zombies forever; this process reaps them instead.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "PR_SET_CHILD_SUBREAPER:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

var testSeq atomic.Int32

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatal("needs root to create cgroups: run the tests as root (make test)")
	}
}

// newTestCgroup creates a cgroup of its own in every hierarchy and returns
// its paths map. At cleanup, any directory left fails the test (and is swept
// so that later tests start clean).
func newTestCgroup(tb testing.TB) map[string]string {
	tb.Helper()
	requireRoot(tb)
	rel := fmt.Sprintf("/lxctl-test-%d-%d.lxctl-test", os.Getpid(), testSeq.Add(1))
	paths, err := Paths(rel)
	if err != nil {
		tb.Fatal(err)
	}
	mkdirs(tb, paths)
	tb.Cleanup(func() {
		var left []string
		for _, dir := range sortedValues(paths) {
			if exists(dir) {
				left = append(left, dir)
			}
		}
		if len(left) > 0 {
			tb.Errorf("cgroup directories leaked: %v", left)
			_ = KillAll(paths, 5*time.Second)
			_ = Remove(paths, 5*time.Second)
		}
	})
	return paths
}

func sortedValues(m map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range m {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// mkdirs creates the directories of paths, as libcontainer would.
func mkdirs(tb testing.TB, paths map[string]string) {
	tb.Helper()
	for _, dir := range paths {
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			tb.Fatal(err)
		}
	}
	// A new v1 cpuset starts with no CPUs and no memory nodes, and takes
	// no process until given some (libcontainer copies its parent's too).
	if dir := paths["cpuset"]; dir != "" && !cgroups.IsCgroup2UnifiedMode() {
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := cgroups.ReadFile(filepath.Dir(dir), f)
			if err == nil {
				err = cgroups.WriteFile(dir, f, strings.TrimSpace(v))
			}
			if err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// sub returns the paths of a child cgroup called name.
func sub(paths map[string]string, name string) map[string]string {
	out := make(map[string]string)
	for k, v := range paths {
		out[k] = filepath.Join(v, name)
	}
	return out
}

// without returns a copy of paths without the given keys.
func without(paths map[string]string, keys ...string) map[string]string {
	out := make(map[string]string)
	for k, v := range paths {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// workload is a /bin/sh started inside a cgroup, with everything it forks.
type workload struct {
	cmd  *exec.Cmd
	pids []int // the cgroup's processes once the script said "ready"
}

// forkScript forks n `sleep 1000`: the first half plain, then with SIGTERM
// ignored (inherited through exec), the last tenth double-forked through
// setsid into sessions of their own whose parent exits at once. The shell
// itself then becomes the last sleep: n+1 processes in all.
func forkScript(n int) string {
	return fmt.Sprintf(`i=0
while [ $i -lt %d ]; do sleep 1000 & i=$((i+1)); done
trap '' TERM
while [ $i -lt %d ]; do sleep 1000 & i=$((i+1)); done
while [ $i -lt %d ]; do setsid sh -c 'sleep 1000 &'; i=$((i+1)); done
echo ready
exec sleep 1000`, n/2, n-n/10, n)
}

// start runs script under /bin/sh inside the cgroup dirs of paths. The shell
// is held on its stdin until its pid is in every directory, so everything it
// forks starts inside. start returns once the script prints "ready".
func start(tb testing.TB, paths map[string]string, script string) *workload {
	tb.Helper()
	cmd := exec.Command("/bin/sh", "-c", "read go\n"+script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	w := &workload{cmd: cmd}
	tb.Cleanup(func() { w.reap(tb) })
	for _, dir := range sortedValues(paths) {
		if err := cgroups.WriteCgroupProc(dir, cmd.Process.Pid); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		tb.Fatal(err)
	}
	stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		tb.Fatalf("workload did not start: %q, %v", line, err)
	}
	w.pids, err = Pids(paths)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// reap waits for the shell and then for every orphan reparented to this
// process, so that no zombie is left behind.
func (w *workload) reap(tb testing.TB) {
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	w.cmd = nil
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil)
		if errors.Is(err, unix.ECHILD) {
			return
		}
		if pid > 0 {
			continue
		}
		// Nothing to reap right now: done once none of this
		// workload's processes is left, not even as a zombie.
		left := false
		for _, p := range w.pids {
			if procState(p) != "" {
				left = true
				break
			}
		}
		if !left {
			return
		}
		time.Sleep(time.Millisecond)
	}
	tb.Errorf("processes of the workload still there 10s after the test")
}

// checkDead fails the test if one of pids is still alive. A zombie is dead:
// it waits only to be reaped.
func checkDead(tb testing.TB, pids []int) {
	tb.Helper()
	var alive []string
	for _, pid := range pids {
		if st := procState(pid); st != "" && st != "Z" {
			alive = append(alive, describeProcess(pid))
		}
	}
	if len(alive) > 0 {
		tb.Errorf("%d processes still alive: %s", len(alive), strings.Join(alive, ", "))
	}
}

// procState is the state letter of a process, "" if it is gone.
func procState(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return f[0]
}

// checkGone fails the test if a directory of paths still exists.
func checkGone(tb testing.TB, paths map[string]string) {
	tb.Helper()
	for _, dir := range sortedValues(paths) {
		if exists(dir) {
			tb.Errorf("%s still exists", dir)
		}
	}
}
