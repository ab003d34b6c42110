package steady

import "errors"

// The shapes' contract (what they keep of a hand-written loop, when they
// return, what they cost) is the package doc's section "Actor shapes".

// Source runs a with one output: each step calls next and sends the value
// it returns. next returns false, and no value, when it has none left: the
// step commits (with whatever next changed), and Source returns nil, which
// finishes the actor and closes out. That last step waits for room like
// the others; [SourceBatch] can end with its last values instead. A source that keeps its position in
// a [State] changed by next resumes after a restart with the value after
// the last one committed.
func Source[T any](a *Actor, out *Sender[T], next func(s *Step) (v T, ok bool, err error)) error {
	if err := check(a, "Source", 1, nil, out); err != nil {
		return err
	}
	done := false
	return source(a, out, 1, &done, func(s *Step) error {
		v, ok, err := next(s)
		if err != nil || !ok {
			done = err == nil
			return err
		}
		return out.Send(s, v)
	})
}

// SourceBatch is [Source] n values a step: each step calls fill with a
// buffer of up to n (as many as out has room for) and sends the first k
// values fill wrote there. fill returns more false with its last values:
// the step commits and SourceBatch returns nil. buf is valid only until
// fill returns.
func SourceBatch[T any](a *Actor, out *Sender[T], n int, fill func(s *Step, buf []T) (k int, more bool, err error)) error {
	if err := check(a, "SourceBatch", n, nil, out); err != nil {
		return err
	}
	buf := make([]T, min(uint64(n), out.ch.capacity))
	done := false
	return source(a, out, len(buf), &done, func(s *Step) error {
		// The wait made sure of room for the whole buffer.
		k, more, err := fill(s, buf)
		if err != nil {
			return err
		}
		if k < 0 || k > len(buf) {
			return misuseErr("actor %q: SourceBatch's fill returned %d values for a buffer of %d", a.name, k, len(buf))
		}
		done = !more
		return out.SendMany(s, buf[:k])
	})
}

// source is the loop of Source and SourceBatch. It waits for room for
// room values: a source's values are there to be made, and a step that
// found a few slots free would pay a step's cost for a few values.
func source[T any](a *Actor, out *Sender[T], room int, done *bool, step func(s *Step) error) error {
	for a.Running() {
		if err := a.WaitVacant(out, room); err != nil {
			return ended(err)
		}
		if err := a.Step(step); err != nil {
			return err
		}
		if *done {
			return nil
		}
	}
	return nil
}

// Stage runs a with one input and one output: each step peeks a value and
// calls fn with it; fn returns the value to send and true, or false to
// drop the value (it is consumed and nothing is sent). Stage returns nil
// once in is closed and drained, which finishes the actor and closes out.
func Stage[In, Out any](a *Actor, in *Receiver[In], out *Sender[Out], fn func(s *Step, v In) (w Out, keep bool, err error)) error {
	if err := check(a, "Stage", 1, in, out); err != nil {
		return err
	}
	return stage(a, in, out, func(s *Step) error {
		v, ok := in.Peek(s)
		if !ok {
			return nil
		}
		w, keep, err := fn(s, v)
		if err != nil || !keep {
			return err
		}
		return out.Send(s, w)
	})
}

// StageBatch is [Stage] n values a step: each step peeks up to n values
// (no more than out has room for) and calls fn with them and an empty
// dst; fn appends the values to send to dst and returns it. dst has room
// for at least len(vs) values: one out per value in, or fewer (a filter,
// or an aggregate of the batch); more than the output has room for fails
// the step with [ErrNoVacancy]. vs and dst are valid only until fn returns.
func StageBatch[In, Out any](a *Actor, in *Receiver[In], out *Sender[Out], n int, fn func(s *Step, vs []In, dst []Out) ([]Out, error)) error {
	if err := check(a, "StageBatch", n, in, out); err != nil {
		return err
	}
	vs := make([]In, min(uint64(n), in.ch.capacity))
	dst := make([]Out, min(uint64(n), out.ch.capacity))
	return stage(a, in, out, func(s *Step) error {
		// The wait made sure of one slot; take as many values as the
		// output has room for.
		room := int(min(uint64(len(dst)), out.vacant(uint64(len(dst)))))
		k := in.PeekMany(s, vs[:min(room, len(vs))])
		if k == 0 {
			return nil
		}
		w, err := fn(s, vs[:k], dst[:0:room])
		if err != nil {
			return err
		}
		return out.SendMany(s, w)
	})
}

// stage is the loop of Stage and StageBatch.
func stage[In, Out any](a *Actor, in *Receiver[In], out *Sender[Out], step func(s *Step) error) error {
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

// Sink runs a with one input: each step peeks a value and calls fn with
// it. Sink returns nil once in is closed and drained.
func Sink[T any](a *Actor, in *Receiver[T], fn func(s *Step, v T) error) error {
	if err := check(a, "Sink", 1, in, nil); err != nil {
		return err
	}
	return sink(a, in, func(s *Step) error {
		if v, ok := in.Peek(s); ok {
			return fn(s, v)
		}
		return nil
	})
}

// SinkBatch is [Sink] n values a step: each step peeks up to n values and
// calls fn once with all of them, for an effect that takes a batch at a
// time (one write, one request). vs holds at least one value and is valid
// only until fn returns.
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
