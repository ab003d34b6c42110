package robust

import (
	"fmt"

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
	Batch  int // the most values one step sends; below 1 means 1
	Faults Faults
}

// Generator produces 0, 1, 2, ... as fast as its output takes them, until
// the graph shuts down. Its counter is committed state, so a restart goes
// on from the last committed value: no value is skipped or sent twice.
type Generator struct {
	Actor *steady.Actor
	State *steady.State[GeneratorState]

	faults *injector
	out    *steady.Sender[uint64]
	buf    []uint64
}

// NewGenerator adds the generator to g, sending into values.
func NewGenerator(g *steady.Graph, values *steady.Channel[uint64], cfg GeneratorConfig, opts ...steady.ActorOption) *Generator {
	x := &Generator{
		State:  steady.NewState(g, GeneratorName, GeneratorState{}),
		faults: newInjector(GeneratorName, 1, cfg.Faults, StepStart, AfterSend, AfterUpdate),
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
	k := uint64(min(x.out.Vacant(), len(x.buf)))
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
