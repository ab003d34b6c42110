package robust

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	"github.com/steady-go/steady"
)

// Mode selects the failures the actors inject into their own steps.
type Mode uint8

// The fault modes.
const (
	// NoFaults injects nothing.
	NoFaults Mode = iota
	// Scripted injects the failures of a [Script]: one transient panic in
	// each actor at a fixed point, and a poison value that fails the worker
	// on every attempt.
	Scripted
	// Chaos panics, with probability [Faults.ChaosRate] per step, at a
	// point of the step chosen at random, in every actor.
	Chaos
	// Degrade injects the scripted failures and, from [Script.BreakAt]
	// on, fails every step of the generator: it exhausts its restart
	// limit and gives up under [steady.Degrade], and the rest of the
	// pipeline carries on without new values.
	Degrade
)

var modeNames = [...]string{NoFaults: "none", Scripted: "scripted", Chaos: "chaos", Degrade: "degrade"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode is the inverse of [Mode.String].
func ParseMode(s string) (Mode, bool) {
	for i, name := range modeNames {
		if s == name {
			return Mode(i), true
		}
	}
	return 0, false
}

// Script places the scripted failures. Each one-shot failure fires once per
// run: see [Once] for how that survives the restart it causes.
type Script struct {
	// GeneratorAt: the generator's step that would generate this value
	// panics once, after staging its sends and before counting them.
	GeneratorAt uint64
	// HeartbeatAt: the heartbeat's step that would send this beat
	// (counted from 1) panics once, after staging the beat.
	HeartbeatAt uint64
	// WorkerAfter: once it has processed this many values, the worker
	// panics once in the next step that holds a beat and a value, after
	// peeking them and before sending anything.
	WorkerAfter uint64
	// LoggerAfter: once it has logged this many messages, the logger
	// panics once in its next step, halfway through updating its
	// statistics (one category count raised, nothing else).
	LoggerAfter uint64
	// Poison: the worker panics on this value on every attempt, so after
	// [steady.DefaultPolicy] attempts the framework moves it to the
	// dead-letter store.
	Poison uint64
	// BreakAt, in [Degrade] mode: the generator's steps fail from this
	// value on, every time, as if the source of its values were gone
	// for good.
	BreakAt uint64
}

// DefaultScript is the script of `robust`'s default run, which generates
// about 3,000 values: the heartbeat fails first (beat 50), then the
// generator (value 700), the worker (after 1,200 values), the poison value
// 1,500 (a FizzBuzz, so the category checks see it missing), and the logger
// last (after 2,100 messages). The points are far enough apart that each
// failure's recovery is over before the next one starts. In [Degrade]
// mode the generator breaks for good at 2,500, after all of them, with
// about 50 beats of the default run still to go.
func DefaultScript() Script {
	return Script{
		HeartbeatAt: 50,
		GeneratorAt: 700,
		WorkerAfter: 1200,
		Poison:      1500,
		LoggerAfter: 2100,
		BreakAt:     2500,
	}
}

// Faults configures the failures every actor injects.
type Faults struct {
	Mode   Mode
	Script Script // for Scripted and Degrade
	// ChaosRate is the probability, in [0, 1], that a step panics, for
	// Chaos. Rates near 1 leave too few steps to make progress.
	ChaosRate float64
	// Seed seeds the chaos decisions. Each actor draws from its own
	// stream, so a seed gives every actor the same sequence of decisions
	// in every run; which message a fault hits still depends on how the
	// scheduler interleaves the actors.
	Seed uint64
}

// chaosPoisonAfter is the quarantine threshold in chaos mode. Attempts are
// counted for a message that failed alone; at a chaos rate r a good message
// is quarantined with probability about r^20 (1e-40 at 1%, 1e-6 at 50%),
// so bad luck never poisons it.
const chaosPoisonAfter = 20

// ActorOptions returns the restart policy the faults need; every actor
// constructor applies it before the caller's options.
//
// Chaos mode never gives up (an actor that fails at random is not broken),
// quarantines a message only after 20 attempts, and restarts at once: the
// injected faults are transient by construction, so a delay would measure
// the operating system's timer rather than recovery (on Linux, a process
// with nothing else to do wakes from a sub-millisecond timer after about a
// millisecond, which at 1% chaos made the run four to ten times slower).
// The price is that a chaos rate near 1, where almost no step commits,
// restarts in a busy loop until the run is interrupted.
//
// The other modes keep [steady.DefaultPolicy] (the scripted failures stay
// well under its limits) but stop the graph when an actor gives up: a
// demonstration whose worker or logger is gone would otherwise wait, with
// full channels, for a signal that may never come. The generator of
// [Degrade] mode is the exception: see [Faults.GeneratorOptions].
func (f Faults) ActorOptions() []steady.ActorOption {
	if f.Mode != Chaos {
		return []steady.ActorOption{steady.OnLimit(steady.StopGraph)}
	}
	return []steady.ActorOption{
		steady.Intensity(-1, 0),
		steady.Backoff(0, 0),
		steady.PoisonAfter(chaosPoisonAfter),
	}
}

// degradeRestarts is the generator's restart limit in [Degrade] mode:
// three attempts in a row tell a source that is gone for good from a
// glitch, and under the default backoff (1, 2, 4 ms) they take a few
// milliseconds, so the give-up comes long before the heartbeat's last beat
// even at -rate 1ms.
const degradeRestarts = 3

// GeneratorOptions returns the generator's own policy, applied after
// [Faults.ActorOptions]. In [Degrade] mode the generator is the one actor
// whose loss the pipeline survives (the heartbeat keeps time, the worker
// takes its beats, the logger logs all that was generated): it gives up
// after degradeRestarts restarts and the graph runs on degraded. The
// other modes add nothing.
func (f Faults) GeneratorOptions() []steady.ActorOption {
	if f.Mode != Degrade {
		return nil
	}
	return []steady.ActorOption{steady.Intensity(degradeRestarts, steady.DefaultPolicy().Window), steady.OnLimit(steady.Degrade)}
}

// Point is a place inside an actor's step where a fault can strike.
type Point uint8

// The points. Each actor's step passes through some of them, in this order.
const (
	StepStart   Point = iota + 1 // the step has begun: nothing peeked or staged
	AfterPeek                    // the inputs are peeked
	MidUpdate                    // halfway through the per-message work
	AfterSend                    // the outputs are staged
	AfterWrite                   // the logger's lines are in the file, the step not yet committed
	AfterUpdate                  // the state is updated, the step about to return
)

var pointNames = [...]string{
	StepStart:   "at step start",
	AfterPeek:   "after peek",
	MidUpdate:   "mid-update",
	AfterSend:   "after send",
	AfterWrite:  "after write",
	AfterUpdate: "after update",
}

func (p Point) String() string {
	if int(p) < len(pointNames) && pointNames[p] != "" {
		return pointNames[p]
	}
	return fmt.Sprintf("Point(%d)", uint8(p))
}

// Fault is the value of every panic the actors inject, so that logs, dead
// letters and tests can tell an injected failure from a real one.
type Fault struct {
	Actor  string
	Mode   Mode   // Scripted (one-shot and poison), Chaos, or Degrade (the broken generator)
	Point  Point  // where in the step it struck
	Detail string // what the step was doing, e.g. "at value 700"
}

var _ error = (*Fault)(nil)

func (f *Fault) Error() string {
	if f.Detail == "" {
		return fmt.Sprintf("injected %s fault %s", f.Mode, f.Point)
	}
	return fmt.Sprintf("injected %s fault %s, %s", f.Mode, f.Detail, f.Point)
}

// Once is the part of an actor's committed state that makes a scripted
// fault transient. A fault that strikes inside a step rolls back with it,
// so a flag set by the failing step is lost; what survives is the restart
// count, which the framework keeps outside the step. Every committed step
// records it here; a step that finds the actor restarted since its last
// commit knows its previous attempt failed. The scripted points are
// conditions on committed state, so the retry reaches the same point, sees
// the restart, marks the fault Fired and goes through; Fired then commits
// with the retry. (A failure of another cause in the very step that first
// reaches a scripted point would mark it fired too; the scripts keep the
// points apart.)
type Once struct {
	Restarts int  // the actor's restart count as of its last committed step
	Fired    bool // the scripted fault struck and a retry got past it
}

// due records the actor's restart count in the step's working copy and
// reports whether the scripted fault strikes now, its point being reached.
func (o *Once) due(a *steady.Actor, reached bool) bool {
	restarted := a.Restarts() != o.Restarts
	o.Restarts = a.Restarts()
	if !reached || o.Fired {
		return false
	}
	if restarted {
		o.Fired = true
		return false
	}
	return true
}

// injector injects one actor's faults. Only that actor's goroutine calls
// its methods, except Injected.
type injector struct {
	actor    string
	mode     Mode
	script   Script
	rate     float64
	rng      *rand.Rand // nil unless chaos
	points   []Point    // the points of the actor's step
	armed    Point      // the chaos point of the current step; 0 for none
	injected atomic.Int64
}

// newInjector returns the injector of the actor with the given name and
// index (which picks its chaos stream) whose steps pass the given points.
func newInjector(actor string, index uint64, f Faults, points ...Point) *injector {
	in := &injector{actor: actor, mode: f.Mode, script: f.Script, points: points}
	if f.Mode == Chaos && f.ChaosRate > 0 {
		in.rate = f.ChaosRate
		in.rng = rand.New(rand.NewPCG(f.Seed, index))
	}
	return in
}

// scripted reports whether the scripted failures apply: in Scripted mode,
// and in Degrade mode, which adds the broken generator to them.
func (in *injector) scripted() bool { return in.mode == Scripted || in.mode == Degrade }

// begin starts a step: in chaos mode it decides whether and where it fails.
func (in *injector) begin() {
	in.armed = 0
	if in.rng != nil && in.rng.Float64() < in.rate {
		in.armed = in.points[in.rng.IntN(len(in.points))]
	}
}

// at panics if the current step's chaos fault is at p.
func (in *injector) at(p Point) {
	if in.armed == p {
		in.armed = 0
		in.fire(&Fault{Mode: Chaos, Point: p})
	}
}

// fire injects f.
func (in *injector) fire(f *Fault) {
	f.Actor = in.actor
	in.injected.Add(1)
	panic(f)
}

// Injected is the number of faults injected so far. It may be called from
// any goroutine.
func (in *injector) Injected() int64 { return in.injected.Load() }
