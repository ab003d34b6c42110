// Package robust holds the four actors of steady's demonstration, the
// FizzBuzz pipeline that cmd/robust runs while the actors fail on purpose:
//
//	heartbeat ──beats──┐
//	                   ├─▶ worker ──messages──▶ logger ──▶ output file
//	generator ─values──┘
//
// The actors:
//
//   - [Generator] sends 0, 1, 2, ... as fast as the worker takes them. Its
//     counter is committed state, so a restart goes on where the last
//     committed step left off.
//   - [Heartbeat] sends a beat every Rate and, after Beats beats, asks the
//     graph to shut down.
//   - [Worker] takes up to Batch values per beat and turns each into a
//     [Message] with its FizzBuzz [Category], counting them in its state.
//     It peeks the beat before the values, so that a failure is charged to
//     a value, never a beat; when the beats end it drains the values left.
//   - [Logger] checks, counts and logs each message, keeps a compact record
//     of which values it saw (for the continuity checks), and writes one
//     line per message to its output.
//
// Each constructor adds the actor and its state to a graph and binds the
// channels given to it; the state handles are exported so that a report can
// read them once the graph has run. The actors hold business code only:
// their committed states hold what they did, and nothing in them knows of
// the failures injected into them. Wiring the whole pipeline:
//
//	g := steady.NewGraph(steady.Config{})
//	beats := steady.NewChannel[uint64](g, "beats", 64)
//	values := steady.NewChannel[uint64](g, "values", 64)
//	messages := steady.NewChannel[robust.Message](g, "messages", 64)
//	gen := robust.NewGenerator(g, values, robust.GeneratorConfig{Batch: 10})
//	robust.NewHeartbeat(g, beats, robust.HeartbeatConfig{Rate: 25 * time.Millisecond, Beats: 300})
//	robust.NewWorker(g, beats, values, messages, robust.WorkerConfig{Batch: 10})
//	lg := robust.NewLogger(g, messages, robust.LoggerConfig{Batch: 10, Out: file})
//	err := g.Run(ctx)
//	// gen.State.Value().Next values generated, lg.State.Value().Logged logged ...
//
// The same pipeline with the demonstration's failures: an [Injector] is the
// graph's fault injector, and the actors take the restart policies the
// faults call for.
//
//	faults := robust.Faults{Mode: robust.Scripted, Script: robust.DefaultScript()}
//	in := robust.NewInjector(faults)
//	g := steady.NewGraph(steady.Config{Faults: in.Inject})
//	...
//	gen := robust.NewGenerator(g, values, robust.GeneratorConfig{Batch: 10, Limit: in.GeneratorLimit()}, faults.GeneratorOptions()...)
//	hb := robust.NewHeartbeat(g, beats, robust.HeartbeatConfig{...}, faults.ActorOptions()...)
//	w := robust.NewWorker(g, beats, values, messages, robust.WorkerConfig{Batch: 10}, faults.ActorOptions()...)
//	lg := robust.NewLogger(g, messages, robust.LoggerConfig{...}, faults.ActorOptions()...)
//	in.Watch(gen, hb, w, lg)
//
// # Exactly-once output
//
// A step rolls back what it did in memory; it cannot take back a write to a
// file. The logger therefore treats its output like a database file and its
// state like the database's meta page:
//
//  1. A step writes its lines at offset FileLen, the output's length as of
//     the last committed step ([Sink.WriteAt]), and adds what it wrote to
//     FileLen in its working state. Data first, then the length that
//     commits it.
//  2. If the step fails after writing (a panic at [FaultAfterWrite] does
//     exactly that), its FileLen is rolled back with the rest of its state, and the
//     lines past the committed length are garbage.
//  3. Every run of the logger starts by truncating the output to the
//     committed FileLen ([Sink.Truncate]), so a restart cuts the garbage
//     before the retry writes the same lines again, at the same offset.
//     cmd/robust truncates once more after the graph stops, for a logger
//     that failed and was never run again (a hard stop).
//
// So the output holds the lines of the committed messages, each once, in
// order, whatever line of the step fails. Logging each message through
// slog (at Debug) happens after the step committed, from the committed
// batch, for the same reason. The pattern keeps the file consistent with
// the state across failures inside the process; surviving a killed process
// needs the state to be durable too, and an fsync before the commit.
//
// # Injected failures
//
// They come from outside the actors, through the framework's fault points
// ([steady.Config.Faults]): every step's start, every message a step peeks,
// and the named points an actor marks with [steady.Step.Fault] where a
// half-done step would hurt (each actor has one or more, such as
// [FaultGeneratorSent], between staging its output and counting it in its
// state). An [Injector] decides at each point, from the point and the
// actors' committed states, whether the step fails there.
//
// [Faults] selects the failures: none, scripted, chaos or degrade. The
// scripted failures of [DefaultScript], in the order a default run meets
// them:
//
//	actor      where                                         kind
//	heartbeat  the step sending beat 50, after staging it    transient: once
//	generator  the step generating value 700, after staging  transient: once
//	worker     the first step after 1,200 values that holds  transient: once
//	           a beat and a value, peeking the first value
//	worker     peeking value 1,500, on every attempt         poison: dead-lettered
//	logger     the first step after 2,100 messages, halfway  transient: once
//	           through updating its statistics
//
// The poison fails first inside a batch, which the framework does not
// charge to any one message; the framework then narrows the worker's input
// to one value per step, and after three failures of value 1,500 alone
// ([steady.DefaultPolicy]) moves it to the dead-letter store. The
// worker's other input, the beat, was peeked first and is never blamed.
//
// A transient failure must strike once, yet a flag set by the failing step
// would roll back with it. The injector keeps that flag in its own memory,
// outside every step, so the actors' states hold none of it.
//
// In degrade mode ([Degrade]) the scripted failures strike as above, and
// from value 2,500 ([Script.BreakAt]) every step of the generator fails,
// as if its source were gone for good. Under [Faults.GeneratorOptions] it
// gives up after three restarts and the graph runs on degraded: the
// heartbeat keeps time and ends the run, the worker takes the remaining
// beats alone, and every value generated is still logged once.
//
// With [LoggerConfig.Spool] the logger keeps memory for each message it
// logs until its input pauses, so that memory grows with the flow;
// cmd/robust's memory preset uses it to create real memory pressure.
//
// In chaos mode a step of any actor panics with probability
// [Faults.ChaosRate], at one of its fault points (see [Injector]) chosen at
// random from a stream seeded by [Faults.Seed]; a step that does not pass
// the chosen point (a logger without an output has no write) goes
// through. The actors then run under [Faults.ActorOptions]: never give up,
// restart at once, quarantine only after 20 attempts. Every injected
// panic carries a [*Fault], so a test or a log reader can tell it from a
// real failure.
package robust
