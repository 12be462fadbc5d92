package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
	"github.com/lxctl/lxctl/state"
)

// NetNSDir is where `ip netns add` (and libvirt's sharenet type netns)
// keeps named network namespaces.
const NetNSDir = "/run/netns"

// ShareNetPath resolves <lxc:sharenet> of d (libvirt's lxc-sharenet) to
// the network namespace file the container joins instead of getting one
// of its own: type netns is /run/netns/VALUE, type pid that process's
// namespace, type name that running domain's (of the same root). ""
// without sharenet. The namespace must exist now; the error says how to
// make it.
func ShareNetPath(l state.Layout, d *domainxml.Domain) (string, error) {
	typ, value := d.ShareNet()
	var p string
	switch typ {
	case "":
		return "", nil
	case "netns":
		if value == "" || value == "." || value == ".." || filepath.Base(value) != value {
			return "", fmt.Errorf("<lxc:sharenet type='netns' value='%s'>: not a network namespace name", value)
		}
		p = filepath.Join(NetNSDir, value)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("<lxc:sharenet type='netns' value='%s'>: no network namespace %s (make it with 'ip netns add %s'): %w", value, p, value, errors.Unwrap(err))
		}
	case "pid":
		pid, err := strconv.Atoi(value)
		if err != nil || pid <= 0 {
			return "", fmt.Errorf("<lxc:sharenet type='pid' value='%s'>: not a process id", value)
		}
		p = fmt.Sprintf("/proc/%d/ns/net", pid)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("<lxc:sharenet type='pid' value='%s'>: no such process", value)
		}
	case "name":
		st, err := l.ReadStatus(value)
		if err != nil || st.InitPID <= 0 {
			return "", fmt.Errorf("<lxc:sharenet type='name' value='%s'>: domain '%s' is not running (start it first)", value, value)
		}
		p = fmt.Sprintf("/proc/%d/ns/net", st.InitPID)
		if start, err := state.ProcStartTime(st.InitPID); err != nil || start != st.InitStart {
			return "", fmt.Errorf("<lxc:sharenet type='name' value='%s'>: domain '%s' is not running (start it first)", value, value)
		}
	default:
		return "", fmt.Errorf("<lxc:sharenet type='%s'>: unknown type (use netns, pid or name)", typ)
	}
	// A file under /run/netns that is not a namespace's bind mount (a
	// namespace whose mount was lost) would make libcontainer's setns fail
	// with a bare EINVAL: say what it is instead.
	var fs unix.Statfs_t
	if err := unix.Statfs(p, &fs); err != nil {
		return "", fmt.Errorf("<lxc:sharenet type='%s' value='%s'>: %s: %w", typ, value, p, err)
	}
	if fs.Type != unix.NSFS_MAGIC {
		return "", fmt.Errorf("<lxc:sharenet type='%s' value='%s'>: %s is not a network namespace (remove it and make one with 'ip netns add %s')", typ, value, p, value)
	}
	return p, nil
}
