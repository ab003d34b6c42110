package steady

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady/observe"
)

// fakeMemory stands in for the runtime's figures: the test sets the live
// heap, and a forced collection counts itself.
type fakeMemory struct {
	mu                      sync.Mutex
	heap, limit, gcs, calls uint64
}

func (f *fakeMemory) set(heap uint64) {
	f.mu.Lock()
	f.heap = heap
	f.mu.Unlock()
}

func (f *fakeMemory) read() memReading {
	f.mu.Lock()
	defer f.mu.Unlock()
	return memReading{heap: f.heap, limit: f.limit, gcs: f.gcs}
}

func (f *fakeMemory) collect() {
	f.mu.Lock()
	f.gcs++
	f.calls++
	f.mu.Unlock()
}

func (f *fakeMemory) collects() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// memGraph is gen → sink, where gen sends 0, 1, 2, … as fast as the sink
// (10 ms a message) takes them, and ticker, a source without channels,
// counts a step every 10 ms. The sink checks each value is the one
// expected next. The graph reads its memory from f.
type memGraph struct {
	g                     *Graph
	ch                    *Channel[uint64]
	sent, received, ticks *State[uint64]
	events                []observe.Event
	mu                    sync.Mutex
}

func newMemGraph(cfg Config, f *fakeMemory) *memGraph {
	m := &memGraph{}
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Seed = 1
	cfg.OnEvent = func(e observe.Event) {
		if e.Kind == observe.EventMemoryPressure || e.Kind == observe.EventMemoryRecovered {
			m.mu.Lock()
			m.events = append(m.events, e)
			m.mu.Unlock()
		}
	}
	g := NewGraph(cfg)
	g.mem.read, g.mem.collect = f.read, f.collect
	m.g = g
	m.ch = NewChannel[uint64](g, "values", 16)
	m.sent = NewState(g, "sent", uint64(0))
	m.received = NewState(g, "received", uint64(0))
	m.ticks = NewState(g, "ticks", uint64(0))
	var out *Sender[uint64]
	var in *Receiver[uint64]
	gen := g.Actor("gen", func(a *Actor) error {
		return Source(a, out, func(s *Step) (uint64, bool, error) {
			n := m.sent.Get(s)
			*n++
			return *n - 1, true, nil
		})
	})
	sink := g.Actor("sink", func(a *Actor) error {
		for {
			if err := a.WaitAvailable(in, 1); err != nil {
				return err
			}
			time.Sleep(10 * time.Millisecond)
			if err := a.Step(func(s *Step) error {
				v, _ := in.Peek(s)
				r := m.received.Get(s)
				if v != *r {
					return errors.New("out of order")
				}
				*r++
				return nil
			}); err != nil {
				return err
			}
		}
	}, Intensity(0, time.Second)) // a failure would show in Run's error
	ticker := g.Actor("ticker", func(a *Actor) error {
		for a.Running() {
			if err := a.Sleep(10 * time.Millisecond); err != nil {
				return err
			}
			if err := a.Step(func(s *Step) error { *m.ticks.Get(s)++; return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	out, in = m.ch.Sender(gen), m.ch.Receiver(sink)
	m.sent.Bind(gen)
	m.received.Bind(sink)
	m.ticks.Bind(ticker)
	return m
}

func (m *memGraph) memEvents() []observe.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]observe.Event(nil), m.events...)
}

// checkNothingLost: every value sent arrived once, in order, and nothing
// was dead-lettered.
func (m *memGraph) checkNothingLost(t *testing.T) {
	t.Helper()
	if s, r := m.sent.Value(), m.received.Value(); s != r || s == 0 {
		t.Errorf("sent %d, received %d: want every value sent received", s, r)
	}
	if d := m.g.DeadLetters(); len(d) != 0 {
		t.Errorf("dead letters %v", d)
	}
}

// TestMemoryPressureHoldsSources: above the high-water mark the sources
// are held (the one waiting for room and the one that only steps) while
// the sink drains their channel; between the marks they stay as they are;
// below the low-water mark they run again. Each crossing is one event,
// the time held is measured to the sample, the held graph forces a
// collection once a second to see its heap come down, and no value is
// lost or repeated.
func TestMemoryPressureHoldsSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeMemory{heap: 100, limit: 1000} // the runtime's limit: Config.MemoryLimit is zero
		m := newMemGraph(Config{}, f)
		start := time.Now()
		at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }
		go func() {
			// Samples fall every 250 ms; changes land between them.
			at(600 * time.Millisecond)
			f.set(800) // between the marks: nothing happens
			at(1100 * time.Millisecond)
			if n := len(m.memEvents()); n != 0 || m.g.memHeld.Load() {
				t.Errorf("held at a heap between the marks (%d events)", n)
			}
			f.set(900) // above 85%: held from the sample at 1.25 s
			at(1500 * time.Millisecond)
			sent, ticks := m.sent.Value(), m.ticks.Value()
			at(3100 * time.Millisecond)
			if m.sent.Value() != sent || m.ticks.Value() != ticks {
				t.Errorf("sources ran while held: sent %d → %d, ticks %d → %d", sent, m.sent.Value(), ticks, m.ticks.Value())
			}
			if n := m.ch.Len(); n != 0 {
				t.Errorf("%d values left in the channel after 1.6 s held: the sink should have drained it", n)
			}
			ms := m.g.Snapshot().Memory
			if !ms.Pressure || ms.Episodes != 1 || !ms.Since.Equal(start.Add(1250*time.Millisecond)) || ms.Degraded != 1850*time.Millisecond {
				t.Errorf("memory stats while held %+v, want pressure since 1.25 s, 1.85 s degraded", ms)
			}
			f.set(750) // between the marks again: still held
			at(4100 * time.Millisecond)
			if m.sent.Value() != sent || m.ticks.Value() != ticks {
				t.Errorf("sources released above the low-water mark")
			}
			f.set(600) // below 70%: released at the sample at 4.25 s
			at(5100 * time.Millisecond)
			if m.sent.Value() <= sent || m.ticks.Value() <= ticks {
				t.Errorf("sources still held after the heap fell: sent %d, ticks %d", m.sent.Value(), m.ticks.Value())
			}
			m.g.Shutdown("test")
		}()
		if err := m.g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		m.checkNothingLost(t)

		ev := m.memEvents()
		if len(ev) != 2 || ev[0].Kind != observe.EventMemoryPressure || ev[1].Kind != observe.EventMemoryRecovered ||
			!ev[0].Time.Equal(start.Add(1250*time.Millisecond)) || !ev[1].Time.Equal(start.Add(4250*time.Millisecond)) {
			t.Fatalf("events %v, want pressure at 1.25 s and recovery at 4.25 s", ev)
		}
		if r := ev[0].Reason; !strings.Contains(r, `holding sources "gen", "ticker"`) || !strings.Contains(r, "900 B") {
			t.Errorf("pressure reason %q, want the heap and the held sources", r)
		}
		ms := m.g.Snapshot().Memory
		if ms.Degraded != 3*time.Second || ms.Episodes != 1 || ms.Pressure || ms.Peak != 900 || ms.Limit != 1000 ||
			ms.High < 849 || ms.High > 850 || ms.Low < 699 || ms.Low > 700 {
			t.Errorf("memory stats %+v, want one episode of 3 s, peak 900 of 1000", ms)
		}
		// Held from 1.25 s to 4.25 s, no collection of its own: forced
		// at 1.5 s (the last count changed at Run's start, 0 s), 2.5 s
		// and 3.5 s. None outside the hold.
		if n := f.collects(); n != 3 {
			t.Errorf("%d forced collections, want 3", n)
		}
		if s := m.g.Snapshot(); s.Downtime != 3*time.Second {
			t.Errorf("graph downtime %v, want the 3 s held", s.Downtime)
		}
	})
}

// TestMemoryPressureShutdownWhileHeld: a shutdown releases held sources,
// which stop; the consumer drains and Run returns at once, with the hold
// counted until then.
func TestMemoryPressureShutdownWhileHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeMemory{heap: 950, limit: math.MaxInt64}
		m := newMemGraph(Config{MemoryLimit: 1000}, f) // Config's limit, the runtime has none
		go func() {
			time.Sleep(time.Second)
			m.g.Shutdown("test")
		}()
		start := time.Now()
		if err := m.g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The shutdown at 1 s, then the sink drains what gen sent before
		// the hold at 0.25 s: at most 16 values at 10 ms each.
		if d := time.Since(start); d > 1200*time.Millisecond {
			t.Errorf("Run took %v after a shutdown at 1 s", d)
		}
		m.checkNothingLost(t)
		ms := m.g.Snapshot().Memory
		if ms.Pressure || ms.Episodes != 1 || ms.Degraded != time.Since(start)-250*time.Millisecond {
			t.Errorf("memory stats %+v, want one hold from 0.25 s to the end of Run (%v)", ms, time.Since(start))
		}
	})
}

// TestMemoryWatchOff: no limit anywhere, or a negative MemoryLimit, and
// the graph never holds, whatever the heap.
func TestMemoryWatchOff(t *testing.T) {
	for _, tc := range []struct {
		name         string
		limit        int64
		runtimeLimit uint64
	}{
		{"no runtime limit", 0, math.MaxInt64},
		{"negative MemoryLimit", -1, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeMemory{heap: 1 << 40, limit: tc.runtimeLimit}
				m := newMemGraph(Config{MemoryLimit: tc.limit}, f)
				go func() {
					time.Sleep(time.Second)
					m.g.Shutdown("test")
				}()
				if err := m.g.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				m.checkNothingLost(t)
				if ms := m.g.Snapshot().Memory; ms.Episodes != 0 || ms.Limit != 0 || len(m.memEvents()) != 0 {
					t.Errorf("memory stats %+v, events %v: want no watch", ms, m.memEvents())
				}
			})
		})
	}
}

// TestMemoryDefaults: out-of-range marks fall back to the defaults, and a
// low mark at or above the high one is put below it.
func TestMemoryDefaults(t *testing.T) {
	for _, tc := range []struct{ high, low, wantHigh, wantLow float64 }{
		{0, 0, defaultMemoryHigh, defaultMemoryLow},
		{1.5, -1, defaultMemoryHigh, defaultMemoryLow},
		{math.NaN(), math.NaN(), defaultMemoryHigh, defaultMemoryLow},
		{0.5, 0.6, 0.5, 0.5 * defaultMemoryLow / defaultMemoryHigh},
		{0.9, 0.8, 0.9, 0.8},
	} {
		c := Config{MemoryHigh: tc.high, MemoryLow: tc.low}
		c.memoryDefaults()
		if c.MemoryHigh != tc.wantHigh || c.MemoryLow != tc.wantLow {
			t.Errorf("high %v low %v: got %v %v, want %v %v", tc.high, tc.low, c.MemoryHigh, c.MemoryLow, tc.wantHigh, tc.wantLow)
		}
	}
}

// TestMemoryPressureSparesAFinalFlush: memory pressure holds sources
// only. A stage whose input has ended, and which sends a total after its
// last value while the sources are held, gets room from WaitVacant like
// any actor with inputs, and the total arrives.
func TestMemoryPressureSparesAFinalFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeMemory{heap: 100, limit: math.MaxInt64}
		g := NewGraph(Config{MemoryLimit: 1000, Logger: slog.New(slog.DiscardHandler), Seed: 1})
		g.mem.read, g.mem.collect = f.read, f.collect
		values := NewChannel[int](g, "values", 4)
		totals := NewChannel[int](g, "totals", 4)
		var vout, tout *Sender[int]
		var vin, tin *Receiver[int]
		n := 0
		gen := g.Actor("gen", func(a *Actor) error {
			return Source(a, vout, func(*Step) (int, bool, error) { n++; return n, n <= 3, nil })
		})
		stage := g.Actor("stage", func(a *Actor) error {
			sum := 0
			if err := Sink(a, vin, func(_ *Step, v int) error { sum += v; return nil }); err != nil {
				return err
			}
			f.set(950)                     // above the high mark
			time.Sleep(2 * sampleInterval) // for the sampler to see it
			if !g.memHeld.Load() {
				return errors.New("the sources are not held")
			}
			if err := a.WaitVacant(tout, 1); err != nil {
				return err
			}
			return a.Step(func(s *Step) error { return tout.Send(s, sum) })
		}, Intensity(0, time.Second)) // a failure would show in Run's error
		var got []int
		sink := g.Actor("sink", func(a *Actor) error {
			return Sink(a, tin, func(_ *Step, v int) error { got = append(got, v); return nil })
		})
		vout, vin, tout, tin = values.Sender(gen), values.Receiver(stage), totals.Sender(stage), totals.Receiver(sink)
		if err := g.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if len(got) != 1 || got[0] != 6 {
			t.Errorf("the sink got %v, want the total 6 (1+2+3)", got)
		}
	})
}
