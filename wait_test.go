package steady_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
)

// timedSource is an actor that sends each value of vals on out at its
// offset from the start (a fake clock's, in a bubble), then finishes.
func timedSource(g *steady.Graph, name string, ch *steady.Channel[int], start time.Time, at map[time.Duration]int) *steady.Actor {
	var out *steady.Sender[int]
	a := g.Actor(name, func(a *steady.Actor) error {
		offsets := make([]time.Duration, 0, len(at))
		for d := range at {
			offsets = append(offsets, d)
		}
		slices.Sort(offsets)
		for _, d := range offsets {
			if err := a.SleepUntil(start.Add(d)); err != nil {
				return err
			}
			if err := a.WaitVacant(out, 1); err != nil {
				return err
			}
			if err := a.Step(func(s *steady.Step) error { return out.Send(s, at[d]) }); err != nil {
				return err
			}
		}
		return nil
	})
	out = ch.Sender(a)
	return a
}

// TestWaitAny: a consumer of two inputs wakes as soon as either has a
// message, not before, learns which one, prefers the first listed when
// both have, passes over an input that is closed and empty, and gets
// ErrClosed once both are.
func TestWaitAny(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		beats := steady.NewChannel[int](g, "beats", 8)
		values := steady.NewChannel[int](g, "values", 8)
		start := time.Now()
		ms := time.Millisecond
		timedSource(g, "heart", beats, start, map[time.Duration]int{10 * ms: 1, 30 * ms: 2, 40 * ms: 3})
		timedSource(g, "gen", values, start, map[time.Duration]int{20 * ms: 100, 40 * ms: 200, 90 * ms: 300})
		var got []string
		var last error
		var ins [2]*steady.Receiver[int]
		cons := g.Actor("consumer", func(a *steady.Actor) error {
			for {
				i, err := a.WaitAny(ins[0], ins[1])
				if err != nil {
					last = err
					return err
				}
				var v int
				err = a.Step(func(s *steady.Step) error {
					v, _ = ins[i].Peek(s)
					got = append(got, fmt.Sprintf("%v:%d:%d", time.Since(start), i, v))
					return nil
				})
				if err != nil {
					return err
				}
				if v == 2 {
					// Both sources send at 40ms: look at 45ms, so that
					// both inputs have a message and the preference shows.
					if err := a.SleepUntil(start.Add(45 * time.Millisecond)); err != nil {
						return err
					}
				}
			}
		})
		ins[0], ins[1] = beats.Receiver(cons), values.Receiver(cons)
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []string{"10ms:0:1", "20ms:1:100", "30ms:0:2", "45ms:0:3", "45ms:1:200", "90ms:1:300"}
		if !slices.Equal(got, want) {
			t.Errorf("took %v, want %v (time:input:value)", got, want)
		}
		if !errors.Is(last, steady.ErrClosed) {
			t.Errorf("last wait: %v, want ErrClosed", last)
		}
	})
}

// TestWaitAnyMisuse: WaitAny on no input, or on an input of another
// actor, is an ErrMisuse.
func TestWaitAnyMisuse(t *testing.T) {
	g := steady.NewGraph(quiet())
	ch := steady.NewChannel[int](g, "numbers", 8)
	var in *steady.Receiver[int]
	var errNone, errOther error
	prod := g.Actor("producer", func(a *steady.Actor) error {
		_, errNone = a.WaitAny()
		_, errOther = a.WaitAny(in)
		return nil
	})
	cons := g.Actor("consumer", func(a *steady.Actor) error {
		_, err := a.WaitAny(in)
		return err
	})
	ch.Sender(prod)
	in = ch.Receiver(cons)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(errNone, steady.ErrMisuse) || !errors.Is(errOther, steady.ErrMisuse) {
		t.Errorf("no input: %v; another's input: %v; want ErrMisuse for both", errNone, errOther)
	}
}

// TestWaitAvailableUntil: "flush after 4 messages or 10ms": a batch of 4
// that arrives in time returns at once, a short batch returns at the
// deadline with context.DeadlineExceeded, and messages that are there win
// over a deadline already past.
func TestWaitAvailableUntil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		ch := steady.NewChannel[int](g, "numbers", 16)
		start := time.Now()
		ms := time.Millisecond
		// 1..4 by 4ms, 5 and 6 at 20ms and 21ms, 7 at 50ms.
		timedSource(g, "gen", ch, start, map[time.Duration]int{
			1 * ms: 1, 2 * ms: 2, 3 * ms: 3, 4 * ms: 4, 20 * ms: 5, 21 * ms: 6, 50 * ms: 7,
		})
		var flushes []string
		var in *steady.Receiver[int]
		var pastErr error
		cons := g.Actor("batcher", func(a *steady.Actor) error {
			flushAt := time.Now().Add(10 * ms)
			for a.Running() {
				err := a.WaitAvailableUntil(in, 4, flushAt)
				timedOut := errors.Is(err, context.DeadlineExceeded)
				if err != nil && !timedOut {
					return err
				}
				err = a.Step(func(s *steady.Step) error {
					var buf [4]int
					k := in.PeekMany(s, buf[:])
					flushes = append(flushes, fmt.Sprintf("%v:%v:%v", time.Since(start), timedOut, buf[:k]))
					return nil
				})
				if err != nil {
					return err
				}
				flushAt = time.Now().Add(10 * ms)
			}
			return nil
		})
		in = ch.Receiver(cons)
		// A wait whose deadline has passed returns nil when the
		// messages are there, from an actor of its own.
		past := steady.NewChannel[int](g, "past", 4)
		var pin *steady.Receiver[int]
		pcons := g.Actor("late", func(a *steady.Actor) error {
			if err := a.WaitAvailable(pin, 2); err != nil {
				return err
			}
			pastErr = a.WaitAvailableUntil(pin, 2, time.Now().Add(-time.Hour))
			return steady.SinkBatch(a, pin, 4, func(*steady.Step, []int) error { return nil })
		})
		pin = past.Receiver(pcons)
		var pout *steady.Sender[int]
		pprod := g.Actor("early", func(a *steady.Actor) error {
			if err := a.WaitVacant(pout, 2); err != nil {
				return err
			}
			return a.Step(func(s *steady.Step) error { return pout.SendMany(s, []int{1, 2}) })
		})
		pout = past.Sender(pprod)
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"4ms:false:[1 2 3 4]", // four in time
			"14ms:true:[]",        // nothing by the deadline: an empty flush
			"24ms:true:[5 6]",     // two by the deadline
			"34ms:true:[]",
			"44ms:true:[]",
			"50ms:false:[7]", // short, but the channel closed
		}
		if !slices.Equal(flushes, want) {
			t.Errorf("flushes %v, want %v (time:timed out:batch)", flushes, want)
		}
		if pastErr != nil {
			t.Errorf("a past deadline with the messages there: %v, want nil", pastErr)
		}
	})
}

// TestSleepUntilKeepsTime: ticks computed from the last tick stay on the
// period however long the work between them takes, where Sleep falls
// behind by the work's time every tick; a shutdown ends either sleep at
// once.
func TestSleepUntilKeepsTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const period, work = 10 * time.Millisecond, 3 * time.Millisecond
		g := steady.NewGraph(quiet())
		var until, sleep []time.Duration
		var untilErr, sleepErr error
		start := time.Now()
		g.Actor("until", func(a *steady.Actor) error {
			next := start
			for range 5 {
				next = next.Add(period)
				if err := a.SleepUntil(next); err != nil {
					return err
				}
				until = append(until, time.Since(start))
				time.Sleep(work)
			}
			untilErr = a.SleepUntil(start.Add(time.Hour))
			return nil
		})
		g.Actor("sleep", func(a *steady.Actor) error {
			for range 5 {
				if err := a.Sleep(period); err != nil {
					return err
				}
				sleep = append(sleep, time.Since(start))
				time.Sleep(work)
			}
			sleepErr = a.Sleep(time.Hour)
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- g.Run(ctx) }()
		time.Sleep(100 * time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 100*time.Millisecond {
			t.Errorf("the sleeps ended %v after the start, want at the shutdown, 100ms", took)
		}
		ms := time.Millisecond
		if want := []time.Duration{10 * ms, 20 * ms, 30 * ms, 40 * ms, 50 * ms}; !slices.Equal(until, want) {
			t.Errorf("SleepUntil ticked at %v, want %v", until, want)
		}
		if want := []time.Duration{10 * ms, 23 * ms, 36 * ms, 49 * ms, 62 * ms}; !slices.Equal(sleep, want) {
			t.Errorf("Sleep ticked at %v, want %v (the drift SleepUntil avoids)", sleep, want)
		}
		if !errors.Is(untilErr, steady.ErrStopped) || !errors.Is(sleepErr, steady.ErrStopped) {
			t.Errorf("sleeps cut by the shutdown: %v, %v; want ErrStopped", untilErr, sleepErr)
		}
	})
}
