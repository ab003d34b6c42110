package robust

import (
	"time"

	"github.com/steady-go/steady"
)

// The actors' names, which are also the names of their states.
const (
	GeneratorName = "generator"
	HeartbeatName = "heartbeat"
	WorkerName    = "worker"
	LoggerName    = "logger"
)

// GeneratorState is the generator's committed state.
type GeneratorState struct {
	Next uint64 // the next value: 0..Next-1 have been sent
}

// FaultGeneratorSent is the generator's named fault point
// ([steady.Step.Fault]): the step's values are staged, and not yet
// counted in its state.
const FaultGeneratorSent = "robust.generator.sent"

// GeneratorConfig configures [NewGenerator].
type GeneratorConfig struct {
	Batch int // the most values one step sends; below 1 means 1
	// Limit, if set, caps the values sent: the generator sends no value
	// at or past Limit(), and once it has reached it looks again every
	// limitPoll. Across processes, where a stream takes the values as fast
	// as they come, it keeps the generator a few batches ahead of the
	// heartbeat, as the values channel does in one process. Nil: only the
	// output paces the generator.
	Limit func() uint64
}

// limitPoll is how often a generator at its Limit looks again: the limit
// moves with the heartbeat's beats, 25 ms apart in a default run, so a
// millisecond's lag is small against it, and a look costs about a
// microsecond.
const limitPoll = time.Millisecond

// Generator produces 0, 1, 2, ... as fast as its output takes them (and
// its Limit allows), until the graph shuts down. Its counter is committed state, so a restart goes
// on from the last committed value: no value is skipped or sent twice.
type Generator struct {
	Actor *steady.Actor
	State *steady.State[GeneratorState]

	limit func() uint64
	out   *steady.Sender[uint64]
	buf   []uint64
	room  uint64 // with a Limit, the values the next step may send
}

// NewGenerator adds the generator to g, sending into values.
func NewGenerator(g *steady.Graph, values *steady.Channel[uint64], cfg GeneratorConfig, opts ...steady.ActorOption) *Generator {
	x := &Generator{
		State: steady.NewState(g, GeneratorName, GeneratorState{}),
		limit: cfg.Limit,
		buf:   make([]uint64, max(cfg.Batch, 1)),
	}
	x.Actor = g.Actor(GeneratorName, x.run, opts...)
	x.out = values.Sender(x.Actor)
	x.State.Bind(x.Actor)
	return x
}

func (x *Generator) run(a *steady.Actor) error {
	for a.Running() {
		x.room = uint64(len(x.buf))
		if x.limit != nil {
			next, limit := x.State.Value().Next, x.limit()
			if next >= limit {
				if err := a.Sleep(limitPoll); err != nil {
					return err
				}
				continue
			}
			x.room = min(x.room, limit-next)
		}
		if err := a.WaitVacant(x.out, 1); err != nil {
			return err
		}
		if err := a.Step(x.step); err != nil {
			return err
		}
	}
	return nil
}

func (x *Generator) step(s *steady.Step) error {
	st := x.State.Get(s)
	k := min(uint64(x.out.Vacant()), x.room)
	for i := range k {
		x.buf[i] = st.Next + i
	}
	if err := x.out.SendMany(s, x.buf[:k]); err != nil {
		return err
	}
	s.Fault(FaultGeneratorSent)
	st.Next += k
	return nil
}
