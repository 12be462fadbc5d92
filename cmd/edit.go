package cmd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
)

// edit and net-edit follow virsh: the stored XML goes to a temporary file,
// $VISUAL or $EDITOR (vi by default) edits it, and the result is defined
// with the same checks as define. An unchanged file changes nothing; an
// invalid one shows the error and asks whether to edit again, and an
// answer of no (or end of input) leaves everything as it was.

func newEditCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "edit NAME",
		Short: "Edit a domain's XML definition in $VISUAL or $EDITOR and redefine it",
		Long: `Edit the persistent definition of a domain with $VISUAL, $EDITOR or vi, then
define the result as 'lxctl define' would. Nothing changes when the file is left
as it was. When the result is invalid, lxctl shows why and asks whether to edit
again (y), start over from the stored XML (f) or give up (n).`,
		Args: exactArgs("name"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(runEdit(g, args[0]), "Failed to edit domain '%s'", args[0])
		},
	}
}

func newNetEditCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "net-edit NAME",
		Short: "Edit a network's XML definition in $VISUAL or $EDITOR and redefine it",
		Args:  exactArgs("network"),
		RunE: func(c *cobra.Command, args []string) error {
			return failed(runNetEdit(g, args[0]), "Failed to edit network '%s'", args[0])
		},
	}
}

func runEdit(g *globals, arg string) error {
	d, err := g.lookup(arg)
	if err != nil {
		return err
	}
	x := d.Def
	if x == nil {
		x = d.Config() // a transient domain: editing makes it persistent, as virsh
	}
	orig, err := x.Marshal()
	if err != nil {
		return err
	}
	return editLoop(g, d.Name, orig, func(data []byte) (string, error) {
		nd, err := parseNew(g, data, false)
		if err != nil {
			return "", err
		}
		return nd.Name, g.store(nd)
	}, "Domain '%s' XML configuration")
}

func runNetEdit(g *globals, name string) error {
	l := g.layout()
	if _, err := l.NetworkPath(name); err != nil {
		return err
	}
	orig, err := l.LoadNetwork(name)
	if err != nil {
		return err
	}
	return editLoop(g, name, orig, func(data []byte) (string, error) { return defineNetwork(g, data) },
		"Network %s XML configuration")
}

// editLoop runs the editor on orig until the result defines, is left
// unchanged, or the user gives up. what is the message prefix with the
// object's name as its verb.
func editLoop(g *globals, name string, orig []byte, define func([]byte) (string, error), what string) error {
	f, err := os.CreateTemp("", "lxctl-"+name+"-*.xml")
	if err != nil {
		return fmt.Errorf("temporary file for the editor: %w", err)
	}
	path := f.Name()
	defer os.Remove(path)
	_, err = f.Write(orig)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	answers := bufio.NewReader(g.io.In)
	for {
		if err := runEditor(g, path); err != nil {
			return err
		}
		edited, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read back %s: %w", path, err)
		}
		if bytes.Equal(edited, orig) {
			fmt.Fprintf(g.io.Out, what+" not changed.\n", name)
			return nil
		}
		newName, derr := define(edited)
		if derr == nil {
			fmt.Fprintf(g.io.Out, what+" edited.\n", newName)
			return nil
		}
		printError(g.io, derr)
		switch askReedit(g, answers) {
		case 'y':
		case 'f':
			if err := os.WriteFile(path, orig, 0o600); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
		default:
			return errors.New("edit abandoned: the definition is unchanged")
		}
	}
}

// askReedit is virsh's "Failed. Try again? [y,n,f,?]:". Anything but y or f,
// and the end of input, means no.
func askReedit(g *globals, in *bufio.Reader) byte {
	for {
		fmt.Fprint(g.io.ErrOut, "Failed. Try again? [y,n,f,?]: ")
		line, err := in.ReadString('\n')
		ans := strings.ToLower(strings.TrimSpace(line))
		if ans == "" && err != nil {
			fmt.Fprintln(g.io.ErrOut)
			return 'n'
		}
		switch ans {
		case "y", "yes":
			return 'y'
		case "f":
			return 'f'
		case "n", "no":
			return 'n'
		}
		fmt.Fprint(g.io.ErrOut, "y - yes, start editor again\nn - no, throw away my changes\nf - force, start editor again from the stored XML\n? - print this help\n")
		if err == io.EOF {
			return 'n'
		}
	}
}

// runEditor runs $VISUAL, $EDITOR or vi on path through the shell, as virsh
// does, so an editor setting with arguments ("emacs -nw") works; the path
// is passed as an argument, never spliced into the command.
func runEditor(g *globals, path string) error {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	c := exec.Command("/bin/sh", "-c", editor+` "$1"`, "lxctl-edit", path)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if f, ok := g.io.InFile(); ok {
		c.Stdin = f
	}
	if err := c.Run(); err != nil {
		return fmt.Errorf("editor %q on %s: %w (the definition is unchanged)", editor, path, err)
	}
	return nil
}
