package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lxctl/lxctl/container/standby"
	"github.com/lxctl/lxctl/domainxml"
)

// Remote hosts, as virsh reaches them: -c lxc+ssh://[user@]host[:port]/system
// runs the same lxctl command on that host through the system's ssh client
// (OpenSSH), which carries stdin, stdout, stderr and the exit status. lxctl
// has no daemon to talk to, so where libvirt's ssh transport runs netcat to
// reach libvirtd's socket, lxctl runs lxctl.

// remoteURI is a parsed lxc+ssh:// connection URI.
type remoteURI struct {
	raw        string
	user, host string
	port       string // "" for ssh's default
	keyfile    string // ?keyfile=: ssh -i
	noVerify   bool   // ?no_verify=1: do not check (nor record) the host key
	command    string // ?command=: the remote lxctl, "lxctl" (on the remote PATH) by default
}

const connectHelp = "use lxc:///system for this host, or lxc+ssh://[user@]host[:port]/system for another"

// connectURI says which URI this command uses and where it came from:
// -c/--connect, then LXCTL_DEFAULT_URI, then LIBVIRT_DEFAULT_URI when it
// names the LXC driver (a virsh user's qemu:///system is not lxctl's), then
// the local lxc:///.
func connectURI(c *cobra.Command, flag string) (uri, from string) {
	if f := c.Flags().Lookup("connect"); f != nil && f.Changed {
		return flag, "-c/--connect"
	}
	if v := os.Getenv("LXCTL_DEFAULT_URI"); v != "" {
		return v, "LXCTL_DEFAULT_URI"
	}
	if v := os.Getenv("LIBVIRT_DEFAULT_URI"); strings.HasPrefix(v, "lxc:") || strings.HasPrefix(v, "lxc+") {
		return v, "LIBVIRT_DEFAULT_URI"
	}
	return "lxc:///", ""
}

// parseConnect checks a connection URI: nil for this host, the remote
// host's parameters for lxc+ssh.
func parseConnect(uri, from string) (*remoteURI, error) {
	switch uri {
	case "lxc:///", "lxc:///system", "lxc:///system/", "lxc://", "lxc:":
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		what := fmt.Sprintf("connection URI '%s'", domainxml.Printable(uri))
		if from != "" && from != "-c/--connect" {
			what += " (from " + from + ")"
		}
		return fmt.Errorf("%s: %s", what, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, bad("not a URI (%v); %s", errors.Unwrap(err), connectHelp)
	}
	driver, transport, _ := strings.Cut(u.Scheme, "+")
	switch {
	case driver != "lxc":
		return nil, bad("lxctl drives only LXC containers; %s", connectHelp)
	case transport == "" && u.Host != "":
		// libvirt reads lxc://host/ as TLS to that host's libvirtd.
		return nil, bad("a host without a transport means libvirt's TLS, which lxctl has not: use lxc+ssh://%s/system", u.Host)
	case transport == "":
		return nil, bad("%s", connectHelp)
	case transport != "ssh":
		return nil, bad("transport '%s' is not supported: lxctl reaches other hosts only through ssh (lxc+ssh://[user@]host[:port]/system)", transport)
	}
	r := &remoteURI{raw: uri, command: "lxctl"}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, bad("no host: write lxc+ssh://[user@]host[:port]/system")
	}
	switch u.Path {
	case "", "/", "/system", "/system/":
	default:
		return nil, bad("path '%s' is not lxctl's: use /system (lxctl has no per-user session)", domainxml.Printable(u.Path))
	}
	if u.Fragment != "" {
		return nil, bad("a URI fragment (#...) means nothing here: remove it")
	}
	// Host and user become arguments of ssh: one that starts with '-'
	// would be read as an option (ssh -oProxyCommand=...).
	r.host = u.Hostname()
	if !validHost.MatchString(r.host) {
		return nil, bad("host '%s' is not a host name or address", domainxml.Printable(r.host))
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return nil, bad("no passwords in a URI: ssh asks for one, or use ?keyfile=PATH")
		}
		r.user = u.User.Username()
		if !validUser.MatchString(r.user) {
			return nil, bad("user '%s' is not a user name", domainxml.Printable(r.user))
		}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, bad("port '%s' is not a TCP port (1-65535)", domainxml.Printable(p))
		}
		r.port = p
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, bad("empty port after ':'")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("bad query: %v", err)
	}
	for k, vs := range q {
		if len(vs) != 1 {
			return nil, bad("parameter '%s' is given %d times: give it once", domainxml.Printable(k), len(vs))
		}
		v := vs[0]
		switch k {
		case "keyfile":
			if v == "" {
				return nil, bad("keyfile is empty: give the path of an ssh private key")
			}
			r.keyfile = v
		case "no_verify":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, bad("no_verify='%s': use 1 (do not check the host key) or 0", domainxml.Printable(v))
			}
			r.noVerify = n != 0
		case "command":
			if v == "" || strings.ContainsAny(v, "\x00\n") {
				return nil, bad("command='%s': give the path of lxctl on the remote host", domainxml.Printable(v))
			}
			r.command = v
		default:
			return nil, bad("parameter '%s' is not supported (lxctl knows keyfile=PATH, no_verify=1, command=PATH)", domainxml.Printable(k))
		}
	}
	return r, nil
}

var (
	// Names, IPv4 and IPv6 literals (url.Hostname strips the brackets).
	validHost = regexp.MustCompile(`^[A-Za-z0-9_:][A-Za-z0-9_.:%-]*$`)
	validUser = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.@-]*$`)
)

// stays local whatever the URI: help and completion describe this lxctl.
func localOnly(c *cobra.Command) bool {
	for ; c != nil; c = c.Parent() {
		switch c.Name() {
		case "help", "completion", "__controller", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return true
		}
	}
	return false
}

// fileCommands read their document from their first argument; a local file
// is sent on ssh's stdin and the remote command reads '-'.
var fileCommands = map[string]string{"define": "domain", "create": "domain", "net-define": "network"}

// terminalCommands want a terminal at the far end when this one is a
// terminal: they put it in raw mode (console, enter) or run an editor.
var terminalCommands = map[string]bool{
	"console": true, "enter": true, "lxc-enter-namespace": true, "edit": true, "net-edit": true,
}

// remoteArgs is the lxctl command line to run remotely: the same command,
// its flags as given (--root too), its arguments, and --connect lxc:/// so
// the remote lxctl never goes on to another host by its own environment.
func remoteArgs(c *cobra.Command, args []string) []string {
	out := []string{"--connect", "lxc:///"}
	var path []string
	for p := c; p.HasParent(); p = p.Parent() {
		path = append([]string{p.Name()}, path...)
	}
	out = append(out, path...)
	c.Flags().Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "connect", "help":
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				out = append(out, "--"+f.Name+"="+v)
			}
			return
		}
		out = append(out, "--"+f.Name+"="+f.Value.String())
	})
	// Everything after "--" stays after it (enter NAME -- CMD ARGS).
	dash := c.ArgsLenAtDash()
	for i, a := range args {
		if i == dash {
			out = append(out, "--")
		}
		out = append(out, a)
	}
	if dash == len(args) {
		out = append(out, "--")
	}
	return out
}

// shellQuote quotes s as one word for a POSIX shell: ssh hands the remote
// command to the user's login shell as one line, so every argument is
// single-quoted, and each ' inside ends the quoting, is written as \' and
// starts it again. Nothing is special inside single quotes ($, `, \, ",
// spaces, newlines).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sshArgs is the ssh command line that runs remote (already quoted) on r.
func (r *remoteURI) sshArgs(tty bool, remote string) []string {
	// -e none: the data (a console, a document on stdin) is never taken
	// for ssh's ~ escapes; the console has its own (^]).
	a := []string{"-e", "none"}
	if r.port != "" {
		a = append(a, "-p", r.port)
	}
	if r.user != "" {
		a = append(a, "-l", r.user)
	}
	if r.keyfile != "" {
		a = append(a, "-i", r.keyfile)
	}
	if r.noVerify {
		// Not checked, so not recorded either: an unverified key in
		// known_hosts would be trusted by the next connection that does
		// check. LogLevel=ERROR drops ssh's "Permanently added" warning.
		a = append(a, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR")
	}
	if tty {
		a = append(a, "-t")
	} else {
		a = append(a, "-T")
	}
	return append(a, "--", r.host, remote)
}

// runRemote runs the command c (already parsed and checked here) on r's
// host and returns its exit status as an *exitStatus (nil for 0).
func runRemote(g *globals, r *remoteURI, c *cobra.Command, args []string) error {
	// A controller booted in advance for a local start is not needed.
	standby.Release()
	args = append([]string(nil), args...)
	var stdin io.Reader = g.io.In
	if kind, ok := fileCommands[c.Name()]; ok && len(args) > 0 && args[0] != "-" {
		// Read here, with define's own checks and messages (missing
		// file, 1 MiB), so a bad file fails before ssh connects.
		data, err := readInput(g, kind, args[0])
		if err != nil {
			return err
		}
		stdin = bytes.NewReader(data)
		args[0] = "-"
	}
	tty := false
	if terminalCommands[c.Name()] || (c.Name() == "start" && flagSet(c, "console")) {
		tty = g.io.IsInTerminal() && isTerminal(g.io.Out)
	}
	words := []string{shellQuote(r.command)}
	for _, a := range remoteArgs(c, args) {
		words = append(words, shellQuote(a))
	}
	ssh := exec.Command("ssh", r.sshArgs(tty, strings.Join(words, " "))...)
	ssh.Stdin, ssh.Stdout, ssh.Stderr = stdin, g.io.Out, g.io.ErrOut
	// ^C at a terminal reaches ssh too (same process group) and ends the
	// session; lxctl waits for ssh to report rather than die first. A
	// TERM or HUP sent to lxctl alone is passed on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := ssh.Start(); err != nil {
		return fmt.Errorf("connect to %s: run ssh: %w (install the OpenSSH client: apt-get install openssh-client)", domainxml.Printable(r.raw), err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGTERM || s == syscall.SIGHUP {
					_ = ssh.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err := ssh.Wait()
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("connect to %s: ssh: %w", domainxml.Printable(r.raw), err)
	}
	code := ee.ExitCode()
	if code < 0 {
		return fmt.Errorf("connect to %s: ssh was killed (%v)", domainxml.Printable(r.raw), ee.ProcessState)
	}
	// lxctl itself exits 0 or 1; enter passes on its command's status,
	// so only for the others do 255 and 127 surely mean ssh or the
	// remote shell.
	if !strings.Contains(c.Name(), "enter") {
		switch code {
		case 255:
			fmt.Fprintf(g.io.ErrOut, "error: failed to connect to the host of %s (ssh exited 255; its message is above)\n", domainxml.Printable(r.raw))
		case 126, 127:
			fmt.Fprintf(g.io.ErrOut, "error: the remote host could not run '%s' (exit %d): install lxctl on its PATH, or give its path with ?command=/path/to/lxctl\n", domainxml.Printable(r.command), code)
		}
	}
	// The remote lxctl has said what went wrong: nothing more to print.
	return &exitStatus{code: code}
}

func flagSet(c *cobra.Command, name string) bool {
	f := c.Flags().Lookup(name)
	return f != nil && f.Changed && f.Value.String() == "true"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (&IOStreams{In: f}).IsInTerminal()
}

// thisHostOnly keeps completion from offering this host's domains for a
// command that will run on another one: with a remote URI it offers none.
func thisHostOnly(g *globals, f cobra.CompletionFunc) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if r, err := parseConnect(connectURI(c, g.connect)); r != nil || err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f(c, args, toComplete)
	}
}
