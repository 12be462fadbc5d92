package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are set at build time with -ldflags -X.
var (
	version = "0.1.0-dev"
	commit  = ""
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print lxctl's version and what it was built with",
		Args:  exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			out := g.io.Out
			fmt.Fprintf(out, "lxctl version %s\n", version)
			if commit != "" {
				fmt.Fprintf(out, "commit: %s\n", commit)
			}
			fmt.Fprintf(out, "go: %s\n", runtime.Version())
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, dep := range bi.Deps {
					if dep.Path == "github.com/opencontainers/runc" {
						fmt.Fprintf(out, "libcontainer: %s\n", dep.Version)
					}
				}
			}
			return nil
		},
	}
}
