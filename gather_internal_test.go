package steady

import "testing"

// gatherRig is a channel of capacity 1024 (a batch of 64) with both ends
// bound, driven by hand: the test plays the producer by moving the tail.
func gatherRig(t *testing.T, capacity int) (*Channel[int], *Receiver[int]) {
	t.Helper()
	g := NewGraph(Config{})
	ch := NewChannel[int](g, "c", capacity)
	ch.Sender(g.Actor("p", func(*Actor) error { return nil }))
	rx := ch.Receiver(g.Actor("c", func(*Actor) error { return nil }))
	return ch, rx
}

// TestRefillGathersOnlyWhileStreaming walks refill through its cases: the
// first short batch is taken at once, a second one in a row waits (here
// one pause, since nobody publishes during it), a full batch and an
// unchanged tail never wait.
func TestRefillGathersOnlyWhileStreaming(t *testing.T) {
	ch, rx := gatherRig(t, 1024)
	if ch.batch != 64 {
		t.Fatalf("batch = %d, want 64", ch.batch)
	}
	step := func(name string, tail uint64, wantPauses uint64) {
		t.Helper()
		ch.tail.Store(tail)
		before := rx.pauses
		rx.refill()
		if got := rx.pauses - before; got != wantPauses {
			t.Errorf("%s: %d pauses, want %d", name, got, wantPauses)
		}
		if rx.tailCache != tail {
			t.Errorf("%s: tailCache = %d, want %d", name, rx.tailCache, tail)
		}
		rx.head = tail // the consumer takes everything it saw
	}
	step("nothing published", 0, 0)
	step("a lone short batch", 5, 0)
	step("a second short batch in a row", 8, 1)
	step("a third, after a pause that gathered nothing", 9, 1)
	step("nothing new since", 9, 0)
	step("a short batch after a quiet look", 12, 0)
	step("a full batch", 12+64, 0)
	step("a short batch after a full one", 12+64+3, 0)
}

// TestRefillSmallChannel: with a capacity of 4 the batch is one message,
// so a refill that finds anything new never waits.
func TestRefillSmallChannel(t *testing.T) {
	ch, rx := gatherRig(t, 4)
	for tail := uint64(1); tail <= 40; tail++ {
		ch.tail.Store(tail)
		rx.refill()
		rx.head = tail
	}
	if rx.pauses != 0 {
		t.Errorf("%d pauses on a channel whose batch is 1", rx.pauses)
	}
}
