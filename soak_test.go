package steady_test

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// The crash-loop soak's sizes, and why.
const (
	// soakRestarts is what CI runs: a million restarts, 7 to 11 s under
	// the race detector on a 2-core VM (7 to 10 µs a restart beside the
	// neighbour) and 2 to 4 s without it. That is short enough for CI to
	// run the full million under -race, so there is no build tag and no
	// smaller count for the race build.
	soakRestarts = 1_000_000
	// soakLong is how long the crash loop runs with STEADY_SOAK=1.
	soakLong = 5 * time.Minute
	// soakWarmup restarts come before the first measurement: by then the
	// actor's recovery-time window (4,096 samples) is full and every
	// structure a restart touches has its working size.
	soakWarmup = 10_000
	// soakCheckEvery restarts, the neighbour must have moved.
	soakCheckEvery = 100_000
	// soakHeapSlack is the heap growth allowed over the loop, for what the
	// neighbour and the runtime happen to hold at the two instants: 1 to
	// 9 KiB measured over a million restarts, 17 KiB over five minutes. A
	// leak of one byte every four restarts exceeds it.
	soakHeapSlack = 256 << 10
	// soakPace slows the neighbour's consumer: unpaced under the race
	// detector, its instrumented sends and takes would take the crash
	// loop's core and a million restarts about 40 s.
	soakPace = 200 * time.Microsecond
	// soakHang fails the test if the loop stops restarting for that long:
	// a guard against a hang (a restart takes microseconds), not a speed
	// target.
	soakHang = time.Minute
)

// TestCrashLoopSoak: an actor that panics on every run, restarted at once
// and never given up on, goes through a million restarts (five minutes of
// them with STEADY_SOAK=1) beside a healthy producer and consumer. At the
// end the process has no more goroutines than after the warm-up and a heap
// within soakHeapSlack of it; the neighbour moves all along, and every
// value it sends arrives once, in order.
func TestCrashLoopSoak(t *testing.T) {
	long := os.Getenv("STEADY_SOAK") != ""
	if testing.Short() && !long {
		t.Skip("a million restarts; -short skips it")
	}
	p := newPipe(quiet(), 64, soakPace)
	// The test holds gate while it measures, so that the heap is read
	// between restarts, not with a restart's garbage in flight.
	var gate sync.Mutex
	looper := p.g.Actor("looper", func(*steady.Actor) error {
		gate.Lock()
		defer gate.Unlock()
		panic("crash loop")
	}, steady.Backoff(0, 0), steady.Intensity(-1, 0))
	measure := func() (goroutines int, heap uint64) {
		gate.Lock()
		defer gate.Unlock()
		return runtime.NumGoroutine(), heapInUse()
	}
	done := make(chan error, 1)
	go func() { done <- p.g.Run(context.Background()) }()
	stop := sync.OnceValue(func() error {
		p.g.Shutdown("soak over")
		return <-done
	})
	defer stop() // also when the test fails halfway

	lastRestarts, lastProgress := 0, time.Now()
	waitFor := func(restarts int) {
		for n := looper.Restarts(); n < restarts; n = looper.Restarts() {
			if n != lastRestarts {
				lastRestarts, lastProgress = n, time.Now()
			} else if time.Since(lastProgress) > soakHang {
				t.Fatalf("no restart for %v, at %d restarts", soakHang, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(soakWarmup)
	g0, h0 := measure()
	start, r0, m0 := time.Now(), looper.Restarts(), p.received.Value()

	moved := m0
	for target := r0 + soakCheckEvery; ; target += soakCheckEvery {
		waitFor(target)
		if m := p.received.Value(); m <= moved {
			t.Fatalf("at %d restarts the neighbour has received %d values, as many as %d restarts before: it has stopped", target, m, soakCheckEvery)
		} else {
			moved = m
		}
		if long && time.Since(start) >= soakLong || !long && target-r0 >= soakRestarts {
			break
		}
	}
	elapsed, r1 := time.Since(start), looper.Restarts()
	g1, h1 := measure()
	n := r1 - r0
	t.Logf("%d restarts in %v (%.0f/s); goroutines %d → %d; heap %d → %d bytes; neighbour %d → %d values",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), g0, g1, h0, h1, m0, moved)
	if g1 > g0 {
		t.Errorf("goroutines grew from %d to %d over %d restarts", g0, g1, n)
	}
	if h1 > h0+soakHeapSlack {
		t.Errorf("heap grew from %d to %d bytes over %d restarts, more than %d", h0, h1, n, soakHeapSlack)
	}

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s, r := p.sent.Value(), p.received.Value(); s != r || r < moved {
		t.Errorf("neighbour sent %d, received %d: want every value once", s, r)
	}
	if pr, cr := p.producer.Restarts(), p.consumer.Restarts(); pr != 0 || cr != 0 {
		t.Errorf("neighbour restarted (producer %d, consumer %d times): want it untouched", pr, cr)
	}
	st := looper.Stats()
	if st.Panics != int64(looper.Restarts())+1 || st.Status != observe.StatusStopped {
		t.Errorf("looper: %d panics, %d restarts, %v; want one panic per run, stopped by the shutdown", st.Panics, looper.Restarts(), st.Status)
	}
}

// heapInUse is the live heap after a collection: the least of three
// readings, as the neighbour allocates between the collection and the reading.
func heapInUse() uint64 {
	least := ^uint64(0)
	for range 3 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		least = min(least, ms.HeapAlloc)
	}
	return least
}
