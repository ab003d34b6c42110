package steady_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// wiringRunLimit bounds every Run in these tests. A wiring mistake must be
// reported at once and a misuse must not block, so reaching it means Run hung.
const wiringRunLimit = 10 * time.Second

// wiringRun runs g and returns Run's error. It fails the test if Run panics
// or does not return within wiringRunLimit.
func wiringRun(t *testing.T, g *steady.Graph) error {
	t.Helper()
	type result struct {
		err       error
		recovered any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			r.recovered = recover()
			done <- r
		}()
		r.err = g.Run(context.Background())
	}()
	select {
	case r := <-done:
		if r.recovered != nil {
			t.Fatalf("Run panicked: %v", r.recovered)
		}
		return r.err
	case <-time.After(wiringRunLimit):
		g.Shutdown("test: Run hung")
		t.Fatalf("Run did not return within %v", wiringRunLimit)
		return nil
	}
}

// wiringContains fails the test unless err's message contains every
// fragment.
func wiringContains(t *testing.T, err error, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %s", err, f)
		}
	}
}

// wiringCase builds a graph with one wiring mistake. build returns the error
// of the handle that carries the mistake (its Err method), or nil when no
// single handle does (a channel left without a producer, say).
type wiringCase struct {
	name  string
	build func(g *steady.Graph, fn func(*steady.Actor) error) error
	want  []string // fragments Run's error must contain
}

var wiringCases = []wiringCase{
	{"duplicate actor name", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		g.Actor("twin", fn)
		return g.Actor("twin", fn).Err()
	}, []string{"duplicate", `"twin"`}},

	{"duplicate channel name", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		p, q := g.Actor("p", fn), g.Actor("q", fn)
		first := steady.NewChannel[int](g, "events", 1)
		first.Sender(p)
		first.Receiver(q)
		second := steady.NewChannel[string](g, "events", 1)
		second.Sender(q)
		second.Receiver(p)
		return second.Err()
	}, []string{"duplicate", `"events"`}},

	{"duplicate state name", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		a, b := g.Actor("a", fn), g.Actor("b", fn)
		steady.NewState(g, "counter", 0).Bind(a)
		return steady.NewState(g, "counter", 0).Bind(b).Err()
	}, []string{"duplicate", `"counter"`}},

	{"channel with no producer", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		steady.NewChannel[int](g, "orphan-in", 1).Receiver(g.Actor("q", fn))
		return nil
	}, []string{"no producer", `"orphan-in"`}},

	{"channel with no consumer", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		steady.NewChannel[int](g, "orphan-out", 1).Sender(g.Actor("p", fn))
		return nil
	}, []string{"no consumer", `"orphan-out"`}},

	{"two producers", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		c := steady.NewChannel[int](g, "jobs", 1)
		c.Sender(g.Actor("p1", fn))
		c.Receiver(g.Actor("q", fn))
		return c.Sender(g.Actor("p2", fn)).Err()
	}, []string{"two producers", `"jobs"`, `"p1"`, `"p2"`}},

	{"two consumers", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		c := steady.NewChannel[int](g, "jobs", 1)
		c.Sender(g.Actor("p", fn))
		c.Receiver(g.Actor("q1", fn))
		return c.Receiver(g.Actor("q2", fn)).Err()
	}, []string{"two consumers", `"jobs"`, `"q1"`, `"q2"`}},

	{"state bound by two actors", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		st := steady.NewState(g, "shared", 0)
		st.Bind(g.Actor("a1", fn))
		return st.Bind(g.Actor("a2", fn)).Err()
	}, []string{"two actors", `"shared"`, `"a1"`, `"a2"`}},

	{"state bound by no actor", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		g.Actor("a", fn)
		steady.NewState(g, "loose", 0)
		return nil
	}, []string{"not bound", `"loose"`}},

	{"capacity 0", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		c := steady.NewChannel[int](g, "empty-ring", 0)
		c.Sender(g.Actor("p", fn))
		c.Receiver(g.Actor("q", fn))
		return c.Err()
	}, []string{"capacity", `"empty-ring"`}},

	{"negative capacity", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		c := steady.NewChannel[int](g, "negative-ring", -1)
		c.Sender(g.Actor("p", fn))
		c.Receiver(g.Actor("q", fn))
		return c.Err()
	}, []string{"capacity", `"negative-ring"`}},

	{"nil actor function", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		g.Actor("ok", fn)
		return g.Actor("no-func", nil).Err()
	}, []string{"no function", `"no-func"`}},

	{"jitter above 1", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		return g.Actor("jittery", fn, steady.Jitter(2)).Err()
	}, []string{"jitter", `"jittery"`}},

	{"multiplier below 1", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		return g.Actor("shrinking", fn, steady.BackoffMultiplier(0.5)).Err()
	}, []string{"multiplier", `"shrinking"`}},

	{"max backoff below initial", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		return g.Actor("backwards", fn, steady.Backoff(time.Second, time.Millisecond)).Err()
	}, []string{"backoff", `"backwards"`}},

	{"restart limit without a window", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		return g.Actor("windowless", fn, steady.Intensity(3, 0)).Err()
	}, []string{"window", `"windowless"`}},

	{"negative poison-after", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		return g.Actor("unpoisonable", fn, steady.PoisonAfter(-1)).Err()
	}, []string{"poison", `"unpoisonable"`}},

	{"channel end bound to an actor of another graph", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		other := steady.NewGraph(quiet()) // never run: it starts nothing
		c := steady.NewChannel[int](g, "crossing", 1)
		c.Receiver(g.Actor("q", fn))
		return c.Sender(other.Actor("alien", fn)).Err()
	}, []string{"producer", `"crossing"`}},

	{"state bound to a nil actor", func(g *steady.Graph, fn func(*steady.Actor) error) error {
		g.Actor("a", fn)
		return steady.NewState(g, "ownerless", 0).Bind(nil).Err()
	}, []string{`"ownerless"`}},

	{"graph with no actors", func(*steady.Graph, func(*steady.Actor) error) error {
		return nil
	}, []string{"no actors"}},
}

// TestWiringMistakes: each wiring mistake makes Run return at once with an
// error wrapping ErrWiring that names what is wrong, without panicking and
// without starting any actor.
func TestWiringMistakes(t *testing.T) {
	for _, tc := range wiringCases {
		t.Run(tc.name, func(t *testing.T) {
			var started atomic.Int64
			fn := func(*steady.Actor) error {
				started.Add(1)
				return nil
			}
			g := steady.NewGraph(quiet())
			var handleErr error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("building the graph panicked: %v", r)
					}
				}()
				handleErr = tc.build(g, fn)
			}()
			if handleErr != nil && !errors.Is(handleErr, steady.ErrWiring) {
				t.Errorf("handle error %v does not wrap ErrWiring", handleErr)
			}

			err := wiringRun(t, g)
			if err == nil {
				t.Fatal("Run returned nil for a miswired graph")
			}
			if !errors.Is(err, steady.ErrWiring) {
				t.Errorf("Run error %v does not wrap ErrWiring", err)
			}
			wiringContains(t, err, tc.want...)
			if n := started.Load(); n != 0 {
				t.Errorf("%d actor functions ran; a miswired graph must start none", n)
			}
			for _, a := range g.Snapshot().Actors {
				if a.Status != observe.StatusIdle {
					t.Errorf("actor %q is %v after a failed Run, want idle", a.Name, a.Status)
				}
			}
			if g.DeadLetters() != nil {
				t.Errorf("dead letters after a failed Run: %v", g.DeadLetters())
			}
		})
	}
}

// TestWiringReportsEveryMistake: Run lists every mistake, not only the first.
func TestWiringReportsEveryMistake(t *testing.T) {
	g := steady.NewGraph(quiet())
	fn := func(*steady.Actor) error { return nil }
	g.Actor("twin", fn)
	g.Actor("twin", fn)
	steady.NewChannel[int](g, "dangling", 1).Sender(g.Actor("p", fn))
	steady.NewState(g, "unowned", 0)
	err := wiringRun(t, g)
	if !errors.Is(err, steady.ErrWiring) {
		t.Fatalf("Run: %v, want an error wrapping ErrWiring", err)
	}
	wiringContains(t, err, `"twin"`, `"dangling"`, `"unowned"`)
}

// TestWiringFailedRunStatus: once Run has returned, even with a wiring
// error, the graph reports itself stopped; it never ran.
func TestWiringFailedRunStatus(t *testing.T) {
	g := steady.NewGraph(quiet())
	steady.NewChannel[int](g, "dangling", 1).Sender(g.Actor("p", func(*steady.Actor) error { return nil }))
	if err := wiringRun(t, g); !errors.Is(err, steady.ErrWiring) {
		t.Fatalf("Run: %v, want an error wrapping ErrWiring", err)
	}
	if st := g.Status(); st != observe.GraphStopped {
		t.Errorf("Status after a Run that failed validation is %q, want %q", st, observe.GraphStopped)
	}
}

// TestWiringRunTwice: a graph runs once; a second Run, whether after the
// first returned, from inside the running graph, or after a Run that failed
// validation, returns ErrGraphRunning and starts nothing.
func TestWiringRunTwice(t *testing.T) {
	t.Run("after it returned", func(t *testing.T) {
		var runs atomic.Int64
		g := steady.NewGraph(quiet())
		g.Actor("once", func(*steady.Actor) error { runs.Add(1); return nil })
		if err := wiringRun(t, g); err != nil {
			t.Fatalf("first Run: %v", err)
		}
		err := wiringRun(t, g)
		if !errors.Is(err, steady.ErrGraphRunning) {
			t.Errorf("second Run: %v, want ErrGraphRunning", err)
		}
		if n := runs.Load(); n != 1 {
			t.Errorf("actor ran %d times, want 1", n)
		}
	})
	t.Run("while it runs", func(t *testing.T) {
		var runs atomic.Int64
		var inner error
		g := steady.NewGraph(quiet())
		g.Actor("reentrant", func(a *steady.Actor) error {
			runs.Add(1)
			inner = g.Run(context.Background())
			return nil
		})
		if err := wiringRun(t, g); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if !errors.Is(inner, steady.ErrGraphRunning) {
			t.Errorf("Run inside the running graph: %v, want ErrGraphRunning", inner)
		}
		if n := runs.Load(); n != 1 {
			t.Errorf("actor ran %d times, want 1", n)
		}
	})
	t.Run("after a wiring error", func(t *testing.T) {
		var runs atomic.Int64
		g := steady.NewGraph(quiet())
		steady.NewChannel[int](g, "dangling", 1).Sender(g.Actor("p", func(*steady.Actor) error { runs.Add(1); return nil }))
		if err := wiringRun(t, g); !errors.Is(err, steady.ErrWiring) {
			t.Fatalf("first Run: %v, want ErrWiring", err)
		}
		if err := wiringRun(t, g); !errors.Is(err, steady.ErrGraphRunning) {
			t.Errorf("second Run: %v, want ErrGraphRunning", err)
		}
		if n := runs.Load(); n != 0 {
			t.Errorf("actor ran %d times, want 0", n)
		}
	})
}

// TestWiringAfterRunStarted: channels, states, actors and bindings added
// once Run has started are refused with ErrGraphRunning naming them, and a
// late actor never runs.
func TestWiringAfterRunStarted(t *testing.T) {
	g := steady.NewGraph(quiet())
	c := steady.NewChannel[int](g, "early-chan", 1)
	st := steady.NewState(g, "early-state", 0)
	var lateRuns atomic.Int64
	type attempt struct {
		what string
		err  error
		want []string
	}
	var attempts []attempt
	var q *steady.Actor
	p := g.Actor("builder", func(a *steady.Actor) error {
		attempts = []attempt{
			{"NewChannel", steady.NewChannel[int](g, "late-chan", 1).Err(), []string{`"late-chan"`}},
			{"NewState", steady.NewState(g, "late-state", 0).Err(), []string{`"late-state"`}},
			{"Actor", g.Actor("late-actor", func(*steady.Actor) error {
				lateRuns.Add(1)
				return nil
			}).Err(), []string{`"late-actor"`}},
			{"Sender", c.Sender(a).Err(), []string{`"early-chan"`}},
			{"Receiver", c.Receiver(q).Err(), []string{`"early-chan"`}},
			{"Bind", st.Bind(q).Err(), []string{`"early-state"`}},
		}
		return nil
	})
	q = g.Actor("reader", func(a *steady.Actor) error { return nil })
	c.Sender(p)
	c.Receiver(q)
	st.Bind(p)

	if err := wiringRun(t, g); err != nil && !errors.Is(err, steady.ErrGraphRunning) {
		t.Errorf("Run: %v", err)
	}
	if len(attempts) == 0 {
		t.Fatal("the builder actor did not run")
	}
	for _, at := range attempts {
		if !errors.Is(at.err, steady.ErrGraphRunning) {
			t.Errorf("%s after Run started: %v, want ErrGraphRunning", at.what, at.err)
			continue
		}
		wiringContains(t, at.err, at.want...)
	}
	if n := lateRuns.Load(); n != 0 {
		t.Errorf("an actor added after Run started ran %d times", n)
	}
	for _, a := range g.Snapshot().Actors {
		if a.Name == "late-actor" {
			t.Errorf("the snapshot lists %q, added after Run started", a.Name)
		}
	}
}

// misuseChan is the channel the run-time misuse tests abuse.
const misuseChan = "misused-chan"

// misuseRig is a graph src → misused-chan → dst with a third actor,
// intruder, that owns nothing. src owns the state src-state.
type misuseRig struct {
	c     *steady.Channel[int]
	tx    *steady.Sender[int]
	rx    *steady.Receiver[int]
	srcSt *steady.State[int]
}

// misuseLog is what dst received, in its committed state.
type misuseLog struct{ Vals []int }

func (l misuseLog) Clone() misuseLog { return misuseLog{Vals: slices.Clone(l.Vals)} }

// misuseSignal is a one-shot event between actors of a test graph.
type misuseSignal struct {
	once sync.Once
	ch   chan struct{}
}

func newMisuseSignal() *misuseSignal { return &misuseSignal{ch: make(chan struct{})} }

func (s *misuseSignal) fire() { s.once.Do(func() { close(s.ch) }) }

// wait waits for the signal, or until the graph stops for good.
func (s *misuseSignal) wait(a *steady.Actor) error {
	select {
	case <-s.ch:
		return nil
	case <-a.Context().Done():
		return steady.ErrStopped
	}
}

// misuseCase is one way to misuse a handle at run time. misuse runs once
// in the actor named by, while misused-chan holds the single message 1,
// and returns the error the framework gave (from Step, or from the call
// itself when there is no step).
type misuseCase struct {
	name   string
	by     string
	want   error    // ErrMisuse or ErrNoVacancy
	names  []string // what the error message must name
	misuse func(r *misuseRig, a *steady.Actor) error
}

var misuseCases = []misuseCase{
	{
		name: "send on a channel another actor produces", by: "intruder", want: steady.ErrMisuse,
		names: []string{`"` + misuseChan + `"`, `"intruder"`, `"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			return a.Step(func(s *steady.Step) error {
				_ = r.tx.Send(s, 42) // ignored: the step must fail anyway
				return nil
			})
		},
	},
	{
		name: "send many on a channel another actor produces", by: "intruder", want: steady.ErrMisuse,
		names: []string{`"` + misuseChan + `"`, `"intruder"`, `"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			return a.Step(func(s *steady.Step) error {
				_ = r.tx.SendMany(s, []int{42, 43})
				return nil
			})
		},
	},
	{
		name: "close a channel another actor produces", by: "intruder", want: steady.ErrMisuse,
		names: []string{`"` + misuseChan + `"`, `"intruder"`, `"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			return a.Step(func(s *steady.Step) error {
				_ = r.tx.Close(s)
				return nil
			})
		},
	},
	{
		name: "peek a channel another actor consumes", by: "intruder", want: steady.ErrMisuse,
		names: []string{`"` + misuseChan + `"`, `"intruder"`, `"dst"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			return a.Step(func(s *steady.Step) error {
				if v, ok := r.rx.Peek(s); ok {
					return fmt.Errorf("intruder peeked %d", v)
				}
				return nil
			})
		},
	},
	{
		name: "peek many on a channel another actor consumes", by: "intruder", want: steady.ErrMisuse,
		names: []string{`"` + misuseChan + `"`, `"intruder"`, `"dst"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			return a.Step(func(s *steady.Step) error {
				if n := r.rx.PeekMany(s, make([]int, 4)); n != 0 {
					return fmt.Errorf("intruder peeked %d messages", n)
				}
				return nil
			})
		},
	},
	{
		name: "use a state another actor owns", by: "intruder", want: steady.ErrMisuse,
		names: []string{`"src-state"`, `"intruder"`, `"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			return a.Step(func(s *steady.Step) error {
				*r.srcSt.Get(s) = 99
				return nil
			})
		},
	},
	{
		name: "send outside a step", by: "src", want: steady.ErrMisuse,
		names: []string{`"` + misuseChan + `"`, `"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			return r.tx.Send(nil, 42)
		},
	},
	{
		name: "send with a step that has ended", by: "src", want: steady.ErrMisuse,
		names: []string{`"` + misuseChan + `"`, `"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			var kept *steady.Step
			if err := a.Step(func(s *steady.Step) error { kept = s; return nil }); err != nil {
				return fmt.Errorf("empty step: %v", err)
			}
			return r.tx.Send(kept, 42)
		},
	},
	{
		name: "send beyond the vacancy, error ignored", by: "src", want: steady.ErrNoVacancy,
		names: []string{`"` + misuseChan + `"`, `"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			return a.Step(func(s *steady.Step) error {
				*r.srcSt.Get(s) = 99
				for v := 10; v < 14; v++ { // 4 sends, 3 vacant slots
					_ = r.tx.Send(s, v)
				}
				return nil
			})
		},
	},
	{
		name: "send beyond the vacancy, error returned", by: "src", want: steady.ErrNoVacancy,
		names: []string{`"` + misuseChan + `"`, `"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			return a.Step(func(s *steady.Step) error {
				*r.srcSt.Get(s) = 99
				for v := 10; v < 14; v++ {
					if err := r.tx.Send(s, v); err != nil {
						return err
					}
				}
				return nil
			})
		},
	},
	{
		name: "send many beyond the vacancy, error ignored", by: "src", want: steady.ErrNoVacancy,
		names: []string{`"` + misuseChan + `"`, `"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			return a.Step(func(s *steady.Step) error {
				_ = r.tx.Send(s, 10)
				_ = r.tx.SendMany(s, []int{11, 12, 13})
				return nil
			})
		},
	},
	{
		name: "wait for more messages than the capacity", by: "dst", want: steady.ErrMisuse,
		names:  []string{`"` + misuseChan + `"`, `"dst"`},
		misuse: func(r *misuseRig, a *steady.Actor) error { return a.WaitAvailable(r.rx, 5) },
	},
	{
		name: "wait for zero messages", by: "dst", want: steady.ErrMisuse,
		names:  []string{`"` + misuseChan + `"`, `"dst"`},
		misuse: func(r *misuseRig, a *steady.Actor) error { return a.WaitAvailable(r.rx, 0) },
	},
	{
		name: "wait for more room than the capacity", by: "src", want: steady.ErrMisuse,
		names:  []string{`"` + misuseChan + `"`, `"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error { return a.WaitVacant(r.tx, 5) },
	},
	{
		name: "wait on a channel another actor consumes", by: "intruder", want: steady.ErrMisuse,
		names:  []string{`"` + misuseChan + `"`, `"intruder"`, `"dst"`},
		misuse: func(r *misuseRig, a *steady.Actor) error { return a.WaitAvailable(r.rx, 1) },
	},
	{
		name: "wait for room on a channel another actor produces", by: "intruder", want: steady.ErrMisuse,
		names:  []string{`"` + misuseChan + `"`, `"intruder"`, `"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error { return a.WaitVacant(r.tx, 1) },
	},
	{
		name: "step after recovering a panic from a step", by: "src", want: steady.ErrMisuse,
		names: []string{`"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			func() {
				defer func() { _ = recover() }() // the actor swallows the panic
				_ = a.Step(func(s *steady.Step) error {
					_ = r.tx.Send(s, 42)
					*r.srcSt.Get(s) = 99
					panic("recovered by the actor itself")
				})
			}()
			return a.Step(func(s *steady.Step) error { return r.tx.Send(s, 43) })
		},
	},
	{
		name: "nested step", by: "src", want: steady.ErrMisuse,
		names: []string{`"src"`},
		misuse: func(r *misuseRig, a *steady.Actor) error {
			innerRan := false
			err := a.Step(func(s *steady.Step) error {
				_ = r.tx.Send(s, 7)
				return a.Step(func(s *steady.Step) error {
					innerRan = true
					*r.srcSt.Get(s) = 99
					return r.tx.Send(s, 8)
				})
			})
			if innerRan {
				return errors.New("the nested step ran its function")
			}
			return err
		},
	},
}

// TestMisuseAtRunTime: a handle used the wrong way fails with a clear error
// naming the channel or state and the actors concerned, the step it happens
// in commits nothing even when the step function ignores the error, and the
// graph carries on unharmed: dst receives exactly what src sent properly.
func TestMisuseAtRunTime(t *testing.T) {
	for _, tc := range misuseCases {
		t.Run(tc.name, func(t *testing.T) {
			g := steady.NewGraph(quiet())
			r := &misuseRig{
				c:     steady.NewChannel[int](g, misuseChan, 4),
				srcSt: steady.NewState(g, "src-state", 0),
			}
			received := steady.NewState(g, "dst-log", misuseLog{})
			ready, misused := newMisuseSignal(), newMisuseSignal()
			var misuseErr error
			lenAfter, ran := -1, false
			misuse := func(a *steady.Actor) {
				misuseErr = tc.misuse(r, a)
				lenAfter = r.c.Len()
				ran = true
				misused.fire()
			}
			opts := []steady.ActorOption{steady.Backoff(0, 0)}

			// src sends 1, lets the misuse happen, then sends 2 and
			// finishes, which closes the channel.
			src := g.Actor("src", func(a *steady.Actor) error {
				err := a.Step(func(s *steady.Step) error {
					*r.srcSt.Get(s) = 1
					return r.tx.Send(s, 1)
				})
				if err != nil {
					return err
				}
				ready.fire()
				if tc.by == "src" {
					misuse(a)
				}
				if err := misused.wait(a); err != nil {
					return err
				}
				if err := a.WaitVacant(r.tx, 1); err != nil {
					return err
				}
				return a.Step(func(s *steady.Step) error {
					*r.srcSt.Get(s) = 2
					return r.tx.Send(s, 2)
				})
			}, opts...)
			// dst consumes only after the misuse, until the channel closes.
			dst := g.Actor("dst", func(a *steady.Actor) error {
				if err := ready.wait(a); err != nil {
					return err
				}
				if tc.by == "dst" {
					misuse(a)
				}
				if err := misused.wait(a); err != nil {
					return err
				}
				return steady.SinkBatch(a, r.rx, 4, func(s *steady.Step, vs []int) error {
					l := received.Get(s)
					l.Vals = append(l.Vals, vs...)
					return nil
				})
			}, opts...)
			intruder := g.Actor("intruder", func(a *steady.Actor) error {
				if err := ready.wait(a); err != nil {
					return err
				}
				if tc.by == "intruder" {
					misuse(a)
				}
				return nil
			}, opts...)
			r.tx, r.rx = r.c.Sender(src), r.c.Receiver(dst)
			r.srcSt.Bind(src)
			received.Bind(dst)

			if err := wiringRun(t, g); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !ran {
				t.Fatal("the misuse never ran")
			}
			if misuseErr == nil {
				t.Fatal("the misuse returned no error")
			}
			if !errors.Is(misuseErr, tc.want) {
				t.Errorf("error %q does not wrap %q", misuseErr, tc.want)
			}
			if lenAfter != 1 {
				t.Errorf("channel holds %d messages right after the misuse, want 1", lenAfter)
			}
			if got := received.Value().Vals; !slices.Equal(got, []int{1, 2}) {
				t.Errorf("dst received %v, want [1 2]: the misuse published or consumed something", got)
			}
			if got := r.srcSt.Value(); got != 2 {
				t.Errorf("src-state is %d, want 2", got)
			}
			for _, a := range []*steady.Actor{src, dst, intruder} {
				if n := a.Restarts(); n != 0 {
					t.Errorf("actor %q restarted %d times; a misuse returned as an error must not crash it", a.Name(), n)
				}
			}
			if dl := g.DeadLetters(); len(dl) != 0 {
				t.Errorf("dead letters: %v", dl)
			}

			var missing []string
			for _, name := range tc.names {
				if !strings.Contains(misuseErr.Error(), name) {
					missing = append(missing, name)
				}
			}
			for _, name := range missing {
				t.Errorf("error %q does not name %s", misuseErr, name)
			}
		})
	}
}

// TestMisuseNestedStepFailsOuterStep: a nested Step is a misuse of the step
// in progress; like a send beyond the vacancy, it must fail the outer step
// even when the outer function ignores the nested error, so the work the
// nested function would have done is not silently lost while the rest
// commits.
func TestMisuseNestedStepFailsOuterStep(t *testing.T) {
	g := steady.NewGraph(quiet())
	c := steady.NewChannel[int](g, misuseChan, 4)
	received := steady.NewState(g, "dst-log", misuseLog{})
	var tx *steady.Sender[int]
	var rx *steady.Receiver[int]
	var outerErr, innerErr error
	src := g.Actor("src", func(a *steady.Actor) error {
		outerErr = a.Step(func(s *steady.Step) error {
			_ = tx.Send(s, 7)
			innerErr = a.Step(func(s *steady.Step) error { return tx.Send(s, 8) })
			return nil // the nested error is ignored
		})
		return nil
	}, steady.Backoff(0, 0))
	dst := g.Actor("dst", func(a *steady.Actor) error {
		return steady.Sink(a, rx, func(s *steady.Step, v int) error {
			l := received.Get(s)
			l.Vals = append(l.Vals, v)
			return nil
		})
	}, steady.Backoff(0, 0))
	tx, rx = c.Sender(src), c.Receiver(dst)
	received.Bind(dst)
	if err := wiringRun(t, g); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !errors.Is(innerErr, steady.ErrMisuse) {
		t.Fatalf("nested Step: %v, want ErrMisuse", innerErr)
	}
	got := received.Value().Vals
	if !errors.Is(outerErr, steady.ErrMisuse) {
		t.Errorf("outer Step: %v, want ErrMisuse", outerErr)
	} else {
		wiringContains(t, outerErr, `"src"`)
	}
	if len(got) != 0 {
		t.Errorf("dst received %v: a step with a nested Step published", got)
	}
}
