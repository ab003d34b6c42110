package steady_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// shapesPipe is source → stage → sink built from the shape helpers, the
// plain forms for n = 0, the batch forms of n otherwise: the
// source sends 1..total with its counter in state, the stage drops the
// multiples of 5 and doubles the rest, the sink records what it commits in
// state. failAt, called inside each user function at named points, may
// panic there.
type shapesPipe struct {
	g                    *steady.Graph
	count                *steady.State[int]
	got                  *steady.State[intList]
	source, stage, sinkA *steady.Actor
}

type intList []int

func newShapesPipe(cfg steady.Config, total, n, capacity int, failAt func(actor, point string, v int)) *shapesPipe {
	p := &shapesPipe{g: steady.NewGraph(cfg)}
	raw := steady.NewChannel[int](p.g, "raw", capacity)
	cooked := steady.NewChannel[int](p.g, "cooked", capacity)
	p.count = steady.NewState(p.g, "count", 0)
	p.got = steady.NewState(p.g, "got", intList(nil))
	opts := []steady.ActorOption{steady.Backoff(0, 0), steady.Intensity(1_000_000, time.Minute)}

	var out *steady.Sender[int]
	p.source = p.g.Actor("source", func(a *steady.Actor) error {
		next := func(s *steady.Step) (int, bool, error) {
			c := p.count.Get(s)
			failAt("source", "before", *c+1)
			if *c == total {
				return 0, false, nil
			}
			*c++
			failAt("source", "after", *c)
			return *c, true, nil
		}
		if n == 0 {
			return steady.Source(a, out, next)
		}
		return steady.SourceBatch(a, out, n, func(s *steady.Step, buf []int) (int, bool, error) {
			for i := range buf {
				v, ok, err := next(s)
				if err != nil || !ok {
					return i, false, err
				}
				buf[i] = v
			}
			return len(buf), true, nil
		})
	}, opts...)
	out = raw.Sender(p.source)
	p.count.Bind(p.source)

	var sin *steady.Receiver[int]
	var sout *steady.Sender[int]
	p.stage = p.g.Actor("stage", func(a *steady.Actor) error {
		fn := func(s *steady.Step, v int) (int, bool, error) {
			failAt("stage", "fn", v)
			return 2 * v, v%5 != 0, nil
		}
		if n == 0 {
			return steady.Stage(a, sin, sout, fn)
		}
		return steady.StageBatch(a, sin, sout, n, func(s *steady.Step, vs, dst []int) ([]int, error) {
			for _, v := range vs {
				w, keep, err := fn(s, v)
				if err != nil {
					return nil, err
				}
				if keep {
					dst = append(dst, w)
				}
			}
			return dst, nil
		})
	}, opts...)
	sin, sout = raw.Receiver(p.stage), cooked.Sender(p.stage)

	var in *steady.Receiver[int]
	p.sinkA = p.g.Actor("sink", func(a *steady.Actor) error {
		if n > 0 {
			return steady.SinkBatch(a, in, n, func(s *steady.Step, vs []int) error {
				g := p.got.Get(s)
				for _, v := range vs {
					failAt("sink", "before", v)
					*g = append(*g, v)
					failAt("sink", "after", v)
				}
				return nil
			})
		}
		return steady.Sink(a, in, func(s *steady.Step, v int) error {
			failAt("sink", "before", v)
			g := p.got.Get(s)
			*g = append(*g, v)
			failAt("sink", "after", v)
			return nil
		})
	}, opts...)
	in = cooked.Receiver(p.sinkA)
	p.got.Bind(p.sinkA)
	return p
}

// shapesName names a subtest of newShapesPipe's n.
func shapesName(n int) string {
	if n == 0 {
		return "plain"
	}
	return fmt.Sprintf("batch=%d", n)
}

// Clone lets the sink's state be a slice: each step works on its own copy.
func (l intList) Clone() intList { return append(intList(nil), l...) }

// wantCooked is what the sink must commit for 1..total: each value not a
// multiple of 5, doubled, once, in order.
func wantCooked(total int) []int {
	var w []int
	for v := 1; v <= total; v++ {
		if v%5 != 0 {
			w = append(w, 2*v)
		}
	}
	return w
}

func checkCooked(t *testing.T, got []int, total int) {
	t.Helper()
	want := wantCooked(total)
	if len(got) != len(want) {
		t.Fatalf("sink committed %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sink committed %d at %d, want %d (each value once, in order)", got[i], i, want[i])
		}
	}
}

// TestShapesDeliverOnce: without failures, the three shapes, single and
// batch, deliver every value once and in order, and the graph ends by
// itself when the source runs out.
func TestShapesDeliverOnce(t *testing.T) {
	for _, n := range []int{0, 1, 7, 64} {
		{
			t.Run(shapesName(n), func(t *testing.T) {
				p := newShapesPipe(quiet(), 1000, n, 16, func(string, string, int) {})
				if err := p.g.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				checkCooked(t, p.got.Value(), 1000)
				for _, a := range []*steady.Actor{p.source, p.stage, p.sinkA} {
					if a.Restarts() != 0 || a.Status() != observe.StatusStopped {
						t.Errorf("%s: %d restarts, status %v; want 0, stopped", a.Name(), a.Restarts(), a.Status())
					}
				}
			})
		}
	}
}

// TestShapesPanicEverywhere: a panic at every point of every user function
// (before and after a state change, in the middle of a batch), and at the
// framework's own fault points, rolls back the step; the restarted actor
// resumes, and every value still arrives exactly once, in order.
func TestShapesPanicEverywhere(t *testing.T) {
	for _, n := range []int{0, 1, 8} {
		{
			t.Run(shapesName(n), func(t *testing.T) {
				const total = 600
				var mu sync.Mutex
				failed := map[string]bool{} // each point fails once per value
				panics := 0
				failAt := func(actor, point string, v int) {
					// Every value fails once at one point of one actor,
					// chosen by its remainder.
					points := []string{"source/before", "source/after", "stage/fn", "sink/before", "sink/after"}
					key := actor + "/" + point
					if points[v%len(points)] != key || v%3 != 0 {
						return
					}
					mu.Lock()
					first := !failed[fmt.Sprint(key, v)]
					failed[fmt.Sprint(key, v)] = true
					if first {
						panics++
					}
					mu.Unlock()
					if first {
						panic(fmt.Sprintf("%s at %d", key, v))
					}
				}
				cfg := quiet()
				rng := rand.New(rand.NewPCG(1, uint64(n)))
				var rmu sync.Mutex
				injected := 0
				cfg.Faults = func(fp observe.FaultPoint) error {
					rmu.Lock()
					defer rmu.Unlock()
					if fp.Kind == observe.FaultStep && rng.IntN(40) == 0 {
						injected++
						panic("fault at step")
					}
					if fp.Kind == observe.FaultPeek && rng.IntN(200) == 0 {
						injected++
						panic(fmt.Sprint("fault at peek of ", fp.Message))
					}
					return nil
				}
				p := newShapesPipe(cfg, total, n, 16, failAt)
				if err := p.g.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				checkCooked(t, p.got.Value(), total)
				restarts := p.source.Restarts() + p.stage.Restarts() + p.sinkA.Restarts()
				if panics == 0 || injected == 0 || restarts != panics+injected {
					t.Errorf("%d restarts for %d scripted panics and %d injected faults: want them equal, and both > 0", restarts, panics, injected)
				}
				if d := p.g.DeadLetters(); len(d) != 0 {
					t.Errorf("%d dead letters, want none (each value fails at most twice)", len(d))
				}
			})
		}
	}
}

// TestStagePoison: a value the stage's function always fails on is
// quarantined alone, even in a batch step, and every other value goes
// through once.
func TestStagePoison(t *testing.T) {
	g := steady.NewGraph(quiet())
	raw := steady.NewChannel[int](g, "raw", 64)
	cooked := steady.NewChannel[int](g, "cooked", 64)
	var out *steady.Sender[int]
	src := g.Actor("source", func(a *steady.Actor) error {
		i := 0
		return steady.Source(a, out, func(*steady.Step) (int, bool, error) {
			i++ // no state: this source runs once
			return i, i <= 100, nil
		})
	})
	out = raw.Sender(src)
	var sin *steady.Receiver[int]
	var sout *steady.Sender[int]
	stage := g.Actor("stage", func(a *steady.Actor) error {
		return steady.StageBatch(a, sin, sout, 16, func(_ *steady.Step, vs, dst []int) ([]int, error) {
			for _, v := range vs {
				if v == 42 {
					return nil, errors.New("cannot cook 42")
				}
				dst = append(dst, v)
			}
			return dst, nil
		})
	}, steady.Backoff(0, 0))
	sin, sout = raw.Receiver(stage), cooked.Sender(stage)
	var got []int
	var in *steady.Receiver[int]
	sink := g.Actor("sink", func(a *steady.Actor) error {
		return steady.Sink(a, in, func(_ *steady.Step, v int) error {
			got = append(got, v) // the sink never fails: no state needed
			return nil
		})
	})
	in = cooked.Receiver(sink)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := g.DeadLetters()
	if len(d) != 1 || d[0].Value != 42 || d[0].Channel != "raw" || d[0].Attempts != steady.DefaultPolicy().PoisonAfter {
		t.Fatalf("dead letters %+v, want 42 from raw after %d attempts", d, steady.DefaultPolicy().PoisonAfter)
	}
	if len(got) != 99 {
		t.Fatalf("sink got %d values, want 99", len(got))
	}
	for i, v := range got {
		w := i + 1
		if w >= 42 { // 42 is missing
			w++
		}
		if v != w {
			t.Fatalf("sink got %d at %d, want %d", v, i, w)
		}
	}
}

// TestShapesShutdownMidBatch: a source that never runs out, and a sink
// slower than it, each in batches; a shutdown while the channel is full
// stops the source and the sink drains every value the source committed.
func TestShapesShutdownMidBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		ch := steady.NewChannel[int](g, "numbers", 100)
		sent := steady.NewState(g, "sent", 0)
		received := steady.NewState(g, "received", 0)
		var out *steady.Sender[int]
		src := g.Actor("source", func(a *steady.Actor) error {
			return steady.SourceBatch(a, out, 16, func(s *steady.Step, buf []int) (int, bool, error) {
				n := sent.Get(s)
				for i := range buf {
					*n++
					buf[i] = *n
				}
				return len(buf), true, nil
			})
		})
		out = ch.Sender(src)
		sent.Bind(src)
		var in *steady.Receiver[int]
		snk := g.Actor("sink", func(a *steady.Actor) error {
			return steady.SinkBatch(a, in, 10, func(s *steady.Step, vs []int) error {
				time.Sleep(time.Millisecond)
				r := received.Get(s)
				for _, v := range vs {
					if v != *r+1 {
						return fmt.Errorf("got %d after %d", v, *r)
					}
					*r = v
				}
				return nil
			})
		})
		in = ch.Receiver(snk)
		received.Bind(snk)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- g.Run(ctx) }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if s, r := sent.Value(), received.Value(); s < 100 || r != s {
			t.Errorf("sent %d, received %d: want equal, past the channel's capacity", s, r)
		}
		if snk.Restarts() != 0 || src.Restarts() != 0 {
			t.Errorf("restarts: source %d, sink %d; want none", src.Restarts(), snk.Restarts())
		}
	})
}

// TestShapesMisuse: a shape given a channel end of another actor, or a
// batch size below 1, returns an ErrMisuse, and calls no user function.
func TestShapesMisuse(t *testing.T) {
	g := steady.NewGraph(quiet())
	ch := steady.NewChannel[int](g, "numbers", 8)
	other := steady.NewChannel[int](g, "other", 8)
	var out, otherOut *steady.Sender[int]
	var in, otherIn *steady.Receiver[int]
	var mu sync.Mutex // the two actors record their cases concurrently
	calls := 0
	call := func() { mu.Lock(); calls++; mu.Unlock() }
	errs := map[string]error{}
	record := func(name string, err error) { mu.Lock(); errs[name] = err; mu.Unlock() }
	next := func(*steady.Step) (int, bool, error) { call(); return 0, false, nil }
	fill := func(*steady.Step, []int) (int, bool, error) { call(); return 0, false, nil }
	fn := func(*steady.Step, int) (int, bool, error) { call(); return 0, true, nil }
	batchFn := func(_ *steady.Step, _, dst []int) ([]int, error) { call(); return dst, nil }
	eat := func(*steady.Step, int) error { call(); return nil }
	eatBatch := func(*steady.Step, []int) error { call(); return nil }
	prod := g.Actor("producer", func(a *steady.Actor) error {
		record("SourceBatch n=0", steady.SourceBatch(a, out, 0, fill))
		record("Sink of another's input", steady.Sink(a, in, eat))
		record("SinkBatch of another's input", steady.SinkBatch(a, in, 4, eatBatch))
		record("Stage of another's input", steady.Stage(a, in, out, fn))
		return nil
	})
	cons := g.Actor("consumer", func(a *steady.Actor) error {
		record("Stage to another's output", steady.Stage(a, in, out, fn))
		record("StageBatch to another's output", steady.StageBatch(a, in, out, 4, batchFn))
		record("StageBatch n=0", steady.StageBatch(a, in, otherOut, 0, batchFn))
		record("SinkBatch n=-1", steady.SinkBatch(a, in, -1, eatBatch))
		record("Source on another's output", steady.Source(a, out, next))
		record("SourceBatch on another's output", steady.SourceBatch(a, out, 2, fill))
		return steady.Sink(a, in, func(*steady.Step, int) error { return nil })
	})
	drain := g.Actor("drain", func(a *steady.Actor) error {
		return steady.Sink(a, otherIn, func(*steady.Step, int) error { return nil })
	})
	out, in = ch.Sender(prod), ch.Receiver(cons)
	otherOut, otherIn = other.Sender(cons), other.Receiver(drain)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 10 {
		t.Fatalf("%d cases ran, want 10", len(errs))
	}
	for name, err := range errs {
		if !errors.Is(err, steady.ErrMisuse) {
			t.Errorf("%s: %v, want ErrMisuse", name, err)
		}
	}
	if calls != 0 {
		t.Errorf("the user functions ran %d times, want 0", calls)
	}
}
