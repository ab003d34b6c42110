package steady

import (
	"log/slog"
	"testing"
)

// gatherRig is a channel of the given capacity with both ends bound,
// driven by hand: the test plays the producer by moving the tail.
func gatherRig(t *testing.T, capacity int) (*Channel[int], *Receiver[int]) {
	t.Helper()
	g := NewGraph(Config{Logger: slog.New(slog.DiscardHandler)})
	ch := NewChannel[int](g, "c", capacity)
	ch.Sender(g.Actor("p", func(*Actor) error { return nil }))
	rx := ch.Receiver(g.Actor("c", func(*Actor) error { return nil }))
	return ch, rx
}

// look publishes up to tail, has the consumer refill and take everything
// it saw, and returns how many pauses the refill took.
func look(t *testing.T, ch *Channel[int], rx *Receiver[int], tail uint64) uint64 {
	t.Helper()
	ch.tail.Store(tail)
	before := rx.pauses
	rx.refill()
	rx.head = rx.tailCache
	return rx.pauses - before
}

// TestRefillGathersOnlyWhileStreaming walks refill through its cases with
// one message published per look and nobody publishing during its pauses:
// the first short batch is taken at once, the second pauses once and finds
// nothing more, and from then on the consumer takes 1, 2, 4 … messages
// without gathering; a quiet look, a full batch, the short batch after it
// and a pending replayed letter never pause.
func TestRefillGathersOnlyWhileStreaming(t *testing.T) {
	ch, rx := gatherRig(t, 1024)
	if ch.batch != 64 {
		t.Fatalf("batch = %d, want 64", ch.batch)
	}
	tail := uint64(0)
	for i, want := range []uint64{
		0,       // nothing published
		0,       // a lone short batch
		1,       // a second in a row: one fruitless pause
		0,       // skipped once
		1,       // fruitless again
		0, 0, 1, // skipped twice
		0, 0, 0, 0, 1, // four times
	} {
		if i > 0 {
			tail++
		}
		if got := look(t, ch, rx, tail); got != want {
			t.Errorf("look %d: %d pauses, want %d", i, got, want)
		}
	}
	if got := look(t, ch, rx, tail); got != 0 {
		t.Errorf("a look that finds nothing new paused %d times", got)
	}
	rx.quietUntil = 0
	rx.gathering = true
	tail += 64
	if got := look(t, ch, rx, tail); got != 0 {
		t.Errorf("a full batch paused %d times", got)
	}
	tail += 3
	if got := look(t, ch, rx, tail); got != 0 {
		t.Errorf("a short batch after a full one paused %d times", got)
	}
	rx.quietUntil = 0
	rx.gathering = true
	ch.replayN.Store(1)
	tail += 3
	if got := look(t, ch, rx, tail); got != 0 {
		t.Errorf("a short batch with a replayed letter waiting paused %d times", got)
	}
}

// TestRefillLearnsTheRate: with a producer that publishes r messages per
// pause, refill learns r, pauses as long as a batch needs at that rate,
// stops once the batch is there, and never pauses more than gatherPauses.
func TestRefillLearnsTheRate(t *testing.T) {
	ch, rx := gatherRig(t, 1024)
	var r uint64
	rx.pauseFn = func(pauses *uint64) {
		*pauses++
		ch.tail.Add(r)
	}
	r = 10
	look(t, ch, rx, 4) // a first short batch: taken at once
	// The second: one pause at an unknown rate brings 10, which puts the
	// batch 50 short: 5 pauses more, then a second look.
	if got := look(t, ch, rx, 8); got != 6 {
		t.Errorf("%d pauses at 10 a pause, want 1 + 5", got)
	}
	if rx.looks != 2 {
		t.Errorf("%d looks at the tail while gathering, want 2", rx.looks)
	}
	if rx.perPause != 10 {
		t.Errorf("learnt %d a pause, want 10", rx.perPause)
	}
	if got := rx.tailCache - 4; got != 64 {
		t.Errorf("gathered %d, want a batch of 64", got)
	}
	// At the known rate: 61 short, 7 pauses, then one look finds the
	// batch there.
	pos := rx.head
	if got := look(t, ch, rx, pos+3); got != 7 {
		t.Errorf("%d pauses at a known rate, want 7", got)
	}
	if rx.looks != 3 {
		t.Errorf("%d looks in all, want one more", rx.looks)
	}
	if rx.tailCache-pos < 64 {
		t.Errorf("stopped with %d gathered, short of a batch", rx.tailCache-pos)
	}
	// A producer slowed to 1 a pause: the budget caps the wait.
	r = 1
	pos = rx.head
	if got := look(t, ch, rx, pos+3); got != gatherPauses {
		t.Errorf("%d pauses for a slow producer, want the budget of %d", got, gatherPauses)
	}
	if got := rx.tailCache - pos; got != 3+gatherPauses {
		t.Errorf("gathered %d, want %d", got, 3+gatherPauses)
	}
}

// TestRefillOneGoroutine: a producer and a consumer on one goroutine, one
// message per step, as two actors sharing a processor would run. Nothing
// can be published during a pause, so pausing would only cost: after the
// first fruitless pauses the consumer all but stops gathering.
func TestRefillOneGoroutine(t *testing.T) {
	sp := newStepPair()
	const n = 100_000
	before := consumed
	for i := range n {
		producerStep(sp.p, sp.tx, uint64(i))
		consumerStep(sp.c, sp.rx)
	}
	sp.g.hardStop()
	if sum, want := consumed-before, uint64(n)*(n-1)/2; sum != want {
		t.Errorf("sum %d, want %d", sum, want)
	}
	// 11 pauses while the quiet stretch doubles to the cap (about 2,000
	// messages), then one per 1,025: 107 in all, the figure the docs give.
	if got := sp.rx.pauses; got != 107 {
		t.Errorf("%d pauses for %d messages, want 107", got, n)
	}
}

// TestRefillSmallChannel: with a capacity of 4 the batch is one message,
// so a refill that finds anything new never waits.
func TestRefillSmallChannel(t *testing.T) {
	ch, rx := gatherRig(t, 4)
	for tail := uint64(1); tail <= 40; tail++ {
		look(t, ch, rx, tail)
	}
	if rx.pauses != 0 {
		t.Errorf("%d pauses on a channel whose batch is 1", rx.pauses)
	}
}
