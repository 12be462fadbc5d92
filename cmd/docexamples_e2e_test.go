package cmd_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDocExamples runs the two examples of libvirt's LXC driver
// documentation as shipped in testdata/domains, changing only what must be
// unique to this test (the name, the network, and vm2's root directory):
// each starts, is its own pid 1 with the domain's hostname, gets an address
// on its network, reaches the bridge from its own network namespace, and
// destroy leaves nothing.
func TestDocExamples(t *testing.T) {
	for _, doc := range []string{"vm1", "vm2"} {
		t.Run(doc, func(t *testing.T) {
			e := newEnv(t)
			n := e.network("", 10, 20)
			name := e.name(doc)
			data, err := os.ReadFile(filepath.Join("..", "testdata", "domains", doc+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			xml := strings.Replace(string(data), "<name>"+doc+"</name>", "<name>"+name+"</name>", 1)
			xml = strings.Replace(xml, "<source network='default'/>", "<source network='"+n.name+"'/>", 1)
			if doc == "vm2" {
				root := filepath.Join(e.root, "vm2-root")
				if err := os.MkdirAll(root, 0o755); err != nil {
					t.Fatal(err)
				}
				guest, _ := os.ReadFile(guestBin)
				if err := os.WriteFile(filepath.Join(root, "init"), guest, 0o755); err != nil {
					t.Fatal(err)
				}
				xml = strings.Replace(xml, "<source dir='/opt/vm-1-root'/>", "<source dir='"+root+"'/>", 1)
			}
			e.define(xml)
			e.ok("start", name)
			st := e.status(name)
			if h := hostnameOf(t, st.InitPID); h != name {
				t.Errorf("hostname %q, want %q", h, name)
			}
			if nsOf(t, st.InitPID, "pid") == nsOf(t, os.Getpid(), "pid") || nsOf(t, st.InitPID, "net") == nsOf(t, os.Getpid(), "net") {
				t.Errorf("the example shares the host's pid or network namespace")
			}
			out, err := exec.Command("nsenter", "-t", strconv.Itoa(st.InitPID), "-n", "ip", "-4", "-o", "addr", "show", "dev", "eth0").Output()
			if err != nil || !strings.Contains(string(out), fmt.Sprintf("inet 10.213.%d.", n.octet)) {
				t.Errorf("eth0 in the container: %q %v", out, err)
			}
			// From the container's network namespace to a listener on the
			// bridge address.
			addr := hostListener(t, n.addr(1))
			reply, err := exec.Command("nsenter", "-t", strconv.Itoa(st.InitPID), "-n", guestBin, "connect", addr).CombinedOutput()
			if err != nil || !strings.Contains(string(reply), "hello from the bridge") {
				t.Errorf("connect to the bridge from the container: %q %v", reply, err)
			}
			e.ok("destroy", name)
			if alive(st.InitPID) {
				t.Errorf("init survived destroy")
			}
		})
	}
}
