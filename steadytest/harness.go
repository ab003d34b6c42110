package steadytest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// DefaultTimeLimit bounds Harness.Run unless changed with TimeLimit: long
// enough for a few thousand restarts under the race detector, short enough
// that a stuck actor fails the test quickly.
const DefaultTimeLimit = 10 * time.Second

// Harness is a graph built for one test.
type Harness struct {
	t     testing.TB
	g     *steady.Graph
	limit time.Duration

	mu     sync.Mutex
	faults []fault
	next   func(observe.FaultPoint) error // the Faults given to WithConfig, asked after the kit's
	fired  []observe.FaultPoint
	events []observe.Event
}

// Option configures a Harness.
type Option func(*steady.Config, *Harness)

// TimeLimit sets how long Run may take.
func TimeLimit(d time.Duration) Option { return func(_ *steady.Config, h *Harness) { h.limit = d } }

// WithConfig lets the test change the graph's configuration. The harness
// keeps its own Faults and OnEvent, and chains those given after them: a
// fault point the kit does not fail is left to the given Faults.
func WithConfig(f func(*steady.Config)) Option { return func(c *steady.Config, _ *Harness) { f(c) } }

// New returns a harness with a quiet graph (events are kept, see
// Harness.Events, and logged through t.Log only when the test fails) and a
// fixed seed.
func New(t testing.TB, opts ...Option) *Harness {
	h := &Harness{t: t, limit: DefaultTimeLimit}
	cfg := steady.Config{Logger: slog.New(slog.DiscardHandler), Seed: 1}
	for _, o := range opts {
		o(&cfg, h)
	}
	user := cfg.OnEvent
	cfg.OnEvent = func(e observe.Event) {
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
		if user != nil {
			user(e)
		}
	}
	h.next = cfg.Faults
	cfg.Faults = h.inject
	h.g = steady.NewGraph(cfg)
	return h
}

// Graph is the harness's graph, for NewChannel and NewState.
func (h *Harness) Graph() *steady.Graph { return h.g }

// Actor adds the actor under test (or any other actor) to the graph.
func (h *Harness) Actor(name string, fn func(*steady.Actor) error, opts ...steady.ActorOption) *steady.Actor {
	return h.g.Actor(name, fn, opts...)
}

// Run runs the graph until every actor has stopped, or shuts it down in
// order when the time limit passes and fails the test with what was still
// running. It returns Run's error.
func (h *Harness) Run() error {
	h.t.Helper()
	ctx, cancel := context.WithTimeoutCause(context.Background(), h.limit, errTimeLimit)
	defer cancel()
	err := h.g.Run(ctx)
	if ctx.Err() != nil {
		h.t.Errorf("steadytest: time limit of %v reached; %s", h.limit, h.describe())
	}
	if h.t.Failed() {
		for _, e := range h.Events() {
			h.t.Log(e)
		}
	}
	return err
}

var errTimeLimit = fmt.Errorf("steadytest: time limit reached")

// describe says where each actor and channel stood, for failure messages.
func (h *Harness) describe() string {
	snap := h.g.Snapshot()
	var b strings.Builder
	for _, a := range snap.Actors {
		fmt.Fprintf(&b, "actor %q %v (restarts %d, steps %d); ", a.Name, a.Status, a.Restarts, a.Commits)
	}
	for _, c := range snap.Channels {
		fmt.Fprintf(&b, "channel %q %d sent, %d taken, closed %v; ", c.Name, c.Sent, c.Taken, c.Closed)
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// Events returns the events of the run so far.
func (h *Harness) Events() []observe.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]observe.Event(nil), h.events...)
}

// Count returns how many events of kind k concern the named actor.
func (h *Harness) Count(actor string, k observe.EventKind) int {
	n := 0
	for _, e := range h.Events() {
		if e.Kind == k && e.Actor == actor {
			n++
		}
	}
	return n
}

// Feeder is an input channel fed from a script.
type Feeder[T any] struct {
	*steady.Channel[T]
	// Actor is the feeding actor, named "steadytest.feed.<channel>"; a
	// test can inject faults into it too, for instance to hold a feed back.
	Actor  *steady.Actor
	script []T
}

// Feed adds a channel of the given capacity whose producer sends script, in
// order, one message per step, and then finishes, closing the channel.
// Bind its consumer to the actor under test with Receiver.
func Feed[T any](h *Harness, name string, capacity int, script ...T) *Feeder[T] {
	f := &Feeder[T]{Channel: steady.NewChannel[T](h.g, name, capacity), script: script}
	var out *steady.Sender[T]
	sent := steady.NewState(h.g, "steadytest.feed."+name, 0)
	a := h.g.Actor("steadytest.feed."+name, func(a *steady.Actor) error {
		// A batch of one, not Source: the step that sends the last
		// message ends the feed, with no empty step after it that would
		// wait for room before the channel closes.
		return steady.SourceBatch(a, out, 1, func(s *steady.Step, buf []T) (int, bool, error) {
			n := sent.Get(s)
			k := copy(buf, f.script[*n:])
			*n += k
			return k, *n < len(f.script), nil
		})
	})
	out = f.Sender(a)
	sent.Bind(a)
	f.Actor = a
	return f
}

// Collector is an output channel whose messages are recorded.
type Collector[T any] struct {
	*steady.Channel[T]
	// Actor is the collecting actor, named "steadytest.collect.<channel>".
	Actor     *steady.Actor
	got       *steady.State[[]T]
	stopAfter int
}

// Collect adds a channel of the given capacity whose consumer records every
// message in its committed state. Bind its producer to the actor under test
// with Sender.
func Collect[T any](h *Harness, name string, capacity int) *Collector[T] {
	c := &Collector[T]{Channel: steady.NewChannel[T](h.g, name, capacity)}
	// Appending to the committed slice is safe without a Clone: a rolled
	// back step's append is beyond the committed length and is overwritten.
	c.got = steady.NewState[[]T](h.g, "steadytest.collect."+name, nil)
	var in *steady.Receiver[T]
	a := h.g.Actor("steadytest.collect."+name, func(a *steady.Actor) error {
		return steady.SinkBatch(a, in, 64, func(s *steady.Step, vs []T) error {
			got := c.got.Get(s)
			*got = append(*got, vs...)
			if c.stopAfter > 0 && len(*got) >= c.stopAfter {
				a.RequestShutdown(fmt.Sprintf("steadytest: %q collected %d messages", name, len(*got)))
			}
			return nil
		})
	})
	in = c.Receiver(a)
	c.got.Bind(a)
	c.Actor = a
	return c
}

// StopAfter shuts the graph down once n messages were collected: for actors
// that do not stop by themselves.
func (c *Collector[T]) StopAfter(n int) *Collector[T] {
	c.stopAfter = n
	return c
}

// Got returns the messages collected by committed steps, in order.
func (c *Collector[T]) Got() []T {
	return append([]T(nil), c.got.Value()...)
}
