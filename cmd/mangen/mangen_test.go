package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lxctl/lxctl/cmd"
)

// TestInstall runs `make install` into a DESTDIR, as a packager would, and
// checks that every command has its man page and the shells their
// completion scripts.
func TestInstall(t *testing.T) {
	dest := t.TempDir()
	c := exec.Command("make", "--no-print-directory", "-C", "../..", "install", "DESTDIR="+dest, "PREFIX=/usr")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	usr := filepath.Join(dest, "usr")
	for _, p := range []string{"bin/lxctl", "share/man/man1/lxctl.1", "share/bash-completion/completions/lxctl",
		"share/zsh/vendor-completions/_lxctl", "share/fish/vendor_completions.d/lxctl.fish"} {
		fi, err := os.Stat(filepath.Join(usr, p))
		if err != nil || fi.Size() == 0 {
			t.Errorf("make install did not install %s: %v", p, err)
		}
	}
	root := cmd.NewCommand()
	root.InitDefaultCompletionCmd()
	for _, sub := range root.Commands() {
		if sub.Hidden || sub.Name() == "help" {
			continue
		}
		page := filepath.Join(usr, "share/man/man1", "lxctl-"+sub.Name()+".1")
		data, err := os.ReadFile(page)
		if err != nil {
			t.Errorf("no man page for %s: %v", sub.Name(), err)
			continue
		}
		if !strings.Contains(string(data), sub.Short[:min(20, len(sub.Short))]) {
			t.Errorf("%s does not carry the command's description %q", page, sub.Short)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(usr, "share/man/man1/lxctl.1")); strings.Contains(string(data), "LXCTL_ROOT=") {
		t.Error("lxctl.1 carries the generating environment")
	}
}
