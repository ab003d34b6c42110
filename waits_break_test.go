package steady_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
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
