package container

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/lxctl/lxctl/domainxml"
)

// Event is how init ended, in libvirt's terms.
type Event int

const (
	Poweroff Event = iota // exit 0, or SIGINT: reboot(POWER_OFF/HALT) in a pid namespace
	Reboot                // SIGHUP: reboot(RESTART) in a pid namespace
	Crash                 // any other exit code or signal

	// noRequest: nothing was asked of init (see controller.asked).
	noRequest Event = -1
)

func (e Event) String() string {
	return [...]string{"poweroff", "reboot", "crash"}[e]
}

// Action is what the controller does about an event.
type Action int

const (
	Stop    Action = iota // tear everything down and exit
	Restart               // a fresh init with the same live config
)

// Classify maps init's wait status to the event. The kernel reports a
// reboot(2) from inside a pid namespace as init dying of SIGHUP (restart)
// or SIGINT (power off, halt).
func Classify(ws syscall.WaitStatus) Event {
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return Poweroff
	case ws.Signaled() && ws.Signal() == unix.SIGINT:
		return Poweroff
	case ws.Signaled() && ws.Signal() == unix.SIGHUP:
		return Reboot
	}
	return Crash
}

// ActionFor applies the domain's on_poweroff/on_reboot/on_crash to an
// event, and gives the shut-off reason virsh shows when it stops. libvirt's
// LXC driver ignores these settings (reboot always restarts, anything else
// always stops); lxctl honours them. preserve has nothing to keep for a
// container whose processes are gone, so it stops like destroy.
func ActionFor(ev Event, d *domainxml.Domain) (Action, string) {
	var setting, reason string
	switch ev {
	case Poweroff:
		setting, reason = d.OnPoweroff, "shutdown"
	case Reboot:
		setting, reason = d.OnReboot, "shutdown"
		if setting == "" {
			setting = "restart"
		}
	default:
		setting, reason = d.OnCrash, "crashed"
	}
	switch setting {
	case "restart", "rename-restart", "coredump-restart":
		return Restart, reason
	}
	return Stop, reason
}

// Describe says in words how init ended, for the domain log.
func Describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("killed by signal %s", unix.SignalName(ws.Signal()))
	}
	return fmt.Sprintf("exited with status %d", ws.ExitStatus())
}
