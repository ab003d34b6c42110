package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/steady-go/steady/examples/robust"
	"github.com/steady-go/steady/jsbridge"
	"github.com/steady-go/steady/observe"
)

// report is the recovery report. Its JSON form (-report json) is a contract
// for users' scripts: fields may be added, never renamed or removed.
type report struct {
	Passed      bool         `json:"passed"`
	Generated   uint64       `json:"generated"`
	Logged      uint64       `json:"logged"`
	DeadLetters []deadLetter `json:"dead_letters"`
	// DeadLettersPurged counts the letters -dead-letters purge deleted:
	// their values are neither logged nor dead-lettered, on purpose.
	DeadLettersPurged uint64                 `json:"dead_letters_purged"`
	Actors            map[string]actorReport `json:"actors"`
	Categories        map[string]uint64      `json:"categories"`
	Checks            []check                `json:"checks"`

	Beats     uint64 `json:"beats"`     // beats the heartbeat sent
	Processed uint64 `json:"processed"` // values the worker turned into messages
	Drained   uint64 `json:"drained"`   // of those, values taken after the beats ended

	Faults            string  `json:"faults"`
	ChaosRate         float64 `json:"chaos_rate"`
	Seed              uint64  `json:"seed"`
	RateMS            float64 `json:"rate_ms"`
	Batch             int     `json:"batch"`
	ElapsedMS         float64 `json:"elapsed_ms"`
	MessagesPerSecond float64 `json:"messages_per_second"` // logged per second of the run
	ShutdownReason    string  `json:"shutdown_reason"`
	Out               string  `json:"out,omitempty"`

	// With -state: the directory, whether this run resumed an earlier
	// one, and whether that one had already completed. Generated, Logged,
	// Beats, the dead letters, the checks and each actor's all_runs then
	// cover every run of the directory; the actors' other figures and
	// LoggedThisRun this run alone.
	State         string `json:"state,omitempty"`
	Resumed       bool   `json:"resumed"`
	Completed     bool   `json:"already_completed"`
	LoggedThisRun uint64 `json:"logged_this_run"`

	// The graph as a whole, for this run: its availability (the share
	// of the run every actor could work) and downtime, the memory
	// watch, the failure patterns the graph raised alerts for (the
	// first maxPatterns of each, and the counts of all), and the actors
	// that gave up while the rest carried on. See scenarios.go.
	Availability         float64          `json:"availability"`
	DowntimeMS           float64          `json:"downtime_ms"`
	Memory               memoryReport     `json:"memory"`
	FailureClusters      []clusterReport  `json:"failure_clusters"`
	FailureClustersTotal int              `json:"failure_clusters_total"`
	ChannelAlerts        []alertReport    `json:"channel_alerts"`
	ChannelAlertsTotal   int              `json:"channel_alerts_total"`
	Degraded             []degradedReport `json:"degraded"`

	// Across processes: the part this report covers ("publish" or
	// "consume" for a half, "split" for the coordinator), and the
	// bridges. A consuming half has no generator: its Generated and
	// Beats are what the streams carried, all of it once they ended.
	Role    string                  `json:"role,omitempty"`
	Bridges map[string]bridgeReport `json:"bridges,omitempty"`
	Split   *splitReport            `json:"split,omitempty"`
}

// bridgeReport is what a bridge did in this run (in the split report,
// summed over every run of its half that left a progress file), and its
// committed position.
type bridgeReport struct {
	Stream   string `json:"stream"`
	Values   uint64 `json:"values"`   // values moved and committed
	Messages uint64 `json:"messages"` // NATS messages acknowledged (outbound) or taken (inbound)
	Starts   uint64 `json:"starts"`   // outbound: starts, each reconciling with the stream
	// Outbound: values a start found published already (before a crash,
	// not yet committed) and consumed without publishing them again.
	Skipped uint64 `json:"skipped"`
	// Inbound: messages delivered again below the bridge's position,
	// dropped; and resets of the durable consumer to the position.
	Redeliveries uint64 `json:"redeliveries"`
	Resets       uint64 `json:"resets"`
	Acks         uint64 `json:"acks"`
	// The committed position: values moved over every run, and whether
	// the end-of-stream marker was published or taken.
	Position uint64 `json:"position"`
	Ended    bool   `json:"ended"`
}

// add sums b's counters into r; the position is b's.
func (r *bridgeReport) add(b bridgeReport) {
	r.Stream = b.Stream
	r.Values += b.Values
	r.Messages += b.Messages
	r.Starts += b.Starts
	r.Skipped += b.Skipped
	r.Redeliveries += b.Redeliveries
	r.Resets += b.Resets
	r.Acks += b.Acks
	r.Position, r.Ended = b.Position, b.Ended
}

// bridges reports the half's bridges; nil in one process.
func (p *pipeline) bridges() map[string]bridgeReport {
	m := map[string]bridgeReport{}
	for name, o := range map[string]*jsbridge.Outbound{beatsOutName: p.beatsOut, valuesOutName: p.valuesOut} {
		if o != nil {
			s, pos := o.Stats(), o.Position()
			m[name] = bridgeReport{Stream: p.cfg.streamName(streamOf(name)), Values: s.Values, Messages: s.Messages, Starts: s.Starts,
				Skipped: s.Skipped, Position: pos.Values, Ended: pos.Ended}
		}
	}
	for name, in := range map[string]*jsbridge.Inbound{beatsInName: p.beatsIn, valuesInName: p.valuesIn} {
		if in != nil {
			s, pos := in.Stats(), in.Position()
			m[name] = bridgeReport{Stream: p.cfg.streamName(streamOf(name)), Values: s.Values, Messages: s.Messages,
				Redeliveries: s.Redeliveries, Resets: s.Resets, Acks: s.Acks, Position: pos.Values, Ended: pos.Ended}
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// streamOf is the kind of stream a bridge moves: BEATS or VALUES.
func streamOf(bridge string) string {
	if bridge == beatsOutName || bridge == beatsInName {
		return "BEATS"
	}
	return "VALUES"
}

type deadLetter struct {
	ID       uint64    `json:"id"`
	Actor    string    `json:"actor"`
	Channel  string    `json:"channel"`
	Value    uint64    `json:"value"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error"`
	Time     time.Time `json:"time"` // when it was quarantined
}

// newDeadLetter is d as the report gives it.
func newDeadLetter(d observe.DeadLetter) deadLetter {
	v, _ := letterValue(d.Value)
	return deadLetter{ID: d.ID, Actor: d.Actor, Channel: d.Channel, Value: v, Attempts: d.Attempts, Error: d.Err.Error(), Time: d.Time}
}

// String describes the letter in one line.
func (d deadLetter) String() string {
	return fmt.Sprintf("#%d  value %d from channel %q, quarantined by %s after %d attempts: %s",
		d.ID, d.Value, d.Channel, d.Actor, d.Attempts, d.Error)
}

type actorReport struct {
	Status        string  `json:"status"`
	Panics        int64   `json:"panics"`
	Errors        int64   `json:"errors"`
	Restarts      int64   `json:"restarts"`
	Injected      int64   `json:"injected"` // faults the actor injected, poison included
	Commits       int64   `json:"commits"`
	Recoveries    int64   `json:"recoveries"` // recovery times measured
	RecoveryP50MS float64 `json:"recovery_p50_ms"`
	RecoveryP99MS float64 `json:"recovery_p99_ms"`
	RecoveryMaxMS float64 `json:"recovery_max_ms"`
	DowntimeMS    float64 `json:"downtime_ms"`
	Availability  float64 `json:"availability"` // share of the actor's lifetime it could work, 0 to 1
	// AllRuns are the figures over every run of -state (this run's
	// without it): observe.ActorStats.History.
	AllRuns actorHistory `json:"all_runs"`
}

// actorHistory is an actor's figures over every run of the state
// directory.
type actorHistory struct {
	Panics        int64   `json:"panics"`
	Errors        int64   `json:"errors"`
	Restarts      int64   `json:"restarts"`
	DeadLetters   int64   `json:"dead_letters"`
	Recoveries    int64   `json:"recoveries"`
	RecoveryP50MS float64 `json:"recovery_p50_ms"`
	RecoveryP99MS float64 `json:"recovery_p99_ms"`
	RecoveryMaxMS float64 `json:"recovery_max_ms"`
	LifetimeMS    float64 `json:"lifetime_ms"`
	DowntimeMS    float64 `json:"downtime_ms"`
	Availability  float64 `json:"availability"`
}

// newActorHistory is h as the report gives it.
func newActorHistory(h observe.ActorHistory) actorHistory {
	return actorHistory{Panics: h.Panics, Errors: h.Errors, Restarts: h.Restarts, DeadLetters: h.DeadLetters,
		Recoveries: h.Recoveries, RecoveryP50MS: ms(h.RecoveryP50), RecoveryP99MS: ms(h.RecoveryP99),
		RecoveryMaxMS: ms(h.RecoveryMax), LifetimeMS: ms(h.Lifetime), DowntimeMS: ms(h.Downtime),
		Availability: math.Round(h.Availability*1e6) / 1e6}
}

type check struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
}

// actorOrder is the order of the actors in the text report; a report
// lists those its graph has.
var actorOrder = []string{robust.GeneratorName, robust.HeartbeatName, beatsOutName, valuesOutName,
	beatsInName, valuesInName, robust.WorkerName, robust.LoggerName}

// report gathers the report once the graph has stopped.
func (p *pipeline) report(runErr, outErr error, elapsed time.Duration) *report {
	var ls robust.LoggerState
	var ws robust.WorkerState
	if p.logger != nil {
		ls, ws = p.logger.State.Value(), p.worker.State.Value()
	}
	r := &report{
		Generated:      p.generated(),
		Logged:         ls.Logged,
		DeadLetters:    []deadLetter{},
		Actors:         map[string]actorReport{},
		Categories:     map[string]uint64{},
		Beats:          p.beatsSent(),
		Processed:      ws.Processed,
		Drained:        ws.Drained,
		Role:           string(p.cfg.role),
		Bridges:        p.bridges(),
		Faults:         p.cfg.faults.String(),
		Seed:           p.seed,
		RateMS:         ms(p.cfg.rate),
		Batch:          p.cfg.batch,
		ElapsedMS:      ms(elapsed),
		ShutdownReason: p.shutdownReason(),
		Out:            p.cfg.out,
		State:          p.cfg.state,
		Resumed:        p.resumed,
		Completed:      p.completed,
		LoggedThisRun:  ls.Logged - p.logged0,
	}
	if p.cfg.faults == robust.Chaos {
		r.ChaosRate = p.cfg.chaosRate
	}
	if s := elapsed.Seconds(); s > 0 {
		r.MessagesPerSecond = math.Round(float64(r.LoggedThisRun) / s)
	}
	snap := p.g.Snapshot()
	for _, d := range snap.DeadLetters {
		r.DeadLetters = append(r.DeadLetters, newDeadLetter(d))
	}
	r.DeadLettersPurged = uint64(snap.DeadLettersPurged)
	for _, s := range snap.Actors {
		r.Actors[s.Name] = actorReport{
			Status:        s.Status.String(),
			Panics:        s.Panics,
			Errors:        s.Errors,
			Restarts:      s.Restarts,
			Injected:      p.faults.Injected(s.Name),
			Commits:       s.Commits,
			Recoveries:    s.Recoveries,
			RecoveryP50MS: ms(s.RecoveryP50),
			RecoveryP99MS: ms(s.RecoveryP99),
			RecoveryMaxMS: ms(s.RecoveryMax),
			DowntimeMS:    ms(s.Downtime),
			Availability:  math.Round(s.Availability*1e6) / 1e6,
			AllRuns:       newActorHistory(s.History),
		}
	}
	if p.logger != nil {
		for c := range robust.Category(robust.NumCategories) {
			r.Categories[c.String()] = ls.Counts[c]
		}
	}
	if p.logger != nil {
		r.Checks = p.checks(runErr, outErr)
	} else {
		r.Checks = p.publishChecks(runErr)
	}
	p.graphSections(r)
	if p.logger != nil && p.cfg.faults == robust.Degrade {
		r.Checks = append(r.Checks, p.degradation(r))
	}
	r.Passed = true
	for _, c := range r.Checks {
		r.Passed = r.Passed && c.Pass
	}
	return r
}

// shutdownReason is the reason the graph gave for its shutdown or, for a
// consuming half that none asked to stop, that its streams ended.
func (p *pipeline) shutdownReason() string {
	r := p.g.Snapshot().ShutdownReason
	if r == "" && p.beatsIn != nil && p.beatsIn.Position().Ended && p.valuesIn.Position().Ended {
		r = "both streams ended, and every actor finished"
	}
	return r
}

// letterValue is the integer value of a dead letter: a value from the
// values channel, or the value of a message.
func letterValue(v any) (uint64, bool) {
	switch v := v.(type) {
	case uint64:
		return v, true
	case robust.Message:
		return v.Value, true
	}
	return 0, false
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// write prints the report in the format asked for.
func (r *report) write(w io.Writer, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.writeText(w)
}

func (r *report) writeText(w io.Writer) error {
	var b strings.Builder
	mode := r.Faults + " faults"
	if r.Faults == robust.Chaos.String() {
		mode = fmt.Sprintf("chaos faults at %g per step", r.ChaosRate)
	}
	elapsed := time.Duration(r.ElapsedMS * float64(time.Millisecond)).Round(time.Millisecond)
	who, made := "robust", fmt.Sprintf("%d values generated", r.Generated)
	switch r.Role {
	case string(rolePublish):
		who = "robust, publishing half"
	case string(roleConsume):
		who = "robust, consuming half"
		made = fmt.Sprintf("%d values taken from %s", r.Generated, r.Bridges[valuesInName].Stream)
		if !r.Bridges[valuesInName].Ended {
			made += " (which has not ended)"
		}
	case "split":
		who = "robust -split"
	}
	if r.Role == string(rolePublish) {
		fmt.Fprintf(&b, "\n%s: %s, seed %d, -batch %d: %d values generated and %d beats sent to %s and %s, %d dead-lettered, in %v\n",
			who, mode, r.Seed, r.Batch, r.Generated, r.Beats, r.Bridges[valuesOutName].Stream, r.Bridges[beatsOutName].Stream, len(r.DeadLetters), elapsed)
	} else if r.Resumed {
		what := "resumed"
		if r.Completed {
			what = "had already completed"
		}
		fmt.Fprintf(&b, "\n%s: %s, seed %d, -batch %d: %s, %d logged, %d dead-lettered over every run of %s; this run %s and logged %d in %v (%.0f messages/s)\n",
			who, mode, r.Seed, r.Batch, made, r.Logged, len(r.DeadLetters), r.State, what, r.LoggedThisRun, elapsed, r.MessagesPerSecond)
	} else {
		fmt.Fprintf(&b, "\n%s: %s, seed %d, -batch %d: %s, %d logged, %d dead-lettered in %v (%.0f messages/s)\n",
			who, mode, r.Seed, r.Batch, made, r.Logged, len(r.DeadLetters), elapsed, r.MessagesPerSecond)
	}
	if r.Role == string(rolePublish) {
		fmt.Fprintf(&b, "shutdown: %s\n\n", r.ShutdownReason)
	} else {
		fmt.Fprintf(&b, "shutdown: %s; %d beats, %d values drained after the last beat\n\n", r.ShutdownReason, r.Beats, r.Drained)
	}

	// The actors' figures over every run of -state (which, in a run that
	// resumed nothing, are this run's), but the faults injected.
	if r.Resumed && r.Role != "split" {
		fmt.Fprintf(&b, "actors over every run of %s (injected: this run):\n", r.State)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "actor\tpanics\trestarts\tinjected\trecovery p50\tp99\tmax\tavailability\t")
	for _, name := range actorOrder {
		a, ok := r.Actors[name]
		if !ok {
			continue
		}
		h := a.AllRuns
		p50, p99, pmax := "-", "-", "-"
		if h.Recoveries > 0 {
			p50, p99, pmax = msString(h.RecoveryP50MS), msString(h.RecoveryP99MS), msString(h.RecoveryMaxMS)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%.3f%%\t\n", name, h.Panics, h.Restarts, a.Injected,
			p50, p99, pmax, 100*h.Availability)
	}
	tw.Flush()
	if r.Role == "split" {
		b.WriteString("(each half's actors over every run of its state directory, but injected: its last run's; below, the availability and failure patterns of the halves' last runs)\n")
		r.writeSplit(&b)
	}

	r.writeGraphSections(&b)
	if r.Role != string(rolePublish) {
		fmt.Fprintf(&b, "\ncategories: Fizz %d, Buzz %d, FizzBuzz %d, Value %d\n",
			r.Categories["Fizz"], r.Categories["Buzz"], r.Categories["FizzBuzz"], r.Categories["Value"])
	}

	fmt.Fprintf(&b, "\ndead letters: %d", len(r.DeadLetters))
	if r.DeadLettersPurged > 0 {
		fmt.Fprintf(&b, " (and %d purged)", r.DeadLettersPurged)
	}
	b.WriteByte('\n')
	for _, d := range r.DeadLetters {
		fmt.Fprintf(&b, "  %s\n", d)
	}

	b.WriteString("\nchecks:\n")
	passed, width := 0, 17
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		mark := "FAIL"
		if c.Pass {
			mark, passed = "pass", passed+1
		}
		fmt.Fprintf(&b, "  %s  %-*s %s\n", mark, width, c.Name, c.Detail)
	}
	verdict := "PASSED"
	if !r.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "\n%s: %d of %d checks pass\n", verdict, passed, len(r.Checks))
	_, err := io.WriteString(w, b.String())
	return err
}

// msString formats milliseconds as a duration, to three digits.
func msString(v float64) string {
	d := time.Duration(v * float64(time.Millisecond))
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Microsecond).String()
	}
	return d.String()
}
