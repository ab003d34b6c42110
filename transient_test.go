package steady_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
)

var errOutage = errors.New("broker unreachable")

// An outage longer than the poison limit and the restart intensity limit
// put together: the consumer fails transiently on every message for 20
// attempts, yet nothing is dead-lettered, the actor never gives up, and
// every value arrives once, in order.
func TestTransientChargesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, outage = 10, 20
		g := steady.NewGraph(quiet())
		ch := steady.NewChannel[int](g, "values", 4)
		var out *steady.Sender[int]
		var in *steady.Receiver[int]
		prod := g.Actor("producer", func(a *steady.Actor) error {
			i := 0
			return steady.Source(a, out, func(*steady.Step) (int, bool, error) {
				i++ // no state: this producer never restarts
				return i - 1, i <= n, nil
			})
		})
		out = ch.Sender(prod)
		var got []int
		var failures int
		cons := g.Actor("consumer", func(a *steady.Actor) error {
			return steady.Sink(a, in, func(_ *steady.Step, v int) error {
				if failures < outage {
					failures++
					return steady.Transient(fmt.Errorf("deliver %d: %w", v, errOutage))
				}
				got = append(got, v)
				return nil
			})
		}, steady.Backoff(time.Millisecond, 100*time.Millisecond), steady.Intensity(2, time.Hour),
			steady.OnLimit(steady.StopGraph), steady.PoisonAfter(3))
		in = ch.Receiver(cons)
		if err := g.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if dl := g.DeadLetters(); len(dl) != 0 {
			t.Fatalf("an outage dead-lettered %d good messages: %v", len(dl), dl)
		}
		if len(got) != n {
			t.Fatalf("consumer got %v, want 0..%d once each", got, n-1)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("consumer got %v, want 0..%d in order", got, n-1)
			}
		}
		if r := cons.Restarts(); r != outage {
			t.Errorf("consumer restarted %d times, want %d (one per transient failure)", r, outage)
		}
	})
}

// Transient wraps its error and ErrTransient, and reads as its error.
func TestTransientWraps(t *testing.T) {
	err := steady.Transient(errOutage)
	if !errors.Is(err, steady.ErrTransient) || !errors.Is(err, errOutage) {
		t.Fatalf("Transient(errOutage) = %v: want it to wrap ErrTransient and errOutage", err)
	}
	if err.Error() != errOutage.Error() {
		t.Errorf("Transient(errOutage).Error() = %q, want %q", err.Error(), errOutage.Error())
	}
	if steady.Transient(nil) != nil {
		t.Error("Transient(nil) is not nil")
	}
}

// A non-transient failure still charges the message: the same outage
// returned as a plain error dead-letters the value, which the transient
// test above shows it must not.
func TestPlainErrorStillCharges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		ch := steady.NewChannel[int](g, "values", 4)
		var out *steady.Sender[int]
		var in *steady.Receiver[int]
		prod := g.Actor("producer", func(a *steady.Actor) error {
			return a.Step(func(s *steady.Step) error { return out.Send(s, 7) })
		})
		out = ch.Sender(prod)
		cons := g.Actor("consumer", func(a *steady.Actor) error {
			return steady.Sink(a, in, func(*steady.Step, int) error { return errOutage })
		}, steady.Backoff(time.Millisecond, time.Millisecond), steady.PoisonAfter(3))
		in = ch.Receiver(cons)
		if err := g.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if dl := g.DeadLetters(); len(dl) != 1 || dl[0].Value != 7 {
			t.Fatalf("dead letters %v, want the value 7", dl)
		}
	})
}

// Run returns the cause an actor gave when it stopped the graph, and nil
// for a plain request.
func TestRunReturnsStopCause(t *testing.T) {
	for _, tc := range []struct {
		name string
		ret  error
		want string // "" for nil
	}{
		{"plain", steady.ErrStopGraph, ""},
		{"cause", fmt.Errorf("stream purged below our position: %w", steady.ErrStopGraph), "stream purged below our position"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := steady.NewGraph(quiet())
			g.Actor("stopper", func(a *steady.Actor) error { return tc.ret })
			err := g.Run(context.Background())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Run = %v, want nil", err)
			case tc.want != "" && (err == nil || !errors.Is(err, steady.ErrStopGraph) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"stopper"`)):
				t.Fatalf("Run = %v, want an error naming the actor, wrapping ErrStopGraph and saying %q", err, tc.want)
			}
		})
	}
}

// OnDurable runs after the commit, once per committed step, and never for
// a step that failed.
func TestOnDurableInMemory(t *testing.T) {
	g := steady.NewGraph(quiet())
	st := steady.NewState(g, "n", 0)
	var ran, wrong atomic.Int64
	a := g.Actor("counter", func(a *steady.Actor) error {
		for i := range 10 {
			err := a.Step(func(s *steady.Step) error {
				n := st.Get(s)
				*n++
				want := *n
				s.OnDurable(func() {
					if st.Value() != want {
						wrong.Add(1)
					}
					ran.Add(1)
				})
				if i%3 == 0 {
					return errors.New("fail this one")
				}
				return nil
			})
			if err != nil && a.Restarts() > 100 {
				return err
			}
		}
		return nil
	})
	st.Bind(a)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ran.Load(); got != 6 {
		t.Errorf("OnDurable ran %d times, want 6 (the committed steps)", got)
	}
	if wrong.Load() != 0 {
		t.Errorf("OnDurable ran %d times before its step's state was committed", wrong.Load())
	}
}

// In a durable graph OnDurable runs only once the store holds the step.
func TestOnDurableWaitsForStore(t *testing.T) {
	ms := newMemStore()
	cfg := quiet()
	cfg.Store = ms
	g := steady.NewGraph(cfg)
	st := steady.NewState(g, "n", 0)
	var early, ran atomic.Int64
	a := g.Actor("counter", func(a *steady.Actor) error {
		for range 50 {
			err := a.Step(func(s *steady.Step) error {
				n := st.Get(s)
				*n++
				want := *n
				s.OnDurable(func() {
					ran.Add(1)
					if got, ok := storedInt(ms, "n"); !ok || got < want {
						early.Add(1)
					}
				})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	st.Bind(a)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 50 {
		t.Errorf("OnDurable ran %d times, want 50", ran.Load())
	}
	if early.Load() != 0 {
		t.Errorf("OnDurable ran %d times before the store held its step", early.Load())
	}
}

// storedInt decodes the int state name as ms holds it.
func storedInt(ms *memStore, name string) (int, bool) {
	ms.mu.Lock()
	b, ok := ms.states[name]
	ms.mu.Unlock()
	if !ok {
		return 0, false
	}
	c, err := steady.DefaultCodec[int]()
	if err != nil {
		return 0, false
	}
	v, err := c.Decode(b)
	return v, err == nil
}

// TestOnDurablePanics: a panic in an OnDurable function, after its step
// committed, is logged and fails nothing: the step's other functions run,
// the actor goes on, and in a durable graph (where the functions run on
// the committer's goroutine) the process does not crash.
func TestOnDurablePanics(t *testing.T) {
	for _, durable := range []bool{false, true} {
		name := "in memory"
		if durable {
			name = "durable"
		}
		t.Run(name, func(t *testing.T) {
			cfg := quiet()
			if durable {
				cfg.Store = newMemStore()
			}
			g := steady.NewGraph(cfg)
			st := steady.NewState(g, "n", 0)
			var ran atomic.Int64
			a := g.Actor("acker", func(a *steady.Actor) error {
				var err error
				for i := 1; i <= 5 && err == nil; i++ {
					err = a.Step(func(s *steady.Step) error {
						*st.Get(s) = i
						s.OnDurable(func() {
							if i == 3 {
								panic("the acknowledgement failed")
							}
							ran.Add(1)
						})
						s.OnDurable(func() { ran.Add(1) })
						return nil
					})
				}
				return err
			})
			st.Bind(a)
			err := g.Run(context.Background())
			if err != nil || st.Value() != 5 || ran.Load() != 9 || a.Restarts() != 0 {
				t.Errorf("Run: %v; %d steps, %d functions ran, %d restarts; want nil, 5 steps, 9 functions (all but the one that panicked), no restart",
					err, st.Value(), ran.Load(), a.Restarts())
			}
		})
	}
}

// A step that returns ErrStopGraph asks for a stop; it does not fail the
// message it peeked. Three runs on one store stop at value 5; on the
// fourth, 5 fails once for real and then goes through: it must not be
// quarantined for attempts the stop requests were charged.
func TestStopGraphFromStepChargesNothing(t *testing.T) {
	ms := newMemStore()
	for run := 1; run <= 4; run++ {
		cfg := quiet()
		cfg.Store = ms
		g := steady.NewGraph(cfg)
		ch := steady.NewChannel[int](g, "values", 16)
		next := steady.NewState(g, "next", 0)
		got := steady.NewState(g, "got", []int(nil))
		var out *steady.Sender[int]
		var in *steady.Receiver[int]
		p := g.Actor("producer", func(a *steady.Actor) error {
			return steady.Source(a, out, func(s *steady.Step) (int, bool, error) {
				n := next.Get(s)
				if *n == 10 {
					return 0, false, nil
				}
				*n++
				return *n - 1, true, nil
			})
		})
		out = ch.Sender(p)
		next.Bind(p)
		failed := false
		c := g.Actor("consumer", func(a *steady.Actor) error {
			return steady.Sink(a, in, func(s *steady.Step, v int) error {
				switch {
				case v == 5 && run < 4:
					return steady.ErrStopGraph
				case v == 5 && !failed:
					failed = true
					return errors.New("a real failure, once")
				}
				*got.Get(s) = append(*got.Get(s), v)
				return nil
			})
		}, steady.Backoff(time.Millisecond, time.Millisecond))
		in = ch.Receiver(c)
		got.Bind(c)
		if err := g.Run(context.Background()); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if dl := g.DeadLetters(); len(dl) != 0 {
			t.Fatalf("run %d: dead letters %+v, want none", run, dl)
		}
		if run == 4 && !slices.Equal(got.Value(), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("the consumer got %v, want 0..9 once each", got.Value())
		}
	}
}
