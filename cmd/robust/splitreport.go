package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// splitReport is what the report of a split run adds: the processes, the
// kills and the recoveries from them, and each half's own last report.
type splitReport struct {
	Dir    string `json:"dir"`
	NATS   string `json:"nats"`
	Server string `json:"server"` // "in-process", "child process" or "external"

	Runs       map[string]int `json:"runs"`        // processes started, by part
	KilledRuns map[string]int `json:"killed_runs"` // of those, SIGKILLed
	KillsAsked uint64         `json:"kills_asked"` // -kills
	// Kills by victim: publish, consume, both (the two halves at once),
	// server.
	Kills map[string]int `json:"kills"`
	// Recovery by victim: the time from a kill to the next value the
	// consuming half logged once every process killed ran again
	// (resolution progressFileEvery). A kill followed by another before
	// that value is not timed.
	Recovery map[string]recoveryReport `json:"recovery"`

	Publish *report `json:"publish,omitempty"` // the halves' last reports
	Consume *report `json:"consume,omitempty"`
}

// recoveryReport times the recoveries from one kind of kill: from the
// restart of the last process killed to the next value logged, and from
// the kill (which adds the restart delay, up to half of -kill-every).
type recoveryReport struct {
	Timed     int     `json:"timed"`
	P50MS     float64 `json:"p50_ms"`
	MaxMS     float64 `json:"max_ms"`
	KillP50MS float64 `json:"from_kill_p50_ms"`
	KillMaxMS float64 `json:"from_kill_max_ms"`
}

// report merges the halves' last reports: the values and beats the
// publishing half made, what the consuming half logged, both halves'
// actors and dead letters, the consuming half's checks (those of a run in
// one process) and the publishing half's, and two of the split run's own:
// that the halves agree, and that every process ended as it should.
func (c *coordinator) report(elapsed time.Duration) *report {
	cfg := c.cfg
	r := &report{
		DeadLetters: []deadLetter{},
		Actors:      map[string]actorReport{},
		Categories:  map[string]uint64{},
		Faults:      cfg.faults.String(),
		Seed:        c.seed,
		RateMS:      ms(cfg.rate),
		Batch:       cfg.batch,
		ElapsedMS:   ms(elapsed),
		Out:         cfg.out,
		State:       cfg.state,
		Resumed:     c.resumed,
		Role:        "split",
		Bridges:     map[string]bridgeReport{},
	}
	if cfg.faults.String() == "chaos" {
		r.ChaosRate = cfg.chaosRate
	}
	sr := &splitReport{Dir: c.dir, NATS: c.url, Server: "external", Runs: map[string]int{}, KilledRuns: map[string]int{},
		KillsAsked: cfg.kills, Kills: c.kills, Recovery: map[string]recoveryReport{}}
	switch {
	case c.server != nil:
		sr.Server = "in-process"
	case c.parts[partServer] != nil:
		sr.Server = "child process"
	}
	for name, p := range c.parts {
		sr.Runs[name], sr.KilledRuns[name] = p.runs, p.killedRuns
		for b, br := range p.bridges {
			r.Bridges[b] = br
		}
	}
	for victim, ts := range c.recov {
		var fromKill, fromRestart []time.Duration
		for _, t := range ts {
			fromKill, fromRestart = append(fromKill, t.fromKill), append(fromRestart, t.fromRestart)
		}
		slices.Sort(fromKill)
		slices.Sort(fromRestart)
		n := len(ts)
		sr.Recovery[victim] = recoveryReport{Timed: n, P50MS: ms(fromRestart[n/2]), MaxMS: ms(fromRestart[n-1]),
			KillP50MS: ms(fromKill[n/2]), KillMaxMS: ms(fromKill[n-1])}
	}
	r.Split = sr

	pub, con := c.parts[partPublish], c.parts[partConsume]
	var reasons []string
	if con != nil && con.rep != nil {
		cr := con.rep
		sr.Consume = cr
		r.Generated, r.Beats = cr.Generated, cr.Beats
		r.Logged, r.Processed, r.Drained, r.Categories = cr.Logged, cr.Processed, cr.Drained, cr.Categories
		r.LoggedThisRun = cr.Logged
		r.DeadLetters = append(r.DeadLetters, cr.DeadLetters...)
		maps.Copy(r.Actors, cr.Actors)
		r.Checks = append(r.Checks, cr.Checks...)
		reasons = append(reasons, "consume: "+cr.ShutdownReason)
	}
	if pub != nil && pub.rep != nil {
		pr := pub.rep
		sr.Publish = pr
		r.Generated, r.Beats = pr.Generated, pr.Beats
		r.DeadLetters = append(r.DeadLetters, pr.DeadLetters...)
		maps.Copy(r.Actors, pr.Actors)
		for _, ch := range pr.Checks {
			if ch.Name != checkPublished {
				ch.Name = partPublish + "/" + ch.Name
			}
			r.Checks = append(r.Checks, ch)
		}
		reasons = append([]string{"publish: " + pr.ShutdownReason}, reasons...)
	}
	r.ShutdownReason = strings.Join(reasons, "; ")
	mergeGraphSections(r, pub.rep, con.rep)
	if c.resumed && con.first != nil {
		r.LoggedThisRun = con.first.LoggedThisRun + r.Logged - con.first.Logged
	}
	r.Completed = pub.first != nil && pub.first.Completed && con.first != nil && con.first.Completed
	if s := elapsed.Seconds(); s > 0 {
		r.MessagesPerSecond = math.Round(float64(r.LoggedThisRun) / s)
	}
	r.Checks = append(r.Checks, halvesAgree(pub.rep, con.rep, cfg), c.processesEnded())
	r.Passed = true
	for _, ch := range r.Checks {
		r.Passed = r.Passed && ch.Pass
	}
	return r
}

// mergeGraphSections fills the split report's sections for the graph as a
// whole from the halves' last runs: the lower availability and both
// downtimes, the consuming half's memory watch, both halves' failure
// patterns and degraded actors.
func mergeGraphSections(r, pub, con *report) {
	r.FailureClusters, r.ChannelAlerts, r.Degraded = []clusterReport{}, []alertReport{}, []degradedReport{}
	halves := 0
	for _, h := range []*report{pub, con} {
		if h == nil {
			continue
		}
		if halves == 0 || h.Availability < r.Availability {
			r.Availability = h.Availability
		}
		halves++
		r.DowntimeMS += h.DowntimeMS
		r.FailureClusters = append(r.FailureClusters, h.FailureClusters...)
		r.FailureClustersTotal += h.FailureClustersTotal
		r.ChannelAlerts = append(r.ChannelAlerts, h.ChannelAlerts...)
		r.ChannelAlertsTotal += h.ChannelAlertsTotal
		r.Degraded = append(r.Degraded, h.Degraded...)
	}
	if con != nil {
		r.Memory = con.Memory
	}
}

// halvesAgree compares what the publishing half made with what the
// consuming half took from the streams, once both ended.
func halvesAgree(pub, con *report, cfg config) check {
	c := check{Name: checkHalves}
	switch {
	case pub == nil || con == nil:
		c.Detail = "a half left no report"
		return c
	case !con.Bridges[beatsInName].Ended || !con.Bridges[valuesInName].Ended:
		c.Detail = fmt.Sprintf("the consuming half stopped before the end of the streams: it took %d of the %d values and %d of the %d beats",
			con.Generated, pub.Generated, con.Beats, pub.Beats)
		return c
	case pub.Generated != con.Generated || pub.Beats != con.Beats:
		c.Detail = fmt.Sprintf("the publishing half made %d values and %d beats, the consuming half took %d and %d from the streams",
			pub.Generated, pub.Beats, con.Generated, con.Beats)
		return c
	}
	c.Pass = true
	c.Detail = fmt.Sprintf("the publishing half made %d values and %d beats; the consuming half took the same from %s and %s, to their ends",
		pub.Generated, pub.Beats, cfg.streamName("VALUES"), cfg.streamName("BEATS"))
	return c
}

// processesEnded checks that every half finished by itself with its report
// and no part failed.
func (c *coordinator) processesEnded() check {
	ch := check{Name: checkProcesses}
	var runs []string
	for _, name := range []string{partPublish, partConsume, partServer} {
		if p := c.parts[name]; p != nil {
			runs = append(runs, fmt.Sprintf("%s %s (%d killed)", name, plural(p.runs, "run"), p.killedRuns))
		}
	}
	switch {
	case c.failure != nil:
		ch.Detail = c.failure.Error()
	case !c.parts[partPublish].done || !c.parts[partConsume].done:
		ch.Detail = "interrupted before both halves finished: " + strings.Join(runs, ", ")
	default:
		ch.Pass = true
		ch.Detail = fmt.Sprintf("%s; %d of -kills %d dealt; both halves finished by themselves", strings.Join(runs, ", "), c.dealt, c.cfg.kills)
	}
	return ch
}

// writeSplit writes what a split run's text report adds: the processes,
// the kills and recoveries, and the bridges' counters over every run.
func (r *report) writeSplit(b *strings.Builder) {
	sr := r.Split
	fmt.Fprintf(b, "\nprocesses: JetStream at %s (%s server), directories under %s\n", sr.NATS, sr.Server, sr.Dir)
	for _, name := range []string{partPublish, partConsume, partServer} {
		if n, ok := sr.Runs[name]; ok {
			fmt.Fprintf(b, "  %-8s %s, %d of them SIGKILLed\n", name, plural(n, "run"), sr.KilledRuns[name])
		}
	}
	if sr.KillsAsked > 0 {
		total := 0
		for _, n := range sr.Kills {
			total += n
		}
		fmt.Fprintf(b, "kills: %d of %d dealt; time from the restart (from the kill) to the next value logged:\n", total, sr.KillsAsked)
		for _, victim := range []string{partPublish, partConsume, victimBoth, partServer} {
			n, ok := sr.Kills[victim]
			if !ok {
				continue
			}
			rec := sr.Recovery[victim]
			timing := "not timed (each followed by another kill, or the end)"
			if rec.Timed > 0 {
				timing = fmt.Sprintf("p50 %s (%s), max %s (%s), %d timed", msString(rec.P50MS), msString(rec.KillP50MS),
					msString(rec.MaxMS), msString(rec.KillMaxMS), rec.Timed)
			}
			fmt.Fprintf(b, "  %-8s %3d kills, %s\n", victim, n, timing)
		}
	}
	b.WriteString("bridges, over every run (less a killed run's last few milliseconds):\n")
	for _, name := range []string{beatsOutName, valuesOutName, beatsInName, valuesInName} {
		br, ok := r.Bridges[name]
		if !ok {
			continue
		}
		if strings.HasSuffix(name, "-out") {
			fmt.Fprintf(b, "  %-10s %s: %d values in %d messages; %d starts, %d values found already published and skipped\n",
				name, br.Stream, br.Values, br.Messages, br.Starts, br.Skipped)
		} else {
			fmt.Fprintf(b, "  %-10s %s: %d values in %d messages; %d consumer resets, %d redeliveries dropped, %d acks\n",
				name, br.Stream, br.Values, br.Messages, br.Resets, br.Redeliveries, br.Acks)
		}
	}
}

// plural is n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
