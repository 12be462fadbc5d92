package container

import (
	"errors"
	"reflect"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	got, err := mergeEnv([]string{"PATH=/bin:/sbin", "HOME=/"}, []string{"HOME=/root", "X=a=b", "EMPTY="})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/bin:/sbin", "HOME=/root", "X=a=b", "EMPTY="}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
	for _, bad := range []string{"NOEQUALS", "=x", "A=b\x00c"} {
		if _, err := mergeEnv(nil, []string{bad}); err == nil {
			t.Errorf("mergeEnv accepted %q", bad)
		}
	}
}

// The texts are what libcontainer's init reports, through its pipe, when
// exec.LookPath fails in the container.
func TestCommandError(t *testing.T) {
	for _, tc := range []struct {
		msg    string
		status int
	}{
		{`unable to start container process: exec: "nosuch": executable file not found in $PATH`, 127},
		{`unable to start container process: exec: "/no/such": stat /no/such: no such file or directory`, 127},
		{`unable to start container process: exec: "/etc/passwd": permission denied`, 126},
		{`unable to start container process: exec: "/tmp": is a directory`, 126},
		{`unable to start container process: chdir to cwd ("/x") set in config.json failed: no such file or directory`, 0},
	} {
		ce := commandError("cmd", errors.New(tc.msg))
		switch {
		case tc.status == 0 && ce != nil:
			t.Errorf("%q: got %v, want no command error", tc.msg, ce)
		case tc.status != 0 && (ce == nil || ce.Status != tc.status):
			t.Errorf("%q: got %v, want status %d", tc.msg, ce, tc.status)
		}
	}
}
