package container

import (
	"errors"
	"runtime"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
)

// A container without <idmap> is privileged, as under libvirt: its root is
// the host's root with most capabilities, CAP_SYS_ADMIN included, because
// systemd inside needs them (mount, pivot_root, namespaces for PrivateTmp and
// friends, cgroups). The default seccomp filter refuses, with EPERM, what such
// a root could otherwise do to the host kernel itself and what no init or
// service in a container needs. Each entry says why; none of them is used by
// systemd in a way it cannot do without (it probes and carries on, as it does
// under Docker's default profile, which refuses all of these too). LXC's
// default refuses the module, kexec and open_by_handle_at calls and keyctl.
//
// Everything else is allowed: mount, umount2, pivot_root, unshare, setns,
// the new mount API, reboot (inside a pid namespace it only signals init).
// seccomp cannot look at paths or at the strings mount(2) gets, so it cannot
// tell a new proc or cgroup mount from any other; README's "Isolation" says
// what that leaves a privileged container.
var seccompBlocked = []struct {
	names []string
	why   string
}{
	{[]string{"init_module", "finit_module", "delete_module"},
		"kernel modules change the host kernel (CAP_SYS_MODULE is dropped too, but a domain may turn it on)"},
	{[]string{"kexec_load", "kexec_file_load"},
		"loading a new kernel replaces the host's"},
	{[]string{"open_by_handle_at"},
		"opens any inode of a mounted filesystem by handle, outside the container's root (the 'shocker' escape)"},
	{[]string{"bpf"},
		"tracing programs read kernel memory; cgroup programs could detach the device filter on cgroup v2"},
	{[]string{"perf_event_open"},
		"system-wide profiling and kprobes observe host processes and the kernel"},
	{[]string{"keyctl", "add_key", "request_key"},
		"kernel keyrings are not namespaced: root could read and change the host's keys"},
	{[]string{"iopl", "ioperm"},
		"raw I/O port access to the host's hardware"},
	{[]string{"swapon", "swapoff"},
		"swap is host-wide"},
	{[]string{"acct"},
		"process accounting writes records of every process to a file"},
	{[]string{"syslog"},
		"reads and clears the host's kernel log"},
	{[]string{"userfaultfd"},
		"a staple of kernel exploits; nothing in an ordinary container needs it"},
}

// SeccompBlocked lists the syscalls the default filter refuses with EPERM.
func SeccompBlocked() []string {
	var names []string
	for _, b := range seccompBlocked {
		names = append(names, b.names...)
	}
	return names
}

// seccompArchs are the ABIs a process on this host can make syscalls in. A
// filter that named only the native one would leave kexec_load open through
// the 32-bit entry (int 0x80): libseccomp compiles the rules for each ABI.
func seccompArchs() []specs.Arch {
	switch runtime.GOARCH {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	}
	return nil // the native ABI only
}

// seccompSpec is the domain's seccomp filter, nil for <lxctl:security
// seccomp='unconfined'/>.
func seccompSpec(d *domainxml.Domain) (*specs.LinuxSeccomp, error) {
	if d.Security.Seccomp == domainxml.SeccompUnconfined {
		return nil, nil
	}
	if !seccompBuilt {
		// libcontainer would fail later with a vaguer message.
		return nil, errors.New("this lxctl was built without seccomp support, so it cannot apply the default seccomp filter: build it with `make` (go build -tags 'seccomp ...'), or give the domain <metadata><lxctl:security xmlns:lxctl='" +
			domainxml.SecurityNamespaceURI + "' seccomp='unconfined'/></metadata>")
	}
	eperm := uint(unix.EPERM)
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: seccompArchs(),
		Syscalls: []specs.LinuxSyscall{{
			Names:    SeccompBlocked(),
			Action:   specs.ActErrno,
			ErrnoRet: &eperm,
		}},
	}, nil
}
