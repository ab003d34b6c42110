package steady

import "errors"

// The common shapes of an actor, as functions that run the actor's loop:
// [Source] produces values into one output, [Stage] maps or filters the
// values of one input into one output, [Sink] consumes one input value by
// value, and [SinkBatch] a batch at a time. Call one from the actor
// function and return what it returns:
//
//	g.Actor("double", func(a *steady.Actor) error {
//		return steady.Stage(a, in, out, 64, func(s *steady.Step, v int) (int, bool, error) {
//			return 2 * v, true, nil
//		})
//	})
//
// Each is the loop an actor would write by hand: while [Actor.Running],
// wait for input ([Actor.WaitAvailable]) and for room ([Actor.WaitVacant]),
// then run one [Actor.Step] over up to n values. The user function runs
// inside that step, so everything a hand-written step keeps holds here:
// the values peeked are consumed, the values returned are sent and the
// [State]s changed through s are installed when the step commits, and none
// of it happens if the function returns an error or panics at any point
// (the supervisor restarts the actor, which calls the shape again, and the
// values are there for it). A batch step that fails narrows its input to
// one value per step, so a value that fails every time is quarantined
// alone, as [Policy.PoisonAfter] says. n is the most values a step takes:
// 1 for a step per value, more to share a step's cost among them (see
// [Sender.SendMany]); a step takes fewer when fewer are waiting or the
// output has less room, and never waits for a batch to fill.
//
// A shape returns nil when the actor's work is over: its input is closed
// and drained, or the graph shuts down ([ErrClosed] and [ErrStopped] from
// the waits become nil), or a source says it has no more values. It
// returns the error of a failed step, and the misuse of a channel end
// bound to another actor ([ErrMisuse]) or of n below 1. A shape adds no
// allocation per step, and one or two per run (the step's closure and, for
// n > 1, a buffer of n values); BENCHMARKS.md compares it with the loop
// written by hand.
//
// An actor with two inputs or outputs, or one that waits on a clock as
// well as on its channels, writes the loop itself, with [Actor.WaitAny],
// [Actor.WaitAvailableUntil] and [Actor.SleepUntil] as it needs them.

// Source runs a with one output: each step calls next up to n times and
// sends the values it returns, in order. next returns false, with no
// value, when it has none left: the step commits what came before (and
// whatever next changed), and Source returns nil, which finishes the actor
// and closes out. A source that keeps its position in a [State] changed by
// next resumes after a restart with the value after the last one
// committed.
func Source[T any](a *Actor, out *Sender[T], n int, next func(s *Step) (T, bool, error)) error {
	if err := check(a, "Source", n, nil, out); err != nil {
		return err
	}
	done := false
	step := func(s *Step) error {
		k := 1
		if n > 1 {
			// The wait made sure of one slot; take as many more as are free.
			k = int(min(uint64(n), out.vacant(uint64(n))))
		}
		for range k {
			v, ok, err := next(s)
			if err != nil {
				return err
			}
			if !ok {
				done = true
				return nil
			}
			if err := out.Send(s, v); err != nil {
				return err
			}
		}
		return nil
	}
	for a.Running() {
		if err := a.WaitVacant(out, 1); err != nil {
			return ended(err)
		}
		if err := a.Step(step); err != nil {
			return err
		}
		if done {
			return nil
		}
	}
	return nil
}

// Stage runs a with one input and one output: each step peeks up to n
// values and calls fn on each, in order; fn returns the value to send and
// true, or false to drop the value (it is consumed and nothing is sent).
// Stage returns nil once in is closed and drained, which finishes the
// actor and closes out.
func Stage[In, Out any](a *Actor, in *Receiver[In], out *Sender[Out], n int, fn func(s *Step, v In) (Out, bool, error)) error {
	if err := check(a, "Stage", n, in, out); err != nil {
		return err
	}
	send := func(s *Step, v In) error {
		w, keep, err := fn(s, v)
		if err != nil || !keep {
			return err
		}
		return out.Send(s, w)
	}
	var step func(s *Step) error
	if n == 1 {
		step = func(s *Step) error {
			if v, ok := in.Peek(s); ok {
				return send(s, v)
			}
			return nil
		}
	} else {
		buf := make([]In, min(uint64(n), in.ch.capacity))
		step = func(s *Step) error {
			// Each value sends at most one, and the wait made sure of
			// one slot: take as many values as the output has room for.
			k := min(uint64(len(buf)), out.vacant(uint64(len(buf))))
			for _, v := range buf[:in.PeekMany(s, buf[:k])] {
				if err := send(s, v); err != nil {
					return err
				}
			}
			return nil
		}
	}
	for a.Running() {
		if err := a.WaitAvailable(in, 1); err != nil {
			return ended(err)
		}
		if err := a.WaitVacant(out, 1); err != nil {
			return ended(err)
		}
		if err := a.Step(step); err != nil {
			return err
		}
	}
	return nil
}

// Sink runs a with one input: each step peeks up to n values and calls fn
// on each, in order. Sink returns nil once in is closed and drained.
func Sink[T any](a *Actor, in *Receiver[T], n int, fn func(s *Step, v T) error) error {
	if err := check(a, "Sink", n, in, nil); err != nil {
		return err
	}
	if n == 1 {
		return sink(a, in, func(s *Step) error {
			if v, ok := in.Peek(s); ok {
				return fn(s, v)
			}
			return nil
		})
	}
	return SinkBatch(a, in, n, func(s *Step, vs []T) error {
		for _, v := range vs {
			if err := fn(s, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// SinkBatch runs a with one input: each step peeks up to n values and
// calls fn once with all of them, for an effect that takes a batch at a
// time (one write, one request). vs holds at least one value and is valid
// only until fn returns. SinkBatch returns nil once in is closed and
// drained.
func SinkBatch[T any](a *Actor, in *Receiver[T], n int, fn func(s *Step, vs []T) error) error {
	if err := check(a, "SinkBatch", n, in, nil); err != nil {
		return err
	}
	buf := make([]T, min(uint64(n), in.ch.capacity))
	return sink(a, in, func(s *Step) error {
		if k := in.PeekMany(s, buf); k > 0 {
			return fn(s, buf[:k])
		}
		return nil
	})
}

// sink is the loop of Sink and SinkBatch.
func sink[T any](a *Actor, in *Receiver[T], step func(s *Step) error) error {
	for a.Running() {
		if err := a.WaitAvailable(in, 1); err != nil {
			return ended(err)
		}
		if err := a.Step(step); err != nil {
			return err
		}
	}
	return nil
}

// check reports a shape's misuse before it waits: a channel end that is
// not a's (its waits would say so too, but only once they got that far),
// or n below 1. in or out may be nil.
func check(a *Actor, shape string, n int, in Input, out Output) error {
	if in != nil && in.owner() != a {
		return misuseErr("actor %q: %s on channel %q, whose consumer is %s", a.name, shape, in.core().name, actorName(in.owner()))
	}
	if out != nil && out.owner() != a {
		return misuseErr("actor %q: %s on channel %q, whose producer is %s", a.name, shape, out.core().name, actorName(out.owner()))
	}
	if n < 1 {
		return misuseErr("actor %q: %s takes at least 1 value a step, not %d", a.name, shape, n)
	}
	return nil
}

// ended turns the errors by which a wait says the work is over into nil,
// and passes the others (a misuse) on.
func ended(err error) error {
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrStopped) {
		return nil
	}
	return err
}
