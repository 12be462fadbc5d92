package cmd

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestParseConnect(t *testing.T) {
	for _, local := range []string{"lxc:///", "lxc:///system", "lxc:///system/", "lxc://", "lxc:"} {
		if r, err := parseConnect(local, ""); r != nil || err != nil {
			t.Errorf("%s: %+v, %v; want local", local, r, err)
		}
	}
	good := map[string]remoteURI{
		"lxc+ssh://h/system":                      {host: "h", command: "lxctl"},
		"lxc+ssh://root@127.0.0.1:2222/system":    {user: "root", host: "127.0.0.1", port: "2222", command: "lxctl"},
		"lxc+ssh://[::1]:22/":                     {host: "::1", port: "22", command: "lxctl"},
		"lxc+ssh://u@h?keyfile=/k&no_verify=1":    {user: "u", host: "h", keyfile: "/k", noVerify: true, command: "lxctl"},
		"lxc+ssh://h/system?command=/opt/b/lxctl": {host: "h", command: "/opt/b/lxctl"},
		"lxc+ssh://h/system?no_verify=0":          {host: "h", command: "lxctl"},
	}
	for uri, want := range good {
		r, err := parseConnect(uri, "")
		if err != nil {
			t.Errorf("%s: %v", uri, err)
			continue
		}
		want.raw = uri
		if *r != want {
			t.Errorf("%s: %+v, want %+v", uri, *r, want)
		}
	}
	bad := map[string]string{
		"":                                  "drives only LXC",
		"qemu:///system":                    "drives only LXC",
		"lxc://host/system":                 "lxc+ssh://host/system",
		"lxc+tls://host/system":             "transport 'tls' is not supported",
		"lxc+ssh:///system":                 "no host",
		"lxc+ssh://h/session":               "path '/session'",
		"lxc+ssh://-oProxyCommand=x/system": "is not a host",
		"lxc+ssh://-l@h/system":             "is not a user",
		"lxc+ssh://u:pw@h/system":           "no passwords",
		"lxc+ssh://h:0/system":              "port '0'",
		"lxc+ssh://h:x/system":              "not a URI",
		"lxc+ssh://h/system?socket=/s":      "parameter 'socket' is not supported",
		"lxc+ssh://h/system?no_verify=yes":  "no_verify='yes'",
		"lxc+ssh://h/system?keyfile=":       "keyfile is empty",
		"lxc+ssh://h/?keyfile=a&keyfile=b":  "given 2 times",
		"lxc+ssh://h/system#x":              "fragment",
	}
	for uri, want := range bad {
		r, err := parseConnect(uri, "LXCTL_DEFAULT_URI")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "(from LXCTL_DEFAULT_URI)") {
			t.Errorf("%s: %+v, %v; want an error with %q naming the variable", uri, r, err, want)
		}
	}
}

// The quoting is checked by the shell that reads it.
func TestShellQuote(t *testing.T) {
	args := []string{"plain", "with space", `it's`, `"dq"`, "$HOME $(id) `id`", `back\slash`, "new\nline", "", "*", "-n", "'"}
	var words []string
	for _, a := range args {
		words = append(words, shellQuote(a))
	}
	out, err := exec.Command("sh", "-c", `printf '%s\0' `+strings.Join(words, " ")).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !reflect.DeepEqual(got, args) {
		t.Errorf("the shell read %q, want %q", got, args)
	}
}
