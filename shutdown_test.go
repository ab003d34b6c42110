package steady_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// pipe builds producer → consumer, where the producer sends 0, 1, 2, …
// until Running is false and the consumer sums what it gets, slowly.
type pipe struct {
	g        *steady.Graph
	sent     *steady.State[int]
	received *steady.State[int]
	producer *steady.Actor
	consumer *steady.Actor
	// failOn, if set before Run, makes the consumer panic on the values
	// for which it returns true, inside the step.
	failOn func(v int) bool
}

func newPipe(cfg steady.Config, capacity int, consumerDelay time.Duration, opts ...steady.ActorOption) *pipe {
	p := &pipe{g: steady.NewGraph(cfg)}
	ch := steady.NewChannel[int](p.g, "numbers", capacity)
	p.sent = steady.NewState(p.g, "sent", 0)
	p.received = steady.NewState(p.g, "received", 0)
	var out *steady.Sender[int]
	var in *steady.Receiver[int]
	p.producer = p.g.Actor("producer", func(a *steady.Actor) error {
		return steady.Source(a, out, func(s *steady.Step) (int, bool, error) {
			n := p.sent.Get(s)
			*n++
			return *n, true, nil
		})
	}, opts...)
	p.consumer = p.g.Actor("consumer", func(a *steady.Actor) error {
		for {
			if err := a.WaitAvailable(in, 1); err != nil {
				return err
			}
			if consumerDelay > 0 {
				time.Sleep(consumerDelay)
			}
			if err := a.Step(func(s *steady.Step) error {
				v, _ := in.Peek(s)
				if p.failOn != nil && p.failOn(v) {
					panic("failOn")
				}
				r := p.received.Get(s)
				if v != *r+1 {
					return errors.New("out of order")
				}
				*r = v
				return nil
			}); err != nil {
				return err
			}
		}
	}, opts...)
	out, in = ch.Sender(p.producer), ch.Receiver(p.consumer)
	p.sent.Bind(p.producer)
	p.received.Bind(p.consumer)
	return p
}

// TestShutdownDrains: after a shutdown the consumer takes every message the
// producer committed, so sent equals received.
func TestShutdownDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPipe(quiet(), 100, time.Millisecond)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.g.Run(ctx) }()
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		sent, received := p.sent.Value(), p.received.Value()
		if sent < 100 || received != sent {
			t.Errorf("sent %d, received %d: want equal, and the channel full at shutdown", sent, received)
		}
		if st := p.g.Status(); st != observe.GraphStopped {
			t.Errorf("status %v, want stopped", st)
		}
	})
}

// TestShutdownVetoTimesOut: an actor that holds the shutdown and never lets
// go is named, with its reason, when the timeout passes.
func TestShutdownVetoTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var vetoed atomic.Bool
		cfg := quiet()
		cfg.ShutdownTimeout = 2 * time.Second
		cfg.OnEvent = func(e observe.Event) {
			if e.Kind == observe.EventVetoed && e.Actor == "flusher" && e.Reason == "flushing to disk" {
				vetoed.Store(true)
			}
		}
		g := steady.NewGraph(cfg)
		g.Actor("flusher", func(a *steady.Actor) error {
			a.HoldShutdown("flushing to disk")
			for a.Running() {
				if err := a.Sleep(100 * time.Millisecond); err != nil {
					return err
				}
			}
			return nil
		})
		g.Actor("quick", func(a *steady.Actor) error {
			for a.Running() {
				if err := a.Sleep(time.Hour); err != nil {
					return err
				}
			}
			return nil
		})
		start := time.Now()
		go func() {
			time.Sleep(time.Second)
			g.Shutdown("test")
		}()
		err := g.Run(context.Background())
		var to *steady.ShutdownTimeoutError
		if !errors.As(err, &to) {
			t.Fatalf("Run: %v, want a shutdown timeout", err)
		}
		if len(to.Pending) != 1 || to.Pending[0].Actor != "flusher" || to.Pending[0].Reason != "flushing to disk" {
			t.Errorf("pending %+v, want flusher holding for flushing to disk", to.Pending)
		}
		if el := time.Since(start); el != 3*time.Second {
			t.Errorf("Run returned after %v, want 3s (1s + the 2s timeout)", el)
		}
		if !vetoed.Load() {
			t.Error("no veto event")
		}
	})
}

// TestShutdownVetoReleased: a hold delays the shutdown only until released.
func TestShutdownVetoReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		g.Actor("flusher", func(a *steady.Actor) error {
			a.HoldShutdown("flushing")
			for a.Running() {
				if err := a.Sleep(100 * time.Millisecond); err != nil {
					return err
				}
				if g.Status() == observe.GraphShuttingDown {
					time.Sleep(300 * time.Millisecond) // the flush
					a.ReleaseShutdown()
				}
			}
			return nil
		})
		go func() {
			time.Sleep(time.Second)
			g.Shutdown("test")
		}()
		start := time.Now()
		if err := g.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if el := time.Since(start); el < 1300*time.Millisecond || el > 1500*time.Millisecond {
			t.Errorf("Run took %v, want the flush (about 1.4s)", el)
		}
	})
}

// TestShutdownWhileBackingOff: a producer in a long backoff stops at once
// when the graph shuts down, instead of sleeping the backoff out.
func TestShutdownWhileBackingOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		a := g.Actor("flaky", (&failing{script: []string{"panic"}}).run,
			steady.Backoff(time.Hour, time.Hour), steady.Intensity(-1, 0))
		go func() {
			time.Sleep(time.Second)
			synctest.Wait()
			if st := a.Status(); st != observe.StatusBackingOff {
				t.Errorf("status %v, want backing off", st)
			}
			g.Shutdown("test")
		}()
		start := time.Now()
		if err := g.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if el := time.Since(start); el != time.Second {
			t.Errorf("Run took %v, want 1s", el)
		}
	})
}

// TestShutdownConsumerBackingOffDrains: a consumer that fails during the
// shutdown is still restarted, after its backoff, to drain its input.
func TestShutdownConsumerBackingOffDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPipe(quiet(), 10, time.Millisecond, steady.Backoff(500*time.Millisecond, 500*time.Millisecond))
		var failed atomic.Bool
		p.failOn = func(int) bool {
			return p.g.Status() == observe.GraphShuttingDown && !failed.Swap(true)
		}
		done := make(chan error)
		go func() { done <- p.g.Run(context.Background()) }()
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		p.g.Shutdown("test")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !failed.Load() || p.consumer.Restarts() != 1 {
			t.Fatalf("consumer failed %v, restarted %d times; want one failure during the shutdown", failed.Load(), p.consumer.Restarts())
		}
		if el := time.Since(start); el < 400*time.Millisecond { // the backoff less its 20% jitter
			t.Errorf("shutdown took %v, want at least the 500ms backoff", el)
		}
		if s, r := p.sent.Value(), p.received.Value(); s != r || s < 10 {
			t.Errorf("sent %d, received %d", s, r)
		}
	})
}

// TestShutdownWhileRestarting: shutdown in the middle of a fast crash loop,
// in real time; Run returns and no goroutine is left (TestMain checks).
func TestShutdownWhileRestarting(t *testing.T) {
	for range 20 {
		g := steady.NewGraph(quiet())
		f := &failing{script: []string{"panic"}}
		a := g.Actor("looper", f.run, steady.Backoff(0, 0), steady.Intensity(-1, 0))
		done := make(chan error)
		go func() { done <- g.Run(context.Background()) }()
		for a.Restarts() < 100 {
			time.Sleep(10 * time.Microsecond)
		}
		g.Shutdown("test")
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
		}
	}
}

// TestShutdownStuckActor: an actor that ignores Running and waits only on
// its context is released at the timeout.
func TestShutdownStuckActor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := quiet()
		cfg.ShutdownTimeout = time.Second
		g := steady.NewGraph(cfg)
		g.Actor("stuck", (&failing{script: []string{"hang"}}).run)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := g.Run(ctx)
		var to *steady.ShutdownTimeoutError
		if !errors.As(err, &to) || len(to.Pending) != 1 || to.Pending[0].Actor != "stuck" {
			t.Fatalf("Run: %v, want a timeout naming stuck", err)
		}
	})
}

// TestShutdownTimeoutWhileBackingOff: a consumer that fails during the
// shutdown waits out a backoff longer than the shutdown timeout; the
// timeout's error names it as backing off, not as running.
func TestShutdownTimeoutWhileBackingOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := quiet()
		cfg.ShutdownTimeout = time.Second
		g := steady.NewGraph(cfg)
		ch := countTo(g, 1)
		c := g.Actor("consumer", func(a *steady.Actor) error {
			g.Shutdown("test")
			return errors.New("failed during the shutdown")
		}, steady.Backoff(time.Minute, time.Minute))
		ch.Receiver(c) // with an input, it is restarted during a shutdown
		err := g.Run(context.Background())
		var to *steady.ShutdownTimeoutError
		if !errors.As(err, &to) || len(to.Pending) != 1 || to.Pending[0].Actor != "consumer" ||
			to.Pending[0].Status != observe.StatusBackingOff || !strings.Contains(err.Error(), `"consumer" (backing off)`) {
			t.Fatalf("Run: %v (pending %+v), want a timeout naming the consumer as backing off", err, to)
		}
	})
}

// TestActorFinishing: actors that return nil finish; when all have, Run
// returns without a shutdown request.
func TestActorFinishing(t *testing.T) {
	g := steady.NewGraph(quiet())
	var ran atomic.Int32
	for _, name := range []string{"a", "b", "c"} {
		g.Actor(name, func(*steady.Actor) error { ran.Add(1); return nil })
	}
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 3 {
		t.Errorf("%d actors ran, want 3", ran.Load())
	}
	if err := g.Run(context.Background()); !errors.Is(err, steady.ErrGraphRunning) {
		t.Errorf("second Run: %v, want ErrGraphRunning", err)
	}
}

// TestStopGraphSentinel: an actor returning ErrStopGraph shuts the graph
// down in order, and the others drain.
func TestStopGraphSentinel(t *testing.T) {
	p := newPipe(quiet(), 16, 0)
	p.g.Actor("stopper", func(a *steady.Actor) error {
		for p.received.Value() < 1000 {
			time.Sleep(time.Millisecond)
		}
		return steady.ErrStopGraph
	})
	if err := p.g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s, r := p.sent.Value(), p.received.Value(); s != r || r < 1000 {
		t.Errorf("sent %d, received %d", s, r)
	}
}

// TestShutdownFromHook: a hook that reacts to the shutdown request, or to a
// veto announced with it, by asking for a shutdown again (Graph.Shutdown or
// Actor.RequestShutdown) returns, and so do Shutdown and Run; the hook sees
// one request, then the veto. Each way of starting a shutdown is tried: a
// Shutdown call, a cancelled context (Run's goroutine emits) and an actor's
// RequestShutdown. The deadline only guards against the deadlock this test
// is about; nothing here waits for time to pass.
func TestShutdownFromHook(t *testing.T) {
	for _, trigger := range []string{"Shutdown", "context", "actor"} {
		for _, react := range []observe.EventKind{observe.EventShutdownRequested, observe.EventVetoed} {
			t.Run(trigger+"/"+react.String(), func(t *testing.T) {
				var ev collect
				var flusher *steady.Actor
				var g *steady.Graph
				sawVeto := make(chan struct{})
				var vetoOnce sync.Once
				cfg := quiet()
				cfg.OnEvent = func(e observe.Event) {
					ev.hook(e)
					if e.Kind == observe.EventVetoed {
						vetoOnce.Do(func() { close(sawVeto) })
					}
					if e.Kind != react {
						return
					}
					if react == observe.EventVetoed {
						flusher.RequestShutdown("again, from the hook")
					} else {
						g.Shutdown("again, from the hook")
					}
				}
				g = steady.NewGraph(cfg)
				held := make(chan struct{})
				flusher = g.Actor("flusher", func(a *steady.Actor) error {
					a.HoldShutdown("flushing")
					close(held)
					select {
					case <-sawVeto:
					case <-a.Context().Done():
					}
					a.ReleaseShutdown()
					return nil
				})
				g.Actor("requester", func(a *steady.Actor) error {
					<-held
					if trigger == "actor" {
						a.RequestShutdown("test")
					}
					return nil
				})
				ctx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				runDone := make(chan error, 1)
				go func() { runDone <- g.Run(ctx) }()
				<-held
				requested := make(chan struct{})
				switch trigger {
				case "Shutdown":
					go func() {
						g.Shutdown("test")
						close(requested)
					}()
				case "context":
					cancel(errors.New("test"))
					close(requested)
				case "actor":
					close(requested)
				}
				deadline := time.After(10 * time.Second)
				select {
				case <-requested:
				case <-deadline:
					t.Fatal("Shutdown did not return: a hook calling Shutdown deadlocked")
				}
				select {
				case err := <-runDone:
					if err != nil {
						t.Fatalf("Run: %v", err)
					}
				case <-deadline:
					t.Fatal("Run did not return: a hook calling Shutdown deadlocked")
				}
				want := map[string]string{"Shutdown": "test", "context": "context: test", "actor": `actor "requester": test`}[trigger]
				if r := g.Snapshot().ShutdownReason; r != want {
					t.Errorf("shutdown reason %q, want %q (the first request's)", r, want)
				}
				ev.mu.Lock()
				var order []string
				for _, e := range ev.events {
					if e.Kind == observe.EventShutdownRequested || e.Kind == observe.EventVetoed {
						order = append(order, e.Kind.String()+": "+e.Reason)
					}
				}
				ev.mu.Unlock()
				if len(order) != 2 || order[0] != "shutdown requested: "+want || order[1] != "shutdown vetoed: flushing" {
					t.Errorf("events %q, want one shutdown request (%q), then the veto", order, want)
				}
			})
		}
	}
}

// TestRestartAfterInputsEnded: an actor whose inputs have all ended still
// restarts after a failure, so that the work it does after its last
// message (here a final flush of its state, failing once) is retried
// rather than dropped. Both with and without a shutdown request.
func TestRestartAfterInputsEnded(t *testing.T) {
	inputsEndedCases(t, func(t *testing.T, shutdown bool) {
		g := steady.NewGraph(quiet())
		ch := countTo(g, 10)
		pending := steady.NewState(g, "pending", 0) // values taken, not yet flushed
		flushed := steady.NewState(g, "flushed", 0)
		var in *steady.Receiver[int]
		var flushes atomic.Int32
		c := g.Actor("consumer", func(a *steady.Actor) error {
			if err := steady.Sink(a, in, func(s *steady.Step, v int) error {
				*pending.Get(s) += v
				return nil
			}); err != nil {
				return err
			}
			if shutdown {
				g.Shutdown("the producer is done")
			}
			return a.Step(func(s *steady.Step) error {
				if flushes.Add(1) == 1 {
					panic("the flush failed")
				}
				*flushed.Get(s) += *pending.Get(s)
				*pending.Get(s) = 0
				return nil
			})
		}, steady.Backoff(time.Millisecond, time.Millisecond))
		in = ch.Receiver(c)
		pending.Bind(c)
		flushed.Bind(c)
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := flushed.Value(); got != 55 || pending.Value() != 0 {
			t.Errorf("flushed %d, pending %d; want 55 flushed (1+…+10), none pending", got, pending.Value())
		}
		if r := c.Restarts(); r != 1 {
			t.Errorf("the consumer restarted %d times, want 1", r)
		}
	})
}

// inputsEndedCases runs f in a synctest bubble as two subtests: one where
// f's actor sees its inputs end on their own (shutdown false), one where
// it requests a shutdown once they have.
func inputsEndedCases(t *testing.T, f func(t *testing.T, shutdown bool)) {
	for _, shutdown := range []bool{false, true} {
		name := "inputs ended"
		if shutdown {
			name = "inputs ended during a shutdown"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { f(t, shutdown) })
		})
	}
}

// TestGiveUpAfterInputsEnded: an actor whose work after its last message
// fails at every run is restarted under its policy like any other, and
// gives up past its restart limit; Run reports it.
func TestGiveUpAfterInputsEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		ch := countTo(g, 3)
		var in *steady.Receiver[int]
		var flushes atomic.Int32
		c := g.Actor("consumer", func(a *steady.Actor) error {
			if err := steady.Sink(a, in, func(*steady.Step, int) error { return nil }); err != nil {
				return err
			}
			flushes.Add(1)
			return errors.New("the flush failed")
		}, steady.Backoff(time.Millisecond, time.Millisecond), steady.Intensity(3, time.Minute))
		in = ch.Receiver(c)
		err := g.Run(context.Background())
		var gaveUp *steady.GaveUpError
		if !errors.As(err, &gaveUp) || gaveUp.Actor != "consumer" {
			t.Fatalf("Run: %v, want the consumer's *GaveUpError", err)
		}
		if r, f := c.Restarts(), flushes.Load(); r != 3 || f != 4 {
			t.Errorf("%d restarts, %d flushes; want 3 restarts (the limit) and 4 flushes", r, f)
		}
		if st := c.Stats().Status; st != observe.StatusDegraded {
			t.Errorf("the consumer is %v, want degraded", st)
		}
	})
}

// countTo adds a producer that sends 1, 2, …, n into a new channel
// "values" and finishes; the channel is returned for a consumer to bind.
func countTo(g *steady.Graph, n int) *steady.Channel[int] {
	ch := steady.NewChannel[int](g, "values", 4)
	var out *steady.Sender[int]
	next := 0
	p := g.Actor("producer", func(a *steady.Actor) error {
		return steady.Source(a, out, func(*steady.Step) (int, bool, error) {
			next++
			return next, next <= n, nil
		})
	})
	out = ch.Sender(p)
	return ch
}

// TestHoldingSourceRestartsInShutdown: a source that holds the shutdown to
// flush, and fails during the flush, runs again (and holds again) rather
// than stop with its flush undone. Sources that hold nothing still stop
// at once in a shutdown (TestShutdownWhileBackingOff).
func TestHoldingSourceRestartsInShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		flushed := steady.NewState(g, "flushed", false)
		var attempts atomic.Int32
		f := g.Actor("flusher", func(a *steady.Actor) error {
			a.HoldShutdown("flushing")
			for g.Status() != observe.GraphShuttingDown {
				if err := a.Sleep(10 * time.Millisecond); err != nil {
					return err
				}
			}
			err := a.Step(func(s *steady.Step) error {
				if attempts.Add(1) == 1 {
					panic("the flush failed")
				}
				*flushed.Get(s) = true
				return nil
			})
			a.ReleaseShutdown()
			return err
		}, steady.Backoff(time.Millisecond, time.Millisecond))
		flushed.Bind(f)
		go func() {
			time.Sleep(100 * time.Millisecond)
			g.Shutdown("test")
		}()
		if err := g.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if !flushed.Value() || f.Restarts() != 1 || attempts.Load() != 2 {
			t.Errorf("flushed %v after %d restarts and %d attempts; want flushed, 1 restart, 2 attempts",
				flushed.Value(), f.Restarts(), attempts.Load())
		}
	})
}

// TestFlushAfterInputsEndedWaitsForRoom: a stage whose input has ended
// sends one last message (a total) after its loop. Its output is full at
// that moment, behind a slow consumer that is still draining: WaitVacant
// waits for room rather than tell the stage to stop, so the total arrives
// after every value, with and without a shutdown request.
func TestFlushAfterInputsEndedWaitsForRoom(t *testing.T) {
	inputsEndedCases(t, func(t *testing.T, shutdown bool) {
		g := steady.NewGraph(quiet())
		values := countTo(g, 10)
		totals := steady.NewChannel[int](g, "totals", 2)
		var in *steady.Receiver[int]
		var out *steady.Sender[int]
		var in2 *steady.Receiver[int]
		stage := g.Actor("stage", func(a *steady.Actor) error {
			sum := 0
			if err := steady.Stage(a, in, out, func(_ *steady.Step, v int) (int, bool, error) {
				sum += v
				return v, true, nil
			}); err != nil {
				return err
			}
			if shutdown {
				g.Shutdown("the input ended")
			}
			if err := a.WaitVacant(out, 1); err != nil {
				return err
			}
			return a.Step(func(s *steady.Step) error { return out.Send(s, -sum) })
		})
		var got []int
		sink := g.Actor("sink", func(a *steady.Actor) error {
			return steady.Sink(a, in2, func(_ *steady.Step, v int) error {
				time.Sleep(time.Millisecond) // slower than the stage
				got = append(got, v)
				return nil
			})
		})
		in, out, in2 = values.Receiver(stage), totals.Sender(stage), totals.Receiver(sink)
		if err := g.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if len(got) != 11 || got[10] != -55 {
			t.Errorf("the sink got %v, want 1…10 then the total -55", got)
		}
	})
}
