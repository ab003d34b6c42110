package robust_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/steadytest"
)

// TestGeneratorGivesUp: in degrade mode the generator fails every step
// from the break on, gives up after its three restarts (the scripted
// transient failure counts among them) and stops degraded, closing its
// output: every value before the break arrives once, none after it.
func TestGeneratorGivesUp(t *testing.T) {
	f := robust.Faults{Mode: robust.Degrade, Script: robust.Script{GeneratorAt: 50, BreakAt: 100}}
	h, faults := newHarness(t, f)
	values := steadytest.Collect[uint64](h, "values", 16)
	gen := robust.NewGenerator(h.Graph(), values.Channel, robust.GeneratorConfig{Batch: 7, Limit: faults.GeneratorLimit()}, f.GeneratorOptions()...)
	faults.Watch(gen, nil, nil, nil)
	err := h.Run()
	var gaveUp *steady.GaveUpError
	if !errors.As(err, &gaveUp) || gaveUp.Actor != robust.GeneratorName {
		t.Fatalf("Run = %v, want the generator's give-up", err)
	}
	if st := gen.State.Value(); st.Next != 100 || !steadytest.ExactlyOnce(t, values.Got(), upTo(100)) {
		t.Errorf("generated up to %d; want 0..99 exactly once", st.Next)
	}
	fl := faultsOf(h)
	fl.checkNoOther(t)
	stats := gen.Actor.Stats()
	if injected := faults.Injected(robust.GeneratorName); stats.Status != observe.StatusDegraded || stats.Restarts != 3 || stats.Panics != 4 || injected != 4 {
		t.Errorf("status %v, %d restarts, %d panics, %d injected; want degraded after 3 restarts and 4 panics",
			stats.Status, stats.Restarts, stats.Panics, injected)
	}
	if n, s := fl.count(robust.GeneratorName, robust.Degrade, "step start"), fl.count(robust.GeneratorName, robust.Scripted, ""); n != 3 || s != 1 {
		t.Errorf("%d break failures and %d scripted ones, want 3 and 1", n, s)
	}
	if d := fl.demo[robust.GeneratorName][1].Detail; !strings.Contains(d, "at value 100") {
		t.Errorf("break failure %q, want it at value 100", d)
	}
}

// TestLoggerSpool: a logger with a spool keeps memory for every message
// while its input flows, lets it go once the input has paused for a
// quarter second, and starts a new one when messages come again; the
// messages themselves are logged once each, in order, all the while.
func TestLoggerSpool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler), Seed: 1})
		ch := steady.NewChannel[robust.Message](g, "messages", 32)
		var out *steady.Sender[robust.Message]
		// Two bursts: 100 messages over 90 ms, a second of silence, 50
		// more.
		src := g.Actor("source", func(a *steady.Actor) error {
			var next uint64
			for _, burst := range []uint64{100, 50} {
				for end := next + burst; next < end; {
					if err := a.WaitVacant(out, 10); err != nil {
						return err
					}
					if err := a.Step(func(s *steady.Step) error {
						for range 10 {
							if err := out.Send(s, robust.Message{Value: next, Category: robust.Categorize(next)}); err != nil {
								return err
							}
							next++
						}
						return nil
					}); err != nil {
						return err
					}
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(time.Second)
			}
			return nil
		})
		out = ch.Sender(src)
		sink := &memSink{}
		lg := robust.NewLogger(g, ch, robust.LoggerConfig{Batch: 16, Out: sink, Spool: 1024})
		start := time.Now()
		at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }
		go func() {
			at(200 * time.Millisecond) // 100 logged by 90 ms, idle for 110 ms
			if n := lg.Spooled(); n != 100 {
				t.Errorf("at 200 ms: %d spooled, want the 100 logged", n)
			}
			at(400 * time.Millisecond) // idle for 310 ms
			if n := lg.Spooled(); n != 0 {
				t.Errorf("at 400 ms: %d spooled, want the spool written out", n)
			}
			at(1300 * time.Millisecond) // the second burst, 1.09 s to 1.18 s
			if n := lg.Spooled(); n != 50 {
				t.Errorf("at 1.3 s: %d spooled, want the second burst's 50", n)
			}
		}()
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		var want []string
		for v := range uint64(150) {
			want = append(want, fmt.Sprintf("%d\t%s\n", v, robust.Categorize(v)))
		}
		steadytest.ExactlyOnce(t, strings.SplitAfter(string(sink.b), "\n"), append(want, ""))
		if st := lg.State.Value(); st.Logged != 150 || len(st.Gaps) != 0 {
			t.Errorf("logged %d with gaps %v, want 150 and none", st.Logged, st.Gaps)
		}
	})
}
