package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/steady-go/steady/examples/robust"
)

// clean is the logger state of a run of 20 values of which 7 was
// dead-lettered.
func clean() (uint64, robust.LoggerState, letters) {
	ls := robust.LoggerState{Logged: 19, Next: 20, Gaps: []robust.Range{{From: 7, To: 8}}}
	ls.Counts = robust.CountBelow(20)
	ls.Counts[robust.Categorize(7)]--
	return 20, ls, letters{values: []uint64{7}, all: []uint64{7}}
}

func missingOf(gen uint64, ls robust.LoggerState) []robust.Range {
	m := append([]robust.Range(nil), ls.Gaps...)
	if ls.Next < gen {
		m = append(m, robust.Range{From: ls.Next, To: gen})
	}
	return m
}

// TestChecksFail: the continuity checks pass on a clean record and fail,
// saying why, on each kind of damage.
func TestChecksFail(t *testing.T) {
	gen, ls, l := clean()
	if c := exactlyOnce(gen, ls, missingOf(gen, ls), l); !c.Pass {
		t.Fatalf("clean record fails: %s", c.Detail)
	}
	if c := categories(gen, ls, missingOf(gen, ls)); !c.Pass {
		t.Fatalf("clean counts fail: %s", c.Detail)
	}
	for _, tc := range []struct {
		name   string
		damage func(gen *uint64, ls *robust.LoggerState, l *letters)
		want   string
	}{
		{"repeat", func(_ *uint64, ls *robust.LoggerState, _ *letters) { ls.Repeats, ls.Logged = 1, 20 }, "repeated"},
		{"lost", func(_ *uint64, ls *robust.LoggerState, _ *letters) {
			ls.Gaps = append(ls.Gaps, robust.Range{From: 12, To: 13})
			ls.Logged--
		}, "lost (neither logged nor dead-lettered): 12"},
		{"lost at the end", func(gen *uint64, _ *robust.LoggerState, _ *letters) { *gen = 22 }, "lost (neither logged nor dead-lettered): 20, 21"},
		{"dead-lettered and logged", func(_ *uint64, _ *robust.LoggerState, l *letters) {
			l.values, l.all = []uint64{3, 7}, []uint64{3, 7}
		}, "dead-lettered and also logged, or twice: 3"},
		{"beyond generated", func(gen *uint64, _ *robust.LoggerState, _ *letters) { *gen = 15 }, "beyond the 15 generated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen, ls, l := clean()
			tc.damage(&gen, &ls, &l)
			c := exactlyOnce(gen, ls, missingOf(gen, ls), l)
			if c.Pass || !strings.Contains(c.Detail, tc.want) {
				t.Errorf("pass %v, detail %q; want a failure saying %q", c.Pass, c.Detail, tc.want)
			}
		})
	}
	gen, ls, _ = clean()
	ls.Counts[robust.Fizz]++
	ls.Counts[robust.Buzz]--
	if c := categories(gen, ls, missingOf(gen, ls)); c.Pass {
		t.Errorf("wrong counts pass: %s", c.Detail)
	}
	gen, ls, _ = clean()
	ls.Miscategorized = 1
	if c := categories(gen, ls, missingOf(gen, ls)); c.Pass {
		t.Errorf("a miscategorized message passes: %s", c.Detail)
	}
}

// TestVerifyOutFails: the output check fails on each kind of damage to the
// file.
func TestVerifyOutFails(t *testing.T) {
	good := "0\tFizzBuzz\n1\tValue\n2\tValue\n4\tValue\n"
	dead := []uint64{3}
	for _, tc := range []struct {
		name, content string
		logged        uint64
		want          string // "" for a pass
	}{
		{"good", good, 4, ""},
		{"repeated line", good + "4\tValue\n", 5, "repeated or out of order"},
		{"wrong category", "0\tFizzBuzz\n1\tFizz\n2\tValue\n4\tValue\n", 4, "has category Fizz"},
		{"missing value", "0\tFizzBuzz\n2\tValue\n4\tValue\n", 3, "missing and not dead-lettered: 1"},
		{"dead letter logged", "0\tFizzBuzz\n1\tValue\n2\tValue\n3\tFizz\n4\tValue\n", 5, "dead-lettered and logged"},
		{"garbage", good + "xyz\n", 5, "is not"},
		{"short", "0\tFizzBuzz\n1\tValue\n", 2, "missing and not dead-lettered: 2, 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.tsv")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			pass, detail := verifyOut(path, 5, tc.logged, int64(len(tc.content)), dead, 0)
			if tc.want == "" && !pass || tc.want != "" && (pass || !strings.Contains(detail, tc.want)) {
				t.Errorf("pass %v, detail %q; want %q", pass, detail, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "out.tsv")
	if err := os.WriteFile(path, []byte(good+"garbage past the committed length"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pass, detail := verifyOut(path, 5, 4, int64(len(good)), dead, 0); pass || !strings.Contains(detail, "committed") {
		t.Errorf("a file longer than committed passes: %q", detail)
	}
}

// TestChecksCountPurges: a value missing without a dead letter passes only
// as one of exactly as many as were purged; a replayed dead letter logged
// late, into its gap, passes the output check.
func TestChecksCountPurges(t *testing.T) {
	for _, tc := range []struct {
		purged uint64
		want   string // "" for a pass
	}{
		{1, "or its dead letter purged (1: 12)"},
		{0, "lost (neither logged nor dead-lettered): 12"},
		{2, "1 values neither logged nor dead-lettered (12), but 2 purged"},
	} {
		gen, ls, l := clean()
		ls.Gaps = append(ls.Gaps, robust.Range{From: 12, To: 13})
		ls.Logged--
		l.purged = tc.purged
		c := exactlyOnce(gen, ls, missingOf(gen, ls), l)
		if c.Pass != (tc.purged == 1) || !strings.Contains(c.Detail, tc.want) {
			t.Errorf("%d purged: pass %v, detail %q; want %q", tc.purged, c.Pass, c.Detail, tc.want)
		}
	}

	inOrder := "0\tFizzBuzz\n1\tValue\n2\tValue\n4\tValue\n"
	for _, tc := range []struct {
		name, content string
		logged        uint64
		purged        uint64
		want          string // "" for a pass
	}{
		{"replayed, late", inOrder + "3\tFizz\n", 5, 0, ""},
		{"replayed twice", inOrder + "3\tFizz\n3\tFizz\n", 6, 0, "repeated or out of order"},
		{"purged", inOrder, 4, 1, ""},
		{"purged, not counted", inOrder, 4, 0, "missing and not dead-lettered: 3"},
		{"purged, counted twice", inOrder, 4, 2, "1 values missing and not dead-lettered (3), but 2 purged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.tsv")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			pass, detail := verifyOut(path, 5, tc.logged, int64(len(tc.content)), nil, tc.purged)
			if tc.want == "" && !pass || tc.want != "" && (pass || !strings.Contains(detail, tc.want)) {
				t.Errorf("pass %v, detail %q; want %q", pass, detail, tc.want)
			}
		})
	}
}
