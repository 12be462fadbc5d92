// Command guest is the init the tests run in containers: a tiny static
// program that follows a script of actions given as arguments, so one
// binary can play a well-behaved init, a crashing one, a fork bomb or a
// console that closes and reopens.
//
//	guest print TEXT        write TEXT and a newline to stdout
//	guest fork N            start N children that sleep
//	guest forkterm N        start N children that ignore SIGTERM
//	guest daemon N          start N children that double-fork into new sessions
//	guest sleep [SECONDS]   sleep (forever without SECONDS)
//	guest exit CODE         exit with CODE
//	guest reboot|poweroff|halt   call reboot(2)
//	guest reopen SECONDS    close stdio, wait, reopen /dev/console, print "console reopened"
//	guest ignoreterm        ignore SIGTERM from now on (a Go init dies of it otherwise)
//	guest mkfifo PATH       replace PATH with a FIFO
//	guest cat               copy stdin to stdout until EOF
//	guest info              print hostname, pid, uid, gid, cwd and the environment
//	guest ifaces            print "iface NAME MAC MTU up|down ADDR..." per network interface
//	guest listen PORT       serve TCP on PORT in the background: each client gets "hello from HOSTNAME"
//	guest connect ADDR:PORT connect (retrying up to 10s), print "connected ADDR:PORT: <reply>" or "connect ADDR:PORT failed: ..."
//	guest syscalls|seccomp|cgroups|devattack|procattack|keysattack   see attacks.go
//	guest write|readfile|readdev|statnode ...   storage actions: see storage.go
//
// Stand-ins for real inits (sysinit.go), for lxctl shutdown and reboot:
//
//	guest systemd           act on signals as systemd does as PID 1 (never returns)
//	guest initctl PATH      listen on a sysvinit initctl FIFO at PATH (never returns)
//	guest showfile PATH     print each line of PATH as "PATH: LINE", then "PATH: end"
//
// Actions run in order: "guest print up fork 10 sleep". Without any, it
// sleeps: an idle, well-behaved init.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "child" {
		child(args[1:])
		return
	}
	if os.Getpid() == 1 {
		go reap()
	}
	if len(args) == 0 {
		args = []string{"sleep"} // an idle init, as /init of a doc example
	}
	for len(args) > 0 {
		var err error
		args, err = step(args)
		if err != nil {
			fmt.Fprintf(os.Stderr, "guest: %v\n", err)
			os.Exit(2)
		}
	}
}

// kept holds what alloc allocated, so the memory stays in use.
var kept [][]byte

// reap collects orphans, as an init must, so the tests see no zombies.
func reap() {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD)
	for range sigs {
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

func num(args []string) (int, []string, error) {
	if len(args) < 2 {
		return 0, nil, fmt.Errorf("%s needs a number", args[0])
	}
	n, err := strconv.Atoi(args[1])
	return n, args[2:], err
}

func step(args []string) ([]string, error) {
	switch args[0] {
	case "print":
		if len(args) < 2 {
			return nil, fmt.Errorf("print needs text")
		}
		fmt.Println(args[1])
		return args[2:], nil
	case "fork", "forkterm", "daemon":
		n, rest, err := num(args)
		if err != nil {
			return nil, err
		}
		mode := map[string]string{"fork": "plain", "forkterm": "ignoreterm", "daemon": "daemon"}[args[0]]
		for i := 0; i < n; i++ {
			c := exec.Command("/proc/self/exe", "child", mode)
			if err := c.Start(); err != nil {
				return nil, err
			}
			if mode == "daemon" {
				_ = c.Wait() // the middle process exits at once
			}
		}
		fmt.Printf("forked %d %s\n", n, mode)
		return rest, nil
	case "sleep":
		if len(args) > 1 {
			if s, err := strconv.ParseFloat(args[1], 64); err == nil {
				time.Sleep(time.Duration(s * float64(time.Second)))
				return args[2:], nil
			}
		}
		for {
			time.Sleep(time.Hour)
		}
	case "burn":
		// Spin until this process has used the given seconds of CPU
		// (not of wall time: on a busy host that would be less), so CPU
		// statistics move by at least that much.
		n, rest, err := num(args)
		if err != nil {
			return nil, err
		}
		x := 0
		for used := time.Duration(0); used < time.Duration(n)*time.Second; {
			for i := 0; i < 1e6; i++ {
				x += i
			}
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
				return nil, err
			}
			used = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		fmt.Printf("burned %d\n", n)
		return rest, nil
	case "wait":
		// Wait until a file exists: the test's way of saying "go on" after
		// it has looked at the container.
		if len(args) < 2 {
			return nil, fmt.Errorf("wait needs a path")
		}
		for {
			if _, err := os.Stat(args[1]); err == nil {
				return args[2:], nil
			}
			time.Sleep(20 * time.Millisecond)
		}
	case "unlink":
		// Remove a file, so a "wait" on it blocks again after a reboot.
		if len(args) < 2 {
			return nil, fmt.Errorf("unlink needs a path")
		}
		if err := os.Remove(args[1]); err != nil {
			return nil, err
		}
		return args[2:], nil
	case "alloc":
		// Allocate and touch MiB of memory and keep it, so memory
		// statistics move (or the memory limit is hit).
		n, rest, err := num(args)
		if err != nil {
			return nil, err
		}
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		kept = append(kept, b)
		fmt.Printf("allocated %d\n", n)
		return rest, nil
	case "exit":
		n, _, err := num(args)
		if err != nil {
			return nil, err
		}
		os.Exit(n)
	case "reboot", "poweroff", "halt":
		cmd := map[string]int{"reboot": syscall.LINUX_REBOOT_CMD_RESTART, "poweroff": syscall.LINUX_REBOOT_CMD_POWER_OFF, "halt": syscall.LINUX_REBOOT_CMD_HALT}[args[0]]
		syscall.Sync()
		return nil, syscall.Reboot(cmd)
	case "reopen":
		n, rest, err := num(args)
		if err != nil {
			return nil, err
		}
		// As a shell's "exec </dev/null >/dev/null 2>&1": no fd refers to
		// the console any more. (Closing 0-2 instead would let the Go
		// runtime put its poller there.)
		if err := redirect("/dev/null"); err != nil {
			return nil, err
		}
		time.Sleep(time.Duration(n) * time.Second)
		if err := redirect("/dev/console"); err != nil {
			return nil, err
		}
		fmt.Fprintln(os.Stdout, "console reopened")
		return rest, nil
	case "mkfifo":
		// Replace a file with a FIFO, as a broken or hostile container
		// may do to files the controller reads (/etc/passwd).
		if len(args) < 2 {
			return nil, fmt.Errorf("mkfifo needs a path")
		}
		if err := os.Remove(args[1]); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		if err := syscall.Mkfifo(args[1], 0o644); err != nil {
			return nil, err
		}
		fmt.Printf("fifo %s\n", args[1])
		return args[2:], nil
	case "ignoreterm":
		signal.Ignore(syscall.SIGTERM)
		return args[1:], nil
	case "cat":
		_, err := io.Copy(os.Stdout, os.Stdin)
		return args[1:], err
	case "readline":
		// One line from the console, byte by byte so nothing after it is
		// taken: the test's console client says "go on".
		b := make([]byte, 1)
		for {
			if _, err := os.Stdin.Read(b); err != nil || b[0] == '\n' {
				return args[1:], err
			}
		}
	case "info":
		h, _ := os.Hostname()
		wd, _ := os.Getwd()
		fmt.Printf("hostname=%s\npid=%d\nuid=%d\ngid=%d\ncwd=%s\n", h, os.Getpid(), os.Getuid(), os.Getgid(), wd)
		for _, e := range os.Environ() {
			fmt.Println("env " + e)
		}
		return args[1:], nil
	case "ifaces":
		ifs, err := net.Interfaces()
		if err != nil {
			return nil, err
		}
		for _, i := range ifs {
			state := "down"
			if i.Flags&net.FlagUp != 0 {
				state = "up"
			}
			var addrs []string
			as, _ := i.Addrs()
			for _, a := range as {
				addrs = append(addrs, a.String())
			}
			fmt.Printf("iface %s %s %d %s %s\n", i.Name, i.HardwareAddr, i.MTU, state, strings.Join(addrs, " "))
		}
		fmt.Println("ifaces done")
		return args[1:], nil
	case "listen":
		if len(args) < 2 {
			return nil, fmt.Errorf("listen needs a port")
		}
		ln, err := net.Listen("tcp", ":"+args[1])
		if err != nil {
			return nil, err
		}
		h, _ := os.Hostname()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "hello from %s\n", h)
				c.Close()
			}
		}()
		fmt.Printf("listening %s\n", args[1])
		return args[2:], nil
	// --- stand-ins for real inits (sysinit.go) ---
	case "systemd":
		return nil, systemdInit()
	case "initctl":
		if len(args) < 2 {
			return nil, fmt.Errorf("initctl needs the FIFO's path")
		}
		return nil, initctlInit(args[1])
	case "showfile":
		if len(args) < 2 {
			return nil, fmt.Errorf("showfile needs a path")
		}
		return args[2:], showFile(args[1])
	// --- end of stand-ins ---
	case "connect":
		if len(args) < 2 {
			return nil, fmt.Errorf("connect needs ADDR:PORT")
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", args[1], 2*time.Second)
			if err == nil {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Close()
				fmt.Printf("connected %s: %s\n", args[1], strings.TrimSpace(line))
				break
			}
			if time.Now().After(deadline) {
				fmt.Printf("connect %s failed: %v\n", args[1], err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return args[2:], nil
	}
	if rest, ok, err := attack(args); ok { // attacks.go
		return rest, err
	}
	if rest, ok, err := storageStep(args); ok { // storage.go
		return rest, err
	}
	return nil, fmt.Errorf("unknown action %q", args[0])
}

// redirect points stdin, stdout and stderr at path.
func redirect(path string) error {
	fd, err := syscall.Open(path, syscall.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	for i := 0; i < 3; i++ {
		if err := syscall.Dup3(fd, i, 0); err != nil {
			return err
		}
	}
	return nil
}

func child(args []string) {
	mode := "plain"
	if len(args) > 0 {
		mode = args[0]
	}
	switch mode {
	case "ignoreterm":
		signal.Ignore(syscall.SIGTERM)
	case "daemon":
		c := exec.Command("/proc/self/exe", "child", "ignoreterm")
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := c.Start(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	for {
		time.Sleep(time.Hour)
	}
}
