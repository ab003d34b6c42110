package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/steady-go/steady/store"
)

// stateArgs is a short scripted run with its state in dir.
func stateArgs(dir string, more ...string) []string {
	return append([]string{"-state", dir, "-rate", "0", "-beats", "200", "-batch", "20", "-report", "json", "-log", "error"}, more...)
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestStateResumesACompletedRun: a second run on a completed directory
// says so and reports the whole history; -reset starts afresh.
func TestStateResumesACompletedRun(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	first := parseReport(t, runRobust(t, stateArgs(dir)...).stdout)
	if !first.Passed || first.Resumed || first.Beats != 200 {
		t.Fatalf("first run: passed %v, resumed %v, %d beats", first.Passed, first.Resumed, first.Beats)
	}
	res := runRobust(t, stateArgs(dir, "-log", "info")...)
	again := parseReport(t, res.stdout)
	requirePassed(t, res, again)
	if !again.Resumed || !again.Completed || again.LoggedThisRun != 0 || again.Generated != first.Generated ||
		again.Logged != first.Logged || len(again.DeadLetters) != len(first.DeadLetters) {
		t.Errorf("second run: %+v; want the first run's history, resumed and completed", again)
	}
	if !strings.Contains(res.stderr, "holds a completed run") || !strings.Contains(res.stderr, "-reset") {
		t.Errorf("stderr does not say the run had completed:\n%s", res.stderr)
	}
	fresh := parseReport(t, runRobust(t, stateArgs(dir, "-reset")...).stdout)
	if !fresh.Passed || fresh.Resumed || fresh.LoggedThisRun != fresh.Logged {
		t.Errorf("after -reset: passed %v, resumed %v, logged %d of %d this run", fresh.Passed, fresh.Resumed, fresh.LoggedThisRun, fresh.Logged)
	}
}

// TestStateFileProblems: a state file that is damaged, another graph's, or
// in use: exit status 1, an error naming the file, and the file unchanged.
func TestStateFileProblems(t *testing.T) {
	t.Parallel()
	good := filepath.Join(t.TempDir(), "state")
	if res := runRobust(t, stateArgs(good)...); res.status != 0 {
		t.Fatalf("making a state file: status %d\n%s", res.status, res.stderr)
	}
	goodFile, err := os.ReadFile(filepath.Join(good, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		make func(t *testing.T, dir string) // prepares dir's state file
		want string
	}{
		{"damaged meta pages", func(t *testing.T, dir string) {
			// bbolt keeps two meta pages, the first two pages of the
			// file, and uses the other when one is damaged: flip a byte
			// of each one's magic number. (Flipped bytes in the records
			// are the store package's tests: finding a live record from
			// outside the file is guesswork, as bbolt keeps stale copies
			// in free pages.)
			b := bytes.Clone(goodFile)
			pageSize := os.Getpagesize()
			b[16] ^= 0xff
			b[pageSize+16] ^= 0xff
			writeState(t, dir, b)
		}, "store: corrupt"},
		{"truncated", func(t *testing.T, dir string) { writeState(t, dir, goodFile[:len(goodFile)/3]) }, "store: corrupt"},
		{"not a state file", func(t *testing.T, dir string) { writeState(t, dir, []byte("hello, not bbolt\n")) }, "store: corrupt"},
		{"another graph's", func(t *testing.T, dir string) {
			st, err := store.Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.Load(store.Shape{Actors: []string{"someone"}, States: []store.Entity{{Name: "x", Type: "int"}}})
			if err2 := st.Close(); err == nil {
				err = err2
			}
			if err != nil {
				t.Fatal(err)
			}
		}, "another shape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.make(t, dir)
			path := filepath.Join(dir, store.FileName)
			before := fileHash(t, path)
			out := filepath.Join(t.TempDir(), "out.tsv")
			res := runRobust(t, stateArgs(dir, "-out", out)...)
			if res.status != 1 || !strings.Contains(res.stderr, tc.want) || !strings.Contains(res.stderr, path) {
				t.Errorf("status %d, stderr:\n%s\nwant 1 and %q naming %s", res.status, res.stderr, tc.want, path)
			}
			if fileHash(t, path) != before {
				t.Error("the state file changed")
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("the -out file was left behind: %v", err)
			}
		})
	}

	t.Run("in use", func(t *testing.T) {
		st, err := store.Open(good, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		res := runRobust(t, stateArgs(good)...)
		if res.status != 1 || !strings.Contains(res.stderr, "in use") {
			t.Errorf("status %d, stderr:\n%s\nwant 1 and a lock error", res.status, res.stderr)
		}
	})
}

func writeState(t *testing.T, dir string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, store.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStateWithAnotherOut: resuming with an output that lacks committed
// lines stops rather than pads it, and the check fails.
func TestStateWithAnotherOut(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	out := filepath.Join(t.TempDir(), "out.tsv")
	if res := runRobust(t, stateArgs(dir, "-out", out, "-beats", "100")...); res.status != 0 {
		t.Fatalf("first run: status %d\n%s", res.status, res.stderr)
	}
	other := filepath.Join(t.TempDir(), "other.tsv")
	res := runRobust(t, stateArgs(dir, "-out", other, "-beats", "300")...)
	r := parseReport(t, res.stdout)
	if res.status != 1 || r.Passed || !strings.Contains(r.ShutdownReason, "fewer than the") {
		t.Errorf("status %d, passed %v, shutdown %q; want a failed run stopped by the logger", res.status, r.Passed, r.ShutdownReason)
	}
	if info, err := os.Stat(other); err != nil || info.Size() != 0 {
		t.Errorf("the other output was written to or padded: %v, %v", info, err)
	}
}
