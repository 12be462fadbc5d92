package cmd

import (
	"github.com/spf13/cobra"
)

// lifecycleCommands are the commands that start, stop and steer running
// domains, plus the hidden controller entry point.
func lifecycleCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newStartCmd(g),
		newConsoleCmd(g),
		newCreateCmd(g),
		newDestroyCmd(g),
		newShutdownCmd(g),
		newRebootCmd(g),
		newSuspendCmd(g),
		newResumeCmd(g),
		newControllerCmd(g),
	}
}
