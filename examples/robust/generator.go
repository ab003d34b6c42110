package robust

import (
	"fmt"
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
	Once
}

// GeneratorConfig configures [NewGenerator].
type GeneratorConfig struct {
	Batch int // the most values one step sends; below 1 means 1
	// Limit, if set, caps the values sent: the generator sends no value
	// at or past Limit(), and once it has reached it looks again every
	// limitPoll. Across processes, where a stream takes the values as fast
	// as they come, it keeps the generator a few batches ahead of the
	// heartbeat, as the values channel does in one process. Nil: only the
	// output paces the generator.
	Limit  func() uint64
	Faults Faults
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

	faults *injector
	limit  func() uint64
	out    *steady.Sender[uint64]
	buf    []uint64
	room   uint64 // with a Limit, the values the next step may send
}

// NewGenerator adds the generator to g, sending into values.
func NewGenerator(g *steady.Graph, values *steady.Channel[uint64], cfg GeneratorConfig, opts ...steady.ActorOption) *Generator {
	x := &Generator{
		State:  steady.NewState(g, GeneratorName, GeneratorState{}),
		faults: newInjector(GeneratorName, 1, cfg.Faults, StepStart, AfterSend, AfterUpdate),
		limit:  cfg.Limit,
		buf:    make([]uint64, max(cfg.Batch, 1)),
	}
	policy := append(cfg.Faults.ActorOptions(), cfg.Faults.GeneratorOptions()...)
	x.Actor = g.Actor(GeneratorName, x.run, append(policy, opts...)...)
	x.out = values.Sender(x.Actor)
	x.State.Bind(x.Actor)
	return x
}

// Injected is the number of faults the generator has injected.
func (x *Generator) Injected() int64 { return x.faults.Injected() }

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
	f := x.faults
	f.begin()
	f.at(StepStart)
	st := x.State.Get(s)
	if f.mode == Degrade && st.Next >= f.script.BreakAt {
		f.fire(&Fault{Mode: Degrade, Point: StepStart, Detail: fmt.Sprintf("at value %d: its source is gone for good", st.Next)})
	}
	k := min(uint64(x.out.Vacant()), x.room)
	at := f.script.GeneratorAt
	if f.scripted() && st.Next < at {
		k = min(k, at-st.Next) // so that a step starts exactly at the scripted value
	}
	if f.mode == Degrade && st.Next < f.script.BreakAt {
		k = min(k, f.script.BreakAt-st.Next) // nothing at or past the break
	}
	for i := range k {
		x.buf[i] = st.Next + i
	}
	if err := x.out.SendMany(s, x.buf[:k]); err != nil {
		return err
	}
	f.at(AfterSend)
	if st.due(s.Actor(), f.scripted() && st.Next == at) {
		f.fire(&Fault{Mode: Scripted, Point: AfterSend, Detail: fmt.Sprintf("at value %d", at)})
	}
	st.Next += k
	f.at(AfterUpdate)
	return nil
}
