package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
)

// graphReport is the JSON report's sections for the graph as a whole, as
// a user's script reads them. They came after the original contract;
// pointers tell a missing field from a zero.
type graphReport struct {
	Availability *float64 `json:"availability"`
	DowntimeMS   *float64 `json:"downtime_ms"`
	Memory       *struct {
		LimitBytes uint64  `json:"limit_bytes"`
		HighBytes  uint64  `json:"high_bytes"`
		LowBytes   uint64  `json:"low_bytes"`
		PeakBytes  uint64  `json:"peak_heap_bytes"`
		Episodes   int64   `json:"episodes"`
		DegradedMS float64 `json:"degraded_ms"`
		SpoolBytes int64   `json:"spool_bytes"`
	} `json:"memory"`
	FailureClusters []struct {
		Time     string   `json:"time"`
		AtMS     float64  `json:"at_ms"`
		Actor    string   `json:"actor"`
		Failures int      `json:"failures"`
		Actors   []string `json:"actors"`
		WindowMS float64  `json:"window_ms"`
	} `json:"failure_clusters"`
	FailureClustersTotal *int `json:"failure_clusters_total"`
	ChannelAlerts        []struct {
		Time     string  `json:"time"`
		AtMS     float64 `json:"at_ms"`
		Channel  string  `json:"channel"`
		Producer string  `json:"producer"`
		Consumer string  `json:"consumer"`
	} `json:"channel_alerts"`
	ChannelAlertsTotal *int `json:"channel_alerts_total"`
	Degraded           []struct {
		Actor     string  `json:"actor"`
		AtMS      float64 `json:"at_ms"`
		Restarts  int64   `json:"restarts"`
		Error     string  `json:"error"`
		Lost      string  `json:"lost_function"`
		CarriedOn string  `json:"carried_on"`
	} `json:"degraded"`
}

// parseGraphReport reads the graph sections, failing on a missing one.
func parseGraphReport(t *testing.T, stdout string) graphReport {
	t.Helper()
	var g graphReport
	if err := json.Unmarshal([]byte(stdout), &g); err != nil {
		t.Fatal(err)
	}
	if g.Availability == nil || g.DowntimeMS == nil || g.Memory == nil || g.FailureClusters == nil ||
		g.FailureClustersTotal == nil || g.ChannelAlerts == nil || g.ChannelAlertsTotal == nil || g.Degraded == nil {
		t.Fatalf("report lacks a graph section:\n%s", stdout)
	}
	return g
}

// TestReportFailurePatterns: the scripted run's failures cluster around the
// worker (its transient failure and the poison's four, within 10 s), and
// the report lists the alert, when and where, with the actors whose
// failures it counted; the graph's availability reflects the downtime, and
// nothing degraded.
func TestReportFailurePatterns(t *testing.T) {
	res := runRobust(t, "-rate", "1ms", "-beats", "300", "-seed", "1", "-report", "json")
	requirePassed(t, res, parseReport(t, res.stdout))
	g := parseGraphReport(t, res.stdout)
	if *g.FailureClustersTotal != 1 || len(g.FailureClusters) != 1 {
		t.Fatalf("%d cluster alerts listed of %d, want the worker's one", len(g.FailureClusters), *g.FailureClustersTotal)
	}
	c := g.FailureClusters[0]
	at, err := time.Parse(time.RFC3339Nano, c.Time)
	if err != nil || at.IsZero() || c.AtMS <= 0 || c.Actor != robust.WorkerName || c.Failures < 5 ||
		!strings.Contains(strings.Join(c.Actors, ","), robust.WorkerName) || c.WindowMS != ms(steady.DefaultConfig().ClusterWindow) {
		t.Errorf("cluster %+v, want the worker's 5 failures within 10 s, with a time", c)
	}
	if *g.ChannelAlertsTotal != len(g.ChannelAlerts) {
		t.Errorf("%d channel alerts listed of %d", len(g.ChannelAlerts), *g.ChannelAlertsTotal)
	}
	for _, a := range g.ChannelAlerts {
		if a.Channel == "" || a.Producer == "" || a.Consumer == "" || a.AtMS <= 0 {
			t.Errorf("channel alert %+v lacks its channel, ends or time", a)
		}
	}
	if *g.Availability <= 0 || *g.Availability >= 1 || *g.DowntimeMS <= 0 {
		t.Errorf("availability %v, downtime %v ms; want the failures' downtime to show", *g.Availability, *g.DowntimeMS)
	}
	if len(g.Degraded) != 0 || g.Memory.LimitBytes != 0 || g.Memory.Episodes != 0 {
		t.Errorf("degraded %+v, memory %+v: want neither in the scripted run", g.Degraded, *g.Memory)
	}
}

// TestDegradePreset: the generator breaks for good at value 2500 and gives
// up; the heartbeat, worker and logger carry on to the end of the run.
// Every check passes, the degradation check among them; the report says
// what was lost in function, and every value generated is in the output
// once.
func TestDegradePreset(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.tsv")
	res := runRobust(t, "-preset", "degrade", "-rate", "1ms", "-beats", "400", "-seed", "1", "-report", "json", "-out", out)
	r := parseReport(t, res.stdout)
	requirePassed(t, res, r)
	verifyOutFile(t, out, r)
	brk := robust.DefaultScript().BreakAt
	if r.Generated != brk || r.Beats != 400 {
		t.Errorf("%d values generated, %d beats; want the %d before the break and all 400 beats", r.Generated, r.Beats, brk)
	}
	names := map[string]bool{}
	for _, c := range r.Checks {
		names[c.Name] = true
	}
	if !names[checkDegradation] {
		t.Errorf("no %s check among %v", checkDegradation, r.Checks)
	}
	g := parseGraphReport(t, res.stdout)
	if len(g.Degraded) != 1 {
		t.Fatalf("degraded %+v, want the generator alone", g.Degraded)
	}
	d := g.Degraded[0]
	if d.Actor != robust.GeneratorName || d.Restarts < 1 || !strings.Contains(d.Error, "gone for good") ||
		!strings.Contains(d.Lost, fmt.Sprintf("none generated after value %d", brk)) || !strings.Contains(d.CarriedOn, "400 beats") || d.AtMS <= 0 {
		t.Errorf("degraded %+v, want the generator, what it lost and what carried on", d)
	}
	if a := r.Actors[robust.GeneratorName]; a.Restarts != d.Restarts {
		t.Errorf("the actor table says %d restarts, the degradation %d", a.Restarts, d.Restarts)
	}
	if !strings.Contains(res.stderr, `ERROR actor "generator" gave up after`) {
		t.Errorf("stderr does not log the give-up:\n%s", res.stderr)
	}
}

// TestMemoryPreset: the logger's spool takes the live heap above 85% of
// the 64 MiB limit; the graph holds the generator and the heartbeat, the
// pipeline drains, the logger writes its spool out, and the graph releases
// the sources. Every check passes and the output holds every value once.
func TestMemoryPreset(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.tsv")
	// 600 beats of 10 values at 16 KiB each spool 94 MiB: at least one
	// crossing of the 54 MiB mark.
	res := runRobust(t, "-preset", "memory", "-beats", "600", "-seed", "1", "-report", "json", "-out", out)
	r := parseReport(t, res.stdout)
	requirePassed(t, res, r)
	verifyOutFile(t, out, r)
	g := parseGraphReport(t, res.stdout)
	m := g.Memory
	if m.LimitBytes != 64<<20 || m.SpoolBytes != 16<<10 || m.Episodes < 1 || m.DegradedMS <= 0 || m.PeakBytes <= m.HighBytes {
		t.Errorf("memory %+v, want the 64 MiB limit crossed at least once", *m)
	}
	if *g.DowntimeMS < m.DegradedMS || *g.Availability >= 1 {
		t.Errorf("graph downtime %v ms, availability %v; want the %v ms held counted", *g.DowntimeMS, *g.Availability, m.DegradedMS)
	}
	// Each hold is announced and ended, in that order, naming the sources
	// (the last one may begin as the run drains, and end with it).
	pressure := regexp.MustCompile(`WARN  memory pressure: live heap .* is above 85% of the 64.0 MiB limit; holding sources "generator", "heartbeat"`)
	recovered := regexp.MustCompile(`INFO  memory recovered: live heap .* is below 70% of the 64.0 MiB limit after .*; sources "generator", "heartbeat" run again`)
	p, rc := pressure.FindAllStringIndex(res.stderr, -1), recovered.FindAllStringIndex(res.stderr, -1)
	if len(p) == 0 || len(p) != int(m.Episodes) || len(rc) < len(p)-1 || len(rc) > len(p) || (len(rc) > 0 && rc[0][0] < p[0][0]) {
		t.Errorf("%d pressure and %d recovery lines for %d episodes:\n%s", len(p), len(rc), m.Episodes, res.stderr)
	}
}

// TestMonitorShowsResumedState: in the monitor preset's detail, every
// actor's run after a restart logs the state it resumed with, its last
// committed one; a run resumed from -state logs each actor's state from
// the store.
func TestMonitorShowsResumedState(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-preset", "monitor", "-rate", "1ms", "-beats", "300", "-state", dir}
	res := runRobust(t, args...)
	if res.status != 0 {
		t.Fatalf("exit status %d:\n%s", res.status, res.stderr)
	}
	// The generator's scripted failure strikes at value 700, after
	// staging: it resumes with 700, the last value it committed next.
	for _, want := range []string{
		`DEBUG actor "generator" resumed (restart 1) with state generator={Next:700}`,
		`DEBUG actor "heartbeat" resumed (restart 1) with state heartbeat={Beats:49}`,
		`DEBUG actor "worker" resumed (restart 1) with state worker={Beats:`,
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	// The logger's strikes in its first step once it has logged
	// LoggerAfter messages: where that is depends on how its batches of up
	// to -batch messages fell, so it resumes with a count in
	// [LoggerAfter, LoggerAfter+batch).
	cfg, err := parseFlags(args)
	if err != nil {
		t.Fatal(err)
	}
	after := robust.DefaultScript().LoggerAfter
	m := regexp.MustCompile(`DEBUG actor "logger" resumed \(restart 1\) with state logger=\{Logged:(\d+) `).FindStringSubmatch(res.stderr)
	if m == nil {
		t.Errorf("stderr lacks the logger's resumed state")
	} else if n, _ := strconv.ParseUint(m[1], 10, 64); n < after || n >= after+uint64(cfg.batch) {
		t.Errorf("the logger resumed with Logged:%d, want %d up to %d", n, after, after+uint64(cfg.batch)-1)
	}
	if strings.Contains(res.stderr, "resumed from the store") {
		t.Errorf("a fresh directory's run says it resumed from the store")
	}
	again := runRobust(t, "-preset", "monitor", "-rate", "1ms", "-beats", "300", "-state", dir)
	if again.status != 0 || !strings.Contains(again.stderr, `DEBUG actor "generator" resumed from the store with state generator={Next:`) {
		t.Errorf("exit status %d; the resumed run does not log the generator's state from the store:\n%s", again.status, again.stderr)
	}
	quiet := runRobust(t, "-rate", "1ms", "-beats", "300")
	if strings.Contains(quiet.stderr, "resumed") {
		t.Errorf("the default level logs resumed states; they are for the monitor preset")
	}
}

// TestScenarioFlags: sizes in bytes and binary units, the errors that name
// what is wrong, and the two scenarios' presets.
func TestScenarioFlags(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   int64
		prints string
	}{
		{"0", 0, "0"}, {"4096", 4096, "4KiB"}, {"16KiB", 16 << 10, "16KiB"}, {"1536KiB", 1536 << 10, "1536KiB"},
		{"64MiB", 64 << 20, "64MiB"}, {"2GiB", 2 << 30, "2GiB"}, {"7B", 7, "7B"},
	} {
		var v int64
		f := sizeFlag{&v}
		if err := f.Set(tc.in); err != nil || v != tc.want || f.String() != tc.prints {
			t.Errorf("size %q: %d (prints %q), %v; want %d (%q)", tc.in, v, f.String(), err, tc.want, tc.prints)
		}
	}
	for _, tc := range []struct{ args, want string }{
		{"-memory-limit lots", `invalid value "lots" for flag -memory-limit: not a size`},
		{"-memory-limit -1MiB", `invalid value "-1MiB" for flag -memory-limit: must not be negative`},
		{"-spool 2048GiB", `invalid value "2048GiB" for flag -spool: must be at most 1024GiB`},
		{"-spool 16KB", `invalid value "16KB" for flag -spool: not a size`},
	} {
		_, err := parseFlags(strings.Fields(tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.args, err, tc.want)
		}
	}
	c, err := parseFlags([]string{"-preset", "memory"})
	if err != nil || c.spool != 16<<10 || c.memoryLimit != 64<<20 || c.rate != 5*time.Millisecond || c.faults != robust.Scripted {
		t.Errorf("preset memory: %+v, %v", c, err)
	}
	c, err = parseFlags([]string{"-preset", "degrade", "-rate", "1ms"})
	if err != nil || c.faults != robust.Degrade || c.rate != time.Millisecond || c.memoryLimit != 0 {
		t.Errorf("preset degrade: %+v, %v", c, err)
	}
}

// TestShutdownCheckInDegradeMode: the generator's give-up passes the
// orderly-shutdown check only in degrade mode, and only alone.
func TestShutdownCheckInDegradeMode(t *testing.T) {
	gen := &steady.GaveUpError{Actor: robust.GeneratorName, Restarts: 3}
	worker := &steady.GaveUpError{Actor: robust.WorkerName, Restarts: 3}
	for _, tc := range []struct {
		err     error
		degrade bool
		pass    bool
	}{
		{nil, false, true},
		{nil, true, true},
		{gen, true, true},
		{errors.Join(gen), true, true},
		{gen, false, false},
		{worker, true, false},
		{errors.Join(gen, worker), true, false},
		{errors.Join(gen, errors.New("commit failed")), true, false},
	} {
		if c := shutdown(tc.err, "test", tc.degrade); c.Pass != tc.pass {
			t.Errorf("shutdown(%v, degrade %v) passes %v, want %v: %s", tc.err, tc.degrade, c.Pass, tc.pass, c.Detail)
		}
	}
}
