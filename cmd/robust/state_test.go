package main

import (
	"bytes"
	"crypto/sha256"
	bin "encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/steady-go/steady/store"
	"github.com/steady-go/steady/store/bolt"
)

// stateArgs is a short scripted run with its state in dir.
func stateArgs(dir string, more ...string) []string {
	return append([]string{"-state", dir, "-rate", "0", "-beats", "200", "-batch", "20", "-report", "json", "-log", "error"}, more...)
}

// stateRan makes a state directory with one short scripted run, with the
// flags more, and returns it and its state file.
func stateRan(t *testing.T, more ...string) (dir, path string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "state")
	if res := runRobust(t, stateArgs(dir, more...)...); res.status != 0 {
		t.Fatalf("first run: status %d\n%s", res.status, res.stderr)
	}
	return dir, filepath.Join(dir, bolt.FileName)
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
	goodFile, err := os.ReadFile(filepath.Join(good, bolt.FileName))
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
		// Damage bbolt panics on, or papers over, once it has the file
		// open for writing (see store/verify.go).
		{"the newest meta page damaged", func(t *testing.T, dir string) {
			b := bytes.Clone(goodFile)
			b[newestMeta(b)+metaOffset+8] ^= 0x01 // its page size; bbolt would use the older one
			writeState(t, dir, b)
		}, "meta page"},
		{"a free page past the end", func(t *testing.T, dir string) {
			b := bytes.Clone(goodFile)
			fl := metaField(b, 32) * uint64(os.Getpagesize())
			if bin.NativeEndian.Uint16(b[fl+10:]) == 0 {
				t.Fatal("the freelist is empty")
			}
			bin.NativeEndian.PutUint64(b[fl+16:], 23047)
			writeState(t, dir, b)
		}, "the freelist holds page 23047"},
		{"the root page's type", func(t *testing.T, dir string) {
			b := bytes.Clone(goodFile)
			b[metaField(b, 16)*uint64(os.Getpagesize())+8] ^= 0x80
			writeState(t, dir, b)
		}, "not a branch or leaf"},
		{"zeros", func(t *testing.T, dir string) { writeState(t, dir, make([]byte, len(goodFile))) }, "store: corrupt"},
		{"noise", func(t *testing.T, dir string) {
			b := make([]byte, len(goodFile))
			_, _ = rand.NewChaCha8([32]byte{3}).Read(b)
			writeState(t, dir, b)
		}, "store: corrupt"},
		{"truncated", func(t *testing.T, dir string) { writeState(t, dir, goodFile[:len(goodFile)/3]) }, "store: corrupt"},
		{"not a state file", func(t *testing.T, dir string) { writeState(t, dir, []byte("hello, not bbolt\n")) }, "store: corrupt"},
		{"another graph's", func(t *testing.T, dir string) {
			st, err := bolt.Open(dir, nil)
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
			path := filepath.Join(dir, bolt.FileName)
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
		st, err := bolt.Open(good, nil)
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

// A bbolt file's meta: after its page's 16-byte header, the fields
// metaField reads by offset (root page 16, freelist page 32, transaction
// id 48).
const metaOffset = 16

// newestMeta is the offset of the meta page bbolt uses, the one with the
// higher transaction id, in the bbolt file b.
func newestMeta(b []byte) int {
	ps := os.Getpagesize()
	txid := func(page int) uint64 { return bin.NativeEndian.Uint64(b[page+metaOffset+48:]) }
	if txid(ps) > txid(0) {
		return ps
	}
	return 0
}

// metaField is the 8-byte field at off of the newest meta of b.
func metaField(b []byte, off int) uint64 {
	return bin.NativeEndian.Uint64(b[newestMeta(b)+metaOffset+off:])
}

func writeState(t *testing.T, dir string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, bolt.FileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStateOutputMustStayTheSame: a run whose output would miss lines the
// directory's runs committed (another file, none after one, one after
// none) exits 1 before it runs, leaving the state file and the outputs as
// they were.
func TestStateOutputMustStayTheSame(t *testing.T) {
	t.Parallel()
	withOut := filepath.Join(t.TempDir(), "state")
	out := filepath.Join(t.TempDir(), "out.tsv")
	withoutOut := filepath.Join(t.TempDir(), "state")
	for _, args := range [][]string{stateArgs(withOut, "-out", out, "-beats", "100"), stateArgs(withoutOut, "-beats", "100")} {
		if res := runRobust(t, args...); res.status != 0 {
			t.Fatalf("first run: status %d\n%s", res.status, res.stderr)
		}
	}
	other := filepath.Join(t.TempDir(), "other.tsv")
	if err := os.WriteFile(other, []byte("0\tFizzBuzz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// As long as the real output, or longer, but not its lines.
	info, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(t.TempDir(), "long.txt")
	if err := os.WriteFile(long, bytes.Repeat([]byte("x"), int(info.Size())+100), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir string
		args      []string
		want      string
	}{
		{"another file", withOut, []string{"-out", other}, "fewer than the"},
		{"no file after one", withOut, nil, "pass that -out again"},
		{"a file after none", withoutOut, []string{"-out", filepath.Join(t.TempDir(), "new.tsv")}, "without -out"},
		{"another file as long", withOut, []string{"-out", long}, "is not their file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(tc.dir, bolt.FileName)
			before, otherBefore, longBefore := fileHash(t, path), fileHash(t, other), fileHash(t, long)
			res := runRobust(t, stateArgs(tc.dir, append(tc.args, "-beats", "300")...)...)
			if res.status != 1 || !strings.Contains(res.stderr, tc.want) || res.stdout != "" {
				t.Errorf("status %d, stdout %q, stderr:\n%s\nwant 1, no report, and %q", res.status, res.stdout, res.stderr, tc.want)
			}
			if fileHash(t, path) != before || fileHash(t, other) != otherBefore || fileHash(t, long) != longBefore {
				t.Error("the state file or another output changed")
			}
			if len(tc.args) > 1 && strings.HasSuffix(tc.args[1], "new.tsv") {
				if _, err := os.Stat(tc.args[1]); !os.IsNotExist(err) {
					t.Errorf("the new -out file was left behind: %v", err)
				}
			}
		})
	}
}

// TestStateResetRespectsTheLock: -reset on a directory another process has
// open fails with the lock error and resets nothing; a bad -out with
// -reset is a usage error that leaves the state alone.
func TestStateResetRespectsTheLock(t *testing.T) {
	t.Parallel()
	dir, path := stateRan(t)
	before := fileHash(t, path)

	res := runRobust(t, stateArgs(dir, "-reset", "-out", filepath.Join(t.TempDir(), "missing", "out.tsv"))...)
	if res.status != 2 || fileHash(t, path) != before {
		t.Errorf("bad -out with -reset: status %d (want 2), state file changed: %v", res.status, fileHash(t, path) != before)
	}

	st, err := bolt.Open(dir, nil) // another process, as far as robust can tell
	if err != nil {
		t.Fatal(err)
	}
	res = runRobust(t, stateArgs(dir, "-reset")...)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if res.status != 1 || !strings.Contains(res.stderr, "in use") {
		t.Errorf("-reset on a locked directory: status %d, stderr:\n%s\nwant 1 and the lock error", res.status, res.stderr)
	}
	if fileHash(t, path) != before {
		t.Error("-reset on a locked directory changed the state file")
	}
}
