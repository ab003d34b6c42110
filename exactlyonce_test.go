package steady_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// msg travels the chaos pipeline; Hops counts the transforms it went
// through, so the sink can tell a message that skipped or repeated a stage.
type msg struct {
	V    uint64
	Hops uint8
}

// chaos panics at one of the points of a step a user's code can fail at,
// with probability p per step, from a fixed seed.
type chaos struct {
	rng   *rand.Rand
	p     float64
	point int // the point chosen for the current step; 0 for none
}

const (
	beforePeek = iota + 1
	afterPeek
	afterSend
	afterState
	beforeReturn
	nPoints = beforeReturn
)

func (c *chaos) begin() {
	c.point = 0
	if c.rng.Float64() < c.p {
		c.point = 1 + c.rng.IntN(nPoints)
	}
}

func (c *chaos) at(point int) {
	if c.point == point {
		panic(fmt.Sprintf("injected at point %d", point))
	}
}

type sinkState struct {
	Next  uint64 // the value expected next: every value below arrived once, in order
	Wrong uint64 // values out of order, repeated, or with the wrong hop count
}

// chaosPipeline is source → t1 → t2 → sink, built by newChaosPipeline.
type chaosPipeline struct {
	g        *steady.Graph
	source   *steady.State[uint64]
	counts   []*steady.State[uint64]
	sink     *steady.State[sinkState]
	panics   *atomic.Int64
	messages uint64
}

// committed is what each stage committed: the messages the source sent,
// those t1 and t2 passed on, and those the sink took in order.
func (p *chaosPipeline) committed() [4]uint64 {
	return [4]uint64{p.source.Value(), p.counts[0].Value(), p.counts[1].Value(), p.sink.Value().Next}
}

// runChaosPipeline runs source → t1 → t2 → sink with n messages, batch
// messages per step at most, and panics injected with probability p per
// step in every stage. It returns the sink's committed state and the
// number of panics.
func runChaosPipeline(t *testing.T, n uint64, batch int, p float64) (sinkState, [4]uint64, int64) {
	t.Helper()
	pl := newChaosPipeline(quiet(), n, batch, p)
	if err := pl.g.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if dl := pl.g.DeadLetters(); len(dl) > 0 {
		t.Errorf("%d dead letters, first: %v", len(dl), dl[0].Err)
	}
	return pl.sink.Value(), pl.committed(), pl.panics.Load()
}

// newChaosPipeline builds the graph of runChaosPipeline on cfg.
func newChaosPipeline(cfg steady.Config, n uint64, batch int, p float64) *chaosPipeline {
	var panics atomic.Int64
	cfg.OnEvent = func(e observe.Event) {
		if e.Kind == observe.EventPanicked {
			panics.Add(1)
		}
	}
	g := steady.NewGraph(cfg)
	chans := []*steady.Channel[msg]{
		steady.NewChannel[msg](g, "a", 256),
		steady.NewChannel[msg](g, "b", 256),
		steady.NewChannel[msg](g, "c", 256),
	}
	srcState := steady.NewState(g, "source", uint64(0))
	counts := []*steady.State[uint64]{steady.NewState(g, "t1", uint64(0)), steady.NewState(g, "t2", uint64(0))}
	sink := steady.NewState(g, "sink", sinkState{})
	opts := []steady.ActorOption{steady.Backoff(0, 0), steady.Intensity(-1, 0), steady.PoisonAfter(10)}
	newChaos := func(seed uint64) *chaos { return &chaos{rng: rand.New(rand.NewPCG(seed, 7)), p: p} }

	// source
	{
		var out *steady.Sender[msg]
		c := newChaos(1)
		a := g.Actor("source", func(a *steady.Actor) error {
			for srcState.Value() < n {
				k := min(uint64(batch), n-srcState.Value())
				if err := a.WaitVacant(out, int(k)); err != nil {
					return err
				}
				err := a.Step(func(s *steady.Step) error {
					c.begin()
					c.at(beforePeek)
					next := srcState.Get(s)
					c.at(afterPeek)
					for i := uint64(0); i < k; i++ {
						if err := out.Send(s, msg{V: *next + i}); err != nil {
							return err
						}
					}
					c.at(afterSend)
					*next += k
					c.at(afterState)
					c.at(beforeReturn)
					return nil
				})
				if err != nil {
					return err
				}
			}
			return nil
		}, opts...)
		out = chans[0].Sender(a)
		srcState.Bind(a)
	}
	// two transforms
	for i := range 2 {
		var in, out = (*steady.Receiver[msg])(nil), (*steady.Sender[msg])(nil)
		c := newChaos(uint64(2 + i))
		count := counts[i]
		buf := make([]msg, batch)
		a := g.Actor(fmt.Sprintf("t%d", i+1), func(a *steady.Actor) error {
			for {
				if err := a.WaitAvailable(in, 1); err != nil {
					return err
				}
				if err := a.WaitVacant(out, batch); err != nil {
					return err
				}
				err := a.Step(func(s *steady.Step) error {
					c.begin()
					c.at(beforePeek)
					k := in.PeekMany(s, buf)
					c.at(afterPeek)
					for _, m := range buf[:k] {
						m.Hops++
						if err := out.Send(s, m); err != nil {
							return err
						}
					}
					c.at(afterSend)
					*count.Get(s) += uint64(k)
					c.at(afterState)
					c.at(beforeReturn)
					return nil
				})
				if err != nil {
					return err
				}
			}
		}, opts...)
		in, out = chans[i].Receiver(a), chans[i+1].Sender(a)
		count.Bind(a)
	}
	// sink
	{
		var in *steady.Receiver[msg]
		c := newChaos(4)
		buf := make([]msg, batch)
		a := g.Actor("sink", func(a *steady.Actor) error {
			for {
				if err := a.WaitAvailable(in, 1); err != nil {
					return err
				}
				err := a.Step(func(s *steady.Step) error {
					c.begin()
					c.at(beforePeek)
					k := in.PeekMany(s, buf)
					c.at(afterPeek)
					st := sink.Get(s)
					c.at(afterSend)
					for _, m := range buf[:k] {
						if m.V != st.Next || m.Hops != 2 {
							st.Wrong++
						}
						st.Next = max(st.Next, m.V+1)
					}
					c.at(afterState)
					c.at(beforeReturn)
					return nil
				})
				if err != nil {
					return err
				}
			}
		}, opts...)
		in = chans[2].Receiver(a)
		sink.Bind(a)
	}
	return &chaosPipeline{g: g, source: srcState, counts: counts, sink: sink, panics: &panics, messages: n}
}

func messages(t *testing.T) uint64 {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

// TestExactlyOnceUnderChaos: with panics at every point of every stage's
// steps, the sink sees every value exactly once, in order.
func TestExactlyOnceUnderChaos(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch int
		p     float64
	}{
		{"single", 1, 0.004},
		{"batch", 64, 0.08},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := messages(t)
			got, counts, panics := runChaosPipeline(t, n, tc.batch, tc.p)
			if got.Next != n || got.Wrong != 0 {
				t.Errorf("sink: next %d (want %d), %d out of order or repeated", got.Next, n, got.Wrong)
			}
			for i, c := range counts {
				if c != n {
					t.Errorf("stage %d committed %d messages, want %d", i, c, n)
				}
			}
			minPanics := int64(n / 100)
			if panics < minPanics {
				t.Errorf("only %d panics injected, want at least %d", panics, minPanics)
			}
			t.Logf("%d messages, %d panics", n, panics)
		})
	}
}
