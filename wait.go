package steady

import (
	"fmt"
	"runtime"
	"time"
)

// spinChecks is how many times a wait re-checks its condition, yielding the
// processor in between, before it parks the goroutine. On a busy pipeline the
// other end usually commits within that time, and a yield costs far less
// than a park and a wake-up (about a microsecond each).
const spinChecks = 32

// WaitAvailable waits until in holds at least n messages the actor has not
// peeked. It returns nil then, and also when in is closed with fewer than n
// but at least one left (the end of the stream: take what is there). It
// returns [ErrClosed] when in is closed and empty, and [ErrStopped] once the
// shutdown timeout has passed.
//
// The wait wakes when the producer commits or closes the channel, or the
// graph stops; not for a shutdown request, since a consumer drains its
// inputs until they are closed. While the producer streams, it may return
// a little after n messages arrived (a few pauses of a fraction of a
// microsecond, and a look at the producer's index after each run of
// them), having let more gather; see [Channel]. n must be between 1 and
// the capacity.
func (a *Actor) WaitAvailable(in Input, n int) error {
	if n > 0 && in.ready(a, uint64(n)) {
		return nil
	}
	c := in.core()
	if in.owner() != a {
		return misuseErr("actor %q waited on channel %q, whose consumer is %s", a.name, c.name, actorName(in.owner()))
	}
	if n < 1 || uint64(n) > c.capacity {
		return misuseErr("actor %q waited for %d messages on channel %q of capacity %d", a.name, n, c.name, c.capacity)
	}
	want := uint64(n)
	for i := 0; ; i++ {
		if in.available(want) >= want {
			return nil
		}
		if c.closed.Load() {
			if in.available(1) > 0 {
				return nil
			}
			return fmt.Errorf("%w: %q", ErrClosed, c.name)
		}
		if a.g.hardStopped.Load() {
			return ErrStopped
		}
		in.release()
		if i < spinChecks {
			runtime.Gosched()
			continue
		}
		c.consumerWaiting.Store(true)
		if in.available(want) < want && !c.closed.Load() {
			a.park()
		}
		c.consumerWaiting.Store(false)
	}
}

// WaitVacant waits until out has room for n more messages, which a step
// may then send. It returns nil then, and [ErrStopped] when the actor should
// stop instead: the graph is shutting down and [Actor.Running] is false, or
// the channel's consumer has stopped for good during the shutdown, or the
// shutdown timeout has passed. n must be between 1 and the capacity.
//
// In an actor without inputs (a source) it first waits while the graph
// holds its sources for memory pressure (see [Config.MemoryLimit]).
func (a *Actor) WaitVacant(out Output, n int) error {
	if a.g.memHeld.Load() {
		a.holdForMemory()
		if !a.Running() { // the hold ended with a shutdown
			return ErrStopped
		}
	}
	if n > 0 && out.ready(a, uint64(n)) {
		return nil
	}
	c := out.core()
	if out.owner() != a {
		return misuseErr("actor %q waited on channel %q, whose producer is %s", a.name, c.name, actorName(out.owner()))
	}
	if n < 1 || uint64(n) > c.capacity {
		return misuseErr("actor %q waited for %d vacant slots on channel %q of capacity %d", a.name, n, c.name, c.capacity)
	}
	want := uint64(n)
	for i := 0; ; i++ {
		if out.vacant(want) >= want {
			return nil
		}
		if !a.Running() || (a.g.shuttingDown.Load() && c.consumer.stoppedForGood()) {
			return ErrStopped
		}
		if i < spinChecks {
			runtime.Gosched()
			continue
		}
		c.producerWaiting.Store(true)
		if out.vacant(want) < want {
			a.park()
		}
		c.producerWaiting.Store(false)
	}
}

// Sleep waits for d, or less if the actor should stop: it returns
// [ErrStopped] when the graph shuts down and [Actor.Running] turns false.
func (a *Actor) Sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		if !a.Running() {
			return ErrStopped
		}
		select {
		case <-t.C:
			return nil
		case <-a.wakeCh:
		case <-a.g.hardCtx.Done():
		}
	}
}

// park blocks until a wake token arrives or the graph stops.
func (a *Actor) park() {
	select {
	case <-a.wakeCh:
	case <-a.g.hardCtx.Done():
	}
}

func (a *Actor) stoppedForGood() bool {
	st := a.Status()
	return st == StatusStopped || st == StatusDegraded
}

func actorName(a *Actor) string {
	if a == nil {
		return "unbound"
	}
	return fmt.Sprintf("%q", a.name)
}
