package cmd_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The model-based test of the domain life cycle: random, seeded sequences
// of commands on a few domains, some with their CLI killed (SIGKILL at a
// random moment while it runs), with controllers killed (kill -9 of the
// pid found on the host) in between. After every step lxctl's answers
// (list --all, domstate) must agree with the host (see env.agree):
// running ⇔ a live controller and a live task in the domain's cgroups,
// paused ⇔ that and the freezer says FROZEN, shut off ⇔ no controller and
// no cgroup. A step whose CLI was not killed must also do what the model
// predicts (exit status and resulting state).
//
// make test runs modelCycles cycles of modelSteps steps; make soak
// (LXCTL_SOAK=1) runs soakCycles. LXCTL_MODEL_SEED replays a run: each
// cycle's seed is derived from it and printed with any failure.

const (
	modelCycles = 10
	modelSteps  = 12
	soakCycles  = 300
	modelNames  = 2
)

// modelStats is what a model run measured.
type modelStats struct {
	cycles, ops, cliKills, ctlKills int
	failures, disagreements, leaks  int
	elapsed                         time.Duration
}

func (s modelStats) String() string {
	return fmt.Sprintf("cycles %d, operations %d (CLI kills %d, controller kills %d), failures %d, disagreements %d, leaks %d, %.1f ops/s",
		s.cycles, s.ops, s.cliKills, s.ctlKills, s.failures, s.disagreements, s.leaks, float64(s.ops)/s.elapsed.Seconds())
}

func TestModel(t *testing.T) {
	cycles := modelCycles
	soak := os.Getenv("LXCTL_SOAK") != ""
	if soak {
		cycles = soakCycles
	}
	if s := os.Getenv("LXCTL_MODEL_CYCLES"); s != "" {
		cycles, _ = strconv.Atoi(s)
	}
	rng := seededRand(t, "LXCTL_MODEL_SEED")
	var st modelStats
	begin := time.Now()
	for c := 0; c < cycles; c++ {
		seed := rng.Int63()
		m := &lifeModel{t: t, e: newModelEnv(t), rng: rand.New(rand.NewSource(seed)), seed: seed, soak: soak, stats: &st}
		m.cycle()
		st.cycles++
		if !soak && (st.failures > 0 || st.disagreements > 0 || st.leaks > 0) {
			break
		}
	}
	st.elapsed = time.Since(begin)
	t.Logf("model: %s", st)
	if soak {
		fmt.Printf("SOAK model: %s\n", st)
	}
	if st.failures > 0 || st.disagreements > 0 || st.leaks > 0 {
		t.Errorf("model: %s", st)
	}
}

// newModelEnv is an env whose end-of-test cleanup is done by the cycle
// itself (model.finish), so leaks are counted rather than reported late.
func newModelEnv(t *testing.T) *env {
	root, err := os.MkdirTemp("", "lxm")
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, root: root}
}

// lifeModel is one cycle: the domains, what the model believes of each
// ("absent", "shut off", "running", "paused") and whether it is defined.
type lifeModel struct {
	t     *testing.T
	e     *env
	rng   *rand.Rand
	seed  int64
	soak  bool
	stats *modelStats
	names []string
	state map[string]string
	def   map[string]bool
	log   []string
	// killed: the step before this one killed something. What a killed
	// command had already asked for may still be under way (a shutdown's
	// SIGTERM reached init, the controller tears down), so the next step
	// is allowed to settle too.
	killed bool
}

// modelOps, start and define twice: a domain spends more steps running.
var modelOps = []string{"define", "define", "undefine", "start", "start", "destroy", "shutdown", "suspend", "resume", "reboot"}

func (m *lifeModel) cycle() {
	m.state, m.def = map[string]string{}, map[string]bool{}
	for i := 0; i < modelNames; i++ {
		n := m.e.name("m")
		m.names = append(m.names, n)
		m.state[n] = "absent"
	}
	defer m.finish()
	for i := 0; i < modelSteps; i++ {
		name := m.names[m.rng.Intn(len(m.names))]
		switch r := m.rng.Intn(100); {
		case r < 12 && m.state[name] != "shut off" && m.state[name] != "absent":
			m.killController(name)
		default:
			op := modelOps[m.rng.Intn(len(modelOps))]
			kill := killNone
			switch k := m.rng.Intn(100); {
			case k < 20:
				kill = killCLI
			case k < 30:
				kill = killController
			}
			if !m.step(op, name, kill) {
				return
			}
		}
		if !m.check(name) {
			return
		}
	}
}

// fail records an unexpected result; in make test it ends the test.
func (m *lifeModel) fail(kind *int, format string, args ...any) bool {
	*kind++
	msg := fmt.Sprintf(format, args...)
	m.t.Errorf("model cycle seed %d (replay: LXCTL_MODEL_SEED is the run's seed; steps so far:\n  %s\n): %s",
		m.seed, strings.Join(m.log, "\n  "), msg)
	return false
}

func (m *lifeModel) xml(name string) string {
	return m.e.guestDomain(name, "", "", "sleep")
}

// What a step kills while its command runs.
const (
	killNone       = iota
	killCLI        // the command itself
	killController // the domain's controller(s) found on the host
)

// step runs one command, killing its CLI or the domain's controller at a
// random moment while it runs if kill says so, and checks it against the
// model when nothing was killed.
func (m *lifeModel) step(op, name string, kill int) bool {
	m.stats.ops++
	args := []string{op, name}
	switch op {
	case "define":
		f := filepath.Join(m.e.root, name+".in.xml")
		if err := os.WriteFile(f, []byte(m.xml(name)), 0o600); err != nil {
			m.t.Fatal(err)
		}
		args = []string{"define", f}
	case "shutdown":
		args = []string{"shutdown", name, "--timeout", "20s"}
	case "reboot":
		// The restart in place, done when the command returns (the
		// default asks init and returns at once).
		args = []string{"reboot", "--mode", "hard", name}
	}
	c := exec.Command(lxctlBin, append([]string{"--root", m.e.root}, args...)...)
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		m.t.Fatal(err)
	}
	delay := time.Duration(0)
	if kill != killNone {
		delay = time.Duration(m.rng.Intn(25000)) * time.Microsecond
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var err error
	killed, ctlKilled := false, []int(nil)
	switch kill {
	case killNone:
		err = <-done
	case killCLI:
		select {
		case err = <-done:
		case <-time.After(delay):
			_ = c.Process.Signal(unix.SIGKILL)
			err = <-done
			killed = true
		}
	case killController:
		select {
		case err = <-done:
		case <-time.After(delay):
			ctlKilled = controllersOf(m.e.root, name)
			for _, p := range ctlKilled {
				sigkill(p)
			}
			err = <-done
		}
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if !ee.Exited() {
			code = -1
		}
	} else if err != nil {
		m.t.Fatal(err)
	}
	if killed && code == -1 {
		m.stats.cliKills++
		m.log = append(m.log, fmt.Sprintf("%s %s: CLI killed after %v", op, name, delay))
		return true // no prediction: the check below is all there is
	}
	if len(ctlKilled) > 0 {
		m.stats.ctlKills++
		m.log = append(m.log, fmt.Sprintf("%s %s: controller %v killed after %v: exit %d %q", op, name, ctlKilled, delay, code, strings.TrimSpace(out.String())))
		if code != 0 && (code != 1 || !strings.HasPrefix(out.String(), "error: ")) {
			return m.fail(&m.stats.failures, "%s %s with its controller killed: exit %d: %q", op, name, code, out.String())
		}
		return true // no prediction: the check below is all there is
	}
	m.log = append(m.log, fmt.Sprintf("%s %s: exit %d %q", op, name, code, strings.TrimSpace(out.String())))
	if m.killed {
		// The state before this step may have been changing (see
		// lifeModel.killed): no prediction, only a sane answer.
		if code != 0 && (code != 1 || !strings.HasPrefix(out.String(), "error: ")) {
			return m.fail(&m.stats.failures, "%s %s: exit %d: %q", op, name, code, out.String())
		}
		return true
	}
	// What the model predicts from the state before the step.
	prev, defined := m.state[name], m.def[name]
	active := prev == "running" || prev == "paused"
	wantOK, next := false, prev
	switch op {
	case "define":
		wantOK = true
		m.def[name] = true
		if prev == "absent" {
			next = "shut off"
		}
	case "undefine":
		wantOK = defined
		if wantOK {
			m.def[name] = false
			if !active {
				next = "absent"
			}
		}
	case "start":
		wantOK = prev == "shut off"
		if wantOK {
			next = "running"
		}
	case "destroy":
		wantOK = active
		if wantOK {
			next = "shut off"
			if !defined {
				next = "absent"
			}
		}
	case "shutdown":
		wantOK = prev == "running"
		if wantOK {
			next = "shut off"
			if !defined {
				next = "absent"
			}
		}
	case "suspend":
		wantOK = active
		if wantOK {
			next = "paused"
		}
	case "resume":
		wantOK = prev == "paused"
		if wantOK {
			next = "running"
		}
	case "reboot":
		wantOK = active
		if wantOK {
			next = "running"
		}
	}
	if (code == 0) != wantOK {
		return m.fail(&m.stats.failures, "%s %s in state %q (defined %v): exit %d, want success %v: %s", op, name, prev, defined, code, wantOK, out.String())
	}
	if code != 0 && (code != 1 || !strings.HasPrefix(out.String(), "error: ")) {
		return m.fail(&m.stats.failures, "%s %s: exit %d: %q", op, name, code, out.String())
	}
	m.state[name] = next
	return true
}

// killController kill -9s the domain's controller as found on the host.
func (m *lifeModel) killController(name string) {
	ctls := controllersOf(m.e.root, name)
	if len(ctls) == 0 {
		m.log = append(m.log, fmt.Sprintf("kill -9 controller of %s: none runs", name))
		return
	}
	m.stats.ctlKills++
	for _, p := range ctls {
		sigkill(p)
	}
	m.log = append(m.log, fmt.Sprintf("kill -9 controller %v of %s", ctls, name))
	if m.state[name] == "running" || m.state[name] == "paused" {
		m.state[name] = "shut off"
		if !m.def[name] {
			m.state[name] = "absent"
		}
	}
	for _, p := range ctls {
		waitGone(p)
	}
}

// check compares lxctl with the host for name, then the model with both;
// after a killed CLI the model takes what the host says.
func (m *lifeModel) check(name string) bool {
	defPath, _ := m.e.layout().DefinitionPath(name)
	_, err := os.Stat(defPath)
	defined := err == nil
	last := m.log[len(m.log)-1]
	// A command that ran to its end has done what it says when it
	// returns (start: init runs; destroy, shutdown: the controller is
	// gone): lxctl and the host must agree at once. After a kill the host
	// may still be on its way (settle).
	killedNow := strings.Contains(last, "kill")
	defer func() { m.killed = killedNow }()
	if !killedNow && !m.killed {
		if d := m.e.agree(name, defined); d != "" {
			return m.fail(&m.stats.disagreements, "right after %q: %s", last, d)
		}
	}
	if d := m.e.settle(name, defined); d != "" {
		return m.fail(&m.stats.disagreements, "after %q: %s", last, d)
	}
	v, err := m.e.lxctlView(name)
	if err != nil {
		return m.fail(&m.stats.failures, "%v", err)
	}
	got := v.list
	if got == "" {
		got = "absent"
	}
	if !killedNow && !m.killed {
		if got != m.state[name] || defined != m.def[name] {
			return m.fail(&m.stats.failures, "after %q: lxctl and the host say %q (defined %v), the model %q (defined %v)", last, got, defined, m.state[name], m.def[name])
		}
	}
	m.state[name], m.def[name] = got, defined
	return true
}

// finish ends a cycle: destroys and undefines its domains and counts what
// is left on the host (processes, cgroups, runtime dirs, mounts).
func (m *lifeModel) finish() {
	e := m.e
	for _, n := range m.names {
		for _, p := range controllersOf(e.root, n) {
			e.run("", "destroy", n)
			waitGone(p)
		}
		e.run("", "destroy", n)
		e.run("", "undefine", n)
	}
	// A standby controller whose start was killed exits once it sees the
	// CLI's end of its channel close, when it gets the CPU: wait for that
	// (bounded); one still there after is a leak.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		reapAll()
		waiting := 0
		for _, n := range m.names {
			waiting += len(standbysOf(e.root, n))
		}
		if waiting == 0 {
			break
		}
	}
	reapAll()
	var leaks []string
	for _, n := range m.names {
		if c := controllersOf(e.root, n); len(c) > 0 {
			leaks = append(leaks, fmt.Sprintf("controllers %v of %s", c, n))
		}
		if c := standbysOf(e.root, n); len(c) > 0 {
			leaks = append(leaks, fmt.Sprintf("standby controllers %v of %s", c, n))
		}
		if d := cgroupDirs(n); len(d) > 0 {
			leaks = append(leaks, fmt.Sprintf("cgroups %v", d))
		}
		if d, _ := e.layout().RunDir(n); dirExists(d) {
			leaks = append(leaks, "runtime dir "+d)
		}
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), e.root) {
		leaks = append(leaks, "mounts under "+e.root)
	}
	if tf, _ := filepath.Glob(filepath.Join(e.layout().Domains, ".*.tmp-*")); len(tf) > 0 {
		e.run("", "list", "--all")
		if tf, _ := filepath.Glob(filepath.Join(e.layout().Domains, ".*.tmp-*")); len(tf) > 0 {
			leaks = append(leaks, fmt.Sprintf("temp files %v", tf))
		}
	}
	if len(leaks) > 0 {
		m.fail(&m.stats.leaks, "left on the host: %s", strings.Join(leaks, "; "))
	}
	os.RemoveAll(e.root)
}

// TestConcurrentClients: clients run start, destroy, list, domstate,
// suspend and resume at random on a shared set of domains at once, while a
// checker takes each domain's lock in turn (no command can change it then)
// and checks that lxctl's answers agree with the host. Every command must
// succeed or fail for a reason the domain's state explains. make test runs
// a few clients briefly; make soak (LXCTL_SOAK=1) 20 clients for 60 s.
func TestConcurrentClients(t *testing.T) {
	clients, dur := 4, 5*time.Second
	soak := os.Getenv("LXCTL_SOAK") != ""
	if soak {
		clients, dur = 20, 60*time.Second
	}
	e := newEnv(t)
	rng := seededRand(t, "LXCTL_CLIENTS_SEED")
	var names []string
	for i := 0; i < 4; i++ {
		n := e.name("cc")
		e.define(e.guestDomain(n, "", "", "sleep"))
		names = append(names, n)
	}
	ops := []string{"start", "start", "destroy", "list", "domstate", "suspend", "resume"}
	// What a command may answer besides success, given the race with the
	// others: the state it found.
	expected := []string{"is already running", "is not running", "not paused", "is paused"}
	type tally struct{ ops, failures int }
	results := make(chan tally, clients)
	stop := time.Now().Add(dur)
	begin := time.Now()
	for c := 0; c < clients; c++ {
		seed := rng.Int63()
		go func() {
			r := rand.New(rand.NewSource(seed))
			var tl tally
			defer func() { results <- tl }()
			for time.Now().Before(stop) {
				op, n := ops[r.Intn(len(ops))], names[r.Intn(len(names))]
				args := []string{op, n}
				if op == "list" {
					args = []string{"list", "--all"}
				}
				tl.ops++
				// Bounded, so a hung command is reported, not waited for:
				// lxctl's own waits (lock, controller) end within 90s.
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				c := exec.CommandContext(ctx, lxctlBin, append([]string{"--root", e.root}, args...)...)
				var stderr strings.Builder
				c.Stderr = &stderr
				err := c.Run()
				cancel()
				if err == nil {
					continue
				}
				ok := false
				if ee, isExit := err.(*exec.ExitError); isExit && ee.ExitCode() == 1 {
					for _, x := range expected {
						ok = ok || strings.Contains(stderr.String(), x)
					}
				}
				if !ok {
					tl.failures++
					t.Errorf("lxctl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
				}
			}
		}()
	}
	checks, disagreements := 0, 0
	for time.Now().Before(stop) {
		for _, n := range names {
			lk, err := e.layout().LockDomain(n, 60*time.Second)
			if err != nil {
				t.Fatalf("checker: %v", err)
			}
			// No reapAll here: it would reap the clients' commands under
			// their exec.Cmd (zombies of controllers are not alive()).
			d := e.agree(n, true)
			lk.Unlock()
			checks++
			if d != "" {
				disagreements++
				t.Errorf("with %s locked: %s", n, d)
			}
		}
	}
	var total tally
	for c := 0; c < clients; c++ {
		tl := <-results
		total.ops += tl.ops
		total.failures += tl.failures
	}
	elapsed := time.Since(begin)
	for _, n := range names {
		if d := e.settle(n, true); d != "" {
			disagreements++
			t.Errorf("at the end: %s", d)
		}
	}
	for _, n := range names {
		e.run("", "destroy", n)
	}
	reapAll()
	leaks := 0
	for _, n := range names {
		if c := controllersOf(e.root, n); len(c) > 0 {
			leaks++
		}
		if d := cgroupDirs(n); len(d) > 0 {
			leaks++
		}
	}
	summary := fmt.Sprintf("clients %d for %v: operations %d, failures %d, checks %d, disagreements %d, leaks %d, %.1f ops/s",
		clients, dur, total.ops, total.failures, checks, disagreements, leaks, float64(total.ops)/elapsed.Seconds())
	t.Log(summary)
	if soak {
		fmt.Printf("SOAK clients: %s\n", summary)
	}
	if leaks > 0 {
		t.Errorf("leaks: %s", summary)
	}
}
