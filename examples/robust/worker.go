package robust

import (
	"errors"

	"github.com/steady-go/steady"
)

// WorkerState is the worker's committed state.
type WorkerState struct {
	Beats     uint64 // beats taken
	Credit    int    // values the last beat still allows
	Processed uint64 // values turned into messages
	Drained   uint64 // of those, values taken without beats once the beats ended
	Counts    [NumCategories]uint64
}

// FaultWorkerSent is the worker's named fault point ([steady.Step.Fault]):
// the step's messages are staged and counted by category, and its beat
// and values not yet counted in its state.
const FaultWorkerSent = "robust.worker.sent"

// WorkerConfig configures [NewWorker].
type WorkerConfig struct {
	// Batch is the number of values a beat allows; below 1 means 1, and
	// it is capped at the capacity of the worker's output.
	Batch int
}

// Worker turns values into FizzBuzz messages, paced by the heartbeat: each
// beat allows up to Batch values.
//
// A beat grants Batch values of credit, kept in the worker's state. The
// step that takes a beat also takes the values waiting, up to the credit;
// while credit is left, later steps take values without a beat. Normally a
// beat's values go in one step; after a failed step the framework narrows
// the worker's inputs to one message per step (see [steady.Receiver.Peek]),
// and the credit lets those single values go on without spending a beat
// each.
//
// A step peeks the beat first and the values last, because a failure is
// charged to the message peeked last: a value that fails alone is the
// poison, and never a beat.
//
// When the beats end (the heartbeat stopped, closing its channel) the
// worker drains the values left without beats, a batch per step, until
// their channel is closed and empty too; when the values end first, it
// takes the remaining beats alone. Either way it leaves both inputs empty.
type Worker struct {
	Actor *steady.Actor
	State *steady.State[WorkerState]

	batch         int
	beatCh, valCh *steady.Channel[uint64]
	beats, values *steady.Receiver[uint64]
	out           *steady.Sender[Message]
	inBuf         []uint64
	outBuf        []Message
}

// NewWorker adds the worker to g: it takes beats and values and sends
// messages into out.
func NewWorker(g *steady.Graph, beats, values *steady.Channel[uint64], out *steady.Channel[Message], cfg WorkerConfig, opts ...steady.ActorOption) *Worker {
	batch := max(cfg.Batch, 1)
	if c := out.Cap(); c > 0 {
		batch = min(batch, c)
	}
	x := &Worker{
		State:  steady.NewState(g, WorkerName, WorkerState{}),
		batch:  batch,
		beatCh: beats,
		valCh:  values,
		inBuf:  make([]uint64, batch),
		outBuf: make([]Message, batch),
	}
	x.Actor = g.Actor(WorkerName, x.run, opts...)
	x.beats = beats.Receiver(x.Actor)
	x.values = values.Receiver(x.Actor)
	x.out = out.Sender(x.Actor)
	x.State.Bind(x.Actor)
	return x
}

// ended reports that the producer closed ch and the worker took everything
// in it. Closed is read first: the producer publishes its last messages
// before it closes.
func ended(ch *steady.Channel[uint64], rx *steady.Receiver[uint64]) bool {
	return ch.Closed() && rx.Len() == 0
}

func (x *Worker) run(a *steady.Actor) error {
	for a.Running() {
		valuesEnded := ended(x.valCh, x.values)
		beatsEnded := ended(x.beatCh, x.beats)
		if valuesEnded && beatsEnded {
			// Running stays true until a shutdown is requested, even
			// with every input ended; the work is done either way.
			return nil
		}
		withBeat := !beatsEnded && (x.State.Value().Credit == 0 || valuesEnded)
		var err error
		if withBeat {
			err = a.WaitAvailable(x.beats, 1)
		} else {
			err = a.WaitAvailable(x.values, 1)
		}
		if errors.Is(err, steady.ErrClosed) {
			continue // that input has ended: look again
		}
		if err != nil {
			return err
		}
		if err := a.WaitVacant(x.out, x.batch); err != nil {
			return err
		}
		// The closure does not escape (Actor.Step's fn does not), so it
		// costs no allocation.
		err = a.Step(func(s *steady.Step) error { return x.step(s, withBeat, beatsEnded) })
		if err != nil {
			return err
		}
	}
	return nil
}

// step takes a beat if withBeat, then values up to the credit (or a batch
// when draining), and sends their messages.
func (x *Worker) step(s *steady.Step, withBeat, draining bool) error {
	st := x.State.Get(s)
	holdsBeat := false
	if withBeat {
		_, holdsBeat = x.beats.Peek(s)
	}
	want := st.Credit
	if holdsBeat || draining {
		want = x.batch
	}
	k := x.values.PeekMany(s, x.inBuf[:want])
	for i, v := range x.inBuf[:k] {
		c := Categorize(v)
		x.outBuf[i] = Message{Value: v, Category: c}
		st.Counts[c]++
	}
	if err := x.out.SendMany(s, x.outBuf[:k]); err != nil {
		return err
	}
	s.Fault(FaultWorkerSent)
	st.Processed += uint64(k)
	switch {
	case holdsBeat:
		st.Beats++
		st.Credit = x.batch - k
	case draining:
		st.Drained += uint64(k)
	default:
		st.Credit -= k
	}
	return nil
}
