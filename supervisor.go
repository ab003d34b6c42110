package steady

import (
	"errors"
	"fmt"
	"time"
)

// supervise is the actor runner: it runs the actor's function, and after a
// failure (runOnce has rolled back any step it left open) records the
// failure, quarantines a poison message, applies the restart policy and runs
// the function again. It is one of the two places that start goroutines
// (Graph.Run starts it), and the only place that recovers panics.
func (g *Graph) supervise(a *Actor) {
	stopped := false
	stop := func(st ActorStatus, err error) {
		stopped = true
		g.stopActor(a, st, err)
	}
	defer func() {
		if !stopped {
			// The actor called runtime.Goexit (t.FailNow does): its
			// goroutine is ending and cannot run it again.
			stop(StatusDegraded, &GaveUpError{Actor: a.name, Restarts: a.Restarts(), Window: a.policy.Window, Last: errGoexit})
		}
		g.wg.Done()
	}()
	now := time.Now()
	a.stats.mu.Lock()
	a.stats.started = now
	a.stats.mu.Unlock()
	a.lastStart = now
	a.status.Store(int32(StatusRunning))

	for {
		err, panicked := a.runOnce()
		switch {
		case err == nil, errors.Is(err, ErrFinished), errors.Is(err, ErrClosed), errors.Is(err, ErrStopped):
			stop(StatusStopped, nil)
			return
		case errors.Is(err, ErrStopGraph):
			if err != ErrStopGraph {
				// A cause came with the request: Run reports it.
				g.errMu.Lock()
				g.runErrs = append(g.runErrs, fmt.Errorf("actor %q stopped the graph: %w", a.name, err))
				g.errMu.Unlock()
			}
			stop(StatusStopped, nil)
			g.Shutdown(fmt.Sprintf("actor %q: %v", a.name, err))
			return
		}
		transient := errors.Is(err, ErrTransient)
		failedAt := time.Now()
		a.failed(err, panicked, failedAt)
		a.hold.Store(nil)
		kind := EventFailed
		if panicked {
			kind = EventPanicked
		}
		g.emit(Event{Kind: kind, Time: failedAt, Actor: a.name, Restarts: a.Restarts(), Err: err})
		g.noteFailure(a, failedAt)
		if !transient {
			a.quarantine(err)
		}

		if g.hardStopped.Load() {
			stop(StatusStopped, nil)
			return
		}
		if !transient && !a.limit.allow(&a.policy, failedAt) {
			gaveUp := &GaveUpError{Actor: a.name, Restarts: a.Restarts(), Window: a.policy.Window, Last: err}
			g.emit(Event{Kind: EventGaveUp, Time: failedAt, Actor: a.name, Restarts: a.Restarts(), Err: gaveUp})
			stop(StatusDegraded, gaveUp)
			if a.policy.OnLimit == StopGraph {
				g.Shutdown(gaveUp.Error())
			}
			return
		}
		if failedAt.Sub(a.lastStart) >= a.policy.ResetAfter {
			a.streak = 0
		}
		a.streak++
		delay := a.policy.delay(a.streak, a.rng.Float64())
		g.emit(Event{Kind: EventRestarting, Time: failedAt, Actor: a.name, Restarts: a.Restarts(), Delay: delay})
		if !a.backoff(delay) {
			stop(StatusStopped, nil)
			return
		}
		a.restarts.Add(1)
		a.lastStart = time.Now()
		a.up(a.lastStart)
		a.status.Store(int32(StatusRunning))
	}
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
// not run again: the graph stopped for good, or it is shutting down and
// this actor has nothing left to drain.
func (a *Actor) backoff(d time.Duration) bool {
	a.status.Store(int32(StatusBackingOff))
	g := a.g
	if d <= 0 {
		return !g.hardStopped.Load() && a.Running()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return !g.hardStopped.Load() && a.Running()
		case <-a.wakeCh:
			if !a.Running() {
				return false
			}
		case <-g.hardCtx.Done():
			return false
		}
	}
}

// quarantine moves the suspect channel's head message to the dead-letter
// store once it has failed PoisonAfter attempts. failure is what the last
// attempt failed with.
func (a *Actor) quarantine(failure error) {
	c := a.suspect
	if c == nil || a.policy.PoisonAfter <= 0 || c.attempts < a.policy.PoisonAfter {
		return
	}
	a.suspect = nil
	attempts := c.attempts
	v, replaced, ok := c.in.takeHead()
	if !ok {
		return
	}
	if failure == nil {
		failure = errors.New("step failed (panic recovered by the actor)")
	}
	d := DeadLetter{
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
	a.stats.deadLetters.Add(1)
	stored := a.g.deadLetters.add(d)
	if a.dur != nil {
		a.persistQuarantine(c, replaced, stored)
	}
	a.g.emit(Event{Kind: EventDeadLettered, Time: d.Time, Actor: a.name, Restarts: a.Restarts(), DeadLetter: &stored})
}
