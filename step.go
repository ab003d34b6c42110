package steady

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/steady-go/steady/observe"
)

// Step is one all-or-nothing unit of an actor's work, open for the duration
// of the function given to [Actor.Step]. Through it the actor peeks inputs
// ([Receiver.Peek]), stages outputs ([Sender.Send]) and changes state
// ([State.Get]). When the function returns nil, all of it takes effect at
// once: the peeked inputs are consumed, the outputs are published in the
// order sent, the state is installed. When it returns an error or panics,
// none of it does.
//
// A Step belongs to its actor's goroutine and is valid only until the
// function returns.
type Step struct {
	actor *Actor
	open  bool
	err   error // the first misuse in the step; it fails the step

	// touched lists every port the step used, once each, in first-use
	// order; commit and abort walk it. Its capacity is the actor's port
	// count, so appending never allocates after the first step.
	touched []port
	// lastPeek is the channel peeked most recently, which a failure blames.
	lastPeek *chanCore
	// onDurable holds the functions given to OnDurable, run once the
	// step's effects are durable.
	onDurable []func()
}

// OnDurable arranges for fn to run once the step has committed and its
// effects are as durable as the graph makes them: right after the commit,
// on the actor's goroutine, in a graph without a store; once the batch
// holding the step is in the store, on the committer's goroutine, in a
// durable graph. fn does not run if the step fails, or if the store fails
// before the step is durable. It must be quick and must not block (it
// holds up the publication of other steps' outputs); a typical fn stores
// a position in an atomic that the actor reads later, to acknowledge
// what it took from outside the graph only once that cannot be undone.
// A panic in fn does not fail the actor, whose step has committed: it is
// logged at Error with its stack, and the step's other functions still
// run.
func (s *Step) OnDurable(fn func()) {
	if s.open && fn != nil {
		s.onDurable = append(s.onDurable, fn)
	}
}

// fail records the first misuse and returns err. It is safe on a nil step.
func (s *Step) fail(err error) error {
	if s != nil && s.open && s.err == nil {
		s.err = err
	}
	return err
}

// Step runs fn as one all-or-nothing step; see [Step]. It returns fn's
// error, or the first misuse of a handle in the step (a send beyond the
// vacancy, a handle of another actor), or nil once the step committed.
// A panic in fn goes on to the actor's supervisor, which rolls the step
// back before anything else.
//
// An actor that carries on after a failed step without returning its
// error gets the quarantine of a poison message here, as the supervisor
// would do it; if the dead-letter store is full, Step does not run fn and
// returns an error wrapping [ErrDeadLetterStoreFull]: return it, and the
// actor gives up as it would have if it had returned the step's error. An
// actor that calls Step again instead has its run ended there, by
// runtime.Goexit, and gives up all the same.
//
// A step costs a function call and a few checks on top of fn; it allocates
// nothing once the actor has run its first step. It takes no defer: the
// rollback after a panic happens in the runner's recover, the one place
// that sees every panic.
//
// In an actor without inputs (a source) Step first waits, before the step
// begins, while the graph holds its sources for memory pressure (see
// [Config.MemoryLimit]); a step once begun is never held.
func (a *Actor) Step(fn func(s *Step) error) error {
	s := &a.step
	if s.open {
		// Either Step was called from inside a step, or an earlier step
		// panicked and the actor recovered the panic itself. Neither step
		// may commit.
		a.abort(nil)
		return misuseErr("actor %q: Step called inside a step, or after recovering a panic from one", a.name)
	}
	if a.suspect != nil {
		if a.refused != nil {
			// The actor carried on after the refusal below: end its
			// run here (see supervise), or it would spin on it.
			runtime.Goexit()
		}
		// A previous step failed and the actor carried on without
		// returning the error; quarantine here what the supervisor would.
		if err := a.quarantine(a.lastStepErr); err != nil {
			// The dead-letter store is full: the message would fail
			// the step again. The supervisor gives up once the actor
			// returns.
			a.refused = err
			return err
		}
	}
	if a.g.memHeld.Load() {
		a.holdForMemory()
	}
	s.open, s.err = true, nil
	a.stepsBegun++
	if a.g.cfg.Faults != nil {
		s.inject(observe.FaultPoint{Kind: observe.FaultStep})
	}
	err := fn(s)
	if !s.open {
		return misuseErr("actor %q: step was ended by a nested Step", a.name)
	}
	if err == nil {
		err = s.err
	}
	if err == nil && a.committer != nil {
		err = a.encode()
	}
	if err != nil {
		a.abort(err)
		return err
	}
	a.commit()
	return nil
}

// commitPublishMask: the committed-step count is published for other
// goroutines every 64 steps (and when the actor stops or fails) rather than
// every step, which would cost a locked instruction per step.
const commitPublishMask = 63

// commit makes the step's effects visible, in first-use order: states are
// installed, inputs consumed, outputs published. In a durable graph the
// step's record (encoded by Actor.encode) goes to the committer, which
// publishes the outputs once the record is durable.
func (a *Actor) commit() {
	s := &a.step
	if len(s.touched) == 1 {
		// Most steps use one port; this spares them the loop.
		s.touched[0].commit()
	} else {
		for _, p := range s.touched {
			p.commit()
		}
	}
	s.touched = s.touched[:0]
	if s.lastPeek != nil {
		s.lastPeek = nil
	}
	s.open = false
	if a.suspect != nil {
		a.suspect = nil
	}
	a.commits++
	if a.commits&commitPublishMask == 0 {
		a.stats.commits.Store(a.commits)
	}
	if a.recovering {
		a.recovered()
	}
	if a.committer != nil {
		a.rec.after = append(a.rec.after, s.onDurable...)
		clear(s.onDurable)
		s.onDurable = s.onDurable[:0]
		a.committer.submit(&a.rec)
	} else if len(s.onDurable) > 0 {
		fns := s.onDurable
		s.onDurable = s.onDurable[:0]
		a.g.runOnDurable(fns)
	}
}

// runOnDurable runs a committed step's OnDurable functions, each once,
// and clears them. It recovers a panic in one, logs it at Error with its
// stack and runs the rest. The step has committed: failing its actor
// would undo nothing and skip the step's other functions; and in a
// durable graph they run on the committer's goroutine, where nothing
// else would recover the panic and the process would end.
func (g *Graph) runOnDurable(fns []func()) {
	for i, fn := range fns {
		fns[i] = nil
		g.callOnDurable(fn)
	}
}

func (g *Graph) callOnDurable(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			g.log.Error("steady: a Step.OnDurable function panicked; its step stays committed",
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	fn()
}

// abort rolls the step back and charges the failure to the message peeked
// last; err is nil for a panic, whose value the supervisor records. A
// transient failure ([ErrTransient]) and a request to stop the graph
// ([ErrStopGraph]) are not the message's fault: they charge nothing and
// narrow nothing.
func (a *Actor) abort(err error) {
	s := &a.step
	blameless := err != nil && (errors.Is(err, ErrTransient) || errors.Is(err, ErrStopGraph))
	for _, p := range s.touched {
		in, ok := p.(Input)
		p.abort(!blameless && ok && in.core() == s.lastPeek, !blameless)
	}
	clear(s.onDurable)
	s.onDurable = s.onDurable[:0]
	if blameless {
		s.lastPeek = nil
	}
	if s.lastPeek != nil && s.lastPeek.attempts > 0 {
		a.suspect = s.lastPeek
	}
	if a.committer != nil {
		// Nothing of the step is kept but the attempt count it charged.
		a.rec.reset()
		if c := s.lastPeek; c != nil && c.attempts > 0 {
			// The store keeps the attempts of the ring's head; those of
			// a replayed letter (which a restart puts back in the
			// dead-letter store) count from zero again.
			n := uint64(c.attempts)
			if c.onReplay {
				n = 0
			}
			a.rec.attempts = append(a.rec.attempts, headWrite{c.name, n})
			a.committer.submit(&a.rec)
		}
	}
	s.touched = s.touched[:0]
	s.lastPeek = nil
	s.open = false
	a.lastStepErr = err
}
