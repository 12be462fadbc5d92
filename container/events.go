package container

import (
	"github.com/sirupsen/logrus"

	"github.com/lxctl/lxctl/state"
)

// emit records a lifecycle or reboot event of a domain (see state's event
// log). The change has happened whether or not it can be recorded, so a
// failure is only logged.
func emit(l state.Layout, e state.Event) {
	if err := l.AppendEvent(e); err != nil {
		logrus.Warnf("event log: %v", err)
	}
}

// stoppedDetail is libvirt's detail of a Stopped event for a stop reason.
func stoppedDetail(reason string) string {
	switch reason {
	case "destroyed":
		return "Destroyed"
	case "crashed":
		return "Crashed"
	case "failed":
		return "Failed"
	}
	return "Shutdown"
}
