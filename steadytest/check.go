package steadytest

import (
	"fmt"
	"strings"
	"testing"
)

// ExactlyOnce checks that got holds every value of want exactly once, in
// the same order, and nothing else. It reports the first few differences:
// missing values, duplicates, extras and the first place the order differs.
func ExactlyOnce[T comparable](t testing.TB, got, want []T) bool {
	t.Helper()
	if problems := exactlyOnce(got, want); len(problems) > 0 {
		t.Errorf("steadytest: output is not exactly once (%d messages, want %d):\n\t%s",
			len(got), len(want), strings.Join(problems, "\n\t"))
		return false
	}
	return true
}

// maxProblems bounds the report: the first few differences tell the story.
const maxProblems = 10

func exactlyOnce[T comparable](got, want []T) []string {
	var problems []string
	add := func(format string, args ...any) {
		if len(problems) < maxProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	wantCount := map[T]int{}
	for _, v := range want {
		wantCount[v]++
	}
	gotCount := map[T]int{}
	for _, v := range got {
		gotCount[v]++
	}
	for _, v := range want {
		switch n := gotCount[v]; {
		case n == 0:
			add("missing %v", v)
		case n > wantCount[v]:
			add("%v arrived %d times", v, n)
		}
		gotCount[v] = wantCount[v] // report each value once
	}
	for _, v := range got {
		if wantCount[v] == 0 {
			add("unexpected %v", v)
			wantCount[v] = -1
		}
	}
	if len(problems) == 0 {
		for i := range want {
			if got[i] != want[i] {
				add("out of order at %d: got %v, want %v", i, got[i], want[i])
				break
			}
		}
	}
	return problems
}
