package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/steady-go/steady/examples/robust"
)

// actorRuns is an actor's figures in the JSON report: this run's, and
// all_runs, over every run of -state.
type actorRuns struct {
	Panics   int64 `json:"panics"`
	Errors   int64 `json:"errors"`
	Restarts int64 `json:"restarts"`
	AllRuns  struct {
		Panics     int64   `json:"panics"`
		Errors     int64   `json:"errors"`
		Restarts   int64   `json:"restarts"`
		Recoveries int64   `json:"recoveries"`
		LifetimeMS float64 `json:"lifetime_ms"`
	} `json:"all_runs"`
}

func actorsOf(t *testing.T, stdout string) map[string]actorRuns {
	t.Helper()
	var r struct {
		Actors map[string]actorRuns `json:"actors"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("the report: %v\n%s", err, stdout)
	}
	return r.Actors
}

// TestStateHistoryOverRuns: two runs on one -state directory, each with
// scripted failures (the heartbeat's in the first, the generator's, the
// worker's and the poison value's in the second): the second's report
// counts, in each actor's all_runs, the panics, errors and restarts of
// both, and its other figures are its own; its text report says its
// actors' table covers every run.
func TestStateHistoryOverRuns(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	res1 := runRobust(t, stateArgs(dir, "-beats", "60")...)
	requirePassed(t, res1, parseReport(t, res1.stdout))
	res2 := runRobust(t, stateArgs(dir)...)
	r2 := parseReport(t, res2.stdout)
	requirePassed(t, res2, r2)
	if !r2.Resumed {
		t.Fatal("the second run did not resume")
	}
	first, second := actorsOf(t, res1.stdout), actorsOf(t, res2.stdout)
	for _, name := range []string{robust.GeneratorName, robust.HeartbeatName, robust.WorkerName, robust.LoggerName} {
		a, b := first[name], second[name]
		if a.AllRuns.Panics != a.Panics || a.AllRuns.Restarts != a.Restarts {
			t.Errorf("%s, first run: all_runs %+v, want this run's %d panics and %d restarts", name, a.AllRuns, a.Panics, a.Restarts)
		}
		h := b.AllRuns
		if h.Panics != a.Panics+b.Panics || h.Errors != a.Errors+b.Errors || h.Restarts != a.Restarts+b.Restarts {
			t.Errorf("%s: all_runs has %d panics, %d errors, %d restarts; want %d+%d, %d+%d, %d+%d",
				name, h.Panics, h.Errors, h.Restarts, a.Panics, b.Panics, a.Errors, b.Errors, a.Restarts, b.Restarts)
		}
		if h.LifetimeMS <= a.AllRuns.LifetimeMS {
			t.Errorf("%s: lifetime over both runs %vms, not above the first's %vms", name, h.LifetimeMS, a.AllRuns.LifetimeMS)
		}
	}
	// The script: the heartbeat fails at beat 50, in the first run; the
	// generator at value 700 and the worker after value 1200, in the
	// second. Each run must have some, or the sums show nothing.
	if hb := first[robust.HeartbeatName]; hb.Panics == 0 || second[robust.HeartbeatName].Panics != 0 ||
		second[robust.HeartbeatName].AllRuns.Panics == 0 {
		t.Errorf("heartbeat: %d panics in the first run, %+v in the second; want its scripted panic in the first, counted in the second's all_runs",
			hb.Panics, second[robust.HeartbeatName])
	}
	if g, w := second[robust.GeneratorName], second[robust.WorkerName]; g.Panics == 0 || w.Panics == 0 {
		t.Errorf("the second run: generator %d panics, worker %d; want the scripted ones", g.Panics, w.Panics)
	}

	text := runRobust(t, "-state", dir, "-rate", "0", "-beats", "200", "-batch", "20", "-log", "error").stdout
	if !strings.Contains(text, "actors over every run of "+dir) || !strings.Contains(text, "the figures below are this run's") {
		t.Errorf("the text report of a resumed run does not say which figures cover every run:\n%s", text)
	}
}
