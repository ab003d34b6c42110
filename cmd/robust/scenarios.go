package main

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
	"github.com/steady-go/steady/observe"
)

// The memory and degrade scenarios' flags and report sections, and the
// failure patterns the report lists.

// maxSize bounds -memory-limit and -spool: 1 TiB is beyond any machine
// this demonstration runs on, and keeps the products in range.
const maxSize = 1 << 40

// sizeFlag is a byte count: a whole number with an optional binary unit,
// B, KiB, MiB or GiB.
type sizeFlag struct{ p *int64 }

var sizeUnits = []struct {
	suffix string
	factor int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (f sizeFlag) String() string {
	if f.p == nil {
		return "0"
	}
	return sizeText(*f.p)
}

// sizeText spells n in the largest unit that divides it: "64MiB", "0".
func sizeText(n int64) string {
	for _, u := range sizeUnits {
		if n != 0 && n%u.factor == 0 {
			return strconv.FormatInt(n/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (f sizeFlag) Set(s string) error {
	num, factor := s, int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, factor = n, u.factor
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	switch {
	case err != nil:
		return errors.New("not a size (use e.g. 64MiB, 16KiB, 4096 or 0)")
	case v < 0:
		return errors.New("must not be negative")
	case v > maxSize/factor:
		return fmt.Errorf("must be at most %s", sizeText(maxSize))
	}
	*f.p = v * factor
	return nil
}

// memoryLimit sets the Go runtime's memory limit to -memory-limit, so that
// the collector works to stay under the limit the graph watches, and
// returns the value for steady.Config.MemoryLimit (0: the runtime's own).
func (p *pipeline) memoryLimit() int64 {
	if p.cfg.memoryLimit > 0 {
		p.oldLimit = debug.SetMemoryLimit(p.cfg.memoryLimit)
	}
	return p.cfg.memoryLimit
}

// restoreMemoryLimit puts back the runtime's memory limit that
// memoryLimit replaced.
func (p *pipeline) restoreMemoryLimit() {
	if p.oldLimit >= 0 {
		debug.SetMemoryLimit(p.oldLimit)
		p.oldLimit = -1
	}
}

// maxPatterns bounds each list of failure patterns in the report: a chaos
// run at a high rate can raise a cluster alert every window for its whole
// length. The counts cover all of them.
const maxPatterns = 100

// eventLog keeps what the report lists from the graph's events: failure
// clusters, channel alerts, and what the pipeline had done when an actor
// gave up. The hook runs on the goroutines where events happen.
type eventLog struct {
	p *pipeline

	mu       sync.Mutex
	clusters []clusterReport
	alerts   []alertReport
	nClust   int
	nAlerts  int
	gaveUp   map[string]gaveUpAt
}

// gaveUpAt is the pipeline's progress when an actor gave up.
type gaveUpAt struct {
	time      time.Time
	beats     uint64 // beats the heartbeat had sent
	generated uint64 // values the generator had sent
	processed uint64 // values the worker had processed
	logged    uint64 // messages the logger had logged
}

// chain returns a hook that calls next (if any) and then records e.
func (l *eventLog) chain(next func(observe.Event)) func(observe.Event) {
	return func(e observe.Event) {
		if next != nil {
			next(e)
		}
		l.record(e)
	}
}

func (l *eventLog) record(e observe.Event) {
	switch e.Kind {
	case observe.EventFailureCluster, observe.EventChannelBackedUp, observe.EventGaveUp:
	default:
		return
	}
	var at gaveUpAt
	if e.Kind == observe.EventGaveUp {
		p := l.p
		at = gaveUpAt{time: e.Time, beats: p.beatsSent(), generated: p.generated(),
			processed: p.workerState().Processed, logged: p.loggerState().Logged}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e.Kind {
	case observe.EventFailureCluster:
		l.nClust++
		if len(l.clusters) < maxPatterns {
			l.clusters = append(l.clusters, clusterReport{time: e.Time, Actor: e.Actor, Failures: e.Count,
				Actors: e.Actors, WindowMS: ms(steady.DefaultConfig().ClusterWindow), Reason: e.Reason})
		}
	case observe.EventChannelBackedUp:
		l.nAlerts++
		if len(l.alerts) < maxPatterns {
			l.alerts = append(l.alerts, alertReport{time: e.Time, Channel: e.Channel, Consumer: e.Actor,
				Producer: l.p.producerOf(e.Channel), Reason: e.Reason})
		}
	case observe.EventGaveUp:
		if l.gaveUp == nil {
			l.gaveUp = map[string]gaveUpAt{}
		}
		l.gaveUp[e.Actor] = at
	}
}

// producerOf names the producer of the named channel: in a consuming
// half, the inbound bridges produce beats and values.
func (p *pipeline) producerOf(channel string) string {
	switch {
	case channel == p.beats.Name() && p.beatsIn != nil:
		return beatsInName
	case channel == p.values.Name() && p.valuesIn != nil:
		return valuesInName
	case channel == p.beats.Name():
		return robust.HeartbeatName
	case channel == p.values.Name():
		return robust.GeneratorName
	case p.messages != nil && channel == p.messages.Name():
		return robust.WorkerName
	}
	return ""
}

// The report's sections for the graph as a whole.
type (
	// memoryReport is the memory watch: the limit (0 when memory is not
	// watched), the marks, the largest live heap seen, and how often and
	// how long the sources were held.
	memoryReport struct {
		LimitBytes uint64  `json:"limit_bytes"`
		HighBytes  uint64  `json:"high_bytes"`
		LowBytes   uint64  `json:"low_bytes"`
		PeakBytes  uint64  `json:"peak_heap_bytes"`
		Episodes   int64   `json:"episodes"`
		DegradedMS float64 `json:"degraded_ms"`
		SpoolBytes int64   `json:"spool_bytes"` // -spool
	}
	// clusterReport is one failure cluster alert.
	clusterReport struct {
		time     time.Time
		Time     string   `json:"time"`  // RFC 3339
		AtMS     float64  `json:"at_ms"` // since the run started
		Actor    string   `json:"actor"` // where the alert was raised
		Failures int      `json:"failures"`
		Actors   []string `json:"actors"` // the actors whose failures it counted
		WindowMS float64  `json:"window_ms"`
		Reason   string   `json:"reason"`
	}
	// alertReport is one backed-up channel alert.
	alertReport struct {
		time     time.Time
		Time     string  `json:"time"`
		AtMS     float64 `json:"at_ms"`
		Channel  string  `json:"channel"`
		Producer string  `json:"producer"`
		Consumer string  `json:"consumer"` // the actor falling behind
		Reason   string  `json:"reason"`
	}
	// degradedReport is an actor that gave up while the rest ran on:
	// what the pipeline lost in function, and what carried on.
	degradedReport struct {
		Actor     string  `json:"actor"`
		AtMS      float64 `json:"at_ms"`
		Restarts  int64   `json:"restarts"`
		Error     string  `json:"error"`
		Lost      string  `json:"lost_function"`
		CarriedOn string  `json:"carried_on"`
	}
)

// graphSections fills the report's sections for the graph as a whole:
// availability, memory, failure patterns, degradation.
func (p *pipeline) graphSections(r *report) {
	s := p.g.Snapshot()
	r.Availability = math.Round(s.Availability*1e6) / 1e6
	r.DowntimeMS = ms(s.Downtime)
	m := s.Memory
	r.Memory = memoryReport{LimitBytes: m.Limit, HighBytes: m.High, LowBytes: m.Low, PeakBytes: m.Peak,
		Episodes: m.Episodes, DegradedMS: ms(m.Degraded), SpoolBytes: p.cfg.spool}

	l := p.seen
	l.mu.Lock()
	defer l.mu.Unlock()
	r.FailureClusters, r.ChannelAlerts = []clusterReport{}, []alertReport{}
	for _, c := range l.clusters {
		c.Time, c.AtMS = c.time.Format(time.RFC3339Nano), ms(c.time.Sub(s.Started))
		r.FailureClusters = append(r.FailureClusters, c)
	}
	for _, a := range l.alerts {
		a.Time, a.AtMS = a.time.Format(time.RFC3339Nano), ms(a.time.Sub(s.Started))
		r.ChannelAlerts = append(r.ChannelAlerts, a)
	}
	r.FailureClustersTotal, r.ChannelAlertsTotal = l.nClust, l.nAlerts

	r.Degraded = []degradedReport{}
	for _, a := range s.Actors {
		if a.Status != observe.StatusDegraded {
			continue
		}
		at := l.gaveUp[a.Name]
		d := degradedReport{Actor: a.Name, AtMS: ms(at.time.Sub(s.Started)), Restarts: a.Restarts}
		var g *steady.GaveUpError
		if errors.As(a.LastError, &g) && g.Last != nil {
			d.Error = g.Last.Error()
		} else if a.LastError != nil {
			d.Error = a.LastError.Error()
		}
		d.Lost, d.CarriedOn = p.lostFunction(a.Name, at)
		r.Degraded = append(r.Degraded, d)
	}
}

// lostFunction says what the pipeline could no longer do once the named
// actor gave up, and what went on without it, from its progress then and
// at the end.
func (p *pipeline) lostFunction(actor string, at gaveUpAt) (lost, carriedOn string) {
	beats, gen := p.beatsSent(), p.generated()
	ws, logged := p.workerState(), p.loggerState().Logged
	switch actor {
	case robust.GeneratorName:
		return fmt.Sprintf("new values: none generated after value %d, so the %d beats sent after the give-up carried none", at.generated, beats-at.beats),
			fmt.Sprintf("the heartbeat sent %d beats, the worker took %d and processed every value generated (%d), the logger logged %d messages", beats, ws.Beats, ws.Processed, logged)
	case robust.HeartbeatName:
		return fmt.Sprintf("pacing: no beat after beat %d; the worker took the values left without beats", at.beats),
			fmt.Sprintf("the generator sent %d values, the worker processed %d (%d without beats), the logger logged %d", gen, ws.Processed, ws.Drained, logged)
	case robust.WorkerName:
		return fmt.Sprintf("FizzBuzz: no message after %d values processed; beats and values wait in their channels", at.processed),
			fmt.Sprintf("the logger logged the %d messages sent before", logged)
	case robust.LoggerName:
		return fmt.Sprintf("logging: nothing logged after %d messages; the messages wait in their channel", at.logged),
			"the producers ran until their channels filled"
	case beatsOutName, valuesOutName, beatsInName, valuesInName:
		return fmt.Sprintf("the stream %s: nothing crossed it after %s gave up", p.cfg.streamName(streamOf(actor)), actor),
			"the rest of this half ran on"
	}
	return "unknown", "unknown"
}

// degradation checks the degrade scenario: the generator, and only it,
// gave up at the break, and the rest of the pipeline carried on to the
// end of the run: every beat sent and taken.
func (p *pipeline) degradation(r *report) check {
	c := check{Name: checkDegradation}
	brk := robust.DefaultScript().BreakAt
	var problems []string
	var gaveUp []string
	for _, d := range r.Degraded {
		gaveUp = append(gaveUp, d.Actor)
	}
	ws := p.worker.State.Value()
	switch {
	case r.Generated < brk:
		problems = append(problems, fmt.Sprintf("the run ended at value %d, before the generator's break at %d (give it more -beats)", r.Generated, brk))
	case r.Generated > brk:
		problems = append(problems, fmt.Sprintf("values up to %d generated past the break at %d", r.Generated-1, brk))
	}
	if len(gaveUp) != 1 || gaveUp[0] != robust.GeneratorName {
		problems = append(problems, fmt.Sprintf("actors that gave up: %v, want the generator alone", gaveUp))
	}
	if p.cfg.beats > 0 && r.Beats != p.cfg.beats {
		problems = append(problems, fmt.Sprintf("the heartbeat sent %d of its %d beats", r.Beats, p.cfg.beats))
	}
	if ws.Beats != r.Beats {
		problems = append(problems, fmt.Sprintf("the worker took %d of the %d beats", ws.Beats, r.Beats))
	}
	if len(problems) > 0 {
		c.Detail = strings.Join(problems, "; ")
		return c
	}
	c.Pass = true
	c.Detail = fmt.Sprintf("the generator alone gave up, at value %d; heartbeat, worker and logger carried on: %d beats sent and taken, every value generated logged or dead-lettered",
		brk, r.Beats)
	return c
}

// writeGraphSections writes the availability, memory, failure patterns
// and degradation in the text report.
func (r *report) writeGraphSections(b *strings.Builder) {
	if r.Resumed {
		b.WriteString("\nthe figures below are this run's:")
	}
	fmt.Fprintf(b, "\navailability: %.3f%% of the run every actor could work (%s down)\n", 100*r.Availability, msString(r.DowntimeMS))
	m := r.Memory
	if m.LimitBytes == 0 {
		b.WriteString("memory: not watched (no -memory-limit, no GOMEMLIMIT)\n")
	} else {
		fmt.Fprintf(b, "memory: limit %s (sources held above %s, released below %s), peak live heap %s; held %d times, %s in all\n",
			mib(m.LimitBytes), mib(m.HighBytes), mib(m.LowBytes), mib(m.PeakBytes), m.Episodes, msString(m.DegradedMS))
	}

	fmt.Fprintf(b, "\nfailure clusters: %d\n", r.FailureClustersTotal)
	for _, c := range r.FailureClusters {
		fmt.Fprintf(b, "  at %s  %d failures within %s at %s, of %s\n", msString(c.AtMS), c.Failures, msString(c.WindowMS), c.Actor, strings.Join(c.Actors, ", "))
	}
	if n := r.FailureClustersTotal - len(r.FailureClusters); n > 0 {
		fmt.Fprintf(b, "  … and %d more\n", n)
	}
	fmt.Fprintf(b, "channel alerts: %d\n", r.ChannelAlertsTotal)
	for _, a := range r.ChannelAlerts {
		fmt.Fprintf(b, "  at %s  channel %q (%s → %s) backed up: %s is falling behind\n", msString(a.AtMS), a.Channel, a.Producer, a.Consumer, a.Consumer)
	}
	if n := r.ChannelAlertsTotal - len(r.ChannelAlerts); n > 0 {
		fmt.Fprintf(b, "  … and %d more\n", n)
	}

	for _, d := range r.Degraded {
		fmt.Fprintf(b, "\ndegraded: %s gave up at %s after %d restarts: %s\n  lost function: %s\n  carried on: %s\n",
			d.Actor, msString(d.AtMS), d.Restarts, d.Error, d.Lost, d.CarriedOn)
	}
}

// mib formats a byte count in MiB.
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
