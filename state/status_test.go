package state

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sampleStatus() *Status {
	return &Status{
		Name:            "vm1",
		UUID:            "b1e4c2a0-5c1d-4d3e-9f00-1234567890ab",
		State:           StateRunning,
		Reason:          "booted",
		Persistent:      true,
		ControllerPID:   1234,
		ControllerStart: 987654321,
		InitPID:         1240,
		InitStart:       987654400,
		Started:         time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		CgroupPath:      "/machine/vm1.lxctl",
		CgroupPaths:     map[string]string{"": "/sys/fs/cgroup/machine/vm1.lxctl", "memory": "/sys/fs/cgroup/memory/machine/vm1.lxctl"},
		ControlSocket:   "/run/lxctl/vm1/control.sock",
		ConsoleSocket:   "/run/lxctl/vm1/console.sock",
		HostRootMount:   "/run/lxctl/vm1/root",
		Veths:           []string{"vnet0", "vnet1"},
	}
}

func TestStatusRoundTrip(t *testing.T) {
	l := NewLayout(t.TempDir()) // no EnsureDirs: WriteStatus creates what it needs
	s := sampleStatus()
	if err := l.WriteStatus(s); err != nil {
		t.Fatal(err)
	}
	got, err := l.ReadStatus("vm1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("read back %+v\nwant %+v", got, s)
	}
	p, _ := l.StatusPath("vm1")
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("status mode = %v", fi.Mode().Perm())
	}
	dir, _ := l.RunDir("vm1")
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("run dir mode = %v", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	for _, key := range []string{`"controller_pid": 1234`, `"cgroup_paths"`, `"init_start": 987654400`, `"state": "running"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("status.json lacks %s:\n%s", key, b)
		}
	}

	s.State, s.Reason = StatePaused, "user"
	if err := l.WriteStatus(s); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.ReadStatus("vm1"); got.State != StatePaused {
		t.Errorf("overwrite: state %q", got.State)
	}

	if err := l.WriteStatus(nil); err == nil {
		t.Error("WriteStatus(nil) succeeded")
	}
	if err := l.WriteStatus(&Status{Name: "../x"}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("WriteStatus(../x) = %v", err)
	}
}

func TestReadStatusMissing(t *testing.T) {
	l := testLayout(t)
	if _, err := l.ReadStatus("vm1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("no run dir: %v", err)
	}
	dir, _ := l.RunDir("vm1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReadStatus("vm1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("run dir without status.json: %v", err)
	}
	if _, err := l.ReadStatus("a b"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("bad name: %v", err)
	}
}

func TestReadStatusCorrupt(t *testing.T) {
	l := testLayout(t)
	if err := l.WriteStatus(sampleStatus()); err != nil {
		t.Fatal(err)
	}
	p, _ := l.StatusPath("vm1")
	good, _ := os.ReadFile(p)
	cases := map[string][]byte{
		"truncated": good[:len(good)/2],
		"empty":     {},
		"garbage":   []byte("\x00\xff garbage {"),
		"null":      []byte("null"),
		"array":     []byte("[1,2]"),
		"wrongtype": []byte(`{"name":"vm1","controller_pid":"x"}`),
		"trailing":  append(append([]byte{}, good...), []byte("}{")...),
		"othername": []byte(`{"name":"vm2"}`),
	}
	for what, data := range cases {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := l.ReadStatus("vm1")
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", what, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, p) || !strings.Contains(msg, "remove it with lxctl destroy vm1") {
			t.Errorf("%s: message %q does not name the file and the fix", what, msg)
		}
		if strings.ContainsAny(msg, "\x00\n") {
			t.Errorf("%s: message %q has control characters", what, msg)
		}
	}
}

func TestRunDirs(t *testing.T) {
	l := testLayout(t)
	for _, n := range []string{"vm2", "vm1", "a"} {
		s := sampleStatus()
		s.Name = n
		if err := l.WriteStatus(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.LockDomain("vm1", 0); err != nil { // creates .locks
		t.Fatal(err)
	}
	if err := l.WriteExit("gone", &ExitRecord{State: StateShutoff}); err != nil { // creates .exit
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(l.Run, "file"), nil, 0o600)
	_ = os.Mkdir(filepath.Join(l.Run, "bad name"), 0o700)
	names, err := l.ListRunDirs()
	if want := []string{"a", "vm1", "vm2"}; err != nil || !reflect.DeepEqual(names, want) {
		t.Fatalf("ListRunDirs = %v, %v; want %v", names, err, want)
	}
	if err := l.RemoveRunDir("vm1"); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveRunDir("vm1"); err != nil {
		t.Errorf("removing a missing run dir: %v", err)
	}
	if _, err := l.ReadStatus("vm1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("status after RemoveRunDir: %v", err)
	}
	names, _ = l.ListRunDirs()
	if want := []string{"a", "vm2"}; !reflect.DeepEqual(names, want) {
		t.Errorf("after remove: %v", names)
	}
	if err := l.RemoveRunDir(".."); !errors.Is(err, ErrInvalidName) {
		t.Errorf("RemoveRunDir(..) = %v", err)
	}
	if _, err := os.Stat(l.Run); err != nil {
		t.Errorf("Run dir itself is gone: %v", err)
	}
}

// RemoveRunDir must never recurse into a mount under the run dir: for a
// host-root container that is an rbind of the host's /.
func TestRemoveRunDirRefusesMounts(t *testing.T) {
	l := testLayout(t)
	if err := l.WriteStatus(sampleStatus()); err != nil {
		t.Fatal(err)
	}
	dir, _ := l.RunDir("vm1")
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "deep"), 0o700); err != nil {
		t.Fatal(err)
	}

	// A bind mount from the same file system (same st_dev): the precious
	// directory must survive.
	precious := t.TempDir()
	if err := os.WriteFile(filepath.Join(precious, "keep"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(root, "deep")
	if err := syscall.Mount(precious, mnt, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("cannot bind mount (run the tests as root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })

	err := l.RemoveRunDir("vm1")
	if err == nil || !strings.Contains(err.Error(), mnt+" is a mount point") {
		t.Fatalf("RemoveRunDir with a bind mount inside = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(precious, "keep")); string(b) != "k" {
		t.Fatal("RemoveRunDir deleted files through a bind mount")
	}
	if _, err := l.ReadStatus("vm1"); err != nil {
		t.Errorf("status removed although RemoveRunDir refused: %v", err)
	}

	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	// The run dir itself being a mount point is refused as well.
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	err = l.RemoveRunDir("vm1")
	_ = syscall.Unmount(dir, syscall.MNT_DETACH)
	if err == nil || !strings.Contains(err.Error(), "is a mount point") {
		t.Fatalf("RemoveRunDir of a mount point = %v", err)
	}

	if err := l.RemoveRunDir("vm1"); err != nil {
		t.Fatalf("after unmount: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(precious, "keep")); string(b) != "k" {
		t.Fatal("precious file lost")
	}
}

func TestExitRecord(t *testing.T) {
	l := NewLayout(t.TempDir())
	if _, err := l.ReadExit("vm1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing exit record: %v", err)
	}
	if err := l.RemoveExit("vm1"); err != nil {
		t.Errorf("removing a missing exit record: %v", err)
	}
	e := &ExitRecord{State: StateShutoff, Reason: "destroyed", Time: time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC), ExitCode: 137, Signal: "SIGKILL"}
	if err := l.WriteExit("vm1", e); err != nil {
		t.Fatal(err)
	}
	// The exit record outlives the run dir.
	if err := l.RemoveRunDir("vm1"); err != nil {
		t.Fatal(err)
	}
	got, err := l.ReadExit("vm1")
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("ReadExit = %+v, %v; want %+v", got, err, e)
	}
	p, _ := l.ExitPath("vm1")
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), `"exit_code": 137`) {
		t.Errorf("exit record lacks snake_case keys:\n%s", b)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("exit record mode %v", fi.Mode().Perm())
	}
	for _, bad := range [][]byte{{}, []byte(`{"state":`), []byte("nonsense")} {
		_ = os.WriteFile(p, bad, 0o600)
		if _, err := l.ReadExit("vm1"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
			t.Errorf("corrupt exit record %q: %v", bad, err)
		}
	}
	if err := l.RemoveExit("vm1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReadExit("vm1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after RemoveExit: %v", err)
	}
	if err := l.WriteExit("a/b", e); !errors.Is(err, ErrInvalidName) {
		t.Errorf("WriteExit(a/b) = %v", err)
	}
	if err := l.WriteExit("vm1", nil); err == nil {
		t.Error("WriteExit(nil) succeeded")
	}
}
