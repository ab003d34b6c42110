package telemetry_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store/bolt"
)

// The worker's failures in the two runs of resumed.
const (
	firstRunFailures  = 3
	secondRunFailures = 2
)

// resumed runs the pipeline on a bolt store in a fresh directory until
// the worker has failed firstRunFailures times, stops it, and runs the
// pipeline again on that store until the worker has failed
// secondRunFailures more times. It returns the first run's snapshot after
// its Run, and the second pipeline, still running (the test's cleanup
// stops it, then closes its store).
func resumed(t *testing.T) (observe.Snapshot, *pipeline) {
	t.Helper()
	dir := t.TempDir()
	runOnce := func(failures int) (*pipeline, func()) {
		t.Helper()
		st, err := bolt.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		closeStore := sync.OnceFunc(func() {
			if err := st.Close(); err != nil {
				t.Errorf("closing the store: %v", err)
			}
		})
		t.Cleanup(closeStore) // after the pipeline's stop, registered later
		p := newPipeline(pipelineConfig{store: st})
		p.run(t)
		for i := 1; i <= failures; i++ {
			p.failWorker()
			waitFor(t, 5*time.Second, "the worker to restart", func() bool {
				w := p.actor(t, "worker")
				return w.Restarts == int64(i) && w.Recoveries == int64(i)
			})
		}
		return p, closeStore
	}
	first, closeFirst := runOnce(firstRunFailures)
	first.stop(t)
	closeFirst() // the store takes one Open at a time
	s1 := first.g.Snapshot()
	if w := worker(t, s1); w.History.Restarts != firstRunFailures || w.History.Panics != firstRunFailures {
		t.Fatalf("first run: the worker's history has %d restarts and %d panics, want %d of each",
			w.History.Restarts, w.History.Panics, firstRunFailures)
	}
	second, _ := runOnce(secondRunFailures)
	return s1, second
}

// worker returns the worker's stats in s.
func worker(t *testing.T, s observe.Snapshot) observe.ActorStats {
	t.Helper()
	for _, a := range s.Actors {
		if a.Name == "worker" {
			return a
		}
	}
	t.Fatal("no worker in the snapshot")
	return observe.ActorStats{}
}

// TestMetricsHistory: a durable graph resumed on a store exports each
// actor's figures over both runs: the first run's history plus the second
// run's own figures, exactly, while the steady_actor_ series stay the
// second run's.
func TestMetricsHistory(t *testing.T) {
	s1, p := resumed(t)
	_, base := serve(t, p)
	p.stop(t) // the figures stop moving; the server still answers
	s2 := p.g.Snapshot()
	fams := scrape(t, base)

	restarts := byLabel(t, fams, "steady_actor_history_restarts_total", "actor")
	panics := byLabel(t, fams, "steady_actor_history_panics_total", "actor")
	errs := byLabel(t, fams, "steady_actor_history_errors_total", "actor")
	down := byLabel(t, fams, "steady_actor_history_downtime_seconds_total", "actor")
	avail := byLabel(t, fams, "steady_actor_history_availability_ratio", "actor")
	if len(restarts) != 4 {
		t.Errorf("steady_actor_history_restarts_total has actors %v, want the four", restarts)
	}
	for i, a := range s2.Actors {
		before := s1.Actors[i].History
		if want := before.Restarts + a.Restarts; restarts[a.Name] != float64(want) {
			t.Errorf("%s: history restarts %v, want %d + %d", a.Name, restarts[a.Name], before.Restarts, a.Restarts)
		}
		if want := before.Panics + a.Panics; panics[a.Name] != float64(want) {
			t.Errorf("%s: history panics %v, want %d + %d", a.Name, panics[a.Name], before.Panics, a.Panics)
		}
		if want := before.Errors + a.Errors; errs[a.Name] != float64(want) {
			t.Errorf("%s: history errors %v, want %d + %d", a.Name, errs[a.Name], before.Errors, a.Errors)
		}
		if want := before.Downtime + a.Downtime; down[a.Name] != want.Seconds() {
			t.Errorf("%s: history downtime %v s, want %v + %v", a.Name, down[a.Name], before.Downtime, a.Downtime)
		}
		if avail[a.Name] != a.History.Availability {
			t.Errorf("%s: history availability %v, the snapshot says %v", a.Name, avail[a.Name], a.History.Availability)
		}
	}
	const total = firstRunFailures + secondRunFailures
	if restarts["worker"] != total || panics["worker"] != total || errs["worker"] != 0 {
		t.Errorf("worker over both runs: %v restarts, %v panics, %v errors; want %d, %d and 0",
			restarts["worker"], panics["worker"], errs["worker"], total, total)
	}
	if got := byLabel(t, fams, "steady_actor_restarts_total", "actor")["worker"]; got != secondRunFailures {
		t.Errorf("steady_actor_restarts_total{actor=\"worker\"} = %v, want this run's %d", got, secondRunFailures)
	}
	if d := down["worker"]; d <= worker(t, s1).History.Downtime.Seconds() || avail["worker"] >= 1 {
		t.Errorf("worker over both runs: down %v s, availability %v; want more downtime than the first run's and availability below 1",
			d, avail["worker"])
	}
}

// TestAPISnapshotHistory: /api/snapshot gives each actor of a resumed
// durable graph its history, the first run's figures plus the second's,
// next to its own figures of this run; a graph without a store gives its
// actors a history equal to their own figures.
func TestAPISnapshotHistory(t *testing.T) {
	type figures struct {
		Panics       int64   `json:"panics"`
		Errors       int64   `json:"errors"`
		Restarts     int64   `json:"restarts"`
		Downtime     float64 `json:"downtimeSeconds"`
		Availability float64 `json:"availability"`
		Recoveries   int64   `json:"recoveries"`
	}
	type actor struct {
		Name string `json:"name"`
		figures
		History *struct {
			figures
			Lifetime float64 `json:"lifetimeSeconds"`
		} `json:"history"`
	}
	fetchActors := func(base string) map[string]actor {
		t.Helper()
		var snap struct {
			Actors []actor `json:"actors"`
		}
		body := get(t, base+"/api/snapshot", 200)
		if err := json.Unmarshal([]byte(body), &snap); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, body)
		}
		out := map[string]actor{}
		for _, a := range snap.Actors {
			if a.History == nil {
				t.Fatalf("actor %q has no history in %s", a.Name, body)
			}
			out[a.Name] = a
		}
		return out
	}

	s1, p := resumed(t)
	_, base := serve(t, p)
	p.stop(t)
	s2 := p.g.Snapshot()
	actors := fetchActors(base)
	for i, a := range s2.Actors {
		before, got := s1.Actors[i].History, actors[a.Name]
		want := figures{
			Panics: before.Panics + a.Panics, Errors: before.Errors + a.Errors, Restarts: before.Restarts + a.Restarts,
			Downtime: (before.Downtime + a.Downtime).Seconds(), Availability: a.History.Availability,
			Recoveries: before.Recoveries + a.Recoveries,
		}
		if got.History.figures != want {
			t.Errorf("%s: history %+v, want %+v (the first run's plus the second's)", a.Name, got.History.figures, want)
		}
		if got.History.Lifetime != a.History.Lifetime.Seconds() || a.History.Lifetime <= before.Lifetime {
			t.Errorf("%s: lifetime over both runs %v s (snapshot %v), want above the first run's %v",
				a.Name, got.History.Lifetime, a.History.Lifetime, before.Lifetime)
		}
		if got.Restarts != a.Restarts || got.Panics != a.Panics {
			t.Errorf("%s: this run's restarts %d and panics %d, the snapshot says %d and %d", a.Name, got.Restarts, got.Panics, a.Restarts, a.Panics)
		}
	}
	const total = firstRunFailures + secondRunFailures
	if w := actors["worker"]; w.History.Restarts != total || w.History.Panics != total || w.Restarts != secondRunFailures {
		t.Errorf("worker: history %d restarts and %d panics, this run %d restarts; want %d, %d and %d",
			w.History.Restarts, w.History.Panics, w.Restarts, total, total, secondRunFailures)
	}

	// Without a store the history is this run.
	mem := newPipeline(pipelineConfig{})
	mem.run(t)
	_, memBase := serve(t, mem)
	mem.failWorker()
	waitFor(t, 5*time.Second, "the worker to restart", func() bool { return mem.actor(t, "worker").Restarts == 1 })
	mem.stop(t)
	for name, a := range fetchActors(memBase) {
		if a.History.figures != a.figures {
			t.Errorf("in memory, %s: history %+v, want its own figures %+v", name, a.History.figures, a.figures)
		}
	}
	if w := fetchActors(memBase)["worker"]; w.Restarts != 1 {
		t.Errorf("in memory: the worker has %d restarts, want 1", w.Restarts)
	}
}
