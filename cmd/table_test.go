package cmd

import (
	"bytes"
	"testing"
)

// The layout virsh's vsh-table prints, byte for byte.
func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	writeTable(&b, []string{"Id", "Name", "State"}, [][]string{{"1234", "vm1", "running"}, {"-", "vm2", "shut off"}}, false)
	want := " Id     Name   State\n" +
		"-------------------------\n" +
		" 1234   vm1    running\n" +
		" -      vm2    shut off\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	writeTable(&b, []string{"Id", "Name", "State"}, nil, false)
	if want := " Id   Name   State\n--------------------\n"; b.String() != want {
		t.Errorf("empty table: got %q want %q", b.String(), want)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{"SIGTERM": 15, "TERM": 15, "term": 15, "9": 9, "SIGRTMIN": 34, "SIGRTMIN+3": 37, "sigrtmin+3": 37, "SIGHUP": 1} {
		got, err := parseSignal(in)
		if err != nil || int(got) != want {
			t.Errorf("parseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "SIGFOO", "0", "65", "SIGRTMIN+40", "SIGRTMIN3"} {
		if _, err := parseSignal(bad); err == nil {
			t.Errorf("parseSignal(%q) accepted", bad)
		}
	}
}
