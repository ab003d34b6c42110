package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// soakKills is how many SIGKILLs the crash tests deal; STEADY_SOAK_KILLS
// raises it for a longer soak.
func soakKills(t *testing.T, ci int) int {
	if s := os.Getenv("STEADY_SOAK_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("STEADY_SOAK_KILLS=%q: want a positive whole number", s)
		}
		return n
	}
	return ci
}

// beatsFor is enough beats, 2 ms apart, that kills runs killed within
// 255 ms of their start never reach the last one: a run gets through at
// most about 60 beats before its kill.
func beatsFor(kills int) int { return 80 * max(kills, 50) }

// killAndResume runs robust with -state and -out, kills it with SIGKILL at
// random instants kills times, then lets it finish, and checks the last
// run's report and, on its own, the output file: every value exactly once,
// in order, except the dead-lettered ones.
func killAndResume(t *testing.T, kills int, args ...string) jsonReport {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.tsv")
	args = append([]string{"-state", filepath.Join(dir, "state"), "-out", out, "-report", "json", "-log", "error"}, args...)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	killed, resumed := 0, 0
	for killed < kills {
		before := fileSize(out)
		cmd, stdout, stderr := start(t, ctx, args...)
		if rng.IntN(4) == 0 {
			// While it starts up or opens its state.
			time.Sleep(time.Duration(5+rng.IntN(250)) * time.Millisecond)
		} else {
			// While it works: once this run has written, however long a
			// loaded machine (and the race detector) makes its start.
			for deadline := time.Now().Add(30 * time.Second); fileSize(out) <= before && time.Now().Before(deadline); {
				time.Sleep(2 * time.Millisecond)
			}
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
		}
		_ = cmd.Process.Kill() // SIGKILL; it may have exited already
		res := wait(t, cmd, stdout, stderr)
		if res.status == 0 {
			t.Fatalf("the run finished after %d kills, before the test was done killing it: raise -beats\n%s", killed, res.stdout)
		}
		if res.status != -1 {
			t.Fatalf("after %d kills, a run failed by itself (status %d):\n%s", killed, res.status, res.stderr)
		}
		killed++
		if info, err := os.Stat(out); err == nil && info.Size() > 0 {
			resumed++ // a later run resumes from a state with logged lines
		}
	}
	res := runRobust(t, args...)
	r := parseReport(t, res.stdout)
	requirePassed(t, res, r)
	verifyOutFile(t, out, r)
	if !r.Resumed {
		t.Error("the last run did not resume")
	}
	if resumed < kills/2 {
		t.Errorf("only %d of %d kills struck after the logger had written", resumed, kills)
	}
	t.Logf("%d kills (%d after output began); %d values generated, %d logged, %d dead letters over all runs",
		killed, resumed, r.Generated, r.Logged, len(r.DeadLetters))
	return r
}

// fileSize is the size of the file at path, or 0 if it does not exist.
func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

// TestKillAndResume: scripted failures, and SIGKILL at random instants.
func TestKillAndResume(t *testing.T) {
	t.Parallel()
	kills := soakKills(t, 50)
	beats := beatsFor(kills)
	r := killAndResume(t, kills, "-rate", "2ms", "-beats", strconv.Itoa(beats), "-batch", "10")
	if r.Beats != uint64(beats) {
		t.Errorf("%d beats over all runs, want -beats %d", r.Beats, beats)
	}
	if len(r.DeadLetters) != 1 {
		t.Errorf("dead letters %+v, want the poison alone", r.DeadLetters)
	}
}

// TestKillAndResumeUnderChaos: random panics in every actor, and SIGKILL.
func TestKillAndResumeUnderChaos(t *testing.T) {
	t.Parallel()
	kills := soakKills(t, 25)
	killAndResume(t, kills, "-rate", "2ms", "-beats", strconv.Itoa(beatsFor(kills)), "-batch", "20",
		"-faults", "chaos", "-chaos-rate", "0.02", "-seed", "5")
}
