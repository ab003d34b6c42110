// Package steady runs fault-tolerant actor pipelines: named actors, each an
// ordinary Go function on its own supervised goroutine, joined by typed,
// bounded channels, with state the graph keeps for them.
//
// A [Graph] is built first ([NewGraph], [NewChannel], [NewState],
// [Graph.Actor], then [Channel.Sender], [Channel.Receiver] and [State.Bind]
// to wire each actor's ends), then run once with [Graph.Run]. An actor does
// its work in steps ([Actor.Step]); the step is the unit of atomicity.
//
// # Guarantees
//
//   - Isolation. A panic or error in one actor never stops another. Its
//     producers keep working until the channel between them is full, then
//     wait; its consumers drain what they already have.
//   - Automatic restart. A failed actor runs again under its [Policy], with
//     exponential backoff and a restart intensity limit; [Actor.Restarts]
//     says how often.
//   - State survives restarts. After a restart the actor sees its last
//     committed [State], never a half-applied one.
//   - Exactly once inside the graph. A step's peeked inputs are consumed,
//     its sent outputs published (in order) and its state installed when it
//     returns nil, all at once; if it returns an error or panics at any
//     line, none of it happens and the inputs are there for the next
//     attempt.
//   - Poison messages are quarantined, never dropped. A message that fails
//     its consumer's step [Policy.PoisonAfter] times in a row moves to the
//     graph's dead-letter store ([Graph.DeadLetters]) with the failure;
//     [Graph.Replay] puts it back, [Graph.Purge] deletes it, a deliberate
//     loss that is announced ([observe.EventPurged]) and counted. After a failed
//     step the channels it peeked are narrowed to one message per step
//     until the suspect messages are consumed, so the message quarantined
//     is the one that fails. The store is bounded ([Config.MaxDeadLetters],
//     default [DefaultConfig]): when it is full, the message stays
//     at the head of its channel and its consumer gives up, under its
//     [Policy.OnLimit], with an error wrapping [ErrDeadLetterStoreFull].
//   - Graceful shutdown. [Graph.Shutdown], a cancelled context or an actor
//     ([Actor.RequestShutdown]) starts it: producers stop and close their
//     outputs, consumers drain their inputs until closed and empty, actors
//     may hold it ([Actor.HoldShutdown]) up to [Config.ShutdownTimeout].
//     No goroutine outlives Run unless an actor ignores its context past
//     the timeout, or a store's commit hangs past it (see Caveats).
//
// # Expected actor behaviour
//
// An actor of one of the common shapes (a source, a stage, a sink) hands
// its loop to a function; see Actor shapes below. Any other actor loops
// while [Actor.Running], waits for input with [Actor.WaitAvailable] (or
// [Actor.WaitAny] for whichever of several inputs has work, or
// [Actor.WaitAvailableUntil] up to a deadline) or for room with
// [Actor.WaitVacant], and then runs a step; a periodic actor waits with
// [Actor.SleepUntil], which keeps its schedule where [Actor.Sleep]
// drifts. Returning nil finishes the actor and closes its
// outputs; [ErrStopGraph] also shuts the graph down (wrapped with a cause,
// [Graph.Run] returns it); any other error, or a panic, restarts it. An
// error marked [Transient] (an outage outside the graph) restarts it too,
// but charges its messages no attempt and does not count against the
// restart limit. Errors from waits ([ErrClosed], [ErrStopped]) can be
// returned as they are: they finish the actor. [Step.OnDurable] runs a
// function once a step cannot be undone, to acknowledge what the step
// took from outside the graph. A stage that doubles, by hand:
//
//	for a.Running() {
//		if err := a.WaitAvailable(in, 1); err != nil {
//			return err
//		}
//		if err := a.WaitVacant(out, 1); err != nil {
//			return err
//		}
//		err := a.Step(func(s *steady.Step) error {
//			v, _ := in.Peek(s)
//			return out.Send(s, v*2)
//		})
//		if err != nil {
//			return err
//		}
//	}
//	return nil
//
// A step never blocks and never deadlocks on a full output: it may send at
// most the vacancy the output had when the step began, which a successful
// WaitVacant guarantees; more fails the step with [ErrNoVacancy]. Peek the
// message you work on last: a failure is charged to the message peeked
// last, when the step peeked only it from its channel.
//
// A handle used from the wrong actor, outside a step, or after the graph was
// built fails the step with [ErrMisuse]; wiring mistakes (duplicate names, a
// channel without a producer or consumer, two producers, a state bound twice)
// are all reported by Run, wrapping [ErrWiring], before any actor starts.
//
// # Actor shapes
//
// Most actors are one of three shapes, and a function runs the loop of
// each: a source produces values into one output ([Source],
// [SourceBatch]), a stage maps or filters the values of one input into
// one output ([Stage], [StageBatch]), a sink consumes one input ([Sink],
// [SinkBatch]). The actor function calls one and returns what it returns:
//
//	g.Actor("double", func(a *steady.Actor) error {
//		return steady.Stage(a, in, out, func(s *steady.Step, v int) (int, bool, error) {
//			return v * 2, true, nil // false would drop v
//		})
//	})
//
// Each runs the loop above: while [Actor.Running], wait for input and for
// room, then one [Actor.Step] that calls the user function. So everything
// a hand-written step keeps holds: the values peeked are consumed, the
// values returned are sent and the [State]s changed through s are
// installed when the step commits, and none of it happens if the function
// returns an error or panics at any point; the supervisor restarts the
// actor, whose function calls the shape again, and finds the values
// there.
//
// The plain forms take one value a step. The batch forms take up to n and
// call the function once with a slice of them ([Receiver.PeekMany],
// [Sender.SendMany]), which shares a step's cost among its values: the
// fast path. A batch step takes what is there when it begins and never
// waits for a batch to fill (a batch source waits for room for its
// whole batch, which it makes rather than receives). A failed batch
// narrows its input to one value per step, so a value that fails every
// time is quarantined alone ([Policy.PoisonAfter]).
//
// A shape returns nil when the actor's work is over: its input is closed
// and drained, or the graph shuts down ([ErrClosed] and [ErrStopped] from
// its waits become nil), or a source says it has no more values. It
// returns the error of a failed step; and, before it waits or runs any
// step, an [ErrMisuse] for a channel end bound to another actor or a batch
// size below 1. It allocates its step's closure and a batch form's
// buffers once a run, nothing per step; against the loop written by hand
// it costs nothing measurable in a pipeline, and about a nanosecond a step
// alone, the call of the user function (BENCHMARKS.md, "Actor shapes"). An
// actor with several inputs or outputs, or one that waits on a clock too,
// writes its loop.
//
// # Restart semantics
//
// A restart calls the same function again with the same *Actor, on the same
// goroutine. What the actor keeps: its States (as last committed), the
// messages in its channels and the attempt count of each input's head
// message, its restart count and statistics. What it loses: everything in
// local variables, and the effects of the step that failed. The delay before
// a restart grows from [Policy.InitialBackoff] by [Policy.Multiplier] per
// consecutive failure up to [Policy.MaxBackoff], with ±[Policy.Jitter], and
// starts over once the actor ran [Policy.ResetAfter] without failing. More
// than [Policy.MaxRestarts] restarts within [Policy.Window] gives up: the
// actor stops and the graph runs on degraded ([Degrade]) or shuts down
// ([StopGraph]). [DefaultPolicy] lists the defaults and their reasons.
//
// # Events
//
// Every failure, restart, quarantine, shutdown request, veto and stop is an
// [observe.Event], logged through [Config.Logger] (log/slog) and delivered to
// [Config.OnEvent]; so are alerts and memory pressure, and each restarted
// actor's resumed state ([observe.EventResumed], at Debug). [Actor.Stats] returns
// each actor's panics, restarts, downtime, availability and recovery-time
// percentiles; [Graph.Snapshot] adds the channels, the graph's
// availability (the share of the run every actor could work) and the
// memory watch. These values, the events and the statuses are the types of
// package observe, which imports nothing of steady's.
//
// # Memory pressure
//
// Against a limit ([Config.MemoryLimit], or the runtime's GOMEMLIMIT) the
// graph watches the live heap. Above [Config.MemoryHigh] of it, it holds
// its sources (actors without inputs) at their next [Actor.WaitVacant] or
// [Actor.Step] and the rest of the graph drains the channels; below
// [Config.MemoryLow] it lets them go. Nothing is dropped.
//
// # Durability
//
// With [Config.Store] (package store/bolt has the default, one bbolt file),
// committed steps also survive a killed process. Each committing step is
// encoded with the channels' and states' [Codec]s; a committer goroutine
// writes the steps of every actor in one transaction (group commit: one
// set of fsyncs for many steps), and only then publishes the messages they sent and the slots
// they freed. So a step's outputs reach the next actor only once durable:
// after kill -9, [Graph.Run] (or [Graph.Load] before it) resumes every
// state, unconsumed message, attempt count and dead letter from the last
// durable commit, with nothing lost and nothing applied twice. A replay
// ([Graph.Replay]) and a purge ([Graph.Purge]) are durable when they
// return; called after [Graph.Load] without running the graph, as a
// command on a state directory would, they change only the store, and the
// next run delivers the replayed messages. A store that does not fit the
// graph is an error wrapping [ErrLoad] and is left untouched.
// docs/durability.md has the argument, the figures and the pattern for
// exactly-once effects outside the graph.
//
// # Costs
//
// Channels are single-producer single-consumer rings: no lock and no
// allocation per message. While a producer streams, a consumer that keeps
// pace lets a batch (a fraction of the capacity) gather before it takes
// it, waiting a few pauses of a fraction of a microsecond and a look at
// the producer's index after each run of them, so that the ring's cache
// lines cross between cores once per batch; see [Channel]. A
// step costs a few tens of nanoseconds; batch steps ([Sender.SendMany],
// [Receiver.PeekMany]) amortise it to 1–3 ns per message. A restart without
// backoff takes about 1.3 microseconds from the panic to the next
// committed step. State is copied once per step that calls [State.Get].
// BENCHMARKS.md has the figures and the commands.
//
// # Caveats
//
//   - Exactly-once holds inside the graph. An effect outside it (a file
//     write, a network call) made inside a step is not rolled back; make it
//     idempotent, or make it from committed state after the step.
//   - Without a [Config.Store], state lives in memory: a killed process
//     loses it. With one, other actors see a step's outputs only once they
//     are durable: a fraction of a millisecond to a few milliseconds later,
//     depending on the disk's fsync.
//   - Events are delivered synchronously, usually on the actor's goroutine;
//     a slow hook slows that actor. A panic in the hook is recovered and
//     logged at Error; it fails nothing else.
//   - Shutdown ends by inputs closing, producer to consumer. In a graph
//     with a cycle no input in the cycle closes, and [Actor.Running] stays
//     true while any input is open, so its shutdown ends at the timeout,
//     when the cycle's waits return [ErrStopped].
//   - An actor that gave up under [Degrade] leaves its producers blocked
//     on the full channel between them until the graph shuts down (the
//     backpressure that keeps the failure from cascading).
//   - An actor blocked outside steady's waits that ignores
//     [Actor.Context] cannot be stopped; Run returns after the shutdown
//     timeout and a grace second, and its goroutine leaks. So does the
//     committer's when a store's commit hangs: Run returns
//     [ErrCommitHung].
//   - A message replayed from the dead-letter store goes ahead of the
//     messages its consumer has not peeked, and may exceed the channel's
//     capacity.
//   - A full dead-letter store stops every consumer that meets a poison
//     message, one after another, until an operator replays or purges
//     letters or raises the limit; nothing is dropped to make room. A
//     replayed letter counts against the limit until its message is
//     consumed.
package steady
