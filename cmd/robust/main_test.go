package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/steady-go/steady/examples/robust"
)

// binary is the robust program, built once for all tests (with the race
// detector when the tests have it).
var binary string

// TestMain builds the binary, runs the tests, and fails the package if any
// test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(withBinary{m}) }

type withBinary struct{ m *testing.M }

func (w withBinary) Run() int {
	dir, err := os.MkdirTemp("", "robust-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "robust")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building robust:", err)
		return 1
	}
	return w.m.Run()
}

// result is one run of the binary.
type result struct {
	status         int
	stdout, stderr string
}

// start starts the binary with args.
func start(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	if !slices.Contains(args, "-telemetry") {
		// No fixed port in tests: parallel runs would race for it.
		args = append([]string{"-telemetry", ""}, args...)
	}
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stdout, &stderr
}

// wait waits for cmd and returns its result.
func wait(t *testing.T, cmd *exec.Cmd, stdout, stderr *bytes.Buffer) result {
	t.Helper()
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return result{status: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// runRobust runs the binary with args to the end.
func runRobust(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, stdout, stderr := start(t, ctx, args...)
	return wait(t, cmd, stdout, stderr)
}

// jsonReport is the JSON report as a user's script reads it: only the
// fields the contract names.
type jsonReport struct {
	Generated   uint64 `json:"generated"`
	Logged      uint64 `json:"logged"`
	DeadLetters []struct {
		Actor    string `json:"actor"`
		Channel  string `json:"channel"`
		Value    uint64 `json:"value"`
		Attempts int    `json:"attempts"`
		Error    string `json:"error"`
	} `json:"dead_letters"`
	Actors map[string]struct {
		Panics        int64    `json:"panics"`
		Restarts      int64    `json:"restarts"`
		RecoveryP50MS *float64 `json:"recovery_p50_ms"`
		RecoveryP99MS *float64 `json:"recovery_p99_ms"`
		RecoveryMaxMS *float64 `json:"recovery_max_ms"`
		Availability  *float64 `json:"availability"`
	} `json:"actors"`
	Categories map[string]uint64 `json:"categories"`
	Checks     []struct {
		Name   string `json:"name"`
		Pass   bool   `json:"pass"`
		Detail string `json:"detail"`
	} `json:"checks"`
	Passed         bool   `json:"passed"`
	ShutdownReason string `json:"shutdown_reason"`
	Beats          uint64 `json:"beats"`
	Resumed        bool   `json:"resumed"`
	Completed      bool   `json:"already_completed"`
	LoggedThisRun  uint64 `json:"logged_this_run"`
}

// parseReport parses stdout as exactly one JSON object with every field of
// the contract.
func parseReport(t *testing.T, stdout string) jsonReport {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", stdout)
	}
	for _, f := range []string{"generated", "logged", "dead_letters", "actors", "categories", "checks", "passed"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("report lacks %q", f)
		}
	}
	var r jsonReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{robust.GeneratorName, robust.HeartbeatName, robust.WorkerName, robust.LoggerName} {
		a, ok := r.Actors[name]
		if !ok || a.RecoveryP50MS == nil || a.RecoveryP99MS == nil || a.RecoveryMaxMS == nil || a.Availability == nil {
			t.Errorf("actor %q missing or incomplete in the report", name)
		}
	}
	for _, c := range []string{"Fizz", "Buzz", "FizzBuzz", "Value"} {
		if _, ok := r.Categories[c]; !ok {
			t.Errorf("category %q missing", c)
		}
	}
	return r
}

// requirePassed fails the test unless every check passed.
func requirePassed(t *testing.T, res result, r jsonReport) {
	t.Helper()
	if res.status != 0 || !r.Passed || len(r.Checks) == 0 {
		t.Errorf("exit status %d, passed %v", res.status, r.Passed)
	}
	for _, c := range r.Checks {
		if !c.Pass {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
	}
}

// verifyOutFile checks the -out file on its own, from the report's counts and
// dead letters only: one "value<TAB>category" line per logged value, in
// increasing order, the category by FizzBuzz rules, every value of
// [0, generated) once unless it was dead-lettered, and a dead-lettered
// value never.
func verifyOutFile(t *testing.T, path string, r jsonReport) {
	t.Helper()
	dead := map[uint64]bool{}
	for _, d := range r.DeadLetters {
		if dead[d.Value] {
			t.Errorf("value %d dead-lettered twice", d.Value)
		}
		dead[d.Value] = true
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var next, lines uint64
	for sc.Scan() {
		lines++
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 2 {
			t.Fatalf("line %d: %q", lines, sc.Text())
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			t.Fatalf("line %d: %q", lines, sc.Text())
		}
		want := "Value"
		switch {
		case v%15 == 0:
			want = "FizzBuzz"
		case v%3 == 0:
			want = "Fizz"
		case v%5 == 0:
			want = "Buzz"
		}
		if fields[1] != want {
			t.Fatalf("line %d: value %d is %s, want %s", lines, v, fields[1], want)
		}
		if v < next {
			t.Fatalf("line %d: value %d after %d: repeated or out of order", lines, v, next-1)
		}
		if dead[v] {
			t.Fatalf("line %d: dead-lettered value %d logged", lines, v)
		}
		for ; next < v; next++ {
			if !dead[next] {
				t.Fatalf("value %d missing and not dead-lettered", next)
			}
		}
		next = v + 1
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for ; next < r.Generated; next++ {
		if !dead[next] {
			t.Fatalf("value %d, past the last line, missing and not dead-lettered", next)
		}
	}
	if next != r.Generated || lines != r.Logged || lines+uint64(len(dead)) != r.Generated {
		t.Errorf("%d lines up to value %d; report: %d generated, %d logged, %d dead-lettered",
			lines, next, r.Generated, r.Logged, len(dead))
	}
}
