package steady

import (
	"sync"
	"time"
)

// The graph's availability is the share of Run's time during which every
// actor could work: no actor was down (between a failure and its next run,
// backoff included), none had given up, and the sources were not held for
// memory pressure. An actor that finished its work is not down. In a
// pipeline every actor lies on the path from a source to a sink, so one
// actor down is the pipeline not doing all of its work.
//
// It is not a combination of the actors' availabilities: two actors down at
// the same time cost the graph that time once, and an actor that gave up
// keeps the graph unavailable until Run returns, where its own figure
// stops at its give-up.

// availability tracks the time the graph could not work fully: a count of
// the reasons it cannot now (actors down, a memory hold) and the time
// accrued while the count was above zero.
type availability struct {
	mu    sync.Mutex
	down  int           // actors down now, plus one while sources are held
	since time.Time     // when down last rose above zero
	total time.Duration // closed periods
	end   time.Time     // when Run stopped; zero while it runs
}

// lose records one more reason the graph cannot work fully, from now.
func (v *availability) lose() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.end.IsZero() {
		return
	}
	if v.down == 0 {
		v.since = time.Now() // under the lock: periods never overlap
	}
	v.down++
}

// regain removes one reason recorded by lose.
func (v *availability) regain() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.end.IsZero() || v.down == 0 {
		return
	}
	v.down--
	if v.down == 0 {
		v.total += time.Since(v.since)
		v.since = time.Time{}
	}
}

// stop closes the record when Run returns: an actor still down, or a hold
// still on, counts until then.
func (v *availability) stop() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.end.IsZero() {
		return
	}
	v.end = time.Now()
	if v.down > 0 {
		v.total += v.end.Sub(v.since)
		v.since = time.Time{}
	}
}

// figures returns the availability over the time from start (Run's start;
// zero before it) to now or to Run's end, and the time the graph could not
// work fully.
func (v *availability) figures(start time.Time) (float64, time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	end, down := v.end, v.total
	if end.IsZero() {
		end = time.Now()
		if v.down > 0 {
			down += end.Sub(v.since)
		}
	}
	life := end.Sub(start)
	if start.IsZero() || life <= 0 {
		return 1, down
	}
	return max(0, 1-float64(down)/float64(life)), down
}

// actorStopped updates the availability when an actor stops for good:
// one that gave up stays down until Run returns; one that finished (down
// or not when the shutdown stopped it) no longer is.
func (g *Graph) actorStopped(wasDown, gaveUp bool) {
	switch {
	case gaveUp && !wasDown: // it ended its goroutine (runtime.Goexit)
		g.avail.lose()
	case !gaveUp && wasDown:
		g.avail.regain()
	}
}
