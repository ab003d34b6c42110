package telemetry

import (
	"errors"
	"testing"

	"github.com/steady-go/steady/observe"
)

// TestAPISnapshotCapsDeadLetters: a store of thousands of dead letters
// sends the newest maxLetters and the count, not all of them on every poll.
func TestAPISnapshotCapsDeadLetters(t *testing.T) {
	var s observe.Snapshot
	for id := uint64(1); id <= 250; id++ {
		s.DeadLetters = append(s.DeadLetters, observe.DeadLetter{ID: id, Channel: "c", Value: id, Err: errors.New("poison")})
	}
	out := newAPISnapshot(s, NewRecorder(0))
	if len(out.DeadLetters) != maxLetters || out.DeadLettersNow != 250 {
		t.Fatalf("%d letters listed, %d in the store; want %d and 250", len(out.DeadLetters), out.DeadLettersNow, maxLetters)
	}
	if first, last := out.DeadLetters[0].ID, out.DeadLetters[maxLetters-1].ID; first != 151 || last != 250 {
		t.Errorf("listed IDs %d..%d, want the newest, 151..250", first, last)
	}
}
