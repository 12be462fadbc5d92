// Command lxctl runs Linux containers described by libvirt domain XML, the
// way libvirt's LXC driver does, as one static binary with no daemon.
package main

import (
	"os"

	"github.com/lxctl/lxctl/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
