package steady_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
)

// TestGraphAvailability: the graph is unavailable while any actor is down,
// overlapping downtimes count once, and an actor that gave up keeps it
// unavailable until Run returns, though the actor's own figure stops at
// its give-up. A: down from 1 s to 2 s; B: from 1.5 s to 3 s; C gives up
// at 4 s; shutdown at 5 s. Down: [1, 3] and [4, 5], 3 s of 5.
func TestGraphAvailability(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		// failOnce sleeps until at, fails, then waits for the shutdown.
		failOnce := func(at time.Duration) func(a *steady.Actor) error {
			start := time.Now()
			return func(a *steady.Actor) error {
				if a.Restarts() == 0 {
					time.Sleep(time.Until(start.Add(at)))
					return errors.New("scripted")
				}
				for a.Running() {
					_ = a.Sleep(time.Hour)
				}
				return nil
			}
		}
		g.Actor("A", failOnce(time.Second), steady.Backoff(time.Second, time.Second), steady.Jitter(0))
		g.Actor("B", failOnce(1500*time.Millisecond), steady.Backoff(1500*time.Millisecond, 1500*time.Millisecond), steady.Jitter(0))
		g.Actor("C", failOnce(4*time.Second), steady.Intensity(0, time.Second), steady.OnLimit(steady.Degrade))

		if s := g.Snapshot(); s.Availability != 1 || s.Downtime != 0 {
			t.Errorf("before Run: availability %v, downtime %v; want 1 and 0", s.Availability, s.Downtime)
		}
		go func() {
			time.Sleep(2500 * time.Millisecond)
			// Mid-run: [1, 2.5] so far, one period, still open.
			if s := g.Snapshot(); s.Downtime != 1500*time.Millisecond || !near(s.Availability, 0.4) {
				t.Errorf("at 2.5 s: downtime %v, availability %v; want 1.5 s and 0.4", s.Downtime, s.Availability)
			}
			time.Sleep(2500 * time.Millisecond)
			g.Shutdown("test")
		}()
		var gaveUp *steady.GaveUpError
		if err := g.Run(context.Background()); !errors.As(err, &gaveUp) || gaveUp.Actor != "C" {
			t.Fatalf("Run: %v, want C's give-up", err)
		}
		s := g.Snapshot()
		if s.Downtime != 3*time.Second || !near(s.Availability, 0.4) {
			t.Errorf("downtime %v, availability %v; want 3 s and 0.4", s.Downtime, s.Availability)
		}
		want := map[string]time.Duration{"A": time.Second, "B": 1500 * time.Millisecond, "C": 0}
		for _, a := range s.Actors {
			if a.Downtime != want[a.Name] {
				t.Errorf("%s: downtime %v, want %v", a.Name, a.Downtime, want[a.Name])
			}
		}
		time.Sleep(time.Second)
		if s2 := g.Snapshot(); s2.Downtime != s.Downtime || s2.Availability != s.Availability {
			t.Errorf("after Run, the figures moved: %v %v, then %v %v", s.Downtime, s.Availability, s2.Downtime, s2.Availability)
		}
	})
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
