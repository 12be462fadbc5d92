package cmd

import (
	"os"
	"os/signal"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
	// Registers the device-cgroup manager libcontainer needs to apply the
	// device allow-list (v1 devices.allow, v2 eBPF).
	_ "github.com/opencontainers/cgroups/devices"
	// nsenter's C constructor runs before the Go runtime starts and does the
	// namespace setup for "lxctl init"; in every other invocation it returns
	// at once because the init pipe variable is not set.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// libcontainer re-executes /proc/self/exe as "init" inside the new
// namespaces. That must be caught before cobra parses anything, and before
// any goroutine could move the main thread, hence an init function.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		// Only the last of nsexec's stages runs Go code, and pdeathsig is
		// not inherited across its clones, so libcontainer's own
		// ParentDeathSignal never reaches the container's init. Set it
		// here: this process's parent is the controller (CLONE_PARENT),
		// libcontainer keeps the value across its user switch and exec
		// keeps it, so init dies when the controller dies.
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
		// The controller ignores SIGHUP and SIGPIPE, and an ignored signal
		// stays ignored across exec. The container's init and what lxctl
		// enter runs must start with the defaults, as under libvirt: a
		// shell dies when its terminal hangs up, an init that wants the
		// SIGHUP of a reboot request sees it, `yes | head` ends. A handled
		// signal is reset to its default by exec.
		signal.Notify(make(chan os.Signal, 1), unix.SIGHUP, unix.SIGPIPE)
		libcontainer.Init() // never returns
	}
}
