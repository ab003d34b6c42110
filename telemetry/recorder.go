package telemetry

import (
	"sync"

	"github.com/steady-go/steady/observe"
)

// DefaultRecorderSize is the number of events a [Recorder] keeps when
// NewRecorder is given no size: a few minutes of a busy crash loop
// (restarts settle at one a second), and a timeline that still fits on a
// screen when scrolled.
const DefaultRecorderSize = 200

// Recorder keeps the latest events of a graph in a bounded ring, for the
// dashboard's timeline and /api/snapshot. Feed it from the graph's hook:
//
//	rec := telemetry.NewRecorder(0)
//	g := steady.NewGraph(steady.Config{OnEvent: rec.Record})
//
// or, to keep a hook you already have, rec.Chain(hook).
//
// Recording costs a mutex and a copy of the event (about 10 ns when
// uncontended) and allocates nothing once the ring is full, so it is fit
// for a hook, which runs on the actor's goroutine. A Recorder is safe for
// concurrent use. It keeps each event's error and dead letter alive until
// the event leaves the ring.
type Recorder struct {
	mu    sync.Mutex
	ring  []observe.Event
	next  int    // where the next event goes once the ring is full
	total uint64 // events recorded ever
}

// NewRecorder returns a recorder that keeps the latest size events; size
// ≤ 0 means DefaultRecorderSize.
func NewRecorder(size int) *Recorder {
	if size <= 0 {
		size = DefaultRecorderSize
	}
	return &Recorder{ring: make([]observe.Event, 0, size)}
}

// Record keeps e, dropping the oldest event if the ring is full. Its
// signature fits [steady.Config.OnEvent].
func (r *Recorder) Record(e observe.Event) {
	r.mu.Lock()
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, e)
	} else {
		r.ring[r.next] = e
		r.next = (r.next + 1) % len(r.ring)
	}
	r.total++
	r.mu.Unlock()
}

// Chain returns a hook for [steady.Config.OnEvent] that records each event
// and then passes it to next (if next is not nil):
//
//	cfg.OnEvent = rec.Chain(cfg.OnEvent)
func (r *Recorder) Chain(next func(observe.Event)) func(observe.Event) {
	if next == nil {
		return r.Record
	}
	return func(e observe.Event) {
		r.Record(e)
		next(e)
	}
}

// Events returns the events kept, oldest first.
func (r *Recorder) Events() []observe.Event {
	evs, _ := r.recent()
	return evs
}

// Total is the number of events recorded ever, those dropped from the ring
// included.
func (r *Recorder) Total() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// recent returns the events kept, oldest first, and the sequence number of
// the first one (events are numbered from 1 in the order recorded).
// A nil Recorder has none.
func (r *Recorder) recent() ([]observe.Event, uint64) {
	if r == nil {
		return nil, 1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]observe.Event, 0, len(r.ring))
	out = append(out, r.ring[r.next:]...)
	out = append(out, r.ring[:r.next]...)
	return out, r.total - uint64(len(out)) + 1
}
