package state

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// follow reads n events and checks that each domain's arrive in order.
func follow(t *testing.T, f *EventFollower, n int, next map[string]int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for got := 0; got < n; got++ {
		e, err := f.Next(deadline)
		if err != nil {
			t.Fatalf("after %d events: %v", got, err)
		}
		if e.Domain == "before" {
			t.Fatal("the follower saw an event from before it started")
		}
		if want := fmt.Sprint(next[e.Domain]); e.Detail != want {
			t.Fatalf("%s: event %s, want %s (out of order or lost)", e.Domain, e.Detail, want)
		}
		next[e.Domain]++
	}
}

// TestEventsFollowAcrossRotation: events appended by concurrent writers
// while the log rotates reach a follower, each writer's in order, and the
// log stays bounded.
func TestEventsFollowAcrossRotation(t *testing.T) {
	old := eventLogMax
	eventLogMax = 4096
	defer func() { eventLogMax = old }()
	l := NewLayout(t.TempDir())
	if err := l.AppendEvent(Event{Domain: "before", Type: "lifecycle"}); err != nil {
		t.Fatal(err)
	}
	f, err := l.FollowEvents()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	next, sent := map[string]int{}, map[string]int{}
	// Rounds of concurrent writes that stay under the bound, so at most
	// one rotation happens per round whatever the follower's pace.
	for round := 0; round < 12; round++ {
		var wg sync.WaitGroup
		for w := 0; w < 3; w++ {
			dom := fmt.Sprintf("w%d", w)
			start := sent[dom]
			sent[dom] += 8
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := start; i < start+8; i++ {
					if err := l.AppendEvent(Event{Domain: dom, Type: "lifecycle", Event: "Started", Detail: fmt.Sprint(i)}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		follow(t, f, 24, next)
	}
	// A follower that is two rotations behind still gets everything.
	for i := 0; i < 76; i++ { // just under 2x the bound: two rotations, never three
		if err := l.AppendEvent(Event{Domain: "burst", Type: "lifecycle", Event: "Started", Detail: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	follow(t, f, 76, next)
	for _, n := range []string{"log", "log.1"} {
		if fi, err := os.Stat(filepath.Join(l.EventsDir(), n)); err != nil || fi.Size() > eventLogMax {
			t.Errorf("%s: %v, size over the bound", n, err)
		}
	}
	if _, err := f.Next(time.Now().Add(50 * time.Millisecond)); err != ErrTimeout {
		t.Errorf("Next with nothing new: %v, want ErrTimeout", err)
	}
}
