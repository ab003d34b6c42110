package steady_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// TestReplayedMessageCountsItsOwnAttempts: a dead letter replayed while
// the head message has failed attempts gets attempts of its own; it is not
// quarantined after one failure, and the head keeps going.
func TestReplayedMessageCountsItsOwnAttempts(t *testing.T) {
	g := steady.NewGraph(quiet())
	ch := steady.NewChannel[int](g, "values", 8)
	got := steady.NewState[[]int](g, "got", nil)
	var tx *steady.Sender[int]
	var rx *steady.Receiver[int]
	p := g.Actor("producer", func(a *steady.Actor) error {
		if err := a.WaitVacant(tx, 3); err != nil {
			return err
		}
		return a.Step(func(s *steady.Step) error { return tx.SendMany(s, []int{1, 5, 6}) })
	})
	failed := map[int]int{} // failures per value, on the consumer's goroutine
	c := g.Actor("consumer", func(a *steady.Actor) error {
		return steady.Sink(a, rx, func(s *steady.Step, v int) error {
			switch {
			case v == 1: // poison: always fails
				failed[v]++
				panic("poison 1")
			case v == 5 && failed[5] < 2: // fails twice, then goes through
				failed[5]++
				if failed[5] == 2 {
					if err := g.Replay(g.DeadLetters()[0].ID); err != nil {
						t.Errorf("Replay: %v", err)
					}
				}
				panic("transient 5")
			}
			l := got.Get(s)
			*l = append(*l, v)
			return nil
		})
	}, steady.Backoff(0, 0), steady.Intensity(-1, 0))
	tx, rx = ch.Sender(p), ch.Receiver(c)
	got.Bind(c)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	dl := g.DeadLetters()
	if len(dl) != 1 || dl[0].Value != 1 || dl[0].Attempts != 3 {
		t.Fatalf("dead letters %+v, want 1 quarantined again after 3 attempts of its own", dl)
	}
	if failed[1] != 6 || failed[5] != 2 {
		t.Errorf("1 failed %d times (want 3 + 3 after the replay), 5 failed %d times (want 2)", failed[1], failed[5])
	}
	if !slices.Equal(got.Value(), []int{5, 6}) {
		t.Errorf("consumer got %v, want [5 6]", got.Value())
	}
}

// TestGoexitStopsActor: an actor that ends its goroutine with
// runtime.Goexit (as t.FailNow does) stops for good, and Run returns.
func TestGoexitStopsActor(t *testing.T) {
	g := steady.NewGraph(quiet())
	a := g.Actor("quitter", func(*steady.Actor) error {
		runtime.Goexit()
		return nil
	})
	g.Actor("other", func(*steady.Actor) error { return nil })
	done := make(chan error)
	go func() { done <- g.Run(context.Background()) }()
	select {
	case err := <-done:
		var gaveUp *steady.GaveUpError
		if !errors.As(err, &gaveUp) || gaveUp.Actor != "quitter" {
			t.Errorf("Run: %v, want quitter reported as gone", err)
		}
	case <-time.After(10 * time.Second):
		g.Shutdown("test")
		<-done
		t.Fatal("Run did not return after the actor's goroutine exited")
	}
	if st := a.Status(); st != observe.StatusDegraded {
		t.Errorf("status %v, want degraded", st)
	}
}
