// Command mangen writes lxctl's man pages, one per command (lxctl.1,
// lxctl-start.1, ...), from the same cobra tree the binary runs, so the
// pages never drift from --help. make man runs it.
//
//	go run ./cmd/mangen DIR
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/lxctl/lxctl/cmd"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mangen DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "mangen:", err)
		os.Exit(1)
	}
	// The --root flag's default comes from LXCTL_ROOT: a page must not
	// carry the environment of whoever generated it.
	os.Unsetenv("LXCTL_ROOT")
	root := cmd.NewCommand()
	root.InitDefaultCompletionCmd() // cobra adds it lazily at Execute
	root.DisableAutoGenTag = true   // reproducible pages: no generation date in them
	hdr := &doc.GenManHeader{Title: "LXCTL", Section: "1", Source: "lxctl", Manual: "lxctl manual"}
	// SOURCE_DATE_EPOCH pins the date in the page footer for reproducible builds.
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err == nil {
			t := time.Unix(sec, 0).UTC()
			hdr.Date = &t
		}
	}
	if err := doc.GenManTree(root, hdr, dir); err != nil {
		fmt.Fprintln(os.Stderr, "mangen:", err)
		os.Exit(1)
	}
}
