package steady

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/steady-go/steady/observe"
)

// Actor is one supervised unit of the graph: a function the graph runs on
// its own goroutine and runs again after it fails. The same *Actor is
// passed to every run, so what it knows (name, restart count, policy) holds
// across restarts; what the actor itself must keep belongs in a [State].
//
// Create actors with [Graph.Actor]; bind their channels and states before
// [Graph.Run].
type Actor struct {
	g      *Graph
	name   string
	fn     func(*Actor) error
	policy Policy
	err    error

	inputs  []Input
	outputs []Output
	states  []port
	step    Step

	wakeCh   chan struct{} // a token says "something you may wait for changed"
	restarts atomic.Int64
	status   atomic.Int32 // an ActorStatus
	hold     atomic.Pointer[string]

	// Supervision state, touched only by the actor's own goroutine.
	rng         *rand.Rand
	limit       intensity
	streak      int       // consecutive failures without a healthy period
	lastStart   time.Time // when the current run began
	suspect     *chanCore // the channel whose head the last failed step blamed
	lastStepErr error     // the error of the last failed step, nil for a panic
	refused     error     // a quarantine the full dead-letter store refused in a Step
	recovering  bool      // failed and not committed a step since
	commits     int64     // committed steps; published to stats.commits
	stepsBegun  int64     // steps begun, committed or not, for fault points

	stats actorStats
	// earlier is what earlier runs of the graph's store recorded of the
	// actor (set by Load); histDirty says its history changed since the
	// committer last wrote it.
	earlier   history
	histDirty atomic.Bool

	// A durable graph's committer, and the record of the step committing.
	committer *committer
	rec       record
}

// Actor adds an actor running fn, under [DefaultPolicy] changed by opts.
// The function should loop while [Actor.Running], wait for input or room
// with [Actor.WaitAvailable] and [Actor.WaitVacant], and do its work in
// [Actor.Step]s. Returning nil finishes the actor;
// returning another error, or panicking, restarts it.
func (g *Graph) Actor(name string, fn func(a *Actor) error, opts ...ActorOption) *Actor {
	a := &Actor{g: g, name: name, fn: fn, policy: DefaultPolicy(), wakeCh: make(chan struct{}, 1)}
	for _, o := range opts {
		o(&a.policy)
	}
	if fn == nil {
		a.err = wiringErr("actor %q has no function", name)
		g.addBuildErr(a.err)
		return a
	}
	if err := a.policy.validate(); err != nil {
		a.err = wiringErr("actor %q: policy: %v", name, err)
		g.addBuildErr(a.err)
		return a
	}
	a.err = g.register(kindActor, name, a)
	return a
}

// Name is the actor's name.
func (a *Actor) Name() string { return a.name }

// Restarts is how many times the actor has been restarted.
func (a *Actor) Restarts() int { return int(a.restarts.Load()) }

// Status is what the actor is doing now.
func (a *Actor) Status() observe.ActorStatus { return observe.ActorStatus(a.status.Load()) }

// Err is the error that made the actor unusable, or nil.
func (a *Actor) Err() error { return a.err }

// Context is done when the graph stops for good: at the shutdown timeout,
// or once Run returns. Pass it to blocking calls outside steady.
func (a *Actor) Context() context.Context { return a.g.hardCtx }

// Running reports whether the actor should go on. It is false once the
// actor has nothing left to do: it has inputs and every one of them is
// closed and empty (a graph shutdown or not); or the graph is shutting down
// and the actor has no inputs (a producer stops at once); or the shutdown
// timeout has passed. A hold ([Actor.HoldShutdown]) keeps it true until the
// timeout.
func (a *Actor) Running() bool {
	g := a.g
	if g.hardStopped.Load() {
		return false
	}
	if a.hold.Load() != nil {
		return true
	}
	if len(a.inputs) == 0 {
		return !g.shuttingDown.Load()
	}
	for _, in := range a.inputs {
		if !in.core().closedAndEmpty() {
			return true
		}
	}
	return false
}

// HoldShutdown vetoes the graph's shutdown for this actor, with a reason
// that is logged and, if the shutdown times out, reported by [Graph.Run].
// Running stays true until [Actor.ReleaseShutdown]. A failure releases the
// hold: the actor is restarted after its backoff (even a source during a
// shutdown, which would otherwise stop) and must hold again if it still
// needs to.
func (a *Actor) HoldShutdown(reason string) {
	a.hold.Store(&reason)
	if a.g.shuttingDown.Load() {
		a.g.emit(observe.Event{Kind: observe.EventVetoed, Actor: a.name, Restarts: a.Restarts(), Reason: reason})
	}
}

// ReleaseShutdown ends a hold taken with HoldShutdown.
func (a *Actor) ReleaseShutdown() {
	a.hold.Store(nil)
	a.wake()
}

// RequestShutdown asks the graph to shut down in order, for the given
// reason. It returns at once; the actor keeps running while [Actor.Running].
func (a *Actor) RequestShutdown(reason string) {
	a.g.Shutdown(fmt.Sprintf("actor %q: %s", a.name, reason))
}

// wake leaves a token for the actor's next wait; it never blocks.
func (a *Actor) wake() {
	select {
	case a.wakeCh <- struct{}{}:
	default:
	}
}

// actorStats is what the supervisor measures, read by [Actor.Stats].
type actorStats struct {
	panics, errors atomic.Int64
	commits        atomic.Int64 // committed steps
	deadLetters    atomic.Int64

	mu         sync.Mutex
	started    time.Time // when Run started the actor
	stopped    time.Time // when it stopped for good
	failedAt   time.Time // the failure being recovered from
	downSince  time.Time // zero while the actor runs
	down       time.Duration
	recoveries recoverySamples
	lastErr    error
	lastErrAt  time.Time
}
