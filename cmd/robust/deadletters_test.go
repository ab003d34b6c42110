package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
	"github.com/steady-go/steady/store/bolt"
)

// dlArgs are the arguments of -dead-letters on dir.
func dlArgs(dir string, verb ...string) []string {
	return append([]string{"-state", dir, "-dead-letters"}, verb...)
}

// outValues reads the values of an -out file, in the order of its lines.
func outValues(t *testing.T, path string) []uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vs []uint64
	for line := range strings.Lines(string(b)) {
		v, err := strconv.ParseUint(strings.Split(line, "\t")[0], 10, 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		vs = append(vs, v)
	}
	return vs
}

// listed runs -dead-letters list -report json on dir.
func listed(t *testing.T, dir string) (letters []deadLetter, purged int64, limit int) {
	t.Helper()
	res := runRobust(t, dlArgs(dir, "list", "-report", "json")...)
	var out struct {
		DeadLetters []deadLetter `json:"dead_letters"`
		Purged      int64        `json:"dead_letters_purged"`
		Limit       int          `json:"dead_letters_limit"`
	}
	if res.status != 0 {
		t.Fatalf("list: status %d\n%s", res.status, res.stderr)
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("list -report json: %v\n%s", err, res.stdout)
	}
	return out.DeadLetters, out.Purged, out.Limit
}

// TestDeadLettersReplay: list shows the poison a run quarantined and
// changes nothing; replay puts it back for the next run, which delivers
// it (with no faults, the worker takes it this time) and passes every
// check, the value logged once, late.
func TestDeadLettersReplay(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	out := filepath.Join(t.TempDir(), "out.tsv")
	first := parseReport(t, runRobust(t, stateArgs(dir, "-out", out)...).stdout)
	poison := robust.DefaultScript().Poison
	if len(first.DeadLetters) != 1 || first.DeadLetters[0].Value != poison {
		t.Fatalf("first run: dead letters %+v, want the poison %d", first.DeadLetters, poison)
	}
	path := filepath.Join(dir, bolt.FileName)
	before := fileHash(t, path)

	res := runRobust(t, dlArgs(dir, "list")...)
	if res.status != 0 || !strings.Contains(res.stdout, `#1  value 1500 from channel "values", quarantined by worker after 3 attempts`) {
		t.Errorf("list: status %d, stdout:\n%s", res.status, res.stdout)
	}
	letters, purged, limit := listed(t, dir)
	if len(letters) != 1 || letters[0].ID != 1 || letters[0].Value != poison || letters[0].Time.IsZero() ||
		purged != 0 || limit != steady.DefaultConfig().MaxDeadLetters {
		t.Errorf("list -report json: %+v, %d purged, limit %d", letters, purged, limit)
	}
	if fileHash(t, path) != before {
		t.Fatal("list changed the state file")
	}

	res = runRobust(t, dlArgs(dir, "replay", "1")...)
	if res.status != 0 || !strings.Contains(res.stdout, "replayed #1  value 1500") || !strings.Contains(res.stdout, "next run") {
		t.Fatalf("replay 1: status %d, stdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	if letters, _, _ := listed(t, dir); len(letters) != 0 {
		t.Errorf("after the replay, list shows %+v", letters)
	}

	res = runRobust(t, stateArgs(dir, "-out", out, "-faults", "none")...)
	r := parseReport(t, res.stdout)
	requirePassed(t, res, r)
	vs := outValues(t, out)
	if len(r.DeadLetters) != 0 || r.Logged != r.Generated || uint64(len(vs)) != r.Generated || vs[len(vs)-1] != poison {
		t.Errorf("after the replay: %d dead letters, %d logged of %d, the file ends with %d; want none, all, %d last",
			len(r.DeadLetters), r.Logged, r.Generated, vs[len(vs)-1], poison)
	}
	slices.Sort(vs)
	for i, v := range vs {
		if v != uint64(i) {
			t.Fatalf("the file's values, sorted, hold %d at %d: not each of [0, %d) once", v, i, r.Generated)
		}
	}
}

// TestDeadLettersPurge: purge deletes the letters, says so, and the next
// run's report accounts for the value as purged and passes.
func TestDeadLettersPurge(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.tsv")
	dir, _ := stateRan(t, "-out", out)
	res := runRobust(t, dlArgs(dir, "purge", "all", "-log", "warn")...)
	if res.status != 0 || !strings.Contains(res.stdout, "purged #1  value 1500") ||
		!strings.Contains(res.stderr, `dead letter 1 purged: message 1500 from channel "values"`) {
		t.Fatalf("purge all: status %d, stdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	}
	if letters, purged, _ := listed(t, dir); len(letters) != 0 || purged != 1 {
		t.Errorf("after the purge: %+v, %d purged; want none, 1", letters, purged)
	}
	if res := runRobust(t, dlArgs(dir, "purge", "all")...); res.status != 0 || !strings.Contains(res.stdout, "holds no dead letters") {
		t.Errorf("purge all with none: status %d, stdout %q", res.status, res.stdout)
	}

	res = runRobust(t, stateArgs(dir, "-out", out, "-beats", "300")...)
	r := parseReport(t, res.stdout)
	requirePassed(t, res, r)
	var purged struct {
		Purged uint64 `json:"dead_letters_purged"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &purged); err != nil || purged.Purged != 1 || len(r.DeadLetters) != 0 ||
		r.Logged != r.Generated-1 || slices.Contains(outValues(t, out), 1500) {
		t.Errorf("after the purge: %d purged (%v), %d dead letters, %d logged of %d; want 1, none, all but 1500",
			purged.Purged, err, len(r.DeadLetters), r.Logged, r.Generated)
	}
	if !strings.Contains(r.Checks[0].Detail, "purged (1: 1500)") {
		t.Errorf("the exactly-once check does not name the purged value: %s", r.Checks[0].Detail)
	}
}

// TestDeadLettersBadInput: a bad verb, ID or combination is a usage error
// (status 2), an ID the directory does not hold or a directory without
// state is status 1; each names what is wrong and changes nothing.
func TestDeadLettersBadInput(t *testing.T) {
	t.Parallel()
	dir, path := stateRan(t)
	before := fileHash(t, path)
	empty := filepath.Join(t.TempDir(), "empty")
	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{dlArgs(dir, "replay", "99"), 1, "dead letter not found: id 99 (" + dir + " holds dead letter 1)"},
		{dlArgs(dir, "purge", "99"), 1, "dead letter not found: id 99"},
		{[]string{"-dead-letters", "replay", "99", "-state", dir}, 1, "id 99"},
		{dlArgs(empty, "list"), 1, "holds no state"},
		{dlArgs(dir, "replay", "abc"), 2, `-dead-letters replay "abc": not a dead-letter ID`},
		{dlArgs(dir, "purge", "0"), 2, `-dead-letters purge "0": not a dead-letter ID`},
		{dlArgs(dir, "replay"), 2, "-dead-letters replay needs the ID of a dead letter, or all"},
		{dlArgs(dir, "list", "1"), 2, `unexpected argument "1"`},
		{dlArgs(dir, "purge", "1", "2"), 2, `unexpected argument "2"`},
		{dlArgs(dir, "frob"), 2, `invalid value "frob" for flag -dead-letters: must be one of list, replay, purge`},
		{[]string{"-dead-letters", "list"}, 2, "flag -dead-letters needs -state DIR"},
		{dlArgs(dir, "list", "-reset"), 2, "-reset has no use with it"},
		{dlArgs(dir, "purge", "all", "-out", filepath.Join(t.TempDir(), "out.tsv")), 2, "-out has no use with it"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if tc.status == 2 {
				t.Parallel() // it opens no file; the others take the state file's lock
			}
			res := runRobust(t, tc.args...)
			if res.status != tc.status || !strings.Contains(res.stderr, tc.want) || res.stdout != "" {
				t.Errorf("status %d, stdout %q, stderr:\n%s\nwant %d and %q", res.status, res.stdout, res.stderr, tc.status, tc.want)
			}
			if fileHash(t, path) != before {
				t.Fatal("the state file changed")
			}
		})
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("list on a directory without state created it: %v", err)
	}
}
