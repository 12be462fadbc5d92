package container

import (
	"syscall"
	"testing"

	"github.com/lxctl/lxctl/domainxml"
)

// wait statuses as the kernel encodes them
func exited(code int) syscall.WaitStatus           { return syscall.WaitStatus(code << 8) }
func killed(sig syscall.Signal) syscall.WaitStatus { return syscall.WaitStatus(sig) }

func TestClassify(t *testing.T) {
	cases := []struct {
		ws   syscall.WaitStatus
		want Event
	}{
		{exited(0), Poweroff},
		{killed(syscall.SIGINT), Poweroff},
		{killed(syscall.SIGHUP), Reboot},
		{exited(3), Crash},
		{killed(syscall.SIGKILL), Crash},
		{killed(syscall.SIGSEGV), Crash},
		{killed(syscall.SIGTERM), Crash},
	}
	for _, c := range cases {
		if got := Classify(c.ws); got != c.want {
			t.Errorf("Classify(%s) = %s, want %s", Describe(c.ws), got, c.want)
		}
	}
}

func TestActionFor(t *testing.T) {
	d := &domainxml.Domain{OnPoweroff: "destroy", OnReboot: "restart", OnCrash: "destroy"}
	check := func(ev Event, wantA Action, wantR string) {
		t.Helper()
		if a, r := ActionFor(ev, d); a != wantA || r != wantR {
			t.Errorf("%s with %s/%s/%s: got %v %q, want %v %q", ev, d.OnPoweroff, d.OnReboot, d.OnCrash, a, r, wantA, wantR)
		}
	}
	check(Poweroff, Stop, "shutdown")
	check(Reboot, Restart, "shutdown")
	check(Crash, Stop, "crashed")
	d.OnReboot, d.OnPoweroff, d.OnCrash = "destroy", "restart", "coredump-restart"
	check(Reboot, Stop, "shutdown")
	check(Poweroff, Restart, "shutdown")
	check(Crash, Restart, "crashed")
	d.OnCrash = "preserve"
	check(Crash, Stop, "crashed")
}

func TestCapabilities(t *testing.T) {
	has := func(caps []string, c string) bool {
		for _, x := range caps {
			if x == c {
				return true
			}
		}
		return false
	}
	def := Capabilities(&domainxml.Domain{})
	for _, dropped := range []string{"CAP_SYS_MODULE", "CAP_SYS_TIME", "CAP_MKNOD", "CAP_AUDIT_CONTROL", "CAP_MAC_ADMIN"} {
		if has(def, dropped) {
			t.Errorf("default policy keeps %s", dropped)
		}
	}
	for _, kept := range []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_BOOT", "CAP_CHOWN"} {
		if !has(def, kept) {
			t.Errorf("default policy drops %s", kept)
		}
	}
	on := Capabilities(&domainxml.Domain{Features: domainxml.Features{Capabilities: &domainxml.Capabilities{Policy: "default", Caps: []domainxml.CapState{{Name: "mknod", On: true}, {Name: "sys_admin", On: false}}}}})
	if !has(on, "CAP_MKNOD") || has(on, "CAP_SYS_ADMIN") {
		t.Errorf("explicit switches not honoured: %v", on)
	}
	deny := Capabilities(&domainxml.Domain{Features: domainxml.Features{Capabilities: &domainxml.Capabilities{Policy: "deny", Caps: []domainxml.CapState{{Name: "chown", On: true}}}}})
	if len(deny) != 1 || deny[0] != "CAP_CHOWN" {
		t.Errorf("deny policy: %v", deny)
	}
	allow := Capabilities(&domainxml.Domain{Features: domainxml.Features{Capabilities: &domainxml.Capabilities{Policy: "allow", Caps: []domainxml.CapState{{Name: "sys_module", On: false}}}}})
	if has(allow, "CAP_SYS_MODULE") || !has(allow, "CAP_MKNOD") || !has(allow, "CAP_SYS_TIME") {
		t.Errorf("allow policy: %v", allow)
	}
}

func TestCgroupPath(t *testing.T) {
	d := &domainxml.Domain{Name: "vm1"}
	const leaf = "vm1.lxctl-0123abcd"
	if p, err := CgroupPath(d, leaf); err != nil || p != "/machine/"+leaf {
		t.Errorf("default: %q %v", p, err)
	}
	d.Resource.Partition = "/prod/web"
	if p, err := CgroupPath(d, leaf); err != nil || p != "/prod/web/"+leaf {
		t.Errorf("partition: %q %v", p, err)
	}
	for _, bad := range []string{"machine", "/a/../b", "/a//b"} {
		d.Resource.Partition = bad
		if _, err := CgroupPath(d, leaf); err == nil {
			t.Errorf("partition %q accepted", bad)
		}
	}
	d.Resource.Partition = ""
	for _, bad := range []string{"", "vm2.lxctl-0123abcd", "../vm1.lxctl", "x/vm1.lxctl"} {
		if _, err := CgroupPath(d, bad); err == nil {
			t.Errorf("leaf %q accepted", bad)
		}
	}
}
