//go:build unix

package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/steady-go/steady/examples/robust"
	"github.com/steady-go/steady/internal/jsserver"
	"github.com/steady-go/steady/jsbridge"
)

// TestKillAtTheDangerousInstants kills a half with SIGKILL (-test-kill-at)
// at each instant where a crash could lose or double a value, then runs it
// again with the same state: after the stream acknowledged a publication,
// before the step that made it commits; after the inbound bridge sent a
// fetched message's values into its channel, before its step commits;
// after everything upstream of the logger committed, before the logger
// writes their lines; and after it wrote them, before the step that
// commits their length. The publishing half runs first, to its end, then
// the consuming half; each time every value arrives once, in order, in the
// output file and in the streams.
func TestKillAtTheDangerousInstants(t *testing.T) {
	t.Parallel()
	// The hit of the point to kill at: well into the run, and below the
	// fewest steps a run makes there (the publishing half publishes its
	// 300 beats in 5 steps or more, the values in 3 or more; the
	// consuming half takes a frame of values in several steps, as the
	// worker frees room, and the logger writes at least once a beat).
	for _, tc := range []struct {
		name, role, point string
		hit               int
	}{
		{"after the PubAck, before the commit", "publish", jsbridge.FaultPublished, 3},
		{"after the fetch, before the commit", "consume", jsbridge.FaultTaken, 25},
		{"after the commit, before the output write", "consume", robust.FaultBeforeWrite, 25},
		{"after the output write, before its commit", "consume", robust.FaultAfterWrite, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			srvDir, out := filepath.Join(dir, "server"), filepath.Join(dir, "out.tsv")
			srv, err := jsserver.Start(jsserver.Options{Dir: srvDir})
			if err != nil {
				t.Fatal(err)
			}
			common := []string{"-nats", srv.URL(), "-rate", "0", "-beats", "300", "-batch", "10", "-report", "json", "-log", "error"}
			pubArgs := append([]string{"-role", "publish", "-state", filepath.Join(dir, "publish")}, common...)
			conArgs := append([]string{"-role", "consume", "-state", filepath.Join(dir, "consume"), "-out", out}, common...)
			killAt := []string{"-test-kill-at", tc.point + ":" + strconv.Itoa(tc.hit)}
			var pub, con splitJSON
			for _, h := range []struct {
				role string
				args []string
				rep  *splitJSON
			}{{"publish", pubArgs, &pub}, {"consume", conArgs, &con}} {
				if h.role == tc.role {
					killedAt(t, append(h.args, killAt...), out)
				}
				res := runRobust(t, h.args...)
				*h.rep = parseHalf(t, res.stdout)
				requirePassed(t, res, h.rep.jsonReport)
			}
			srv.Shutdown()
			verifyOutFile(t, out, con.jsonReport)
			if pub.Generated != con.Generated || pub.Beats != con.Beats || con.Resumed != (tc.role == "consume") {
				t.Errorf("published %d values and %d beats, consumed %d and %d (resumed %v)", pub.Generated, pub.Beats, con.Generated, con.Beats, con.Resumed)
			}
			checkStreams(t, srvDir, con)
			if tc.role == "publish" {
				// The run after the kill found the values it had
				// published and not committed, and published them once.
				if s := pub.Bridges[beatsOutName].Skipped + pub.Bridges[valuesOutName].Skipped; s == 0 || !pub.Resumed {
					t.Errorf("the publishing half resumed %v and skipped %d values already published: the reconciliation did not run", pub.Resumed, s)
				}
			}
		})
	}
}

// killedAt runs robust with args, which kill it at a fault point, and
// checks that SIGKILL ended it; with the output file out, it reports how
// many lines it held then.
func killedAt(t *testing.T, args []string, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, stdout, stderr := start(t, ctx, args...)
	res := wait(t, cmd, stdout, stderr)
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%v: exit status %d, want death by SIGKILL at the fault point\n%s", args, res.status, res.stderr)
	}
	if f, err := os.Open(out); err == nil {
		defer f.Close()
		lines := 0
		for sc := bufio.NewScanner(f); sc.Scan(); {
			lines++
		}
		t.Logf("killed at %s with %s lines in the output", args[len(args)-1], strconv.Itoa(lines))
	}
}
