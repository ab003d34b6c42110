package telemetry_test

import (
	"context"
	"log/slog"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/store/bolt"
	"github.com/steady-go/steady/telemetry"
)

// The metric families the package doc promises.
var documentedMetrics = []string{
	"steady_actor_restarts_total", "steady_actor_panics_total", "steady_actor_errors_total",
	"steady_actor_up", "steady_actor_status", "steady_actor_availability_ratio",
	"steady_actor_downtime_seconds_total", "steady_actor_recovery_seconds", "steady_actor_recovery_quantile_seconds",
	"steady_actor_recovery_max_seconds", "steady_actor_steps_total",
	"steady_actor_dead_letters_total", "steady_actor_last_failure_timestamp_seconds",
	"steady_channel_info", "steady_channel_capacity", "steady_channel_messages",
	"steady_channel_fill", "steady_channel_fill_avg", "steady_channel_sent_total",
	"steady_channel_taken_total", "steady_channel_rate", "steady_channel_backed_up",
	"steady_channel_closed", "steady_dead_letters_total", "steady_dead_letters",
	"steady_dead_letters_purged_total", "steady_dead_letters_limit",
	"steady_failure_clusters_total", "steady_channel_alerts_total", "steady_graph_status",
	"steady_graph_availability_ratio", "steady_graph_downtime_seconds_total",
	"steady_memory_limit_bytes", "steady_memory_heap_bytes", "steady_memory_pressure",
	"steady_memory_pressure_episodes_total", "steady_memory_degraded_seconds_total",
}

// scrape fetches /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	res, body := fetch(t, "GET", base+"/metrics", nil)
	if res.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	return fams
}

// byLabel maps the value of label to each metric's value.
func byLabel(t *testing.T, fams map[string]*dto.MetricFamily, name, label string) map[string]float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("metric %s missing", name)
	}
	out := map[string]float64{}
	for _, m := range f.Metric {
		var key string
		for _, l := range m.Label {
			if l.GetName() == label {
				key = l.GetValue()
			}
		}
		switch {
		case m.Counter != nil:
			out[key] = m.Counter.GetValue()
		case m.Gauge != nil:
			out[key] = m.Gauge.GetValue()
		case m.Histogram != nil:
			out[key] = float64(m.Histogram.GetSampleCount())
		}
	}
	return out
}

// The exposition parses with Prometheus' own parser, carries every
// documented metric, the four actors and three channels, and restart
// counts that match the graph's snapshot: while it runs and after it
// stopped.
func TestMetricsMatchSnapshot(t *testing.T) {
	p := newPipeline(pipelineConfig{})
	p.run(t)
	_, base := serve(t, p)

	const failures = 3
	for i := 1; i <= failures; i++ {
		p.failWorker()
		waitFor(t, 5*time.Second, "the worker to restart", func() bool {
			return p.actor(t, "worker").Restarts == int64(i) && p.actor(t, "worker").Recoveries == int64(i)
		})
	}

	fams := scrape(t, base)
	for _, name := range documentedMetrics {
		if fams[name] == nil {
			t.Errorf("metric %s missing from the exposition", name)
		}
	}
	snap := p.g.Snapshot()

	restarts := byLabel(t, fams, "steady_actor_restarts_total", "actor")
	wantActors := []string{"generator", "heartbeat", "logger", "worker"}
	if got := slices.Sorted(maps.Keys(restarts)); !slices.Equal(got, wantActors) {
		t.Errorf("actors in steady_actor_restarts_total: %v, want %v", got, wantActors)
	}
	for _, a := range snap.Actors {
		if restarts[a.Name] != float64(a.Restarts) {
			t.Errorf("steady_actor_restarts_total{actor=%q} = %v, snapshot says %d", a.Name, restarts[a.Name], a.Restarts)
		}
	}
	if restarts["worker"] != failures {
		t.Errorf("worker restarts %v, want %d", restarts["worker"], failures)
	}
	if got := byLabel(t, fams, "steady_actor_panics_total", "actor")["worker"]; got != failures {
		t.Errorf("worker panics %v, want %d", got, failures)
	}
	if got := byLabel(t, fams, "steady_actor_recovery_seconds", "actor")["worker"]; got != failures {
		t.Errorf("worker recovery count %v, want %d", got, failures)
	}
	for _, m := range fams["steady_actor_recovery_seconds"].Metric {
		if m.Label[0].GetValue() != "worker" {
			continue
		}
		h := m.Histogram
		if sum := h.GetSampleSum(); sum <= 0 || sum > 5*float64(failures) || math.IsNaN(sum) {
			t.Errorf("worker recovery sum %v s, want a positive time under 5 s per recovery", sum)
		}
		last := h.Bucket[len(h.Bucket)-1]
		if last.GetCumulativeCount() != h.GetSampleCount() {
			t.Errorf("worker recovery: largest bucket (%v s) holds %d of %d", last.GetUpperBound(), last.GetCumulativeCount(), h.GetSampleCount())
		}
	}
	quantiles := 0
	for _, m := range fams["steady_actor_recovery_quantile_seconds"].Metric {
		var actor string
		for _, l := range m.Label {
			if l.GetName() == "actor" {
				actor = l.GetValue()
			}
		}
		if actor != "worker" {
			continue
		}
		quantiles++
		if v := m.Gauge.GetValue(); v <= 0 || v > 5 {
			t.Errorf("worker recovery quantile = %v s, want a positive time under 5 s", v)
		}
	}
	if quantiles != 2 {
		t.Errorf("worker has %d recovery quantiles, want 0.5 and 0.99", quantiles)
	}

	channels := byLabel(t, fams, "steady_channel_capacity", "channel")
	wantChannels := map[string]float64{"beats": 64, "values": 256, "messages": 256}
	if !maps.Equal(channels, wantChannels) {
		t.Errorf("steady_channel_capacity = %v, want %v", channels, wantChannels)
	}
	// Taken lags the consumer by up to a release chunk, so only sent must
	// have moved.
	taken := byLabel(t, fams, "steady_channel_taken_total", "channel")
	for ch, sent := range byLabel(t, fams, "steady_channel_sent_total", "channel") {
		if sent <= 0 || taken[ch] > sent {
			t.Errorf("channel %q: sent %v, taken %v; want messages sent, and no more taken", ch, sent, taken[ch])
		}
	}
	info := fams["steady_channel_info"]
	wantEnds := map[string]string{"beats": "heartbeat>worker", "values": "generator>worker", "messages": "worker>logger"}
	for _, m := range info.Metric {
		l := map[string]string{}
		for _, lp := range m.Label {
			l[lp.GetName()] = lp.GetValue()
		}
		if got := l["producer"] + ">" + l["consumer"]; got != wantEnds[l["channel"]] {
			t.Errorf("channel %q ends %s, want %s", l["channel"], got, wantEnds[l["channel"]])
		}
	}
	if got := byLabel(t, fams, "steady_graph_status", "status"); got["running"] != 1 || got["degraded"] != 0 {
		t.Errorf("steady_graph_status = %v, want running", got)
	}
	if got := byLabel(t, fams, "steady_actor_status", "status"); len(got) != 5 {
		t.Errorf("steady_actor_status has statuses %v, want all five", slices.Sorted(maps.Keys(got)))
	}

	// After the run: the counts a report would print.
	p.stop(t)
	fams = scrape(t, base)
	restarts = byLabel(t, fams, "steady_actor_restarts_total", "actor")
	for _, a := range p.g.Snapshot().Actors {
		if restarts[a.Name] != float64(a.Restarts) {
			t.Errorf("after the run: steady_actor_restarts_total{actor=%q} = %v, snapshot says %d", a.Name, restarts[a.Name], a.Restarts)
		}
	}
	if got := byLabel(t, fams, "steady_graph_status", "status"); got["stopped"] != 1 {
		t.Errorf("after the run: steady_graph_status = %v, want stopped", got)
	}
	// The worker's three failures cost the graph some availability; the
	// figures stop moving with the run.
	s := p.g.Snapshot()
	down := byLabel(t, fams, "steady_graph_downtime_seconds_total", "")[""]
	avail := byLabel(t, fams, "steady_graph_availability_ratio", "")[""]
	if down <= 0 || down != s.Downtime.Seconds() || avail >= 1 || avail != s.Availability {
		t.Errorf("after the run: graph downtime %v s, availability %v; the snapshot says %v and %v", down, avail, s.Downtime, s.Availability)
	}
}

// Dead letters and the graph-wide counters reach the exposition.
func TestMetricsDeadLetters(t *testing.T) {
	p := newPipeline(pipelineConfig{poison: 40})
	p.run(t)
	_, base := serve(t, p)
	waitFor(t, 10*time.Second, "the poison value to be dead-lettered", func() bool {
		return len(p.g.DeadLetters()) == 1
	})
	fams := scrape(t, base)
	if got := fams["steady_dead_letters_total"].Metric[0].Counter.GetValue(); got != 1 {
		t.Errorf("steady_dead_letters_total = %v, want 1", got)
	}
	if got := fams["steady_dead_letters"].Metric[0].Gauge.GetValue(); got != 1 {
		t.Errorf("steady_dead_letters = %v, want 1", got)
	}
	if got := byLabel(t, fams, "steady_actor_dead_letters_total", "actor")["worker"]; got != 1 {
		t.Errorf("steady_actor_dead_letters_total{actor=\"worker\"} = %v, want 1", got)
	}
	if got := fams["steady_dead_letters_limit"].Metric[0].Gauge.GetValue(); got != float64(steady.DefaultConfig().MaxDeadLetters) {
		t.Errorf("steady_dead_letters_limit = %v, want %d", got, steady.DefaultConfig().MaxDeadLetters)
	}

	// A purge leaves the store and is counted.
	if err := p.g.Purge(p.g.DeadLetters()[0].ID); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, base)
	if got := fams["steady_dead_letters_purged_total"].Metric[0].Counter.GetValue(); got != 1 {
		t.Errorf("after a purge: steady_dead_letters_purged_total = %v, want 1", got)
	}
	if got := fams["steady_dead_letters"].Metric[0].Gauge.GetValue(); got != 0 {
		t.Errorf("after a purge: steady_dead_letters = %v, want 0", got)
	}
}

// The server's registry is its own: nothing lands on Prometheus' global
// one, and two servers for two graphs do not collide.
func TestOwnRegistry(t *testing.T) {
	a := telemetry.New(steady.NewGraph(steady.Config{}), nil)
	b := telemetry.New(steady.NewGraph(steady.Config{}), nil)
	if a.Registry() == b.Registry() {
		t.Fatal("two servers share a registry")
	}
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "steady_") {
			t.Errorf("metric %s registered on the global registry", f.GetName())
		}
	}
}

// TestMetricsDurable: a durable graph's committer shows on /metrics; a graph
// without a store has no steady_store_ metrics.
func TestMetricsDurable(t *testing.T) {
	st, err := bolt.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler), Store: st})
	count := steady.NewState(g, "count", 0)
	a := g.Actor("counter", func(a *steady.Actor) error {
		for range 20 {
			if err := a.Step(func(s *steady.Step) error { *count.Get(s)++; return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	count.Bind(a)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(telemetry.NewCollector(g))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	commits := byName["steady_store_commits_total"]
	records := byName["steady_store_records_total"]
	if commits == nil || commits.Metric[0].GetCounter().GetValue() < 1 ||
		records == nil || records.Metric[0].GetCounter().GetValue() != 20 {
		t.Errorf("store metrics: commits %v, records %v; want at least one commit of the 20 steps", commits, records)
	}
	if f := byName["steady_store_failed"]; f == nil || f.Metric[0].GetGauge().GetValue() != 0 {
		t.Errorf("steady_store_failed = %v, want 0", f)
	}
	if q := byName["steady_store_commit_quantile_seconds"]; q == nil || len(q.Metric) != 2 {
		t.Errorf("steady_store_commit_quantile_seconds = %v, want p50 and p99", q)
	}

	plain := prometheus.NewRegistry()
	plain.MustRegister(telemetry.NewCollector(steady.NewGraph(steady.Config{})))
	fams, err = plain.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "steady_store_") || strings.HasPrefix(f.GetName(), "steady_actor_history_") {
			t.Errorf("a graph without a store exports %s", f.GetName())
		}
	}
}

// TestMetricsMemoryAndAvailability: a graph held for memory pressure shows
// it on /metrics while held, and afterwards the time held as memory
// degradation and as graph downtime, matching the snapshot. A limit of one
// byte puts any heap above the high-water mark, so the source is held from
// the first sample (0.25 s) to the shutdown (2 s).
func TestMetricsMemoryAndAvailability(t *testing.T) {
	runtime.GC() // the live heap reads 0 until a collection has measured it
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler), MemoryLimit: 1})
		ch := steady.NewChannel[int](g, "numbers", 4)
		var tx *steady.Sender[int]
		var rx *steady.Receiver[int]
		src := g.Actor("source", func(a *steady.Actor) error {
			for a.Running() {
				// Ten a second: held at its wait for room, never in a
				// step, so that the shutdown ends it at once.
				if err := a.Sleep(100 * time.Millisecond); err != nil {
					return err
				}
				if err := a.WaitVacant(tx, 1); err != nil {
					return err
				}
				if err := a.Step(func(s *steady.Step) error { return tx.Send(s, 1) }); err != nil {
					return err
				}
			}
			return nil
		})
		sink := g.Actor("sink", func(a *steady.Actor) error {
			return steady.Sink(a, rx, func(*steady.Step, int) error { return nil })
		})
		tx, rx = ch.Sender(src), ch.Receiver(sink)
		reg := prometheus.NewRegistry()
		reg.MustRegister(telemetry.NewCollector(g))
		gather := func() map[string]float64 {
			fams, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]float64{}
			for _, f := range fams {
				if m := f.Metric[0]; len(m.Label) == 0 {
					out[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
			return out
		}
		go func() {
			time.Sleep(time.Second)
			if m := gather(); m["steady_memory_pressure"] != 1 || m["steady_memory_limit_bytes"] != 1 ||
				m["steady_memory_pressure_episodes_total"] != 1 || m["steady_memory_degraded_seconds_total"] != 0.75 ||
				m["steady_memory_heap_bytes"] <= 1 {
				t.Errorf("while held: %v", m)
			}
			time.Sleep(time.Second)
			g.Shutdown("test")
		}()
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		m, s := gather(), g.Snapshot()
		if m["steady_memory_pressure"] != 0 || m["steady_memory_degraded_seconds_total"] != 1.75 ||
			m["steady_graph_downtime_seconds_total"] != 1.75 || m["steady_graph_availability_ratio"] != 0.125 {
			t.Errorf("after the run: %v, want 1.75 s held of 2 s", m)
		}
		if m["steady_graph_availability_ratio"] != s.Availability || m["steady_graph_downtime_seconds_total"] != s.Downtime.Seconds() ||
			m["steady_memory_degraded_seconds_total"] != s.Memory.Degraded.Seconds() {
			t.Errorf("metrics %v disagree with the snapshot %+v", m, s)
		}
	})
}
