package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/steady-go/steady/examples/robust"
)

// TestEndToEnd runs the scripted failures at a fast rate and verifies the
// report and, on its own, the output file.
func TestEndToEnd(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.tsv")
	res := runRobust(t, "-rate", "1ms", "-beats", "300", "-batch", "10", "-seed", "1", "-report", "json", "-out", out)
	r := parseReport(t, res.stdout)
	requirePassed(t, res, r)
	verifyOutFile(t, out, r)

	script := robust.DefaultScript()
	if r.Generated <= script.LoggerAfter {
		t.Fatalf("only %d values generated, too few to reach every scripted failure", r.Generated)
	}
	if len(r.DeadLetters) != 1 {
		t.Fatalf("dead letters %+v, want the poison alone", r.DeadLetters)
	}
	d := r.DeadLetters[0]
	if d.Actor != "worker" || d.Channel != "values" || d.Value != script.Poison || d.Attempts != 3 || !strings.Contains(d.Error, "poison") {
		t.Errorf("dead letter %+v, want value %d from worker/values after 3 attempts", d, script.Poison)
	}
	for name, a := range r.Actors {
		want := int64(1)
		if name == robust.WorkerName {
			want = 4 // the transient failure, and the poison three or four times
		}
		if a.Panics < want || a.Restarts < want {
			t.Errorf("%s: %d panics, %d restarts, want at least %d", name, a.Panics, a.Restarts, want)
		}
	}
	// Each failure and restart is logged as it happens, with the actor's
	// name and restart number.
	for _, name := range []string{robust.GeneratorName, robust.HeartbeatName, robust.WorkerName, robust.LoggerName} {
		for _, pattern := range []string{
			fmt.Sprintf(`WARN  actor %q panicked: .*injected scripted fault.* \(restarts 0\)`, name),
			fmt.Sprintf(`INFO  actor %q restarting in .* \(restart 1\)`, name),
		} {
			if !regexp.MustCompile(pattern).MatchString(res.stderr) {
				t.Errorf("stderr lacks %q", pattern)
			}
		}
	}
	if !strings.Contains(res.stderr, fmt.Sprintf(`dead-lettered message %d from channel "values"`, script.Poison)) {
		t.Errorf("stderr does not log the dead letter")
	}
}

// TestChaos: at least 100,000 messages and 1,000 injected panics across all
// four actors, and still every value once.
func TestChaos(t *testing.T) {
	r, panics := runChaos(t, 2*time.Minute, 100_000, 1_000, "-beats", "2500", "-batch", "50", "-chaos-rate", "0.08", "-seed", "7")
	t.Logf("%d messages, %d panics", r.Logged, panics)
}

// TestChaosSoak, with STEADY_SOAK=1: TestChaos at scale, 10 million
// messages and at least 10,000 panics, every value once. About 10 s
// without the race detector on a 2-core VM, 45 s with it (figures in
// BENCHMARKS.md).
func TestChaosSoak(t *testing.T) {
	if os.Getenv("STEADY_SOAK") == "" {
		t.Skip("a soak: set STEADY_SOAK=1 to run it")
	}
	begin := time.Now()
	r, panics := runChaos(t, 10*time.Minute, 10_000_000, 10_000, "-beats", "12000", "-batch", "1000", "-chaos-rate", "0.03", "-seed", "11")
	took := time.Since(begin)
	var restarts int64
	for _, a := range r.Actors {
		restarts += a.Restarts
	}
	t.Logf("%d messages, %d panics, %d restarts, %d dead letters in %v (%.0f messages/s)",
		r.Logged, panics, restarts, len(r.DeadLetters), took.Round(time.Millisecond), float64(r.Logged)/took.Seconds())
}

// runChaos runs robust unthrottled in chaos mode with args, within limit,
// and checks the report and the output file: every value once, at least
// minLogged messages and minPanics panics in all, and at least 20 in each
// actor. It returns the report and the panics.
func runChaos(t *testing.T, limit time.Duration, minLogged uint64, minPanics int64, args ...string) (jsonReport, int64) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.tsv")
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd, stdout, stderr := start(t, ctx, append([]string{"-rate", "0", "-faults", "chaos", "-report", "json", "-log", "error", "-out", out}, args...)...)
	res := wait(t, cmd, stdout, stderr)
	r := parseReport(t, res.stdout)
	requirePassed(t, res, r)
	verifyOutFile(t, out, r)
	var panics int64
	for name, a := range r.Actors {
		panics += a.Panics
		if a.Panics < 20 {
			t.Errorf("%s: only %d panics", name, a.Panics)
		}
	}
	if r.Logged < minLogged || panics < minPanics {
		t.Errorf("%d messages logged, %d panics; want at least %d and %d", r.Logged, panics, minLogged, minPanics)
	}
	return r, panics
}

// TestSIGTERM: a signal mid-run shuts the pipeline down in order; the
// report is printed and every check passes.
func TestSIGTERM(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.tsv")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, stdout, stderr := start(t, ctx, "-rate", "1ms", "-beats", "1000000", "-batch", "10", "-report", "json", "-out", out)
	// Wait until the logger has written past the scripted failures: the
	// last is the logger's, after 2,100 messages, about 20 KB of lines;
	// 40 KB is well past it.
	deadline := time.Now().Add(time.Minute)
	for {
		if info, err := os.Stat(out); err == nil && info.Size() > 40_000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the logger wrote too little in a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	res := wait(t, cmd, stdout, stderr)
	r := parseReport(t, res.stdout)
	requirePassed(t, res, r)
	verifyOutFile(t, out, r)
	if !strings.Contains(r.ShutdownReason, "context") || r.Generated >= 10_000_000 {
		t.Errorf("shutdown reason %q after %d values; want the signal", r.ShutdownReason, r.Generated)
	}
	for name, a := range r.Actors {
		if a.Panics < 1 {
			t.Errorf("%s had not failed yet when the signal came: the run did not cover every recovery", name)
		}
	}
}

// TestDefaultRun: with no flags the program runs for 5 to 15 seconds,
// shows every kind of failure, and passes.
func TestDefaultRun(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 8 s")
	}
	t.Parallel()
	begin := time.Now()
	res := runRobust(t)
	took := time.Since(begin)
	if res.status != 0 || !strings.Contains(res.stdout, "PASSED") {
		t.Errorf("exit status %d; report:\n%s", res.status, res.stdout)
	}
	if took < 5*time.Second || took > 15*time.Second {
		t.Errorf("took %v, want 5 to 15 s", took)
	}
	for _, want := range []string{"generator", "heartbeat", "worker", "logger", "dead letters: 1", "exactly-once"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("text report lacks %q", want)
		}
	}
}
