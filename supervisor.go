package steady

import (
	"errors"
	"fmt"
	"time"

	"github.com/steady-go/steady/observe"
)

// supervise is the actor runner: it runs the actor's function, and after a
// failure (runOnce has rolled back any step it left open) records the
// failure, quarantines a poison message, applies the restart policy and runs
// the function again. It is one of the two places that start goroutines
// (Graph.Run starts it; the committer is the other), and the one place that
// recovers an actor's panics. The framework's other recovers each guard a
// call into code it does not own and would otherwise crash the process
// from a goroutine no actor runs on: a store (callStore), a codec encoding
// a dead letter (encodeLetter), an event hook (Graph.emit), a committed
// step's OnDurable function (Graph.runOnDurable).
func (g *Graph) supervise(a *Actor) {
	stopped := false
	stop := func(st observe.ActorStatus, err error) {
		stopped = true
		g.stopActor(a, st, err)
	}
	// giveUp stops the actor for good, degraded, because of last, and
	// shuts the graph down if its policy says so.
	giveUp := func(at time.Time, last error) {
		gaveUp := &GaveUpError{Actor: a.name, Restarts: a.Restarts(), Window: a.policy.Window, Last: last}
		g.emit(observe.Event{Kind: observe.EventGaveUp, Time: at, Actor: a.name, Restarts: a.Restarts(), Err: gaveUp})
		stop(observe.StatusDegraded, gaveUp)
		if a.policy.OnLimit == StopGraph {
			g.Shutdown(gaveUp.Error())
		}
	}
	defer func() {
		switch {
		case stopped:
		case a.refused != nil:
			// Step ended the run with runtime.Goexit: the actor carried
			// on after Step refused to run for a full dead-letter store.
			giveUp(time.Now(), a.refused)
		default:
			// The actor called runtime.Goexit (t.FailNow does): its
			// goroutine is ending and cannot run it again.
			stop(observe.StatusDegraded, &GaveUpError{Actor: a.name, Restarts: a.Restarts(), Window: a.policy.Window, Last: errGoexit})
		}
		g.wg.Done()
	}()
	now := time.Now()
	a.stats.mu.Lock()
	a.stats.started = now
	a.stats.mu.Unlock()
	a.lastStart = now
	a.status.Store(int32(observe.StatusRunning))

	for {
		a.announceResume()
		err, panicked := a.runOnce()
		if a.refused != nil {
			// A step found the dead-letter store full and refused to
			// run (see Actor.Step): whatever the actor returned after
			// that, its poison message is still at the head of its
			// input, and only an operator can make room.
			giveUp(time.Now(), a.refused)
			return
		}
		switch {
		case err == nil, errors.Is(err, ErrClosed), errors.Is(err, ErrStopped):
			stop(observe.StatusStopped, nil)
			return
		case errors.Is(err, ErrStopGraph):
			if err != ErrStopGraph {
				// A cause came with the request: Run reports it.
				g.errMu.Lock()
				g.runErrs = append(g.runErrs, fmt.Errorf("actor %q stopped the graph: %w", a.name, err))
				g.errMu.Unlock()
			}
			stop(observe.StatusStopped, nil)
			g.Shutdown(fmt.Sprintf("actor %q: %v", a.name, err))
			return
		}
		transient := errors.Is(err, ErrTransient)
		failedAt := time.Now()
		a.failed(err, panicked, failedAt)
		held := a.hold.Swap(nil) != nil
		kind := observe.EventFailed
		if panicked {
			kind = observe.EventPanicked
		}
		g.emit(observe.Event{Kind: kind, Time: failedAt, Actor: a.name, Restarts: a.Restarts(), Err: err})
		g.noteFailure(a, failedAt)
		if !transient {
			if full := a.quarantine(err); full != nil {
				giveUp(failedAt, full)
				return
			}
		}
		a.commitHistory()

		if g.hardStopped.Load() {
			stop(observe.StatusStopped, nil)
			return
		}
		if !transient && !a.limit.allow(&a.policy, failedAt) {
			giveUp(failedAt, err)
			return
		}
		if failedAt.Sub(a.lastStart) >= a.policy.ResetAfter {
			a.streak = 0
		}
		a.streak++
		delay := a.policy.delay(a.streak, a.rng.Float64())
		g.emit(observe.Event{Kind: observe.EventRestarting, Time: failedAt, Actor: a.name, Restarts: a.Restarts(), Delay: delay})
		if !a.backoff(delay, held) {
			stop(observe.StatusStopped, nil)
			return
		}
		a.restarts.Add(1)
		a.lastStart = time.Now()
		a.up(a.lastStart)
		a.status.Store(int32(observe.StatusRunning))
	}
}

// restartable reports whether a failed actor runs again: unless the graph
// stopped for good, or it is shutting down and the actor is a source (no
// inputs) that did not hold the shutdown when it failed (held). Unlike
// Running, an actor whose inputs have all ended does run again, and so
// does a source that failed holding the shutdown: what it was finishing (a
// final flush, say) failed, and only a new run can retry it. Such a run
// finds Running false (or holds again) and usually returns after that
// work. The policy applies as to any failure: a transient one is retried
// until it succeeds or the graph stops for good.
func (a *Actor) restartable(held bool) bool {
	g := a.g
	if g.hardStopped.Load() {
		return false
	}
	return len(a.inputs) > 0 || held || !g.shuttingDown.Load()
}

// errGoexit is the failure of an actor that ended its goroutine with
// runtime.Goexit.
var errGoexit = errors.New("the actor called runtime.Goexit")

// runOnce runs the actor function once and turns a panic into a
// *PanicError. Recovering here, and only here, is what isolates actors: a
// panic at any line of an actor, inside a step or not, ends this run of that
// actor alone. A step the panic left open is rolled back first, so nothing
// it did becomes visible. Config.PassThroughPanics turns this off for
// debugging.
func (a *Actor) runOnce() (err error, panicked bool) {
	if !a.g.cfg.PassThroughPanics {
		defer func() {
			if r := recover(); r != nil {
				err, panicked = newPanicError(a.name, r), true
				if a.step.open {
					a.abort(nil)
				}
			}
		}()
	}
	return a.fn(a), false
}

// backoff waits d before a restart. It returns false when the actor should
// not run again (see restartable; held: it held the shutdown when it
// failed).
func (a *Actor) backoff(d time.Duration, held bool) bool {
	a.status.Store(int32(observe.StatusBackingOff))
	g := a.g
	if d <= 0 {
		return a.restartable(held)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return a.restartable(held)
		case <-a.wakeCh:
			if !a.restartable(held) {
				return false
			}
		case <-g.hardCtx.Done():
			return false
		}
	}
}

// quarantine moves the suspect channel's head message to the dead-letter
// store once it has failed PoisonAfter attempts. failure is what the last
// attempt failed with. When the store is full it leaves the message where
// it is, with its attempts, and returns an error wrapping
// ErrDeadLetterStoreFull: the actor must give up, since it would fail on
// that message again. A replayed letter quarantined again takes back its
// own place, so it is never refused.
func (a *Actor) quarantine(failure error) error {
	c := a.suspect
	if c == nil || a.policy.PoisonAfter <= 0 || c.attempts < a.policy.PoisonAfter {
		return nil
	}
	if failure == nil {
		failure = errors.New("step failed (panic recovered by the actor)")
	}
	attempts := c.attempts
	s := &a.g.deadLetters
	s.mu.Lock()
	fromReplay := c.onReplay && c.replayN.Load() > 0 // as takeHead decides
	if n := s.heldLocked(); !fromReplay && n >= s.max {
		s.mu.Unlock()
		unit := "letters"
		if n == 1 {
			unit = "letter"
		}
		return fmt.Errorf("%w (%d %s): the message at the head of channel %q failed %d attempts and stays there; "+
			"replay or purge dead letters, or raise Config.MaxDeadLetters; last failure: %w",
			ErrDeadLetterStoreFull, n, unit, c.name, attempts, failure)
	}
	a.suspect = nil
	v, replaced, ok := c.in.takeHead()
	if !ok {
		s.mu.Unlock()
		return nil
	}
	d := observe.DeadLetter{
		Actor:    a.name,
		Channel:  c.name,
		Value:    v,
		Err:      failure,
		Attempts: attempts,
		Time:     time.Now(),
	}
	var p *PanicError
	if errors.As(failure, &p) {
		d.Stack = p.Stack()
	}
	stored := s.addLocked(d, replaced != 0)
	if a.committer != nil {
		// Under s.mu: see deadLetterStore.
		a.persistQuarantine(c, replaced, stored)
	}
	s.mu.Unlock()
	a.stats.deadLetters.Add(1)
	a.historyChanged()
	a.g.emit(observe.Event{Kind: observe.EventDeadLettered, Time: d.Time, Actor: a.name, Restarts: a.Restarts(), DeadLetter: &stored})
	return nil
}
