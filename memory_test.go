package steady_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// liveHeap is the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestMemoryPressureRealHeap: with the real runtime figures, an actor that
// holds a large allocation puts the graph under pressure (the producer is
// held) and, once it lets the allocation go, the graph's own forced
// collection sees the heap fall and releases the producer. Every value
// still arrives once, in order.
func TestMemoryPressureRealHeap(t *testing.T) {
	const ballast = 32 << 20
	synctest.Test(t, func(t *testing.T) {
		var ev collect
		cfg := quiet()
		cfg.OnEvent = ev.hook
		// The ballast takes the heap above 85% of the limit; without it
		// the heap is far below 70% (the test binary's live heap is a
		// few megabytes).
		cfg.MemoryLimit = int64(liveHeap() + ballast)
		p := newPipe(cfg, 16, 10*time.Millisecond)
		start := time.Now()
		var sentHeld int
		p.g.Actor("hog", func(a *steady.Actor) error {
			time.Sleep(1100 * time.Millisecond)
			b := make([]byte, ballast)
			runtime.GC() // the live heap is measured by collections
			time.Sleep(400 * time.Millisecond)
			sentHeld = p.sent.Value()
			time.Sleep(1600 * time.Millisecond)
			if p.sent.Value() != sentHeld {
				t.Errorf("the producer ran while the heap was above the high-water mark")
			}
			runtime.KeepAlive(b) // b is garbage from here on
			time.Sleep(2 * time.Second)
			a.RequestShutdown("done")
			return nil
		})
		if err := p.g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s, r := p.sent.Value(), p.received.Value(); s != r || s <= sentHeld {
			t.Errorf("sent %d, received %d (%d before the hold): want every value, and more after the hold", s, r, sentHeld)
		}
		press, rec := ev.kinds(observe.EventMemoryPressure), ev.kinds(observe.EventMemoryRecovered)
		if len(press) != 1 || len(rec) != 1 {
			t.Fatalf("%d pressure and %d recovery events, want one each", len(press), len(rec))
		}
		// Held at the first sample after the allocation (1.25 s); the
		// ballast is garbage from 3.1 s, and the forced collection at
		// most a second after the last one sees it gone.
		if at := press[0].Time.Sub(start); at != 1250*time.Millisecond {
			t.Errorf("pressure at %v, want 1.25 s", at)
		}
		if at := rec[0].Time.Sub(start); at < 3100*time.Millisecond || at > 4250*time.Millisecond {
			t.Errorf("recovered at %v, want between 3.1 s and 4.25 s", at)
		}
		if ms := p.g.Snapshot().Memory; ms.Episodes != 1 || ms.Peak < ballast || ms.Degraded != rec[0].Time.Sub(press[0].Time) {
			t.Errorf("memory stats %+v", ms)
		}
	})
}
