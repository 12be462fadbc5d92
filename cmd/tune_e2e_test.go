package cmd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cgroupValue reads a file of the v1 cgroup of controller that holds the
// limits of pid (the domain's cgroup, above the payload pid is in),
// found from the host's view of /proc/<pid>/cgroup.
func cgroupValue(t *testing.T, pid int, controller, file string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		// The limits are on the domain's cgroup; init runs in payload
		// below it (container/cgroupns.go).
		if filepath.Base(f[2]) == "payload" {
			f[2] = filepath.Dir(f[2])
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == controller {
				mount := map[string]string{"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct"}[c]
				if mount == "" {
					mount = c
				}
				p := filepath.Join("/sys/fs/cgroup", mount, f[2], file)
				if _, err := os.Stat(p); err != nil {
					p = filepath.Join("/sys/fs/cgroup", c, f[2], file)
				}
				v, err := os.ReadFile(p)
				if err != nil {
					t.Fatalf("cgroup file of pid %d: %v", pid, err)
				}
				return strings.TrimSpace(string(v))
			}
		}
	}
	t.Fatalf("pid %d is in no %s cgroup:\n%s", pid, controller, data)
	return ""
}

// TestTuning changes a running domain's limits and checks the cgroup, the
// live XML, domstats and what the container lives through.
func TestTuning(t *testing.T) {
	e := newEnv(t)
	name, idle := e.name("tune"), e.name("tuneoff")
	goFile := "/tmp/go-" + name
	e.define(e.guestDomain(name, "", "", "print", "ready", "wait", goFile, "alloc", "100", "print", "survived", "sleep"))
	e.define(minimalXML(idle, ""))
	e.ok("start", name)
	e.waitConsole(name, "ready")
	init := e.status(name).InitPID
	mem := func() string { return cgroupValue(t, init, "memory", "memory.limit_in_bytes") }
	if mem() != fmt.Sprint(256<<20) {
		t.Fatalf("memory limit at start: %s", mem())
	}

	// Bad values change nothing.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"setmem", name, "300M"}, "Cannot set memory higher than max memory"},
		{[]string{"setmem", name, "lots"}, `"lots" is not a size`},
		{[]string{"setmem", name, "0"}, "above zero"},
		{[]string{"setmaxmem", name, "512M"}, "Cannot resize the max memory on an active domain"},
		{[]string{"setmem", name, "64M", "--current", "--live"}, "--current cannot be combined"},
		{[]string{"setmem", idle, "64M", "--live"}, "is not running"},
		{[]string{"memtune", name, "--hard-limit", "200M", "--swap-hard-limit", "100M"}, "is below hard_limit"},
		{[]string{"memtune", name, "--soft-limit", "-5"}, "not a size"},
		{[]string{"schedinfo", name, "--set", "cpu_shares=1"}, "out of range"},
		{[]string{"schedinfo", name, "--set", "nice=3"}, "invalid scheduler option"},
		{[]string{"blkiotune", name, "--weight", "5000"}, "out of range"},
	} {
		if r := e.run("", tc.args...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q (want %q)", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if mem() != fmt.Sprint(256<<20) {
		t.Fatalf("a refused change moved the memory limit to %s", mem())
	}

	// memtune: virsh's layout, then a change that reaches the cgroup.
	if out := e.ok("memtune", name); out != fmt.Sprintf("hard_limit     : %d\nsoft_limit     : unlimited\nswap_hard_limit: unlimited\n", 256*1024) {
		t.Errorf("memtune:\n%s", out)
	}
	e.ok("memtune", name, "--hard-limit", "200M", "--soft-limit", "150M", "--swap-hard-limit", "300M")
	if mem() != fmt.Sprint(200<<20) || cgroupValue(t, init, "memory", "memory.soft_limit_in_bytes") != fmt.Sprint(150<<20) ||
		cgroupValue(t, init, "memory", "memory.memsw.limit_in_bytes") != fmt.Sprint(300<<20) {
		t.Errorf("memtune did not reach the cgroup: limit %s", mem())
	}
	if x := e.ok("dumpxml", name); !strings.Contains(x, "<hard_limit unit='KiB'>204800</hard_limit>") || !strings.Contains(x, "<swap_hard_limit unit='KiB'>307200</swap_hard_limit>") {
		t.Errorf("live XML lacks the memtune change:\n%s", x)
	}
	if x := e.ok("dumpxml", "--inactive", name); strings.Contains(x, "204800") {
		t.Error("a live memtune changed the definition")
	}

	// schedinfo and blkiotune.
	if out := e.ok("schedinfo", name); out != "Scheduler      : posix\ncpu_shares     : 1024\nvcpu_period    : 100000\nvcpu_quota     : -1\n\n" {
		t.Errorf("schedinfo:\n%s", out)
	}
	out := e.ok("schedinfo", name, "--set", "cpu_shares=512", "--set", "vcpu_quota=50000")
	if !strings.Contains(out, "cpu_shares     : 512\n") || !strings.Contains(out, "vcpu_quota     : 50000\n") {
		t.Errorf("schedinfo --set:\n%s", out)
	}
	if cgroupValue(t, init, "cpu", "cpu.shares") != "512" || cgroupValue(t, init, "cpu", "cpu.cfs_quota_us") != "50000" {
		t.Error("schedinfo --set did not reach the cgroup")
	}
	if x := e.ok("dumpxml", name); !strings.Contains(x, "<shares>512</shares>") || !strings.Contains(x, "<quota>50000</quota>") {
		t.Errorf("live XML lacks the cputune change:\n%s", x)
	}
	if out := e.ok("blkiotune", name, "--weight", "500"); !strings.HasPrefix(out, "weight         : 500\n") {
		t.Errorf("blkiotune --weight:\n%s", out)
	}

	// --config on a domain that is shut off, --live and --config together.
	e.ok("schedinfo", idle, "--set", "cpu_shares=300")
	if x := e.ok("dumpxml", idle); !strings.Contains(x, "<shares>300</shares>") {
		t.Errorf("schedinfo --config of an inactive domain:\n%s", x)
	}
	e.ok("setmaxmem", name, "512M", "--config")
	e.ok("setmem", name, "400M", "--config")
	if x := e.ok("dumpxml", "--inactive", name); !strings.Contains(x, "<memory unit='KiB'>524288</memory>") || !strings.Contains(x, "<currentMemory unit='KiB'>409600</currentMemory>") {
		t.Errorf("setmaxmem/setmem --config:\n%s", x)
	}

	// setmem lowers the live limit; domstats shows it; an allocation above
	// it is killed by the kernel inside the container.
	e.ok("setmem", name, "64M")
	if mem() != fmt.Sprint(64<<20) {
		t.Fatalf("setmem 64M: memory limit %s", mem())
	}
	if s := e.domstats(name, "--balloon"); num(t, s, "balloon.current") != 65536 || num(t, s, "balloon.maximum") != 256*1024 {
		t.Errorf("domstats after setmem: %v", s)
	}
	if err := os.WriteFile(filepath.Join(e.privateRoot(), goFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// running, then in shutdown while the controller tears down, then shut off.
	e.waitFor("the domain to be killed for memory", func() bool { return strings.HasPrefix(e.ok("domstate", name), "shut off") })
	if strings.Contains(e.consoleLog(name), "survived") {
		t.Errorf("a 100 MiB allocation survived a 64 MiB limit:\n%s", e.consoleLog(name))
	}
	if st := e.ok("domstate", "--reason", name); !strings.HasPrefix(st, "shut off (crashed: memory limit hit)") {
		t.Errorf("domstate after the OOM kill: %q", st)
	}
}

// TestTuningSurvivesReboot: a live change is part of the live config, which
// a reboot starts the fresh init with.
func TestTuningSurvivesReboot(t *testing.T) {
	e := newEnv(t)
	name := e.name("tunerb")
	e.define(e.guestDomain(name, "", "", "print", "booted", "sleep"))
	e.ok("start", name)
	e.waitConsole(name, "booted")
	e.ok("setmem", name, "100M")
	e.ok("schedinfo", name, "--set", "cpu_shares=700")
	old := e.status(name).InitPID
	e.ok("reboot", name)
	e.waitFor("a new init", func() bool { st := e.status(name); return st.InitPID != old && st.InitPID != 0 })
	init := e.status(name).InitPID
	e.waitFor("the new init to boot", func() bool { return strings.Count(e.consoleLog(name), "booted") >= 2 })
	if v := cgroupValue(t, init, "memory", "memory.limit_in_bytes"); v != fmt.Sprint(100<<20) {
		t.Errorf("memory limit after reboot: %s, want %d", v, 100<<20)
	}
	if v := cgroupValue(t, init, "cpu", "cpu.shares"); v != "700" {
		t.Errorf("cpu.shares after reboot: %s", v)
	}
}
