package steady_test

import (
	"context"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/steady-go/steady"
)

// TestStateContinuity: after thousands of restarts from panics at every
// point of a step, the counter in state equals the number of committed
// steps, and the messages those steps sent.
func TestStateContinuity(t *testing.T) {
	g := steady.NewGraph(quiet())
	counter := steady.NewState(g, "counter", 0)
	got := steady.NewState(g, "got", 0)
	ch := steady.NewChannel[int](g, "counts", 64)
	var out *steady.Sender[int]
	var in *steady.Receiver[int]
	c := &chaos{rng: rand.New(rand.NewPCG(9, 9)), p: 0.3}
	const restarts = 3000
	a := g.Actor("counter", func(a *steady.Actor) error {
		for a.Restarts() < restarts {
			if err := a.WaitVacant(out, 1); err != nil {
				return err
			}
			if err := a.Step(func(s *steady.Step) error {
				c.begin()
				c.at(beforePeek)
				n := counter.Get(s)
				c.at(afterPeek)
				*n++
				c.at(afterState)
				if err := out.Send(s, *n); err != nil {
					return err
				}
				c.at(afterSend)
				c.at(beforeReturn)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	}, steady.Backoff(0, 0), steady.Intensity(-1, 0))
	sink := g.Actor("sink", func(a *steady.Actor) error {
		return steady.Sink(a, in, func(s *steady.Step, v int) error {
			n := got.Get(s)
			if v != *n+1 {
				t.Errorf("sink got %d after %d", v, *n)
			}
			*n = v
			return nil
		})
	})
	out, in = ch.Sender(a), ch.Receiver(sink)
	counter.Bind(a)
	got.Bind(sink)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := a.Stats()
	if st.Restarts != restarts || st.Panics != restarts {
		t.Errorf("%d restarts, %d panics, want %d", st.Restarts, st.Panics, restarts)
	}
	if int64(counter.Value()) != st.Commits || got.Value() != counter.Value() {
		t.Errorf("counter %d, committed steps %d, sink saw %d: want all equal", counter.Value(), st.Commits, got.Value())
	}
}

// tally holds a map, so it needs a deep copy per step.
type tally struct{ Seen map[string]int }

func (t tally) Clone() tally { return tally{Seen: maps.Clone(t.Seen)} }

// TestStateClone: a step that changes a map in state and then fails leaves
// the committed map as it was, because the state type has a Clone method.
func TestStateClone(t *testing.T) {
	g := steady.NewGraph(quiet())
	st := steady.NewState(g, "tally", tally{Seen: map[string]int{}})
	step, panicked := 0, map[int]bool{}
	a := g.Actor("counter", func(a *steady.Actor) error {
		for ; step < 10; step++ {
			err := a.Step(func(s *steady.Step) error {
				v := st.Get(s)
				v.Seen["steps"]++
				if step%2 == 1 && !panicked[step] {
					panicked[step] = true
					v.Seen["failed"]++
					panic("after changing the map")
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}, steady.Backoff(0, 0), steady.Intensity(-1, 0), steady.PoisonAfter(0))
	st.Bind(a)
	// Each odd step panics once; the restarted actor retries it.
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.Value().Seen; got["steps"] != 10 || got["failed"] != 0 {
		t.Errorf("committed tally %v, want steps=10 and no failed", got)
	}
	if a.Restarts() != 5 {
		t.Errorf("%d restarts, want 5", a.Restarts())
	}
}
