package robust

import (
	"fmt"

	"github.com/steady-go/steady"
)

// Mode selects the failures an [Injector] injects into the actors' steps.
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

// Script places the scripted failures. A one-shot failure strikes once per
// process, unless the run resumed (from a durable state) past its point;
// a zero field places none.
type Script struct {
	// GeneratorAt: the generator's step that begins at this value panics
	// once, at [FaultGeneratorSent]: its values are staged and not yet
	// counted. The injector's [Injector.GeneratorLimit] ends the steps
	// before it there, so that one begins at it.
	GeneratorAt uint64
	// HeartbeatAt: the heartbeat's step that sends this beat (counted
	// from 1) panics once, at [FaultHeartbeatSent]: the beat is staged
	// and not yet counted.
	HeartbeatAt uint64
	// WorkerAfter: once it has processed this many values, the worker
	// panics once in the next step that holds a beat and a value, as it
	// peeks the first value, before sending anything.
	WorkerAfter uint64
	// LoggerAfter: once it has logged this many messages, the logger
	// panics once in its next step, halfway through updating its
	// statistics: at [FaultLoggerCounted], one category count raised and
	// nothing else.
	LoggerAfter uint64
	// Poison: the worker panics as it peeks this value, on every
	// attempt, so after the policy's PoisonAfter attempts
	// ([steady.DefaultPolicy]) the framework moves it to the
	// dead-letter store.
	Poison uint64
	// BreakAt, in [Degrade] mode: the generator's steps fail from this
	// value on, every time, as if the source of its values were gone
	// for good. [Injector.GeneratorLimit] ends the steps before it there,
	// so that no value at or past it is generated.
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

// Faults configures the failures an [Injector] injects, and the restart
// policies they call for.
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

// ActorOptions returns the restart policy the faults need, for the
// heartbeat, the worker and the logger (the generator takes
// [Faults.GeneratorOptions]).
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

// GeneratorOptions returns the generator's policy: [Faults.ActorOptions]
// and, in [Degrade] mode, more. There the generator is the one actor
// whose loss the pipeline survives (the heartbeat keeps time, the worker
// takes its beats, the logger logs all that was generated): it gives up
// after degradeRestarts restarts and the graph runs on degraded.
func (f Faults) GeneratorOptions() []steady.ActorOption {
	opts := f.ActorOptions()
	if f.Mode == Degrade {
		opts = append(opts, steady.Intensity(degradeRestarts, steady.DefaultPolicy().Window), steady.OnLimit(steady.Degrade))
	}
	return opts
}
