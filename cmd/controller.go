package cmd

import (
	"os"
	"strconv"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/lxctl/lxctl/container"
)

// controllerCmdName is the hidden command lxctl start re-executes; it is
// not meant to be typed.
const controllerCmdName = "__controller"

func newControllerCmd(g *globals) *cobra.Command {
	var opts container.Options
	c := &cobra.Command{
		Use:    controllerCmdName + " NAME",
		Short:  "Run a domain's controller (started by lxctl start; not for direct use)",
		Hidden: true,
		Args:   exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			// The controller's stdout and stderr are the domain log.
			logrus.SetOutput(os.Stderr)
			logrus.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02T15:04:05.000000Z07:00", DisableColors: true})
			if g.debug {
				logrus.SetLevel(logrus.DebugLevel)
			}
			var sync *os.File
			if fd, err := strconv.Atoi(os.Getenv("LXCTL_SYNC_FD")); err == nil && fd > 2 {
				// Inherited fds are not close-on-exec; the container's
				// processes must not hold the start command's pipe open.
				syscall.CloseOnExec(fd)
				sync = os.NewFile(uintptr(fd), "sync")
				os.Unsetenv("LXCTL_SYNC_FD")
			}
			return container.RunController(g.layout(), args[0], opts, sync)
		},
	}
	c.Flags().Int64Var(&opts.PidsLimit, "pids-limit", container.DefaultPidsLimit, "most tasks the container may have")
	return c
}
