package state

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

func TestNetworkDefinitions(t *testing.T) {
	l := NewLayout(t.TempDir())
	if _, err := l.LoadNetwork("default"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "net-define") {
		t.Fatalf("missing network: %v", err)
	}
	if err := l.SaveNetwork("default", []byte("<network/>")); err != nil {
		t.Fatal(err)
	}
	if names, _ := l.ListNetworks(); len(names) != 1 || names[0] != "default" {
		t.Fatalf("list: %v", names)
	}
	if err := l.SetNetworkAutostart("default", true); err != nil || !l.NetworkAutostart("default") {
		t.Fatalf("autostart: %v", err)
	}
	if _, err := l.ReadNetworkState("default"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "lxctl net-start default") {
		t.Fatalf("inactive: %v", err)
	}
	if err := l.WriteNetworkState(&NetworkState{Name: "default", Bridge: "b0"}); err != nil {
		t.Fatal(err)
	}
	if s, err := l.ReadNetworkState("default"); err != nil || s.Bridge != "b0" {
		t.Fatalf("state: %v %v", s, err)
	}
	if err := l.RemoveNetwork("default"); err != nil || l.NetworkAutostart("default") {
		t.Fatalf("remove: %v", err)
	}
	if err := l.SaveNetwork("../x", nil); err == nil {
		t.Fatal("a bad name was accepted")
	}
}

func TestLeases(t *testing.T) {
	l := NewLayout(t.TempDir())
	s, e := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.4")
	taken := []netip.Addr{netip.MustParseAddr("10.0.0.3")}
	a, err := l.AllocateLease("n", "d1", "52:54:00:00:00:01", s, e, taken)
	if err != nil || a.String() != "10.0.0.2" {
		t.Fatalf("first: %v %v", a, err)
	}
	// The same MAC keeps its address.
	if a, _ := l.AllocateLease("n", "d1", "52:54:00:00:00:01", s, e, taken); a.String() != "10.0.0.2" {
		t.Fatalf("same mac: %v", a)
	}
	if a, _ := l.AllocateLease("n", "d2", "52:54:00:00:00:02", s, e, taken); a.String() != "10.0.0.4" {
		t.Fatalf("skips taken: %v", a)
	}
	if _, err := l.AllocateLease("n", "d3", "52:54:00:00:00:03", s, e, taken); err == nil || !strings.Contains(err.Error(), "no free address left in 10.0.0.2-10.0.0.4") {
		t.Fatalf("exhausted: %v", err)
	}
	if err := l.ReleaseLeases("d1"); err != nil {
		t.Fatal(err)
	}
	if a, _ := l.AllocateLease("n", "d3", "52:54:00:00:00:03", s, e, taken); a.String() != "10.0.0.2" {
		t.Fatalf("released address not reused: %v", a)
	}
	_ = l.ReleaseLeases("d2")
	_ = l.ReleaseLeases("d3")
	if ls, _ := l.Leases("n"); len(ls) != 0 {
		t.Fatalf("leases left: %v", ls)
	}
}

func TestLeasesConcurrent(t *testing.T) {
	l := NewLayout(t.TempDir())
	s, e := netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("10.0.0.60")
	var wg sync.WaitGroup
	got := make([]netip.Addr, 40)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = l.AllocateLease("n", "d", "52:54:00:00:01:"+string(rune('a'+i%26))+string(rune('a'+i/26)), s, e, nil)
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for _, a := range got {
		if !a.IsValid() || seen[a] {
			t.Fatalf("duplicate or missing address %v in %v", a, got)
		}
		seen[a] = true
	}
}
