package main

import (
	"bytes"
	"context"
	encbin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
	"github.com/steady-go/steady/internal/jsserver"
	"github.com/steady-go/steady/observe"
)

// freePort returns a loopback port nobody listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// splitJSON is the report of a split run, or of a half, as a user's
// script reads it: the fields of one process's report and those a split
// run adds.
type splitJSON struct {
	jsonReport
	Role         string  `json:"role"`
	Availability float64 `json:"availability"`
	Bridges      map[string]struct {
		Stream       string `json:"stream"`
		Values       uint64 `json:"values"`
		Starts       uint64 `json:"starts"`
		Skipped      uint64 `json:"skipped"`
		Redeliveries uint64 `json:"redeliveries"`
		Resets       uint64 `json:"resets"`
		Position     uint64 `json:"position"`
		Ended        bool   `json:"ended"`
	} `json:"bridges"`
	Split struct {
		Server   string         `json:"server"`
		Runs     map[string]int `json:"runs"`
		Kills    map[string]int `json:"kills"`
		Recovery map[string]struct {
			Timed int     `json:"timed"`
			P50MS float64 `json:"p50_ms"`
			MaxMS float64 `json:"max_ms"`
		} `json:"recovery"`
	} `json:"split"`
}

// parseSplit parses a split run's report, checking it as parseReport
// checks one process's.
func parseSplit(t *testing.T, stdout string) splitJSON {
	t.Helper()
	parseReport(t, stdout)
	return parseHalf(t, stdout)
}

// parseHalf parses the report of a half, which lacks the other half's
// actors.
func parseHalf(t *testing.T, stdout string) splitJSON {
	t.Helper()
	var r splitJSON
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, stdout)
	}
	return r
}

// checkStreams reads the two streams a split run left in the JetStream
// store under dir, with nats.go alone, and checks them against the
// report: VALUES holds 0 .. generated-1 and BEATS 1 .. beats, each once,
// in order, then the end marker.
func checkStreams(t *testing.T, dir string, r splitJSON) {
	t.Helper()
	srv, err := jsserver.Start(jsserver.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		name      string
		from, end uint64
	}{
		{"ROBUST_VALUES", 0, r.Generated},
		{"ROBUST_BEATS", 1, r.Beats + 1},
	} {
		vals := streamValues(t, js, s.name)
		if uint64(len(vals)) != s.end-s.from {
			t.Errorf("%s holds %d values, want %d", s.name, len(vals), s.end-s.from)
		}
		for i, v := range vals {
			if v != s.from+uint64(i) {
				t.Errorf("%s: value %d is %d, want %d: repeated, lost or out of order", s.name, i, v, s.from+uint64(i))
				break
			}
		}
	}
}

// streamValues returns the values a stream holds, read on its own: each
// message's headers say which values of the channel's history it holds
// (Steady-First, Steady-Count), its payload holds their encodings, each
// prefixed with its length as a uvarint, and an end marker (Steady-End)
// ends each run of the publishing half that stopped in order, the last
// one the stream. It fails t unless the messages follow each other
// without a gap or a repeat and a marker ends them.
func streamValues(t *testing.T, js jetstream.JetStream, name string) []uint64 {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	state := st.CachedInfo().State
	if state.FirstSeq != 1 {
		t.Fatalf("stream %s begins at sequence %d", name, state.FirstSeq)
	}
	codec, err := steady.DefaultCodec[uint64]()
	if err != nil {
		t.Fatal(err)
	}
	var vals []uint64
	ended := false
	for seq := state.FirstSeq; seq <= state.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream %s, message %d: %v", name, seq, err)
		}
		first, err1 := strconv.ParseUint(m.Header.Get("Steady-First"), 10, 64)
		count, err2 := strconv.ParseUint(m.Header.Get("Steady-Count"), 10, 64)
		switch {
		case err1 != nil || err2 != nil:
			t.Fatalf("stream %s: message %d has headers %v", name, seq, m.Header)
		case first != uint64(len(vals)):
			t.Fatalf("stream %s: message %d holds values from index %d, after %d values: a gap or a repeat", name, seq, first, len(vals))
		}
		ended = m.Header.Get("Steady-End") != ""
		if ended {
			continue
		}
		data := m.Data
		for range count {
			n, k := encbin.Uvarint(data)
			if k <= 0 || n > uint64(len(data)-k) {
				t.Fatalf("stream %s: message %d: a malformed frame", name, seq)
			}
			v, err := codec.Decode(data[k : k+int(n)])
			if err != nil {
				t.Fatal(err)
			}
			vals = append(vals, v)
			data = data[k+int(n):]
		}
		if len(data) > 0 {
			t.Fatalf("stream %s: message %d holds more than its %d values", name, seq, count)
		}
	}
	if !ended {
		t.Fatalf("stream %s does not end with an end marker", name)
	}
	return vals
}

// TestSplit: the default scripted failures, the pipeline split in two
// processes and an embedded server; the merged report passes every check,
// and the output file and both streams, read on their own, hold every
// value once, in order.
func TestSplit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run, out := filepath.Join(dir, "run"), filepath.Join(dir, "out.tsv")
	res := runRobust(t, "-split", "-rate", "1ms", "-beats", "300", "-batch", "10", "-seed", "1", "-report", "json", "-out", out, "-state", run)
	r := parseSplit(t, res.stdout)
	requirePassed(t, res, r.jsonReport)
	verifyOutFile(t, out, r.jsonReport)
	checkStreams(t, filepath.Join(run, "server"), r)
	if r.Availability <= 0 || r.Availability > 1 {
		t.Errorf("availability %v: the halves' was not merged", r.Availability)
	}
	if r.Role != "split" || r.Split.Server != "in-process" || r.Split.Runs["publish"] != 1 || r.Split.Runs["consume"] != 1 {
		t.Errorf("role %q, server %q, runs %v; want a split run with an in-process server, one run of each half", r.Role, r.Split.Server, r.Split.Runs)
	}
	script := robust.DefaultScript()
	if len(r.DeadLetters) != 1 || r.DeadLetters[0].Value != script.Poison {
		t.Errorf("dead letters %+v, want the poison alone", r.DeadLetters)
	}
	for _, name := range []string{robust.GeneratorName, robust.HeartbeatName, robust.WorkerName, robust.LoggerName} {
		if a := r.Actors[name]; a.Panics < 1 {
			t.Errorf("%s did not fail in its half: %d panics", name, a.Panics)
		}
	}
	for _, want := range []string{"[publish] ", "[consume] ", `actor "generator" panicked`, `actor "logger" panicked`} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
}

// TestSplitStopAndResume: a SIGTERM stops a split run in order (the
// publishing half ends its streams, the consuming half takes them to that
// end), and a second run on the same -state carries both halves on to
// -beats: every value once, in order, in the output file and the
// streams, which hold an end marker for each run.
func TestSplitStopAndResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run, out := filepath.Join(dir, "run"), filepath.Join(dir, "out.tsv")
	args := []string{"-split", "-rate", "2ms", "-beats", "1500", "-batch", "10", "-state", run, "-out", out, "-report", "json", "-log", "error"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, stdout, stderr := start(t, ctx, args...)
	waitForLines(t, out, 500)
	if err := terminate(cmd.Process); err != nil {
		t.Fatal(err)
	}
	res := wait(t, cmd, stdout, stderr)
	first := parseSplit(t, res.stdout)
	requirePassed(t, res, first.jsonReport)
	if first.Beats >= 1500 || !strings.Contains(first.ShutdownReason, "signal") {
		t.Fatalf("the first run sent %d beats and stopped for %q; want it stopped by the signal", first.Beats, first.ShutdownReason)
	}
	res = runRobust(t, args...)
	r := parseSplit(t, res.stdout)
	requirePassed(t, res, r.jsonReport)
	verifyOutFile(t, out, r.jsonReport)
	checkStreams(t, filepath.Join(run, "server"), r)
	if !r.Resumed || r.Beats != 1500 || r.Logged <= first.Logged {
		t.Errorf("second run: resumed %v, %d beats, %d logged after %d; want it to carry the first on to 1500 beats", r.Resumed, r.Beats, r.Logged, first.Logged)
	}
}

// waitForLines waits until the file at path holds at least n lines.
func waitForLines(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(path)
		if bytes.Count(b, []byte{'\n'}) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has fewer than %d lines after a minute", path, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// splitCrash runs a split run under -kills: the pipeline runs (-beats 0)
// until the coordinator's progress says every kill was dealt, then a
// SIGTERM stops it in order. The report must pass, the output file and
// the streams hold every value once, in order, and the bridges' recovery
// counters, summed over every run of each half, show that the recovery
// paths ran.
func splitCrash(t *testing.T, kills int, args ...string) splitJSON {
	t.Helper()
	dir := t.TempDir()
	run, out, prog := filepath.Join(dir, "run"), filepath.Join(dir, "out.tsv"), filepath.Join(dir, "progress")
	args = append([]string{"-split", "-beats", "0", "-kills", strconv.Itoa(kills), "-kill-every", "300ms",
		"-state", run, "-out", out, "-progress", prog, "-report", "json", "-log", "error",
		// A duplicate window shorter than most outages, so that nothing
		// rests on it (the bridges send no message ids, so nothing should;
		// the short window keeps this run proving it should that change);
		// and an AckWait short enough that the server redelivers what a
		// half holds unacknowledged while its steps become durable, so
		// that the bridge drops redeliveries.
		"-test-dupe-window", "100ms", "-test-ack-wait", "50ms"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd, stdout, stderr := start(t, ctx, args...)
	exited := make(chan struct{})
	var res result
	go func() {
		defer close(exited)
		res = wait(t, cmd, stdout, stderr)
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for dealt := 0; dealt < kills; {
		select {
		case <-exited:
			t.Fatalf("the run ended after %d kills (status %d):\n%s", dealt, res.status, res.stderr[max(0, len(res.stderr)-4000):])
		case <-tick.C:
		}
		pr, err := readProgress(prog)
		if err != nil {
			t.Fatal(err)
		}
		dealt = pr.Kills
	}
	if err := terminate(cmd.Process); err != nil {
		t.Fatal(err)
	}
	<-exited
	r := parseSplit(t, res.stdout)
	requirePassed(t, res, r.jsonReport)
	if t.Failed() {
		t.Logf("stderr:\n%s", res.stderr[max(0, len(res.stderr)-4000):])
	}
	verifyOutFile(t, out, r.jsonReport)
	checkStreams(t, filepath.Join(run, "server"), r)

	k := r.Split.Kills
	if total := k["publish"] + k["consume"] + k["both"] + k["server"]; total != kills {
		t.Errorf("%d kills dealt, want %d", total, kills)
	}
	for _, victim := range []string{"publish", "consume", "both", "server"} {
		if k[victim] < 5 {
			t.Errorf("%d kills of %s, want at least 5", k[victim], victim)
		}
	}
	b := r.Bridges
	skipped := b[beatsOutName].Skipped + b[valuesOutName].Skipped
	redelivered := b[beatsInName].Redeliveries + b[valuesInName].Redeliveries
	resets := b[beatsInName].Resets + b[valuesInName].Resets
	outStarts := b[beatsOutName].Starts + b[valuesOutName].Starts
	if skipped == 0 || redelivered == 0 || resets == 0 {
		t.Errorf("recovery counters over every run: %d values found published already, %d redeliveries dropped, %d consumer resets; want each above 0",
			skipped, redelivered, resets)
	}
	t.Logf("%d kills %v; %d values, %d logged; %d values skipped at a start, %d redeliveries dropped, %d consumer resets, %d outbound starts in %d runs; recovery %+v",
		kills, k, r.Generated, r.Logged, skipped, redelivered, resets, outStarts, r.Split.Runs["publish"], r.Split.Recovery)
	return r
}

// TestSplitCrash: scripted failures, and 60 SIGKILLs of the publishing
// half, the consuming half, both at once, and the server.
func TestSplitCrash(t *testing.T) {
	t.Parallel()
	r := splitCrash(t, soakKills(t, 60), "-rate", "2ms", "-batch", "10")
	if len(r.DeadLetters) != 1 {
		t.Errorf("dead letters %+v, want the poison alone", r.DeadLetters)
	}
}

// TestSplitCrashUnderChaos: random panics in every actor of both halves,
// and 60 SIGKILLs.
func TestSplitCrashUnderChaos(t *testing.T) {
	t.Parallel()
	splitCrash(t, soakKills(t, 60), "-rate", "2ms", "-batch", "20", "-faults", "chaos", "-chaos-rate", "0.02", "-seed", "5")
}

// TestServerDownAtStart: both halves start before the server: their
// bridges wait it out (the outbound ones restarting), and once it is up
// every value arrives once.
func TestServerDownAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	url := fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	out := filepath.Join(dir, "out.tsv")
	common := []string{"-nats", url, "-rate", "1ms", "-beats", "200", "-batch", "10", "-report", "json", "-log", "error"}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pubProg, conProg := filepath.Join(dir, "publish.progress"), filepath.Join(dir, "consume.progress")
	pub, pubOut, pubErr := start(t, ctx, append([]string{"-role", "publish", "-state", filepath.Join(dir, "publish"), "-progress", pubProg}, common...)...)
	con, conOut, conErr := start(t, ctx, append([]string{"-role", "consume", "-state", filepath.Join(dir, "consume"), "-progress", conProg, "-out", out}, common...)...)
	// Both graphs run, and the outbound bridges have failed to reach the
	// server and started again.
	for {
		pp, err1 := readProgress(pubProg)
		cp, err2 := readProgress(conProg)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if pp.Bridges[beatsOutName].Starts > 1 && pp.Bridges[valuesOutName].Starts > 1 && cp.Bridges != nil {
			if pp.Bridges[valuesOutName].Values != 0 || cp.Logged != 0 {
				t.Fatalf("values moved with the server down: %+v, %+v", pp, cp)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the halves did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srvDir := filepath.Join(dir, "server")
	port, _ := strconv.Atoi(url[strings.LastIndex(url, ":")+1:])
	srv, err := jsserver.Start(jsserver.Options{Dir: srvDir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	pres, cres := wait(t, pub, pubOut, pubErr), wait(t, con, conOut, conErr)
	srv.Shutdown()
	pr, cr := parseHalf(t, pres.stdout), parseHalf(t, cres.stdout)
	requirePassed(t, pres, pr.jsonReport)
	requirePassed(t, cres, cr.jsonReport)
	verifyOutFile(t, out, cr.jsonReport)
	if pr.Generated != cr.Generated || pr.Beats != cr.Beats || pr.Beats != 200 {
		t.Errorf("published %d values and %d beats, consumed %d and %d; want the same, and 200 beats", pr.Generated, pr.Beats, cr.Generated, cr.Beats)
	}
	checkStreams(t, srvDir, cr)
}

// TestHalvesRecordPatterns: a half records an actor that gave up and a
// backed-up channel, and says what the give-up lost, with none of the
// other half's actors in its graph.
func TestHalvesRecordPatterns(t *testing.T) {
	for _, tc := range []struct {
		role      string
		producers map[string]string // channel → its producer in this half
	}{
		{"publish", map[string]string{"beats": robust.HeartbeatName, "values": robust.GeneratorName}},
		{"consume", map[string]string{"beats": beatsInName, "values": valuesInName, "messages": robust.WorkerName}},
	} {
		t.Run(tc.role, func(t *testing.T) {
			cfg, err := parseFlags([]string{"-role", tc.role, "-nats", fmt.Sprintf("nats://127.0.0.1:%d", freePort(t)), "-telemetry", "", "-log", "error"})
			if err != nil {
				t.Fatal(err)
			}
			p, err := build(cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer p.close()
			for _, a := range p.g.Snapshot().Actors {
				p.seen.record(observe.Event{Kind: observe.EventGaveUp, Actor: a.Name, Time: time.Now()})
				if lost, _ := p.lostFunction(a.Name, p.seen.gaveUp[a.Name]); lost == "unknown" {
					t.Errorf("%s: what giving up lost is unknown", a.Name)
				}
			}
			for ch, producer := range tc.producers {
				p.seen.record(observe.Event{Kind: observe.EventChannelBackedUp, Channel: ch, Actor: "its consumer", Time: time.Now()})
				if got := p.seen.alerts[len(p.seen.alerts)-1].Producer; got != producer {
					t.Errorf("channel %s: producer %q, want %q", ch, got, producer)
				}
			}
		})
	}
}
