package robust_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/steadytest"
)

func scripted(s robust.Script) robust.Faults { return robust.Faults{Mode: robust.Scripted, Script: s} }

func chaos(rate float64) robust.Faults {
	return robust.Faults{Mode: robust.Chaos, ChaosRate: rate, Seed: 1}
}

func TestCategorize(t *testing.T) {
	want := map[uint64]robust.Category{0: robust.FizzBuzz, 1: robust.Value, 3: robust.Fizz, 5: robust.Buzz, 9: robust.Fizz,
		10: robust.Buzz, 14: robust.Value, 15: robust.FizzBuzz, 30: robust.FizzBuzz, 1500: robust.FizzBuzz}
	for v, c := range want {
		if got := robust.Categorize(v); got != c {
			t.Errorf("Categorize(%d) = %v, want %v", v, got, c)
		}
	}
	for c := range robust.Category(robust.NumCategories) {
		if got, ok := robust.ParseCategory(c.String()); !ok || got != c {
			t.Errorf("ParseCategory(%q) = %v, %v", c.String(), got, ok)
		}
	}
}

func TestCountBelowMatchesCounting(t *testing.T) {
	var counted [robust.NumCategories]uint64
	for n := range uint64(1000) {
		if got := robust.CountBelow(n); got != counted {
			t.Fatalf("CountBelow(%d) = %v, counting gives %v", n, got, counted)
		}
		counted[robust.Categorize(n)]++
	}
}

// TestGenerator: the generator's sequence has no gap and no repeat across
// its scripted failure at value 100, across chaos, and across a failed
// and a panicking step injected through the kit.
func TestGenerator(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults robust.Faults             // the demo's own failures
		kit    func(*steadytest.Harness) // failures injected through the kit
		fired  int                       // how many kit faults fire
	}{
		{name: "scripted", faults: scripted(robust.Script{GeneratorAt: 100})},
		{name: "chaos", faults: chaos(0.2)},
		{name: "kit", kit: func(h *steadytest.Harness) {
			h.FailStep(robust.GeneratorName, 10, steadytest.Error(kitFault("step 10")))
			h.FailStep(robust.GeneratorName, 20, steadytest.Panic(kitFault("step 20")))
		}, fired: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, faults := newHarness(t, tc.faults)
			values := steadytest.Collect[uint64](h, "values", 16).StopAfter(500)
			gen := robust.NewGenerator(h.Graph(), values.Channel, robust.GeneratorConfig{Batch: 7, Limit: faults.GeneratorLimit()},
				tc.faults.GeneratorOptions()...)
			faults.Watch(gen, nil, nil, nil)
			if tc.kit != nil {
				tc.kit(h)
			}
			if err := h.Run(); err != nil {
				t.Fatal(err)
			}
			fl := faultsOf(h)
			fl.checkNoOther(t)
			st := gen.State.Value()
			if st.Next < 500 {
				t.Fatalf("generated %d values, want at least the 500 collected", st.Next)
			}
			if !steadytest.ExactlyOnce(t, values.Got(), upTo(st.Next)) {
				t.Fatalf("generated %d, want 0..%d collected in order", st.Next, st.Next-1)
			}
			stats := gen.Actor.Stats()
			kitPanics := int64(fl.kitCount(robust.GeneratorName, observe.EventPanicked))
			kitErrors := int64(fl.kitCount(robust.GeneratorName, observe.EventFailed))
			// A failure during the shutdown is not restarted: a producer
			// has nothing left to do.
			failures := stats.Panics + stats.Errors
			injected := faults.Injected(robust.GeneratorName)
			if stats.Panics != injected+kitPanics || stats.Errors != kitErrors || stats.Restarts < failures-1 || stats.Restarts > failures {
				t.Errorf("%d panics, %d errors, %d restarts; %d injected by the demo, %d panics and %d errors by the kit",
					stats.Panics, stats.Errors, stats.Restarts, injected, kitPanics, kitErrors)
			}
			if fired := len(h.Fired()); fired != tc.fired || kitPanics+kitErrors != int64(tc.fired) {
				t.Errorf("%d kit faults fired, %d failed the generator; want %d", fired, kitPanics+kitErrors, tc.fired)
			}
			switch tc.faults.Mode {
			case robust.Scripted:
				if n := fl.count(robust.GeneratorName, robust.Scripted, robust.FaultGeneratorSent); n != 1 || stats.Panics != 1 {
					t.Errorf("scripted fault struck %d times at %s (%d panics), want once", n, robust.FaultGeneratorSent, stats.Panics)
				}
				if d := fl.demo[robust.GeneratorName][0].Detail; d != "at value 100" {
					t.Errorf("scripted fault %q, want at value 100", d)
				}
			case robust.Chaos:
				if stats.Panics < 10 {
					t.Errorf("only %d chaos panics", stats.Panics)
				}
			}
		})
	}
}

// TestGeneratorLimit: with a Limit the generator never runs past it, and
// goes on as it rises: here by 10 values every 10 ms of the bubble's fake
// clock, so the 100 values collected take 90 ms, and at 45 ms at most 50
// were sent.
func TestGeneratorLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const step, per = 10 * time.Millisecond, 10
		start := time.Now()
		limit := func() uint64 { return per * (1 + uint64(time.Since(start)/step)) }
		h := steadytest.New(t)
		values := steadytest.Collect[uint64](h, "values", 64).StopAfter(100)
		gen := robust.NewGenerator(h.Graph(), values.Channel, robust.GeneratorConfig{Batch: 7, Limit: limit})
		midway := make(chan uint64, 1)
		go func() {
			time.Sleep(step*4 + step/2)
			midway <- gen.State.Value().Next
		}()
		if err := h.Run(); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		st := gen.State.Value()
		steadytest.ExactlyOnce(t, values.Got(), upTo(st.Next))
		if n := <-midway; n > 5*per {
			t.Errorf("%d values generated after 45 ms, past the limit of %d", n, 5*per)
		}
		if st.Next > 100 || elapsed < 9*step || elapsed > 9*step+5*time.Millisecond {
			t.Errorf("%d values in %v; want 100 once the limit reached them, at 90 ms", st.Next, elapsed)
		}
	})
}

// TestHeartbeat: beats 1..20 arrive once each, one every rate, across the
// scripted failure at beat 5, or a panic the kit injects at the start of
// the step that sends beat 5; then the heartbeat shuts the graph down. The
// fake clock of a synctest bubble makes the timing exact.
func TestHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults robust.Faults
		kit    func(*steadytest.Harness)
	}{
		{name: "scripted", faults: scripted(robust.Script{HeartbeatAt: 5})},
		{name: "kit", kit: func(h *steadytest.Harness) {
			h.FailStep(robust.HeartbeatName, 5, steadytest.Panic(kitFault("step 5")))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const rate, n = 10 * time.Millisecond, 20
				h, faults := newHarness(t, tc.faults)
				beats := steadytest.Collect[uint64](h, "beats", 4)
				hb := robust.NewHeartbeat(h.Graph(), beats.Channel, robust.HeartbeatConfig{Rate: rate, Beats: n}, tc.faults.ActorOptions()...)
				faults.Watch(nil, hb, nil, nil)
				if tc.kit != nil {
					tc.kit(h)
				}
				start := time.Now()
				if err := h.Run(); err != nil {
					t.Fatal(err)
				}
				elapsed := time.Since(start)
				fl := faultsOf(h)
				fl.checkNoOther(t)
				want := make([]uint64, n)
				for i := range want {
					want[i] = uint64(i + 1)
				}
				steadytest.ExactlyOnce(t, beats.Got(), want)
				isScripted := tc.faults.Mode == robust.Scripted
				if got := fl.count(robust.HeartbeatName, robust.Scripted, robust.FaultHeartbeatSent); isScripted && got != 1 || !isScripted && got != 0 {
					t.Errorf("scripted fault struck %d times, want once if scripted", got)
				}
				if got, fired := fl.kitCount(robust.HeartbeatName, observe.EventPanicked), len(h.Fired()); tc.kit != nil && (got != 1 || fired != 1) {
					t.Errorf("kit fault fired %d times and struck %d times, want once", fired, got)
				}
				if st, restarts := hb.State.Value(), hb.Actor.Restarts(); st.Beats != n || restarts != 1 {
					t.Errorf("state %+v after %d restarts, want %d beats after 1", st, restarts, n)
				}
				if r := h.Graph().Snapshot().ShutdownReason; !strings.Contains(r, "sent its 20 beats") {
					t.Errorf("shutdown reason %q", r)
				}
				// n sleeps, one more after the restart, and the restart's
				// backoff (the default policy's InitialBackoff ± Jitter).
				lo := (n+1)*rate + time.Duration(float64(steady.DefaultPolicy().InitialBackoff)*(1-steady.DefaultPolicy().Jitter))
				hi := (n+1)*rate + time.Duration(float64(steady.DefaultPolicy().InitialBackoff)*(1+steady.DefaultPolicy().Jitter))
				if elapsed < lo || elapsed > hi {
					t.Errorf("run took %v, want between %v and %v", elapsed, lo, hi)
				}
			})
		})
	}
}

// TestHeartbeatKeepsTime: the beats keep to their schedule when a beat is
// held up for less than a period, and start it again from the late beat
// when one is held up longer, rather than send the missed beats back to
// back. A reader with room for one beat holds beat 2 for 1.5 periods and
// beat 5 for 3.5; it notes when each beat arrives, on the bubble's clock.
func TestHeartbeatKeepsTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 10 * time.Millisecond
		h := steadytest.New(t)
		ch := steady.NewChannel[uint64](h.Graph(), "beats", 1)
		robust.NewHeartbeat(h.Graph(), ch, robust.HeartbeatConfig{Rate: rate, Beats: 8})
		start := time.Now()
		hold := map[uint64]time.Duration{2: rate * 3 / 2, 5: rate * 7 / 2}
		var at []time.Duration
		var rx *steady.Receiver[uint64]
		reader := h.Actor("reader", func(a *steady.Actor) error {
			for {
				if err := a.WaitAvailable(rx, 1); errors.Is(err, steady.ErrClosed) {
					return nil
				} else if err != nil {
					return err
				}
				at = append(at, time.Since(start))
				if d := hold[uint64(len(at))]; d > 0 {
					if err := a.Sleep(d); err != nil {
						return err
					}
				}
				if err := a.Step(func(s *steady.Step) error { rx.Peek(s); return nil }); err != nil {
					return err
				}
			}
		})
		rx = ch.Receiver(reader)
		if err := h.Run(); err != nil {
			t.Fatal(err)
		}
		// Beat 3, due at 30 ms, waits for the room beat 2 takes until
		// 35 ms; beat 4 is on time. Beat 6, due at 60 ms, waits until
		// 85 ms, and the schedule starts again from there.
		want := []time.Duration{10, 20, 35, 40, 50, 85, 95, 105}
		for i := range want {
			want[i] *= time.Millisecond
		}
		if !slices.Equal(at, want) {
			t.Errorf("beats arrived at %v, want %v", at, want)
		}
	})
}

// TestWorker runs the worker between scripted beats and values: every
// value but the poison becomes one message with its category, the poison
// (and never a beat) ends in the dead-letter store after three attempts,
// the transient failures strike once, and both inputs are left empty
// whichever of them ends first. The poison and the transient failures come
// from the demo's script or, with the demo's faults off, from the kit.
func TestWorker(t *testing.T) {
	const batch, poison = 8, 42
	const beatFeeder = "steadytest.feed.beats" // the actor Feed adds for "beats"
	script := robust.Script{WorkerAfter: 16, Poison: poison}
	for _, tc := range []struct {
		name          string
		beats, values uint64
		faults        robust.Faults             // the demo's own failures
		kit           func(*steadytest.Harness) // failures injected through the kit
		fired         [2]int                    // how many kit faults fire in the worker: at least, at most
		poisoned      bool                      // value 42 is poison
		// held: every value is in its channel before the first beat
		// goes out, so that each beat's step holds values. The demo's
		// transient point needs that: it strikes in the first step
		// after 16 values that holds a beat and a value, and with beats
		// ending first there is one chance (beat 2); a worker that
		// caught up with the value feeder would miss it.
		held bool
	}{
		{name: "beats end first", beats: 3, values: 100, faults: scripted(script), poisoned: true, held: true},
		{name: "values end first", beats: 30, values: 50, faults: scripted(script), poisoned: true, held: true},
		{name: "chaos", beats: 20, values: 400, faults: chaos(0.2)},
		// The poison fails once in a batch (an attempt not charged to it
		// alone) and then three times alone, or only those.
		{name: "kit poison", beats: 3, values: 100, kit: func(h *steadytest.Harness) {
			h.FailOn(robust.WorkerName, "values", uint64(poison), -1, steadytest.Panic(kitFault("poison")))
		}, fired: [2]int{3, 4}, poisoned: true},
		// A failure at a step's start, on a beat and, twice, on a value:
		// none of them is the message's third, so nothing is quarantined.
		// They strike in different steps (an injected error fails the
		// step when it returns, so a later fault point in the same step
		// would fire too): step 3 holds at most beat 2, and the step
		// holding beat j (from 0) takes values from j*batch on, its
		// predecessors having spent their credit, so beat 5 comes with
		// values 40..47.
		{name: "kit transient", beats: 30, values: 50, kit: func(h *steadytest.Harness) {
			h.FailStep(robust.WorkerName, 3, steadytest.Error(kitFault("step 3")))
			h.FailOn(robust.WorkerName, "beats", uint64(5), 1, steadytest.Panic(kitFault("beat 5")))
			h.FailOn(robust.WorkerName, "values", uint64(30), 2, steadytest.Error(kitFault("value 30")))
		}, fired: [2]int{4, 4}},
	} {
		// In a bubble, so that holding the beats back costs no real time.
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, faults := newHarness(t, tc.faults)
				valuesCap := 16
				if tc.held {
					valuesCap = int(tc.values)
					// The kit's feeders cannot wait for one another, so a
					// failure holds the beats back: the beat feeder's first
					// step fails, and its restart backoff passes in virtual
					// time only once every other goroutine of the bubble is
					// blocked, the value feeder having sent every value.
					h.FailStep(beatFeeder, 1, steadytest.Error(kitFault("hold the beats")))
				}
				beats := steadytest.Feed(h, "beats", 4, upTo(tc.beats)...)
				values := steadytest.Feed(h, "values", valuesCap, upTo(tc.values)...)
				out := steadytest.Collect[robust.Message](h, "messages", 16)
				w := robust.NewWorker(h.Graph(), beats.Channel, values.Channel, out.Channel, robust.WorkerConfig{Batch: batch}, tc.faults.ActorOptions()...)
				faults.Watch(nil, nil, w, nil)
				if tc.kit != nil {
					tc.kit(h)
				}
				if err := h.Run(); err != nil {
					t.Fatal(err)
				}
				fl := faultsOf(h)
				fl.checkNoOther(t)
				if held := len(firedIn(h, beatFeeder)) == 1; held != tc.held {
					t.Fatalf("beats held back %v, want %v", held, tc.held)
				}

				var want []robust.Message
				var skip []uint64
				if tc.poisoned {
					skip = append(skip, poison)
				}
				for _, v := range upTo(tc.values, skip...) {
					want = append(want, robust.Message{Value: v, Category: robust.Categorize(v)})
				}
				steadytest.ExactlyOnce(t, out.Got(), want)
				st := w.State.Value()
				if st.Beats != tc.beats || beats.Len() != 0 || values.Len() != 0 {
					t.Errorf("worker took %d of %d beats; left %d beats, %d values", st.Beats, tc.beats, beats.Len(), values.Len())
				}
				if st.Processed != uint64(len(want)) {
					t.Errorf("processed %d, want %d", st.Processed, len(want))
				}
				// A beat is taken only once the last one's credit is spent,
				// so the beats allow at most beats*batch values: the rest are
				// drained once the beats end; and when they allow a batch
				// more than there are values, the values end first.
				if allowed := tc.beats * batch; allowed < uint64(len(want)) && st.Drained < uint64(len(want))-allowed ||
					allowed >= tc.values+batch && st.Drained != 0 {
					t.Errorf("%d values drained after the beats ended", st.Drained)
				}
				var counts [robust.NumCategories]uint64
				for _, m := range want {
					counts[m.Category]++
				}
				if st.Counts != counts {
					t.Errorf("counts %v, want %v", st.Counts, counts)
				}
				// Every failure is retried: the worker ends by itself, never
				// in a shutdown.
				stats := w.Actor.Stats()
				if stats.Restarts != stats.Panics+stats.Errors {
					t.Errorf("%d restarts for %d panics and %d errors", stats.Restarts, stats.Panics, stats.Errors)
				}

				dl := h.Graph().DeadLetters()
				if !tc.poisoned && len(dl) > 0 {
					t.Errorf("dead-lettered %v", dl[0].Value)
				}
				if tc.poisoned && (len(dl) != 1 || dl[0].Channel != "values" || dl[0].Value != uint64(poison) || dl[0].Attempts != steady.DefaultPolicy().PoisonAfter) {
					t.Fatalf("dead letters %+v, want the poison %d from values after %d attempts", dl, poison, steady.DefaultPolicy().PoisonAfter)
				}
				kitFailures := fl.kitCount(robust.WorkerName, observe.EventPanicked) + fl.kitCount(robust.WorkerName, observe.EventFailed)
				if fired := len(firedIn(h, robust.WorkerName)); fired < tc.fired[0] || fired > tc.fired[1] || kitFailures != fired {
					t.Errorf("%d kit faults fired, %d failed the worker; want %d to %d", fired, kitFailures, tc.fired[0], tc.fired[1])
				}
				switch {
				case tc.faults.Mode == robust.Chaos:
					if n := stats.Panics; n < 10 {
						t.Errorf("only %d chaos panics", n)
					}
				case tc.faults.Mode == robust.Scripted:
					if n := fl.count(robust.WorkerName, robust.Scripted, "holding beat"); n != 1 {
						t.Errorf("transient fault struck %d times, want once", n)
					}
					// The poison fails once in a batch (an attempt not charged
					// to it alone) and then three times alone, or only those.
					if n := fl.count(robust.WorkerName, robust.Scripted, "poison"); n < 3 || n > 4 {
						t.Errorf("poison failed %d times, want 3 or 4", n)
					}
				case tc.poisoned:
					// Every kit fault struck the poison, none a beat.
					if fired, n := firedIn(h, robust.WorkerName), firedOn(h, robust.WorkerName, "values", uint64(poison)); n != len(fired) {
						t.Errorf("%d of %d kit faults struck the poison, want all: %+v", n, len(fired), fired)
					}
				default:
					if n := firedOn(h, robust.WorkerName, "values", uint64(30)); n != 2 {
						t.Errorf("the fault on value 30 struck %d times, want twice", n)
					}
				}
			})
		})
	}
}

// TestLogger: the logger's output holds each message's line once, in
// order, across its scripted failure halfway through its statistics,
// across chaos that strikes after lines were written, and across failures
// injected without the demo's faults: by the kit at a step's start and on
// a peeked message, by the sink right after writing a line, and by a
// poison message the kit fails on every attempt. Its record shows the gaps
// left by a missing value and by the dead letter.
func TestLogger(t *testing.T) {
	const n, missing, poison, sinkFails = 1000, 500, 700, 800
	msg := func(v uint64) robust.Message { return robust.Message{Value: v, Category: robust.Categorize(v)} }
	var msgs []robust.Message
	for _, v := range upTo(n, missing) {
		msgs = append(msgs, msg(v))
	}
	for _, tc := range []struct {
		name      string
		faults    robust.Faults             // the demo's own failures
		kit       func(*steadytest.Harness) // failures injected through the kit
		fired     [2]int                    // how many kit faults fire: at least, at most
		sinkFails bool                      // the sink panics after writing message 800
		poisoned  bool                      // message 700 is poison
	}{
		{name: "scripted", faults: scripted(robust.Script{LoggerAfter: 300})},
		{name: "chaos", faults: chaos(0.3)},
		// Step 5 and messages 300 and 800 lie in different steps (a step
		// takes at most 16 messages), so each fault fails a step of its
		// own: an injected error lets its step run on, past later fault
		// points (and through its write, which is what a retry's
		// rewrite at the same offset covers).
		{name: "kit and sink", kit: func(h *steadytest.Harness) {
			h.FailStep(robust.LoggerName, 5, steadytest.Panic(kitFault("step 5")))
			h.FailOn(robust.LoggerName, "messages", msg(300), 2, steadytest.Error(kitFault("message 300")))
		}, fired: [2]int{3, 3}, sinkFails: true},
		{name: "kit poison", kit: func(h *steadytest.Harness) {
			h.FailOn(robust.LoggerName, "messages", msg(poison), -1, steadytest.Panic(kitFault("poison")))
		}, fired: [2]int{3, 4}, poisoned: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			skip := []uint64{missing}
			if tc.poisoned {
				skip = append(skip, poison)
			}
			var want []string
			var wantLen int
			var counts [robust.NumCategories]uint64
			sink := &memSink{}
			for _, v := range upTo(n, skip...) {
				c := robust.Categorize(v)
				if tc.sinkFails && v == sinkFails {
					sink.panicPast = int64(wantLen) // the first write of 800's line
				}
				want = append(want, fmt.Sprintf("%d\t%s\n", v, c))
				wantLen += len(want[len(want)-1])
				counts[c]++
			}

			h, faults := newHarness(t, tc.faults)
			in := steadytest.Feed(h, "messages", 32, msgs...)
			lg := robust.NewLogger(h.Graph(), in.Channel, robust.LoggerConfig{Batch: 16, Out: sink}, tc.faults.ActorOptions()...)
			faults.Watch(nil, nil, nil, lg)
			if tc.kit != nil {
				tc.kit(h)
			}
			if err := h.Run(); err != nil {
				t.Fatal(err)
			}
			fl := faultsOf(h)
			fl.checkNoOther(t)
			// The lines, newlines included, joined are the output: this
			// checks it byte for byte.
			steadytest.ExactlyOnce(t, strings.SplitAfter(string(sink.b), "\n"), append(want, ""))
			st := lg.State.Value()
			wantGaps := []robust.Range{{From: missing, To: missing + 1}}
			if tc.poisoned {
				wantGaps = append(wantGaps, robust.Range{From: poison, To: poison + 1})
			}
			if st.Logged != uint64(len(want)) || st.Next != n || !slices.Equal(st.Gaps, wantGaps) || st.Repeats != 0 || st.Miscategorized != 0 {
				t.Errorf("logged %d, next %d, gaps %v, %d repeats, %d miscategorized", st.Logged, st.Next, st.Gaps, st.Repeats, st.Miscategorized)
			}
			if st.Counts != counts || st.FileLen != int64(wantLen) {
				t.Errorf("counts %v (want %v), file length %d (want %d)", st.Counts, counts, st.FileLen, wantLen)
			}
			stats := lg.Actor.Stats()
			if sink.truncates != int(stats.Restarts)+1 {
				t.Errorf("output truncated %d times for %d restarts", sink.truncates, stats.Restarts)
			}
			// Every failure is retried: the logger ends by itself, never
			// in a shutdown.
			if stats.Restarts != stats.Panics+stats.Errors {
				t.Errorf("%d restarts for %d panics and %d errors", stats.Restarts, stats.Panics, stats.Errors)
			}

			dl := h.Graph().DeadLetters()
			if !tc.poisoned && len(dl) > 0 {
				t.Errorf("dead-lettered %v", dl[0].Value)
			}
			if tc.poisoned && (len(dl) != 1 || dl[0].Channel != "messages" || dl[0].Value != msg(poison) || dl[0].Attempts != steady.DefaultPolicy().PoisonAfter) {
				t.Errorf("dead letters %+v, want the poison %d from messages after %d attempts", dl, poison, steady.DefaultPolicy().PoisonAfter)
			}
			sinkFailures := 0
			if tc.sinkFails {
				sinkFailures = 1
				if !sink.panicked {
					t.Errorf("the sink never failed")
				}
			}
			kitFailures := fl.kitCount(robust.LoggerName, observe.EventPanicked) + fl.kitCount(robust.LoggerName, observe.EventFailed)
			if fired := len(h.Fired()); fired < tc.fired[0] || fired > tc.fired[1] || kitFailures != fired+sinkFailures {
				t.Errorf("%d kit faults fired, %d test faults failed the logger; want %d to %d, and %d from the sink",
					fired, kitFailures, tc.fired[0], tc.fired[1], sinkFailures)
			}
			if tc.poisoned {
				if n := firedOn(h, robust.LoggerName, "messages", msg(poison)); n != len(h.Fired()) {
					t.Errorf("%d of %d kit faults struck the poison, want all: %+v", n, len(h.Fired()), h.Fired())
				}
			}
			switch tc.faults.Mode {
			case robust.Scripted:
				if got := fl.count(robust.LoggerName, robust.Scripted, robust.FaultLoggerCounted); got != 1 {
					t.Errorf("scripted fault struck %d times, want once", got)
				}
			case robust.Chaos:
				if got := fl.count(robust.LoggerName, robust.Chaos, robust.FaultAfterWrite); got == 0 {
					t.Errorf("chaos never struck after a write")
				}
			}
		})
	}
}

// TestLoggerRecordsTrouble: the logger's record, which the report's checks
// read, shows a repeated message and a wrong category.
func TestLoggerRecordsTrouble(t *testing.T) {
	h := steadytest.New(t)
	in := steadytest.Feed(h, "messages", 8,
		robust.Message{Value: 0, Category: robust.FizzBuzz}, robust.Message{Value: 1}, robust.Message{Value: 1}, robust.Message{Value: 3, Category: robust.Buzz})
	lg := robust.NewLogger(h.Graph(), in.Channel, robust.LoggerConfig{Batch: 8})
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	st := lg.State.Value()
	if st.Repeats != 1 || st.Miscategorized != 1 || !slices.Equal(st.Gaps, []robust.Range{{From: 2, To: 3}}) || st.Logged != 4 {
		t.Errorf("state %+v, want 1 repeat, 1 miscategorized, gap [2, 3), 4 logged", st)
	}
}

// TestLoggerFillsGapsWithLateValues: a value that arrives after those
// above it, as a replayed dead letter does, fills its gap rather than
// count as a repeat.
func TestLoggerFillsGapsWithLateValues(t *testing.T) {
	h := steadytest.New(t)
	var msgs []robust.Message
	for _, v := range []uint64{0, 3, 6, 1, 5, 4} {
		msgs = append(msgs, robust.Message{Value: v, Category: robust.Categorize(v)})
	}
	in := steadytest.Feed(h, "messages", 8, msgs...)
	lg := robust.NewLogger(h.Graph(), in.Channel, robust.LoggerConfig{Batch: 8})
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	// 3 leaves [1, 3), 6 leaves [4, 6); 1 and 5 shorten them, 4 closes
	// the second.
	st := lg.State.Value()
	if st.Repeats != 0 || !slices.Equal(st.Gaps, []robust.Range{{From: 2, To: 3}}) || st.Logged != 6 || st.Next != 7 {
		t.Errorf("state %+v, want no repeat, gap [2, 3), 6 logged, next 7", st)
	}
	gaps := []robust.Range{{From: 10, To: 20}}
	for _, v := range []uint64{15, 10, 19, 9, 20} {
		var ok bool
		gaps, ok = robust.FillGap(gaps, v)
		if want := v >= 10 && v < 20; ok != want {
			t.Errorf("FillGap(%d) = %v, want %v", v, ok, want)
		}
	}
	if want := []robust.Range{{From: 11, To: 15}, {From: 16, To: 19}}; !slices.Equal(gaps, want) {
		t.Errorf("gaps %v, want %v", gaps, want)
	}
}

// brokenSink fails every write, or every truncate, as a full disk or a
// device would.
type brokenSink struct{ writeErr, truncErr error }

func (b brokenSink) WriteAt(p []byte, _ int64) (int, error) { return 0, b.writeErr }
func (b brokenSink) Truncate(int64) error                   { return b.truncErr }

// TestLoggerStopsOnABrokenOutput: an output that cannot be written or cut
// stops the graph in order, even in chaos mode, which never gives up on
// its own: a restart would fail again at once, in a loop.
func TestLoggerStopsOnABrokenOutput(t *testing.T) {
	for _, tc := range []struct {
		name string
		sink brokenSink
		want string
	}{
		{"write", brokenSink{writeErr: errors.New("no space left on device")}, "write the output: no space left on device"},
		{"truncate", brokenSink{truncErr: errors.New("invalid argument")}, "cut the output back"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := steadytest.New(t)
			in := steadytest.Feed(h, "messages", 8, robust.Message{Value: 0, Category: robust.FizzBuzz})
			robust.NewLogger(h.Graph(), in.Channel, robust.LoggerConfig{Batch: 8, Out: tc.sink}, chaos(0).ActorOptions()...)
			if err := h.Run(); !errors.Is(err, steady.ErrStopGraph) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want the cause that stopped the graph, %q", err, tc.want)
			}
			g := h.Graph()
			if r := g.Snapshot().ShutdownReason; !strings.Contains(r, tc.want) {
				t.Errorf("shutdown reason %q, want it to name %q", r, tc.want)
			}
			var restarts int
			for _, a := range g.Snapshot().Actors {
				restarts += int(a.Restarts)
			}
			if restarts != 0 {
				t.Errorf("%d restarts; a broken output should stop the graph at once", restarts)
			}
		})
	}
}
