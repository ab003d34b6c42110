package steady

import (
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/steady-go/steady/observe"
)

// Memory pressure. Run's sampler reads the live heap every sampleInterval.
// When it rises above Config.MemoryHigh of the limit, the graph holds its
// sources (actors without inputs) at their next Actor.WaitVacant or
// Actor.Step, never inside a step; the rest of the graph drains what is in
// the channels, and nothing is dropped. When the heap falls below
// Config.MemoryLow of the limit, the sources run again. Both crossings are
// events (EventMemoryPressure, EventMemoryRecovered); the time spent held
// is in Snapshot.Memory.

// The default marks, as fractions of the limit, and why.
const (
	// Past 85% live, the collector has less than a sixth of the limit to
	// work in and runs ever more often: the program is close to
	// thrashing, and new intake only makes it worse.
	defaultMemoryHigh = 0.85
	// 70%: a gap of 15% of the limit between the marks, so that the
	// garbage of a few batches cannot flip the graph between held and
	// running at every sample.
	defaultMemoryLow = 0.70
)

// memoryRecheck: while the sources are held, the sampler forces a
// collection when none has run for this long. The live heap is measured
// by collections, and a held graph allocates little, so without one a heap
// that has been freed would look full until something else allocates. A
// forced collection costs CPU in proportion to the live heap (a few
// milliseconds for tens of megabytes), at most once a second and only
// while the graph is held.
const memoryRecheck = time.Second

// memReading is one sample of the runtime's figures.
type memReading struct {
	heap  uint64 // live heap bytes as of the last collection
	limit uint64 // the runtime's memory limit; math.MaxInt64 when unset
	gcs   uint64 // collections completed, ever
}

// memWatch is the state of the memory watch. Run's goroutine samples;
// Snapshot reads under mu.
type memWatch struct {
	// read and collect are the runtime's; tests replace them before Run.
	read    func() memReading
	collect func()
	samples []metrics.Sample
	sources []*Actor // the actors a hold applies to

	mu       sync.Mutex
	limit    uint64
	heap     uint64
	peak     uint64
	since    time.Time // the current hold's start; zero without one
	degraded time.Duration
	episodes int64
	end      time.Time // Run's end; zero while it runs
	gcs      uint64    // collections counted at the last sample
	gcAt     time.Time // when that count last changed, or a collection was forced
}

// memoryDefaults fills in the memory fields of a Config.
func (c *Config) memoryDefaults() {
	if c.MemoryHigh <= 0 || c.MemoryHigh > 1 || math.IsNaN(c.MemoryHigh) {
		c.MemoryHigh = defaultMemoryHigh
	}
	if c.MemoryLow <= 0 || c.MemoryLow >= c.MemoryHigh || math.IsNaN(c.MemoryLow) {
		// Below the high mark in the default proportion.
		c.MemoryLow = c.MemoryHigh * defaultMemoryLow / defaultMemoryHigh
	}
}

// readRuntimeMemory reads the live heap, the memory limit and the number
// of collections from runtime/metrics, which unlike runtime.ReadMemStats
// does not stop the world.
func (w *memWatch) readRuntimeMemory() memReading {
	if w.samples == nil {
		w.samples = []metrics.Sample{
			{Name: "/gc/heap/live:bytes"},
			{Name: "/gc/gomemlimit:bytes"},
			{Name: "/gc/cycles/total:gc-cycles"},
		}
	}
	metrics.Read(w.samples)
	var v [3]uint64
	for i, s := range w.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	return memReading{heap: v[0], limit: v[1], gcs: v[2]}
}

// initMemory prepares the memory watch when Run starts.
func (g *Graph) initMemory(now time.Time) {
	w := &g.mem
	if w.read == nil {
		w.read = w.readRuntimeMemory
	}
	if w.collect == nil {
		w.collect = runtime.GC
	}
	for _, a := range g.actors {
		if len(a.inputs) == 0 {
			w.sources = append(w.sources, a)
		}
	}
	w.gcAt = now
}

// watchMemory samples the heap and holds or releases the sources. Run
// calls it every sampleInterval, on its own goroutine.
func (g *Graph) watchMemory(now time.Time) {
	if g.cfg.MemoryLimit < 0 {
		return
	}
	w := &g.mem
	r := w.read()
	if g.memHeld.Load() && r.gcs == w.gcs && now.Sub(w.gcAt) >= memoryRecheck {
		w.collect()
		r = w.read()
		w.gcAt = now
	}
	limit := uint64(g.cfg.MemoryLimit)
	if limit == 0 && r.limit < math.MaxInt64 {
		limit = r.limit
	}
	high := uint64(float64(limit) * g.cfg.MemoryHigh)
	low := uint64(float64(limit) * g.cfg.MemoryLow)

	w.mu.Lock()
	if r.gcs != w.gcs {
		w.gcs, w.gcAt = r.gcs, now
	}
	w.limit, w.heap, w.peak = limit, r.heap, max(w.peak, r.heap)
	var e *observe.Event
	switch held := g.memHeld.Load(); {
	case !held && limit > 0 && r.heap > high:
		w.since = now
		w.episodes++
		g.memHeld.Store(true)
		g.avail.lose()
		e = &observe.Event{Kind: observe.EventMemoryPressure, Time: now, Reason: fmt.Sprintf(
			"memory pressure: live heap %s is above %.0f%% of the %s limit; holding %s until it falls below %.0f%%",
			bytesText(r.heap), 100*g.cfg.MemoryHigh, bytesText(limit), w.sourceNames(), 100*g.cfg.MemoryLow)}
	case held && (limit == 0 || r.heap < low):
		held := now.Sub(w.since)
		w.degraded += held
		w.since = time.Time{}
		g.memHeld.Store(false)
		g.avail.regain()
		e = &observe.Event{Kind: observe.EventMemoryRecovered, Time: now, Reason: fmt.Sprintf(
			"memory recovered: live heap %s is below %.0f%% of the %s limit after %v; %s run again",
			bytesText(r.heap), 100*g.cfg.MemoryLow, bytesText(limit), held.Round(time.Millisecond), w.sourceNames())}
	}
	w.mu.Unlock()
	if e == nil {
		return
	}
	if e.Kind == observe.EventMemoryRecovered {
		for _, a := range w.sources {
			a.wake()
		}
	}
	g.emit(*e)
}

// stopMemory closes the record when Run returns: a hold still on counts
// until then, and no source is held any more.
func (g *Graph) stopMemory(now time.Time) {
	w := &g.mem
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.since.IsZero() {
		w.degraded += now.Sub(w.since)
		w.since = time.Time{}
	}
	w.end = now
	g.memHeld.Store(false)
}

// memoryStats returns what the memory watch saw.
func (g *Graph) memoryStats() observe.MemoryStats {
	w := &g.mem
	w.mu.Lock()
	defer w.mu.Unlock()
	m := observe.MemoryStats{
		Limit:    w.limit,
		High:     uint64(float64(w.limit) * g.cfg.MemoryHigh),
		Low:      uint64(float64(w.limit) * g.cfg.MemoryLow),
		Heap:     w.heap,
		Peak:     w.peak,
		Pressure: !w.since.IsZero(),
		Since:    w.since,
		Episodes: w.episodes,
		Degraded: w.degraded,
	}
	if m.Pressure {
		m.Degraded += time.Since(w.since)
	}
	return m
}

// sourceNames lists the sources for an event: "sources gen, beat", or
// "no source" for a graph without one.
func (w *memWatch) sourceNames() string {
	if len(w.sources) == 0 {
		return "no source (the graph has none)"
	}
	names := make([]string, len(w.sources))
	for i, a := range w.sources {
		names[i] = fmt.Sprintf("%q", a.name)
	}
	word := "sources "
	if len(names) == 1 {
		word = "source "
	}
	return word + strings.Join(names, ", ")
}

// holdForMemory blocks a source while the graph holds its sources, until
// they are released or the graph shuts down (a source must then stop,
// not wait). The caller checks memHeld first, so a graph under no
// pressure pays one atomic load.
func (a *Actor) holdForMemory() {
	g := a.g
	if len(a.inputs) > 0 {
		return
	}
	for g.memHeld.Load() && !g.shuttingDown.Load() && !g.hardStopped.Load() {
		a.park()
	}
}

// bytesText formats a byte count in binary units: "512 B", "3.2 MiB".
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
