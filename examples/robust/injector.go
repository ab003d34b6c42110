package robust

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"

	"github.com/steady-go/steady/observe"
)

// Fault is the value of every panic an [Injector] injects, so that logs,
// dead letters and tests can tell an injected failure from a real one.
type Fault struct {
	Actor  string
	Mode   Mode   // Scripted (one-shot and poison), Chaos, or Degrade (the broken generator)
	Point  string // the fault point where it struck (see [Injector])
	Detail string // what the step was doing, e.g. "at value 700"
}

var _ error = (*Fault)(nil)

func (f *Fault) Error() string {
	if f.Detail == "" {
		return fmt.Sprintf("injected %s fault at point %s", f.Mode, f.Point)
	}
	return fmt.Sprintf("injected %s fault %s, at point %s", f.Mode, f.Detail, f.Point)
}

// The points where an injected fault strikes, as [Fault.Point] names them:
// the framework's own ([observe.FaultStep], [observe.FaultPeek]) and the
// actors' named points ([steady.Step.Fault]), which go by their names.
const (
	pointStep = "step start"
	pointPeek = "peek of "
)

// Injector injects the failures of a [Faults] configuration into the
// actors from outside, through the framework's fault points: its Inject is
// the graph's [steady.Config.Faults], and the actors' code knows nothing of
// it. It decides from the fault point and the actors' committed states
// (read through [Injector.Watch]), and it keeps what must outlive a failed
// step (a one-shot fault has struck) in its own memory, which no rollback
// touches.
//
// The points it strikes at:
//
//	actor      scripted                     chaos: one of
//	generator  FaultGeneratorSent           step start, FaultGeneratorSent
//	heartbeat  FaultHeartbeatSent           step start, FaultHeartbeatSent
//	worker     peeking a value              step start, peeking a value, FaultWorkerSent
//	logger     FaultLoggerCounted           step start, peeking a message, FaultLoggerCounted, FaultAfterWrite
//
// In degrade mode the broken generator fails at its steps' start.
type Injector struct {
	f      Faults
	gen    *Generator
	hb     *Heartbeat
	worker *Worker
	logger *Logger
	// The actors' faults, set by Watch; nil for an actor not watched.
	genF, hbF, workerF, loggerF *actorFaults
}

// NewInjector returns the injector of f. Give its Inject to the graph as
// Config.Faults, and the actors to Watch before the graph runs.
func NewInjector(f Faults) *Injector { return &Injector{f: f} }

// target is a fault point as the chaos names it: a kind, and for a named
// point its name.
type target struct {
	kind observe.FaultKind
	name string
}

// actorFaults is what an injector keeps of one actor. Only the actor's
// goroutine touches it (fault points are passed inside its steps, and
// Limit is called from its loop), except injected.
type actorFaults struct {
	name   string
	points []target   // where chaos may strike
	rng    *rand.Rand // nil unless chaos
	armed  target     // where chaos strikes in the current step; zero for none
	// peeks: the current step's peeks matter (a fault is armed at one,
	// or the script looks at them). Chaos runs peek millions of messages,
	// and this spares them the rest of Inject.
	peeks bool

	// progress is the actor's committed count that the script places
	// its one-shot fault by (values generated, beats sent, values
	// processed, messages logged), as of the current step's start.
	progress uint64
	// from is progress at this process's first step of the actor: a run
	// resumed past a one-shot fault's point does not strike there again.
	from    uint64
	started bool
	fired   bool // the one-shot fault has struck

	beat      uint64 // the worker's beat peeked in the current step
	holdsBeat bool
	first     any // the first message the current step peeked; nil for none

	injected atomic.Int64
}

// Watch gives the injector the actors it injects into: all four, or those
// of a half of the pipeline, nil for the others. Call it once, before the
// graph runs.
func (in *Injector) Watch(gen *Generator, hb *Heartbeat, worker *Worker, logger *Logger) {
	in.gen, in.hb, in.worker, in.logger = gen, hb, worker, logger
	add := func(name string, index uint64, points ...target) *actorFaults {
		af := &actorFaults{name: name, points: points}
		if in.f.Mode == Chaos && in.f.ChaosRate > 0 {
			af.rng = rand.New(rand.NewPCG(in.f.Seed, index))
		}
		return af
	}
	start := target{kind: observe.FaultStep}
	if gen != nil {
		in.genF = add(GeneratorName, 1, start, target{observe.FaultNamed, FaultGeneratorSent})
	}
	if hb != nil {
		in.hbF = add(HeartbeatName, 2, start, target{observe.FaultNamed, FaultHeartbeatSent})
	}
	if worker != nil {
		in.workerF = add(WorkerName, 3, start, target{observe.FaultPeek, worker.valCh.Name()}, target{observe.FaultNamed, FaultWorkerSent})
	}
	if logger != nil {
		in.loggerF = add(LoggerName, 4, start, target{kind: observe.FaultPeek}, target{observe.FaultNamed, FaultLoggerCounted},
			target{observe.FaultNamed, FaultAfterWrite})
	}
}

// actor returns the faults of the named actor, nil for one not watched.
func (in *Injector) actor(name string) *actorFaults {
	switch name {
	case GeneratorName:
		return in.genF
	case HeartbeatName:
		return in.hbF
	case WorkerName:
		return in.workerF
	case LoggerName:
		return in.loggerF
	}
	return nil
}

// Injected is the number of faults injected into the named actor so far,
// the poison's included. It may be called from any goroutine.
func (in *Injector) Injected(actor string) int64 {
	if af := in.actor(actor); af != nil {
		return af.injected.Load()
	}
	return 0
}

// GeneratorLimit returns a [GeneratorConfig.Limit] that ends the
// generator's steps at the script's values ([Script.GeneratorAt], and
// [Script.BreakAt] in degrade mode), so that a step begins exactly at
// each: the failure at the first strikes a step that holds it first, and
// the break leaves no value at or past it generated. It returns nil when
// the mode needs no limit.
func (in *Injector) GeneratorLimit() func() uint64 {
	if !in.scripted() {
		return nil
	}
	return func() uint64 {
		next := in.gen.State.Value().Next
		limit := uint64(math.MaxUint64)
		for _, at := range []uint64{in.f.Script.GeneratorAt, in.breakAt()} {
			if at > next {
				limit = min(limit, at)
			}
		}
		return limit
	}
}

// scripted reports whether the scripted failures apply: in Scripted mode,
// and in Degrade mode, which adds the broken generator to them.
func (in *Injector) scripted() bool { return in.f.Mode == Scripted || in.f.Mode == Degrade }

// breakAt is the generator's break, 0 outside degrade mode.
func (in *Injector) breakAt() uint64 {
	if in.f.Mode != Degrade {
		return 0
	}
	return in.f.Script.BreakAt
}

// Inject is the graph's [steady.Config.Faults]: it decides whether the
// actor's step fails at p.
func (in *Injector) Inject(p observe.FaultPoint) error {
	af := in.actor(p.Actor)
	if af == nil || p.Kind == observe.FaultPeek && !af.peeks {
		return nil
	}
	if p.Kind == observe.FaultStep {
		in.begin(af)
	}
	if f := af.chaos(p); f != nil {
		return af.fire(f)
	}
	if !in.scripted() {
		return nil
	}
	var f *Fault
	switch p.Actor {
	case GeneratorName:
		f = in.generator(af, p)
	case HeartbeatName:
		f = in.heartbeat(af, p)
	case WorkerName:
		f = in.workerFault(af, p)
	case LoggerName:
		f = in.loggerFault(af, p)
	}
	if f == nil {
		return nil
	}
	return af.fire(f)
}

// begin starts a step of the actor: it reads the committed progress and,
// in chaos mode, decides whether and where the step fails.
func (in *Injector) begin(af *actorFaults) {
	switch af.name {
	case GeneratorName:
		af.progress = in.gen.State.Value().Next
	case HeartbeatName:
		af.progress = in.hb.State.Value().Beats
	case WorkerName:
		af.progress = in.worker.State.Value().Processed
	case LoggerName:
		af.progress = in.logger.State.Value().Logged
	}
	if !af.started {
		af.started, af.from = true, af.progress
	}
	af.holdsBeat, af.first = false, nil
	af.armed = target{}
	if af.rng != nil && af.rng.Float64() < in.f.ChaosRate {
		af.armed = af.points[af.rng.IntN(len(af.points))]
	}
	af.peeks = af.armed.kind == observe.FaultPeek || in.scripted()
}

// due reports whether the actor's one-shot fault, placed at at, strikes
// now that the step reached its point: if it has not struck yet and the
// run did not resume past it. A zero at places none.
func (af *actorFaults) due(at uint64, reached bool) bool {
	return at > 0 && reached && !af.fired && af.from <= at
}

// chaos returns the chaos fault of the current step if it strikes at p.
func (af *actorFaults) chaos(p observe.FaultPoint) *Fault {
	a := af.armed
	if a.kind != p.Kind || a.kind == observe.FaultNamed && a.name != p.Name || a.kind == observe.FaultPeek && a.name != "" && a.name != p.Channel {
		return nil
	}
	af.armed = target{}
	return &Fault{Mode: Chaos, Point: pointOf(p)}
}

// fire injects f as a panic.
func (af *actorFaults) fire(f *Fault) error {
	f.Actor = af.name
	af.injected.Add(1)
	panic(f)
}

// pointOf names p for [Fault.Point].
func pointOf(p observe.FaultPoint) string {
	switch p.Kind {
	case observe.FaultStep:
		return pointStep
	case observe.FaultPeek:
		return pointPeek + p.Channel
	}
	return p.Name
}

func (in *Injector) generator(af *actorFaults, p observe.FaultPoint) *Fault {
	switch {
	case p.Kind == observe.FaultStep && in.breakAt() > 0 && af.progress >= in.breakAt():
		return &Fault{Mode: Degrade, Point: pointStep, Detail: fmt.Sprintf("at value %d: its source is gone for good", af.progress)}
	case p.Kind == observe.FaultNamed && p.Name == FaultGeneratorSent && af.due(in.f.Script.GeneratorAt, af.progress == in.f.Script.GeneratorAt):
		af.fired = true
		return &Fault{Mode: Scripted, Point: p.Name, Detail: fmt.Sprintf("at value %d", af.progress)}
	}
	return nil
}

func (in *Injector) heartbeat(af *actorFaults, p observe.FaultPoint) *Fault {
	beat := af.progress + 1
	if p.Kind == observe.FaultNamed && p.Name == FaultHeartbeatSent && af.due(in.f.Script.HeartbeatAt, beat == in.f.Script.HeartbeatAt) {
		af.fired = true
		return &Fault{Mode: Scripted, Point: p.Name, Detail: fmt.Sprintf("at beat %d", beat)}
	}
	return nil
}

func (in *Injector) workerFault(af *actorFaults, p observe.FaultPoint) *Fault {
	if p.Kind != observe.FaultPeek {
		return nil
	}
	v, _ := p.Message.(uint64)
	switch {
	case p.Channel == in.worker.beatCh.Name():
		af.beat, af.holdsBeat = v, true
	case p.Channel != in.worker.valCh.Name():
	case v == in.f.Script.Poison && in.f.Script.Poison > 0:
		return &Fault{Mode: Scripted, Point: pointOf(p), Detail: fmt.Sprintf("on poison value %d", v)}
	case af.due(in.f.Script.WorkerAfter, af.holdsBeat && af.progress >= in.f.Script.WorkerAfter):
		af.fired = true
		return &Fault{Mode: Scripted, Point: pointOf(p), Detail: fmt.Sprintf("holding beat %d and value %d", af.beat, v)}
	}
	return nil
}

func (in *Injector) loggerFault(af *actorFaults, p observe.FaultPoint) *Fault {
	switch {
	case p.Kind == observe.FaultPeek && af.first == nil:
		af.first = p.Message
	case p.Kind == observe.FaultNamed && p.Name == FaultLoggerCounted && af.due(in.f.Script.LoggerAfter, af.progress >= in.f.Script.LoggerAfter):
		af.fired = true
		d := "updating the statistics"
		if m, ok := af.first.(Message); ok {
			d = fmt.Sprintf("updating the statistics of value %d", m.Value)
		}
		return &Fault{Mode: Scripted, Point: p.Name, Detail: d}
	}
	return nil
}
