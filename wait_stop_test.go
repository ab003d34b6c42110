package steady_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// TestSleepEndsWhenInputsEnd: an actor with inputs that takes the last
// message of its closed input and then sleeps gets ErrStopped at once, in
// memory and with a store, where the consumption becomes visible only
// once the committer has stored it.
func TestSleepEndsWhenInputsEnd(t *testing.T) {
	for _, durable := range []bool{false, true} {
		name := "memory"
		if durable {
			name = "durable"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := quiet()
				if durable {
					cfg.Store = newMemStore()
				}
				g := steady.NewGraph(cfg)
				ch := steady.NewChannel[int](g, "numbers", 8)
				var out *steady.Sender[int]
				prod := g.Actor("producer", func(a *steady.Actor) error {
					if err := a.WaitVacant(out, 3); err != nil {
						return err
					}
					return a.Step(func(s *steady.Step) error { return out.SendMany(s, []int{1, 2, 3}) })
				})
				out = ch.Sender(prod)
				var in *steady.Receiver[int]
				var got []int
				var slept time.Duration
				var sleepErr error
				cons := g.Actor("consumer", func(a *steady.Actor) error {
					for !ch.Closed() {
						if err := a.Sleep(time.Millisecond); err != nil {
							return err
						}
					}
					if err := a.Step(func(s *steady.Step) error {
						var buf [8]int
						got = append(got, buf[:in.PeekMany(s, buf[:])]...)
						return nil
					}); err != nil {
						return err
					}
					start := time.Now()
					sleepErr = a.Sleep(time.Hour)
					slept = time.Since(start)
					return nil
				})
				in = ch.Receiver(cons)
				if err := g.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				if len(got) != 3 {
					t.Errorf("consumer took %v, want [1 2 3]", got)
				}
				if !errors.Is(sleepErr, steady.ErrStopped) || slept != 0 {
					t.Errorf("Sleep after the last message: %v after %v, want ErrStopped at once", sleepErr, slept)
				}
			})
		})
	}
}

// TestWaitsReplayAndTimeout: a consumer parked in WaitAny on two inputs,
// one closed and drained (its poison value dead-lettered) and one whose
// source holds the shutdown, takes a replay of the dead letter on the
// closed input at once. After a shutdown it stays parked, as do a
// WaitAvailableUntil with a later deadline on the holding source's other
// output and that source's SleepUntil, until the timeout: each returns
// ErrStopped at exactly that moment.
func TestWaitsReplayAndTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = time.Second
		cfg := quiet()
		cfg.ShutdownTimeout = timeout
		g := steady.NewGraph(cfg)
		x := steady.NewChannel[int](g, "x", 8)
		y := steady.NewChannel[int](g, "y", 8)
		z := steady.NewChannel[int](g, "z", 8)
		var xout, yout, zout *steady.Sender[int]
		var mu sync.Mutex
		ended := map[string]string{} // actor: the error its last wait returned, and when
		end := func(who string, err error, requested *time.Time) {
			mu.Lock()
			defer mu.Unlock()
			ended[who] = fmt.Sprintf("%v at +%v", err, time.Since(*requested))
		}
		var requested time.Time
		xsrc := g.Actor("xsrc", func(a *steady.Actor) error {
			if err := a.WaitVacant(xout, 3); err != nil {
				return err
			}
			return a.Step(func(s *steady.Step) error { return xout.SendMany(s, []int{1, 2, 3}) })
		})
		ysrc := g.Actor("ysrc", func(a *steady.Actor) error {
			a.HoldShutdown("busy")
			if err := a.WaitVacant(yout, 1); err != nil {
				return err
			}
			if err := a.WaitVacant(zout, 1); err != nil {
				return err
			}
			if err := a.Step(func(s *steady.Step) error {
				if err := zout.Send(s, 200); err != nil {
					return err
				}
				return yout.Send(s, 100)
			}); err != nil {
				return err
			}
			err := a.SleepUntil(time.Now().Add(time.Hour))
			end("ysrc", err, &requested)
			// Close y and z a moment after the timeout, so that the
			// waits on them see the timeout, not the end of their input.
			time.Sleep(time.Millisecond)
			return err
		})
		xout, yout, zout = x.Sender(xsrc), y.Sender(ysrc), z.Sender(ysrc)
		var zin *steady.Receiver[int]
		batcher := g.Actor("batcher", func(a *steady.Actor) error {
			for {
				err := a.WaitAvailableUntil(zin, 4, time.Now().Add(time.Hour))
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					end("batcher", err, &requested)
					return err
				}
				if err := a.Step(func(s *steady.Step) error {
					var buf [4]int
					zin.PeekMany(s, buf[:])
					return nil
				}); err != nil {
					return err
				}
			}
		})
		zin = z.Receiver(batcher)
		var healed atomic.Bool
		var got []int
		var ins [2]*steady.Receiver[int]
		cons := g.Actor("consumer", func(a *steady.Actor) error {
			for {
				i, err := a.WaitAny(ins[0], ins[1])
				if err != nil {
					end("consumer", err, &requested)
					return err
				}
				err = a.Step(func(s *steady.Step) error {
					v, ok := ins[i].Peek(s)
					if !ok {
						return errors.New("WaitAny named an input with nothing to peek")
					}
					if v == 2 && !healed.Load() {
						panic("poison 2")
					}
					mu.Lock()
					got = append(got, v)
					mu.Unlock()
					return nil
				})
				if err != nil {
					return err
				}
			}
		}, steady.Backoff(0, 0))
		ins[0], ins[1] = x.Receiver(cons), y.Receiver(cons)
		done := make(chan error)
		go func() { done <- g.Run(context.Background()) }()
		synctest.Wait()
		dl := g.DeadLetters()
		if len(dl) != 1 || dl[0].Value != 2 || !x.Closed() || x.Len() != 0 {
			t.Fatalf("before the replay: dead letters %+v, x closed %v with %d; want 2 dead-lettered from x, closed and drained", dl, x.Closed(), x.Len())
		}
		healed.Store(true)
		if err := g.Replay(dl[0].ID); err != nil {
			t.Fatalf("Replay: %v", err)
		}
		synctest.Wait()
		mu.Lock()
		if want := []int{1, 3, 100, 2}; !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("consumer took %v, want each of %v once", got, want)
		}
		mu.Unlock()
		if len(g.DeadLetters()) != 0 || x.Len() != 0 {
			t.Errorf("after the replay: %d dead letters, %d in x; want none", len(g.DeadLetters()), x.Len())
		}
		requested = time.Now()
		g.Shutdown("test")
		err := <-done
		var timedOut *steady.ShutdownTimeoutError
		if !errors.As(err, &timedOut) {
			t.Fatalf("Run: %v, want a *ShutdownTimeoutError", err)
		}
		mu.Lock()
		defer mu.Unlock()
		want := fmt.Sprintf("%v at +%v", steady.ErrStopped, timeout)
		for _, who := range []string{"consumer", "batcher", "ysrc"} {
			if ended[who] != want {
				t.Errorf("%s's wait returned %q, want %q (WaitAny, WaitAvailableUntil, SleepUntil)", who, ended[who], want)
			}
		}
		if cons.Restarts() != 3 {
			t.Errorf("consumer restarted %d times, want 3 (the poison's attempts)", cons.Restarts())
		}
	})
}

// TestFlushEndsWhenConsumerGaveUp: with a store, an actor that takes the
// last message of its closed input and then waits for room on an output
// whose consumer has given up (no shutdown) gets ErrStopped, rather than
// waiting for room that will never come.
func TestFlushEndsWhenConsumerGaveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := quiet()
		ws := newWatchedStore()
		ws.delay = time.Millisecond // the stage waits before its take is stored
		cfg.Store = ws
		g := steady.NewGraph(cfg)
		x := steady.NewChannel[int](g, "x", 8)
		y := steady.NewChannel[int](g, "y", 1)
		var xout, yout *steady.Sender[int]
		var xin, yin *steady.Receiver[int]
		prod := g.Actor("producer", func(a *steady.Actor) error {
			if err := a.WaitVacant(xout, 3); err != nil {
				return err
			}
			return a.Step(func(s *steady.Step) error { return xout.SendMany(s, []int{1, 2, 3}) })
		})
		cons := g.Actor("consumer", func(a *steady.Actor) error {
			return errors.New("never works")
		}, steady.Intensity(0, time.Minute))
		var flushErr error
		var waited time.Duration
		mid := g.Actor("stage", func(a *steady.Actor) error {
			if err := a.Step(func(s *steady.Step) error { return yout.Send(s, 0) }); err != nil {
				return err // fills y, which nobody will take
			}
			for cons.Status() != observe.StatusDegraded || !x.Closed() {
				if err := a.Sleep(time.Millisecond); err != nil {
					return err
				}
			}
			if err := a.Step(func(s *steady.Step) error {
				var buf [8]int
				xin.PeekMany(s, buf[:])
				return nil
			}); err != nil {
				return err
			}
			start := time.Now()
			flushErr = a.WaitVacant(yout, 1)
			waited = time.Since(start)
			return nil
		})
		xout, xin = x.Sender(prod), x.Receiver(mid)
		yout, yin = y.Sender(mid), y.Receiver(cons)
		_ = yin
		// A stage that waits for good ends only with the shutdown at
		// the minute.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := g.Run(ctx)
		var gaveUp *steady.GaveUpError
		if !errors.As(err, &gaveUp) || gaveUp.Actor != "consumer" {
			t.Fatalf("Run: %v, want the consumer's give-up", err)
		}
		if !errors.Is(flushErr, steady.ErrStopped) || waited > ws.delay {
			t.Errorf("WaitVacant after the last message, the consumer gone: %v after %v, want ErrStopped once the take is stored (%v)", flushErr, waited, ws.delay)
		}
	})
}
