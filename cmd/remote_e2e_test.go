package cmd_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sshServer is an OpenSSH sshd of the test's own: its own config, host key
// and authorized key in a temp dir, listening on a free port of 127.0.0.1,
// stopped (and checked to be gone) when the test ends.
type sshServer struct {
	dir, key string
	port     int
	cmd      *exec.Cmd
}

func startSSHD(t *testing.T) *sshServer {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil {
		t.Fatalf("sshd is missing (make test installs openssh-server through .ci/deps.sh): %v", err)
	}
	dir, err := os.MkdirTemp("", "lxctl-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshServer{dir: dir, key: filepath.Join(dir, "client_key")}
	for _, k := range []string{"host_key", "client_key"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lxctl-test", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(s.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege separation dir. It is
	// made as the package's init script makes it and left in place: an
	// empty dir of the system's, which another run of this test may be
	// using at the same time.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	// Without PAM, sshd refuses an account whose password is locked ('!');
	// with PAM it does not look, so use PAM only then.
	usePAM := "no"
	if sh, _ := os.ReadFile("/etc/shadow"); bytes.Contains(sh, []byte("\nroot:!")) || bytes.HasPrefix(sh, []byte("root:!")) {
		usePAM = "yes"
	}
	var logf *os.File
	for try := 0; ; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host_key
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM %s
StrictModes no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
`, s.port, dir, dir, dir, usePAM)
		if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		logf, err = os.Create(filepath.Join(dir, "sshd.log"))
		if err != nil {
			t.Fatal(err)
		}
		s.cmd = exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if s.ready() {
			break
		}
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		log, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
		if try == 3 {
			os.RemoveAll(dir)
			t.Fatalf("sshd did not come up on 127.0.0.1:%d:\n%s", s.port, log)
		}
	}
	t.Cleanup(func() {
		// The sessions end with their ssh clients: a child of sshd still
		// there (a session lxctl kept open) is a leak.
		deadline := time.Now().Add(5 * time.Second)
		for kids := liveChildrenOf(s.cmd.Process.Pid); len(kids) > 0; kids = liveChildrenOf(s.cmd.Process.Pid) {
			if time.Now().After(deadline) {
				t.Errorf("sshd sessions still running after the test: %v", kids)
				for _, k := range kids {
					_ = syscall.Kill(k, syscall.SIGKILL)
				}
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		_ = s.cmd.Wait()
		logf.Close()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			t.Logf("sshd log:\n%s", log)
		}
		if out, _ := exec.Command("pgrep", "-f", dir).Output(); len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("sshd processes left: %s", out)
		}
		os.RemoveAll(dir)
	})
	return s
}

// ready waits for sshd's banner on its port.
func (s *sshServer) ready() bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s.cmd.ProcessState != nil {
			return false
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "SSH-2.0-") {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// uri is the test's connection URI, the remote lxctl being the test's.
func (s *sshServer) uri(command string) string {
	return fmt.Sprintf("lxc+ssh://root@127.0.0.1:%d/system?keyfile=%s&no_verify=1&command=%s", s.port, s.key, command)
}

func liveChildrenOf(pid int) []int {
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(pid)).Output()
	var kids []int
	for _, f := range strings.Fields(string(out)) {
		if k, err := strconv.Atoi(f); err == nil && alive(k) {
			kids = append(kids, k)
		}
	}
	return kids
}

// runEnv is env.run with extra environment variables.
func (e *env) runEnv(vars []string, stdin string, args ...string) result {
	e.t.Helper()
	c := exec.Command(lxctlBin, append([]string{"--root", e.root}, args...)...)
	c.Env = append(os.Environ(), vars...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	c.Stdin = strings.NewReader(stdin)
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return result{out.String(), errb.String(), ee.ExitCode()}
	} else if err != nil {
		e.t.Fatalf("lxctl %v: %v", args, err)
	}
	return result{out.String(), errb.String(), 0}
}

// A round through lxc+ssh:// against a real sshd on 127.0.0.1: define from
// a local file, start, list, console (piped and on a terminal), destroy,
// undefine, with --root passed through; exit statuses and awkward
// arguments come back as they were.
func TestRemoteSSH(t *testing.T) {
	e := newEnv(t)
	s := startSSHD(t)
	uri := s.uri(lxctlBin)
	remote := func(stdin string, args ...string) result {
		t.Helper()
		return e.run(stdin, append([]string{"-c", uri}, args...)...)
	}
	ok := func(stdin string, args ...string) string {
		t.Helper()
		r := remote(stdin, args...)
		if r.code != 0 {
			t.Fatalf("lxctl -c URI %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}

	name := e.name("remote")
	file := filepath.Join(e.root, "remote dom.xml")
	if err := os.WriteFile(file, []byte(e.shellDomain(name)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := ok("", "define", file); out != "Domain '"+name+"' defined from -\n" {
		t.Errorf("remote define printed %q", out)
	}
	// It went to the --root given here, on the far side.
	if _, err := os.Stat(filepath.Join(e.root, "domains", name+".xml")); err != nil {
		t.Fatalf("remote define did not store under --root: %v", err)
	}
	if out := ok("", "start", name); !strings.Contains(out, "Domain '"+name+"' started") {
		t.Errorf("remote start printed %q", out)
	}
	if out := ok("", "list"); !strings.Contains(out, name) || !strings.Contains(out, "running") {
		t.Errorf("remote list:\n%s", out)
	}
	// The environment names the host as well as -c does; a virsh user's
	// LIBVIRT_DEFAULT_URI for another driver is not lxctl's business.
	if r := e.runEnv([]string{"LXCTL_DEFAULT_URI=" + uri}, "", "domstate", name); r.code != 0 || r.stdout != "running\n\n" {
		t.Errorf("LXCTL_DEFAULT_URI: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := e.runEnv([]string{"LIBVIRT_DEFAULT_URI=" + uri}, "", "domstate", name); r.code != 0 || r.stdout != "running\n\n" {
		t.Errorf("LIBVIRT_DEFAULT_URI: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := e.runEnv([]string{"LIBVIRT_DEFAULT_URI=qemu:///system"}, "", "domstate", name); r.code != 0 || r.stdout != "running\n\n" {
		t.Errorf("LIBVIRT_DEFAULT_URI=qemu:///system should be ignored: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	r := remote("echo piped-$((5*5))\n", "console", name)
	if r.code != 0 || !strings.Contains(r.stdout, "piped-25") {
		t.Errorf("remote piped console: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// On a terminal, ssh -t gives the remote console one: raw mode, ^] detaches.
	a := e.attachTTY("-c", uri, name)
	a.expect("Connected to domain '" + name + "'")
	a.send("echo answer-$((6*7))\r")
	a.expect("answer-42")
	a.send("\x1d")
	if code := a.wait(); code != 0 {
		t.Errorf("remote console detach: exit %d\n%q", code, a.output())
	}

	// A failing remote command: its message and its status come back, and
	// the argument the remote shell saw is exactly the one given here.
	odd := `it's "a" $HOME $(id) ` + "`id`" + ` \ x`
	r = remote("", "domstate", odd)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "error: failed to get domain '"+odd+"'") {
		t.Errorf("remote domstate of %q: exit %d, stdout %q, stderr %q", odd, r.code, r.stdout, r.stderr)
	}
	// enter (handled by name): the argument arrives intact inside the
	// container, stdin goes in, and the command's own status comes back.
	r = remote("from-stdin\n", "enter", name, "--", "sh", "-c", `printf '%s|' "$1"; cat; exit 7`, "sh", odd)
	if r.code != 7 || r.stdout != odd+"|from-stdin\n" {
		t.Errorf("remote enter: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// '-' reads stdin there as here.
	r = remote(strings.Replace(e.shellDomain(name), "<memory unit='MiB'>256", "<memory unit='MiB'>200", 1), "define", "-")
	if r.code != 0 || !strings.Contains(ok("", "dumpxml", "--inactive", name), "204800") {
		t.Errorf("remote define -: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	// A bad local file fails here, naming it, before ssh connects.
	r = remote("", "define", filepath.Join(e.root, "missing.xml"))
	if r.code != 1 || !strings.Contains(r.stderr, "missing.xml") {
		t.Errorf("remote define of a missing file: exit %d %q", r.code, r.stderr)
	}

	if out := ok("", "destroy", name); !strings.Contains(out, "Domain '"+name+"' destroyed") {
		t.Errorf("remote destroy printed %q", out)
	}
	if out := ok("", "undefine", name); out != "Domain '"+name+"' has been undefined\n" {
		t.Errorf("remote undefine printed %q", out)
	}
	if out := e.ok("list", "--all", "--name"); strings.TrimSpace(out) != "" {
		t.Errorf("left after the remote round: %q", out)
	}

	// No lxctl at the far end, no sshd at the port: said, not hidden.
	r = e.run("", "-c", s.uri("/no/such/lxctl"), "list")
	if r.code != 127 || !strings.Contains(r.stderr, "?command=") {
		t.Errorf("missing remote lxctl: exit %d %q", r.code, r.stderr)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r = e.run("", "-c", strings.Replace(uri, fmt.Sprintf(":%d/", s.port), fmt.Sprintf(":%d/", closed), 1), "list")
	if r.code != 255 || !strings.Contains(r.stderr, "failed to connect") {
		t.Errorf("closed port: exit %d %q", r.code, r.stderr)
	}
	// A URI lxctl cannot use is refused before anything runs.
	for _, bad := range []string{"lxc+tls://127.0.0.1/system", "lxc+ssh://127.0.0.1/system?socket=/x", "qemu:///system"} {
		if msg := e.fails("-c", bad, "list"); !strings.Contains(msg, "connection URI") {
			t.Errorf("%s: %s", bad, msg)
		}
	}
	// All of it went through this sshd, with the key the URI names.
	if log, _ := os.ReadFile(filepath.Join(s.dir, "sshd.log")); bytes.Count(log, []byte("Accepted publickey for root from 127.0.0.1")) < 10 {
		t.Errorf("sshd did not see the sessions:\n%s", log)
	}
	if r := e.runEnv([]string{"LXCTL_DEFAULT_URI=lxc+ssh://-oProxyCommand=x/system"}, "", "list"); r.code != 1 || !strings.Contains(r.stderr, "LXCTL_DEFAULT_URI") {
		t.Errorf("a bad LXCTL_DEFAULT_URI: exit %d %q", r.code, r.stderr)
	}
}
