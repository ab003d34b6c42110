package robust

import (
	"fmt"
	"time"

	"github.com/steady-go/steady"
)

// HeartbeatState is the heartbeat's committed state.
type HeartbeatState struct {
	Beats uint64 // beats sent; the last one carried this number
}

// FaultHeartbeatSent is the heartbeat's named fault point
// ([steady.Step.Fault]): the beat is staged, and not yet counted in its
// state.
const FaultHeartbeatSent = "robust.heartbeat.sent"

// HeartbeatConfig configures [NewHeartbeat].
type HeartbeatConfig struct {
	// Rate is the period of the beats. They keep to a schedule, so
	// neither the time a step takes nor a beat held up for less than a
	// period makes the later beats late; a beat held up longer starts
	// the schedule again from when it went. Zero sends them as fast as
	// the worker takes them.
	Rate time.Duration
	// Beats is the number of beats after which the heartbeat asks the
	// graph to shut down; zero beats until something else shuts it down.
	Beats uint64
}

// Heartbeat paces the worker: it sends a beat, numbered from 1, every
// Rate. After Beats beats it asks the graph to shut down and finishes,
// which closes the beats channel.
type Heartbeat struct {
	Actor *steady.Actor
	State *steady.State[HeartbeatState]

	cfg HeartbeatConfig
	out *steady.Sender[uint64]
}

// NewHeartbeat adds the heartbeat to g, sending into beats.
func NewHeartbeat(g *steady.Graph, beats *steady.Channel[uint64], cfg HeartbeatConfig, opts ...steady.ActorOption) *Heartbeat {
	x := &Heartbeat{
		State: steady.NewState(g, HeartbeatName, HeartbeatState{}),
		cfg:   cfg,
	}
	x.Actor = g.Actor(HeartbeatName, x.run, opts...)
	x.out = beats.Sender(x.Actor)
	x.State.Bind(x.Actor)
	return x
}

func (x *Heartbeat) run(a *steady.Actor) error {
	next := time.Now() // when the last beat was due; a restart starts afresh
	for a.Running() {
		// Checked at the top, so that a restart after the last beat
		// committed still asks for the shutdown.
		if x.cfg.Beats > 0 && x.State.Value().Beats >= x.cfg.Beats {
			a.RequestShutdown(fmt.Sprintf("sent its %d beats", x.cfg.Beats))
			return nil
		}
		if x.cfg.Rate > 0 {
			next = next.Add(x.cfg.Rate)
			if err := a.SleepUntil(next); err != nil {
				return err
			}
		}
		if err := a.WaitVacant(x.out, 1); err != nil {
			return err
		}
		if err := a.Step(x.step); err != nil {
			return err
		}
		if now := time.Now(); x.cfg.Rate > 0 && now.Sub(next) > x.cfg.Rate {
			// The beat went out more than a period late (the worker
			// let the beats channel fill): keep the rate from now
			// rather than send the beats missed back to back.
			next = now
		}
	}
	return nil
}

func (x *Heartbeat) step(s *steady.Step) error {
	st := x.State.Get(s)
	beat := st.Beats + 1
	if err := x.out.Send(s, beat); err != nil {
		return err
	}
	s.Fault(FaultHeartbeatSent)
	st.Beats = beat
	return nil
}
