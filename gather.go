package steady

// The gathering: a consumer that keeps pace with a streaming producer lets
// a batch of messages gather before it takes them, so that the cache lines
// of the ring's tail and slots cross between the two cores once per batch
// rather than once per message. It is a heuristic of the receiving end
// alone: refill decides whether to gather, gather pauses and looks at the
// producer's tail, and gatherState is what they keep between waits. A lone
// message, one that finds the consumer behind, and a replayed dead letter
// are taken at once. docs/decisions.md ("The channel is a single-producer
// single-consumer ring") has the reasoning, BENCHMARKS.md the figures,
// gather_internal_test.go the tests.

// gatherState is what the gathering keeps in a receiving end between its
// refills.
type gatherState struct {
	gathering  bool                 // the last refill found a short batch
	perPause   uint64               // the producer's rate, messages per pause, when it last paused
	quiet      uint64               // messages to take without gathering after fruitless pauses
	quietUntil uint64               // the position until which quiet holds
	pauses     uint64               // pauses taken, ever; read by tests only
	looks      uint64               // gather's reloads of the tail, ever; tests only
	pauseFn    func(pauses *uint64) // nil: pause; tests put a producer here
}

// The gathering's tuning, each number's only statement: docs, godoc and
// BENCHMARKS.md refer to these names.
//
// gatherSpins is the length of one pause, in iterations of an empty loop:
// about 0.3 µs on the machine of BENCHMARKS.md (it scales with the clock),
// in which a producer that streams at 20 ns a message publishes a dozen
// or more, and which is short against parking and waking a goroutine
// (microseconds).
//
// gatherPauses is the most pauses one wait takes: 8 let a full batch
// (maxBatch) gather from a producer at 35 ns a message, about the slowest
// streaming rate in BENCHMARKS.md, and bound the pauses of one wait to
// about 2.4 µs.
//
// maxQuiet caps how many messages are taken without gathering after a
// pause that gathered nothing: at 1,024, a consumer fed one message per
// look pauses once per 1,025 messages, under 0.3 ns a message.
const (
	gatherSpins  = 1000
	gatherPauses = 8
	maxQuiet     = 1024
)

// pause busy-waits for gatherSpins iterations of an empty loop, touching
// no memory (so leaving alone the cache lines shared with other cores),
// then counts itself in *pauses. It is kept out of line so that
// BenchmarkGatherPause times the same code gather runs.
//
//go:noinline
func pause(pauses *uint64) {
	for i := 0; i < gatherSpins; i++ {
	}
	*pauses++
}

// refill reloads the producer's tail for a wait whose cached view shows
// fewer messages than it wants. A consumer that keeps pace with its
// producer would otherwise take every message the moment it is published,
// and each message would move the cache lines of the tail and of its slot
// from one core to the other; on machines whose cores sit far apart that
// costs more than the step itself. So when the producer is streaming (this
// reload and the last both found new messages, but fewer than a batch)
// refill lets a batch gather first; see gather. A lone message, one that
// finds the consumer behind, and a replayed dead letter are taken at once.
func (rx *recvEnd) refill() {
	c := rx.c
	pos := rx.head + rx.peeked
	prev, t := rx.tailCache, c.tail.Load()
	rx.tailCache = t
	if t == prev || t-pos >= c.batch {
		rx.gathering = false
		return
	}
	if !rx.gathering || pos < rx.quietUntil || c.replayN.Load() > int64(rx.peekedReplay) {
		rx.gathering = true
		return
	}
	rx.tailCache = rx.gather(pos, prev, t)
}

// gather pauses without touching shared memory and looks at the tail
// again, until a batch has gathered past pos, the producer published
// nothing during the pauses, or gatherPauses have passed. It pauses as
// long as the producer's last rate says the batch needs (once when the
// rate is unknown), because every look pulls the tail's line away from the
// producer, whose next commit must fetch it back. When the first pauses
// gather nothing, the messages were coming one per look from a producer
// that is not streaming (one on the same processor, or one request per
// reply): the consumer takes the next messages without gathering, twice
// as many each time it happens again, up to maxQuiet. It returns the tail
// last seen.
func (rx *recvEnd) gather(pos, prev, t uint64) uint64 {
	c := rx.c
	for budget := gatherPauses; budget > 0 && t != prev && t-pos < c.batch; {
		k := 1
		if rx.perPause > 0 {
			k = int(min(uint64(budget), (c.batch-(t-pos)+rx.perPause-1)/rx.perPause))
		}
		for range k {
			if rx.pauseFn != nil {
				rx.pauseFn(&rx.pauses)
			} else {
				pause(&rx.pauses)
			}
		}
		first := budget == gatherPauses
		budget -= k
		prev, t = t, c.tail.Load()
		rx.looks++
		rx.perPause = (t - prev) / uint64(k)
		switch {
		case first && t == prev:
			rx.quiet = min(max(1, 2*rx.quiet), maxQuiet)
			rx.quietUntil = t + rx.quiet
		case first:
			rx.quiet = 0
		}
	}
	return t
}
