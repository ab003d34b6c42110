package steady

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/steady-go/steady/observe"
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
	return a.waitAvailable(in, n, time.Time{})
}

// WaitAvailableUntil is [Actor.WaitAvailable] with a deadline: past it,
// it returns an error wrapping [context.DeadlineExceeded] and the actor
// takes what is there, if anything. It suits an actor that flushes after
// n messages or a time, whichever comes first:
//
//	flushAt := time.Now().Add(maxDelay)
//	for a.Running() {
//		err := a.WaitAvailableUntil(in, n, flushAt)
//		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
//			return err
//		}
//		// a step that takes up to n messages and flushes
//		flushAt = time.Now().Add(maxDelay)
//	}
//
// The zero deadline is none. Messages that are there win over a deadline
// that has passed.
func (a *Actor) WaitAvailableUntil(in Input, n int, deadline time.Time) error {
	return a.waitAvailable(in, n, deadline)
}

func (a *Actor) waitAvailable(in Input, n int, deadline time.Time) error {
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
	var timer *time.Timer // made when the wait first parks with a deadline
	defer func() { stopTimer(timer) }()
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
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return fmt.Errorf("steady: actor %q waited for %d messages on channel %q: %w", a.name, n, c.name, context.DeadlineExceeded)
		}
		in.release()
		if i < spinChecks {
			runtime.Gosched()
			continue
		}
		c.consumerWaiting.Store(true)
		if in.available(want) < want && !c.closed.Load() {
			timer = a.parkUntil(deadline, timer)
		}
		c.consumerWaiting.Store(false)
	}
}

// WaitAny waits until one of ins has a message the actor has not peeked,
// and returns the index in ins of the first that has one: list the inputs
// in the order they should be served. Inputs that are closed and empty are
// passed over; once all of them are, WaitAny returns [ErrClosed]. It
// returns [ErrStopped] once the shutdown timeout has passed. Every input
// must be the actor's own.
//
// An actor fed by two inputs (beats that pace it and the values it works
// on, say) waits with it for whichever has work, then takes what it finds
// in one step:
//
//	i, err := a.WaitAny(beats, values)
func (a *Actor) WaitAny(ins ...Input) (int, error) {
	if len(ins) == 0 {
		return -1, misuseErr("actor %q waited on no channel", a.name)
	}
	for _, in := range ins {
		if in.owner() != a {
			return -1, misuseErr("actor %q waited on channel %q, whose consumer is %s", a.name, in.core().name, actorName(in.owner()))
		}
	}
	for i := 0; ; i++ {
		open := false
		for j, in := range ins {
			if in.available(1) > 0 {
				return j, nil
			}
			// closed before available: a closed channel's final tail is
			// visible after it.
			if !in.core().closed.Load() {
				open = true
			} else if in.available(1) > 0 {
				return j, nil
			}
		}
		if !open {
			return -1, fmt.Errorf("%w: all %d inputs", ErrClosed, len(ins))
		}
		if a.g.hardStopped.Load() {
			return -1, ErrStopped
		}
		for _, in := range ins {
			in.release()
		}
		if i < spinChecks {
			runtime.Gosched()
			continue
		}
		for _, in := range ins {
			in.core().consumerWaiting.Store(true)
		}
		// Park unless a message came or the last open input closed
		// since the checks above; a commit or a close after this wakes
		// the actor.
		idle, open := true, false
		for _, in := range ins {
			if in.available(1) > 0 {
				idle = false
			}
			open = open || !in.core().closed.Load()
		}
		if idle && open {
			a.park()
		}
		for _, in := range ins {
			in.core().consumerWaiting.Store(false)
		}
	}
}

// WaitVacant waits until out has room for n more messages, which a step
// may then send. It returns nil then, and [ErrStopped] when no room will
// come or the actor should stop instead: it is a source (no inputs), the
// graph is shutting down and [Actor.Running] is false; or the channel's
// consumer has stopped for good, during the shutdown or after the actor's
// inputs ended; or the shutdown timeout has passed. An actor whose inputs
// have all ended (Running is false) still gets room while the consumer
// drains, for what it sends after its last message (a final flush).
// n must be between 1 and the capacity.
//
// In an actor without inputs (a source) it first waits while the graph
// holds its sources for memory pressure (see [Config.MemoryLimit]).
func (a *Actor) WaitVacant(out Output, n int) error {
	if a.g.memHeld.Load() && len(a.inputs) == 0 {
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
		if a.noRoomComing(c) {
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

// noRoomComing reports whether WaitVacant on c should return ErrStopped
// rather than wait: see its doc.
func (a *Actor) noRoomComing(c *chanCore) bool {
	g := a.g
	if g.hardStopped.Load() {
		return true
	}
	running := a.Running()
	if len(a.inputs) == 0 && !running {
		return true
	}
	return c.consumer.stoppedForGood() && (g.shuttingDown.Load() || !running)
}

// Sleep waits for d, or less if the actor should stop: it returns
// [ErrStopped] once [Actor.Running] is false (for a source, when the graph
// shuts down; for an actor with inputs, when they have all ended, shutdown
// or not, so that a periodic consumer finishes with its input). Work after
// an actor's last message that must wait before a retry should fail with
// a [Transient] error instead, and be retried under its backoff.
// Each Sleep starts from when it is called, so a loop of work and Sleep
// falls behind a schedule by the time the work takes; [Actor.SleepUntil]
// keeps one.
func (a *Actor) Sleep(d time.Duration) error {
	return a.SleepUntil(time.Now().Add(d))
}

// SleepUntil waits until t, or less if the actor should stop, as
// [Actor.Sleep] does; a time already past returns at once. A periodic
// actor that computes each time from the last keeps its period without
// drift, whatever its work costs:
//
//	next := time.Now()
//	for a.Running() {
//		next = next.Add(period)
//		if err := a.SleepUntil(next); err != nil {
//			return err
//		}
//		// the periodic work
//	}
//
// An actor that falls more than a period behind catches up with ticks
// that return at once; one that would rather skip them moves next past
// time.Now() first.
func (a *Actor) SleepUntil(t time.Time) error {
	var timer *time.Timer
	defer func() { stopTimer(timer) }()
	for {
		if !a.Running() {
			return ErrStopped
		}
		if !time.Now().Before(t) {
			return nil
		}
		timer = a.parkUntil(t, timer)
	}
}

// park blocks until a wake token arrives or the graph stops.
func (a *Actor) park() {
	select {
	case <-a.wakeCh:
	case <-a.g.hardCtx.Done():
	}
}

// parkUntil is park that also returns at deadline, unless it is zero. It
// makes the timer on its first use and returns it, for the wait's next
// park and for stopTimer. Each park sets the timer again from the time
// left: a deadline without a monotonic reading (from Truncate, say) is
// still ahead after the timer fired if the wall clock stepped back, and a
// timer that already fired would never wake the next park.
func (a *Actor) parkUntil(deadline time.Time, t *time.Timer) *time.Timer {
	if deadline.IsZero() {
		a.park()
		return t
	}
	if t == nil {
		t = time.NewTimer(time.Until(deadline))
	} else {
		t.Reset(time.Until(deadline))
	}
	select {
	case <-a.wakeCh:
	case <-a.g.hardCtx.Done():
	case <-t.C:
	}
	return t
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

func (a *Actor) stoppedForGood() bool {
	st := a.Status()
	return st == observe.StatusStopped || st == observe.StatusDegraded
}

func actorName(a *Actor) string {
	if a == nil {
		return "unbound"
	}
	return fmt.Sprintf("%q", a.name)
}
