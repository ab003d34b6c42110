package steady

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/steady-go/steady/observe"
)

// Metrics are gathered without touching the hot path: the channel counters
// are the ring's own indices, the actor counters are the supervisor's, and
// everything derived from them over time (rates, average fill, alerts) is
// computed by Run's own goroutine every sampleInterval.

// sampleInterval is how often Run samples channels: four times a second
// gives a dashboard refreshed every second fresh rates, at a cost of a few
// atomic loads per channel.
const sampleInterval = 250 * time.Millisecond

// Time constants of the smoothed figures: a rate follows a change within a
// couple of seconds; the average fill smooths over about ten.
const (
	rateTau = 2 * time.Second
	fillTau = 10 * time.Second
)

// Alert defaults; see the Config fields.
const (
	defaultClusterFailures = 5
	defaultClusterWindow   = 10 * time.Second
	defaultFillAlert       = 0.9
	defaultFillAlertAfter  = 5 * time.Second
)

// Snapshot returns every metric of the graph. It may be called from any
// goroutine at any time: while the graph is built, as Run starts, while it
// runs or after. It takes a few locks, none on the actors' hot path.
func (g *Graph) Snapshot() observe.Snapshot {
	s := observe.Snapshot{
		Time:           time.Now(),
		Started:        g.startTime(),
		Status:         g.Status(),
		ShutdownReason: g.shutdownReason(),
		DeadLetters:    g.DeadLetters(),
	}
	s.DeadLettersPurged, s.MaxDeadLetters = g.purged(), g.cfg.MaxDeadLetters
	if g.committer != nil {
		d := g.durableStats()
		s.Durable = &d
	}
	g.mu.Lock()
	actors := slices.Clone(g.actors)
	g.mu.Unlock()
	for _, a := range actors {
		s.Actors = append(s.Actors, a.Stats())
	}
	// The ends are bound under g.mu while the graph is built.
	g.mu.Lock()
	chans := make([]observe.ChannelStats, len(g.chanOrder))
	cores := make([]*chanCore, len(g.chanOrder))
	for i, ch := range g.chanOrder {
		c := ch.core()
		cores[i] = c
		chans[i] = observe.ChannelStats{Name: c.name, Type: c.typeName, Capacity: int(c.capacity)}
		if c.producer != nil {
			chans[i].Producer = c.producer.name
		}
		if c.consumer != nil {
			chans[i].Consumer = c.consumer.name
		}
	}
	g.mu.Unlock()
	g.metrics.mu.Lock()
	defer g.metrics.mu.Unlock()
	for i, c := range cores {
		cs := chans[i]
		head := c.head.Load() // before tail: head never passes a tail loaded after it
		tail := c.tail.Load()
		cs.Len = int(tail-head) + int(c.replayN.Load())
		cs.Sent, cs.Taken, cs.Closed = tail, head, c.closed.Load()
		if cs.Capacity > 0 {
			cs.Fill = float64(cs.Len) / float64(cs.Capacity)
		}
		if m := g.metrics.chans[c]; m != nil {
			cs.FillAvg, cs.Rate, cs.BackedUp = m.fillAvg, m.rate, m.alerted
		}
		s.Channels = append(s.Channels, cs)
	}
	s.FailureClusters = g.metrics.clusters
	s.ChannelAlerts = g.metrics.chanAlerts
	s.Availability, s.Downtime = g.avail.figures(s.Started)
	s.Memory = g.memoryStats()
	return s
}

// graphMetrics is what Run's sampler and the cluster detector keep.
type graphMetrics struct {
	mu         sync.Mutex
	chans      map[*chanCore]*chanMetrics
	clusters   int64
	chanAlerts int64

	// Failure clusters: recent failure times per actor, and the actors
	// each one shares a channel with.
	failures   map[*Actor][]time.Time
	neighbours map[*Actor][]*Actor
	lastAlert  map[*Actor]time.Time
}

type chanMetrics struct {
	fillAvg   float64
	rate      float64
	lastSent  uint64
	lastAt    time.Time
	highSince time.Time // when Fill went above the threshold; zero if below
	alerted   bool
}

// initMetrics prepares the sampler and the cluster detector when Run starts.
// It holds the metrics lock, as Snapshot may be reading them from another
// goroutine at that moment (a telemetry scrape as the graph starts).
func (g *Graph) initMetrics(now time.Time) {
	m := &g.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chans = map[*chanCore]*chanMetrics{}
	m.failures = map[*Actor][]time.Time{}
	m.neighbours = map[*Actor][]*Actor{}
	m.lastAlert = map[*Actor]time.Time{}
	for _, ch := range g.chanOrder {
		c := ch.core()
		m.chans[c] = &chanMetrics{lastAt: now}
		p, q := c.producer, c.consumer
		if p != q && !slices.Contains(m.neighbours[p], q) {
			m.neighbours[p] = append(m.neighbours[p], q)
			m.neighbours[q] = append(m.neighbours[q], p)
		}
	}
}

// sample updates rates, average fills and channel alerts. Run calls it every
// sampleInterval.
func (g *Graph) sample(now time.Time) {
	var alerts []observe.Event
	g.metrics.mu.Lock()
	for _, ch := range g.chanOrder {
		c := ch.core()
		m := g.metrics.chans[c]
		dt := now.Sub(m.lastAt)
		if dt <= 0 {
			continue
		}
		head := c.head.Load() // before tail: head never passes a tail loaded after it
		tail := c.tail.Load()
		fill := (float64(tail-head) + float64(c.replayN.Load())) / float64(c.capacity)
		rate := float64(tail-m.lastSent) / dt.Seconds()
		m.rate = smooth(m.rate, rate, dt, rateTau)
		m.fillAvg = smooth(m.fillAvg, fill, dt, fillTau)
		m.lastSent, m.lastAt = tail, now
		switch {
		case fill < g.cfg.FillAlert:
			m.highSince, m.alerted = time.Time{}, false
		case m.highSince.IsZero():
			m.highSince = now
		case !m.alerted && now.Sub(m.highSince) >= g.cfg.FillAlertAfter:
			m.alerted = true
			g.metrics.chanAlerts++
			alerts = append(alerts, observe.Event{Kind: observe.EventChannelBackedUp, Time: now, Actor: c.consumer.name, Channel: c.name,
				Reason: fmt.Sprintf("channel %q has been %.0f%% full or more for %v; its consumer %q is falling behind",
					c.name, 100*g.cfg.FillAlert, now.Sub(m.highSince).Round(time.Millisecond), c.consumer.name)})
		}
	}
	g.metrics.mu.Unlock()
	for _, e := range alerts {
		g.emit(e)
	}
}

// settle zeroes the rates when Run returns: nothing moves any more.
func (g *Graph) settle() {
	g.metrics.mu.Lock()
	defer g.metrics.mu.Unlock()
	for _, m := range g.metrics.chans {
		m.rate = 0
	}
}

// smooth moves avg toward x as an exponential moving average with time
// constant tau over a step of dt.
func smooth(avg, x float64, dt, tau time.Duration) float64 {
	alpha := 1 - math.Exp(-dt.Seconds()/tau.Seconds())
	return avg + alpha*(x-avg)
}

// noteFailure records a failure of a at now and raises a cluster alert
// when the failures of a and the actors it shares a channel with reach
// ClusterFailures within ClusterWindow. One alert per group and window.
func (g *Graph) noteFailure(a *Actor, now time.Time) {
	k, w := g.cfg.ClusterFailures, g.cfg.ClusterWindow
	m := &g.metrics
	m.mu.Lock()
	if m.failures == nil { // Run has not initialised metrics
		m.mu.Unlock()
		return
	}
	times := append(m.failures[a], now)
	if len(times) > k { // only the latest k can matter
		times = times[len(times)-k:]
	}
	m.failures[a] = times
	group := append([]*Actor{a}, m.neighbours[a]...)
	count := 0
	var failed []string // the members with failures in the window
	for _, b := range group {
		n := 0
		for _, t := range m.failures[b] {
			if now.Sub(t) < w {
				n++
			}
		}
		if n > 0 {
			failed = append(failed, b.name)
		}
		count += n
	}
	var e *observe.Event
	if count >= k && now.Sub(m.lastAlert[a]) >= w {
		for _, b := range group {
			m.lastAlert[b] = now
		}
		m.clusters++
		names := make([]string, len(group))
		for i, b := range group {
			names[i] = b.name
		}
		e = &observe.Event{Kind: observe.EventFailureCluster, Time: now, Actor: a.name, Count: count, Actors: failed,
			Reason: fmt.Sprintf("%d failures within %v across %s", count, w, strings.Join(names, ", "))}
	}
	m.mu.Unlock()
	if e != nil {
		g.emit(*e)
	}
}
