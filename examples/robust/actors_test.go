package robust_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
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
// its scripted failure at value 100, and across chaos.
func TestGenerator(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults robust.Faults
	}{
		{"scripted", scripted(robust.Script{GeneratorAt: 100})},
		{"chaos", chaos(0.2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fl faultLog
			g := steady.NewGraph(fl.config())
			values := steady.NewChannel[uint64](g, "values", 16)
			gen := robust.NewGenerator(g, values, robust.GeneratorConfig{Batch: 7, Faults: tc.faults})
			c := collect(g, "collector", values, 500)
			if err := g.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			fl.checkNoOther(t)
			st := gen.State.Value()
			if st.Next < 500 || !slices.Equal(c.got, upTo(st.Next)) {
				t.Fatalf("generated %d, collected %d values, want 0..%d in order", st.Next, len(c.got), st.Next-1)
			}
			stats := gen.Actor.Stats()
			// A failure during the shutdown is not restarted: a producer
			// has nothing left to do.
			if stats.Panics != gen.Injected() || stats.Restarts < stats.Panics-1 || stats.Restarts > stats.Panics {
				t.Errorf("%d panics, %d restarts, %d injected", stats.Panics, stats.Restarts, gen.Injected())
			}
			if tc.faults.Mode == robust.Scripted {
				if n := fl.count(robust.GeneratorName, robust.Scripted, robust.AfterSend); n != 1 || stats.Panics != 1 || !st.Fired {
					t.Errorf("scripted fault struck %d times (%d panics, fired %v), want once", n, stats.Panics, st.Fired)
				}
				if d := fl.faults[robust.GeneratorName][0].Detail; d != "at value 100" {
					t.Errorf("scripted fault %q, want at value 100", d)
				}
			} else if stats.Panics < 10 {
				t.Errorf("only %d chaos panics", stats.Panics)
			}
		})
	}
}

// TestHeartbeat: beats 1..20 arrive once each, one every -rate, across the
// scripted failure at beat 5; then the heartbeat shuts the graph down.
// The fake clock of a synctest bubble makes the timing exact.
func TestHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, n = 10 * time.Millisecond, 20
		var fl faultLog
		g := steady.NewGraph(fl.config())
		beats := steady.NewChannel[uint64](g, "beats", 4)
		hb := robust.NewHeartbeat(g, beats, robust.HeartbeatConfig{Rate: rate, Beats: n,
			Faults: scripted(robust.Script{HeartbeatAt: 5})})
		c := collect(g, "collector", beats, 0)
		start := time.Now()
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		fl.checkNoOther(t)
		want := make([]uint64, n)
		for i := range want {
			want[i] = uint64(i + 1)
		}
		if !slices.Equal(c.got, want) {
			t.Errorf("beats %v, want %v", c.got, want)
		}
		if got := fl.count(robust.HeartbeatName, robust.Scripted, robust.AfterSend); got != 1 {
			t.Errorf("scripted fault struck %d times, want once", got)
		}
		if st := hb.State.Value(); st.Beats != n || !st.Fired || st.Restarts != 1 {
			t.Errorf("state %+v, want %d beats, fired, 1 restart", st, n)
		}
		if r := g.ShutdownReason(); !strings.Contains(r, "sent its 20 beats") {
			t.Errorf("shutdown reason %q", r)
		}
		// n sleeps, one more after the restart, and the restart's backoff
		// (DefaultInitialBackoff ± DefaultJitter).
		lo := (n+1)*rate + time.Duration(float64(steady.DefaultInitialBackoff)*(1-steady.DefaultJitter))
		hi := (n+1)*rate + time.Duration(float64(steady.DefaultInitialBackoff)*(1+steady.DefaultJitter))
		if elapsed < lo || elapsed > hi {
			t.Errorf("run took %v, want between %v and %v", elapsed, lo, hi)
		}
	})
}

// TestWorker runs the worker between scripted beats and values: every
// value but the poison becomes one message with its category, the poison
// (and never a beat) ends in the dead-letter store after three attempts,
// the transient failure strikes once, and both inputs are left empty
// whichever of them ends first.
func TestWorker(t *testing.T) {
	const batch, poison = 8, 42
	script := robust.Script{WorkerAfter: 16, Poison: poison}
	for _, tc := range []struct {
		name          string
		beats, values uint64
		faults        robust.Faults
	}{
		{"beats end first", 3, 100, scripted(script)},
		{"values end first", 30, 50, scripted(script)},
		{"chaos", 20, 400, chaos(0.2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fl faultLog
			g := steady.NewGraph(fl.config())
			beats := steady.NewChannel[uint64](g, "beats", 4)
			values := steady.NewChannel[uint64](g, "values", 16)
			out := steady.NewChannel[robust.Message](g, "messages", 16)
			feed(g, "beat feeder", beats, upTo(tc.beats))
			feed(g, "value feeder", values, upTo(tc.values))
			w := robust.NewWorker(g, beats, values, out, robust.WorkerConfig{Batch: batch, Faults: tc.faults})
			c := collect(g, "collector", out, 0)
			if err := g.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			fl.checkNoOther(t)

			var want []robust.Message
			var skip []uint64
			if tc.faults.Mode == robust.Scripted {
				skip = append(skip, poison)
			}
			for _, v := range upTo(tc.values, skip...) {
				want = append(want, robust.Message{Value: v, Category: robust.Categorize(v)})
			}
			if !slices.Equal(c.got, want) {
				t.Errorf("got %d messages, want %d: %v", len(c.got), len(want), c.got)
			}
			st := w.State.Value()
			if st.Beats != tc.beats || beats.Len() != 0 || values.Len() != 0 {
				t.Errorf("worker took %d of %d beats; left %d beats, %d values", st.Beats, tc.beats, beats.Len(), values.Len())
			}
			if st.Processed != uint64(len(want)) {
				t.Errorf("processed %d, want %d", st.Processed, len(want))
			}
			if tc.name == "beats end first" && st.Drained == 0 || tc.name == "values end first" && st.Drained != 0 {
				t.Errorf("%d values drained after the beats ended", st.Drained)
			}
			var counts [robust.NumCategories]uint64
			for _, m := range want {
				counts[m.Category]++
			}
			if st.Counts != counts {
				t.Errorf("counts %v, want %v", st.Counts, counts)
			}

			dl := g.DeadLetters()
			if tc.faults.Mode != robust.Scripted {
				if len(dl) > 0 {
					t.Errorf("chaos dead-lettered %v", dl[0].Value)
				}
				if n := w.Actor.Stats().Panics; n < 10 {
					t.Errorf("only %d chaos panics", n)
				}
				return
			}
			if len(dl) != 1 || dl[0].Channel != "values" || dl[0].Value != uint64(poison) || dl[0].Attempts != steady.DefaultPoisonAfter {
				t.Fatalf("dead letters %+v, want the poison %d from values after %d attempts", dl, poison, steady.DefaultPoisonAfter)
			}
			if n := fl.count(robust.WorkerName, robust.Scripted, robust.AfterPeek); n != 1 || !st.Fired {
				t.Errorf("transient fault struck %d times (fired %v), want once", n, st.Fired)
			}
			// The poison fails once in a batch (an attempt not charged
			// to it alone) and then three times alone, or only those.
			if n := fl.count(robust.WorkerName, robust.Scripted, robust.MidUpdate); n < 3 || n > 4 {
				t.Errorf("poison failed %d times, want 3 or 4", n)
			}
		})
	}
}

// memSink is an in-memory robust.Sink.
type memSink struct {
	b         []byte
	truncates int
}

func (m *memSink) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memSink) Truncate(n int64) error {
	m.truncates++
	if int(n) <= len(m.b) {
		m.b = m.b[:n]
	} else {
		m.b = append(m.b, make([]byte, int(n)-len(m.b))...)
	}
	return nil
}

// TestLogger: the logger's output holds each message's line once, in
// order, across its scripted failure halfway through its statistics and
// across chaos that strikes after lines were written; its record shows the
// gap left by a missing value.
func TestLogger(t *testing.T) {
	const n, missing = 1000, 500
	var msgs []robust.Message
	var want strings.Builder
	var counts [robust.NumCategories]uint64
	for _, v := range upTo(n, missing) {
		c := robust.Categorize(v)
		msgs = append(msgs, robust.Message{Value: v, Category: c})
		fmt.Fprintf(&want, "%d\t%s\n", v, c)
		counts[c]++
	}
	for _, tc := range []struct {
		name   string
		faults robust.Faults
	}{
		{"scripted", scripted(robust.Script{LoggerAfter: 300})},
		{"chaos", chaos(0.3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fl faultLog
			g := steady.NewGraph(fl.config())
			ch := steady.NewChannel[robust.Message](g, "messages", 32)
			feed(g, "feeder", ch, msgs)
			sink := &memSink{}
			lg := robust.NewLogger(g, ch, robust.LoggerConfig{Batch: 16, Out: sink, Faults: tc.faults})
			if err := g.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			fl.checkNoOther(t)
			if got := string(sink.b); got != want.String() {
				t.Errorf("output has %d lines, want %d", strings.Count(got, "\n"), n-1)
			}
			st := lg.State.Value()
			wantGaps := []robust.Range{{From: missing, To: missing + 1}}
			if st.Logged != n-1 || st.Next != n || !slices.Equal(st.Gaps, wantGaps) || st.Repeats != 0 || st.Miscategorized != 0 {
				t.Errorf("logged %d, next %d, gaps %v, %d repeats, %d miscategorized", st.Logged, st.Next, st.Gaps, st.Repeats, st.Miscategorized)
			}
			if st.Counts != counts || st.FileLen != int64(want.Len()) {
				t.Errorf("counts %v (want %v), file length %d (want %d)", st.Counts, counts, st.FileLen, want.Len())
			}
			restarts := lg.Actor.Stats().Restarts
			if sink.truncates != int(restarts)+1 {
				t.Errorf("output truncated %d times for %d restarts", sink.truncates, restarts)
			}
			if tc.faults.Mode == robust.Scripted {
				if got := fl.count(robust.LoggerName, robust.Scripted, robust.MidUpdate); got != 1 || !st.Fired {
					t.Errorf("scripted fault struck %d times (fired %v), want once", got, st.Fired)
				}
			} else if got := fl.count(robust.LoggerName, robust.Chaos, robust.AfterWrite); got == 0 {
				t.Errorf("chaos never struck after a write")
			}
		})
	}
}

// TestLoggerRecordsTrouble: the logger's record, which the report's checks
// read, shows a repeated message and a wrong category.
func TestLoggerRecordsTrouble(t *testing.T) {
	var fl faultLog
	g := steady.NewGraph(fl.config())
	ch := steady.NewChannel[robust.Message](g, "messages", 8)
	feed(g, "feeder", ch, []robust.Message{
		{Value: 0, Category: robust.FizzBuzz}, {Value: 1}, {Value: 1}, {Value: 3, Category: robust.Buzz},
	})
	lg := robust.NewLogger(g, ch, robust.LoggerConfig{Batch: 8})
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := lg.State.Value()
	if st.Repeats != 1 || st.Miscategorized != 1 || !slices.Equal(st.Gaps, []robust.Range{{From: 2, To: 3}}) || st.Logged != 4 {
		t.Errorf("state %+v, want 1 repeat, 1 miscategorized, gap [2, 3), 4 logged", st)
	}
}
