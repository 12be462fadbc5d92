package state

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAliveSelf(t *testing.T) {
	pid := os.Getpid()
	start, err := ProcStartTime(pid)
	if err != nil || start == 0 {
		t.Fatalf("ProcStartTime(self) = %d, %v", start, err)
	}
	st, err := ProcState(pid)
	if err != nil || (st != 'R' && st != 'S') {
		t.Errorf("ProcState(self) = %q, %v", st, err)
	}
	if !Alive(pid, start) {
		t.Error("Alive(self, start) = false")
	}
	if Alive(pid, start+1) || Alive(pid, start-1) || Alive(pid, 0) {
		t.Error("Alive with a wrong start time = true")
	}
}

func TestAliveZombieAndReaped(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	// Do not Wait yet: once it exits, the child stays a zombie until reaped.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := ProcState(pid)
		if err != nil {
			t.Fatalf("ProcState(child) = %v", err)
		}
		if st == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child never became a zombie (state %q)", st)
		}
		time.Sleep(time.Millisecond)
	}
	start, err := ProcStartTime(pid)
	if err != nil {
		t.Fatalf("ProcStartTime(zombie) = %v", err)
	}
	if Alive(pid, start) {
		t.Error("Alive(zombie) = true")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if Alive(pid, start) {
		t.Error("Alive(reaped) = true")
	}
	if _, err := ProcStartTime(pid); !errors.Is(err, ErrNotFound) {
		t.Errorf("ProcStartTime(reaped) = %v, want ErrNotFound", err)
	}
	if _, err := ProcState(pid); !errors.Is(err, ErrNotFound) {
		t.Errorf("ProcState(reaped) = %v, want ErrNotFound", err)
	}
}

func TestAliveNonexistent(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	max, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for _, pid := range []int{max + 1, 1 << 30, 0, -1} {
		if Alive(pid, 1) || Alive(pid, 0) {
			t.Errorf("Alive(%d) = true", pid)
		}
		if _, err := ProcStartTime(pid); err == nil {
			t.Errorf("ProcStartTime(%d) succeeded", pid)
		}
	}
	_, err = ProcStartTime(max + 1)
	if !errors.Is(err, ErrNotFound) || err.Error() != "process "+strconv.Itoa(max+1)+" does not exist" {
		t.Errorf("ProcStartTime(nonexistent) = %v", err)
	}
}

// A process whose comm holds spaces and ')' must not confuse the parser.
func TestProcStartTimeOddComm(t *testing.T) {
	dir := t.TempDir()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal("no sleep binary")
	}
	exe := filepath.Join(dir, "a b) c")
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(exe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(out, in)
	in.Close()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	waitExec(t, pid, "a b) c")

	start, err := ProcStartTime(pid)
	if err != nil {
		t.Fatalf("ProcStartTime(odd comm) = %v", err)
	}
	self, _ := ProcStartTime(os.Getpid())
	if start < self {
		t.Errorf("child start %d before our own %d", start, self)
	}
	if st, err := ProcState(pid); err != nil || (st != 'S' && st != 'R') {
		t.Errorf("ProcState(odd comm) = %q, %v", st, err)
	}
	if !Alive(pid, start) {
		t.Error("Alive(odd comm) = false")
	}
	raw, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if !strings.Contains(string(raw), "(a b) c)") {
		t.Errorf("stat does not show the odd comm: %s", raw)
	}
}

func statLine(comm, state string, start string) string {
	// pid (comm) state, then fields 4..21, then starttime (22), then more.
	f := []string{state}
	for i := 4; i <= 21; i++ {
		f = append(f, strconv.Itoa(i))
	}
	f = append(f, start, "23", "24")
	return "42 (" + comm + ") " + strings.Join(f, " ") + "\n"
}

func TestParseProcStat(t *testing.T) {
	good := []struct {
		line  string
		comm  string
		state byte
		start uint64
	}{
		{statLine("sleep", "S", "12345"), "sleep", 'S', 12345},
		{statLine("a b) c", "R", "7"), "a b) c", 'R', 7},
		{statLine(") S 1 2 3 (", "Z", "99"), ") S 1 2 3 (", 'Z', 99},
		{statLine("", "X", "18446744073709551615"), "", 'X', 1<<64 - 1},
		{statLine("runc:[2:INIT]", "S", "5"), "runc:[2:INIT]", 'S', 5},
	}
	for _, g := range good {
		st, err := parseProcStat([]byte(g.line))
		if err != nil || st.comm != g.comm || st.state != g.state || st.start != g.start {
			t.Errorf("parse %q = %+v, %v; want %q %c %d", g.line, st, err, g.comm, g.state, g.start)
		}
	}
	bad := []string{
		"",
		"42 sleep S 1",
		"42 (sleep) S 1 2 3",
		statLine("x", "SS", "1"),
		statLine("x", "S", "-1"),
		statLine("x", "S", "abc"),
		statLine("x", "S", "99999999999999999999999"),
	}
	for _, b := range bad {
		if _, err := parseProcStat([]byte(b)); err == nil {
			t.Errorf("parse %q succeeded", b)
		}
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte(statLine("a b) c", "S", "1")))
	f.Add([]byte("1 (x) S"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseProcStat(data) // must not panic
	})
}

// TestExitingIsDead: a process with PF_EXITING set (killed, still tearing
// down) counts as dead, as zombies do.
func TestExitingIsDead(t *testing.T) {
	for _, c := range []struct {
		line string
		dead bool
	}{
		{"42 (lxctl) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 5 0 12345 0 0", false},
		{"42 (lxctl) D 1 42 42 0 -1 4194564 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0", true},
		{"42 (lxctl) Z 1 42 42 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0", true},
	} {
		st, err := parseProcStat([]byte(c.line))
		if err != nil {
			t.Fatal(err)
		}
		if st.dead() != c.dead || st.start != 12345 {
			t.Errorf("%q: dead %v, start %d; want dead %v", c.line, st.dead(), st.start, c.dead)
		}
	}
}
