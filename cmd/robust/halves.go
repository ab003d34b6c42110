package main

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
	"github.com/steady-go/steady/jsbridge"
	"github.com/steady-go/steady/observe"
)

// The halves of the split pipeline. The publishing half runs the generator
// and the heartbeat, each sending into a channel that an outbound bridge
// publishes to a stream of its own; the consuming half runs an inbound
// bridge per stream, feeding the worker's two inputs, and the worker and
// the logger as in one process:
//
//	publish:  heartbeat ─beats─▶ beats-out ─▶ NAME_BEATS  ─▶ beats-in  ─beats─▶ worker ─▶ logger  :consume
//	          generator ─values▶ values-out ▶ NAME_VALUES ─▶ values-in ─values▶
//
// Each bridge keeps its stream position in the half's state (-state), so a
// half killed and run again resumes, exactly once; see package jsbridge.

// The bridges' names, which also name their states and, for the inbound
// ones, their durable consumers.
const (
	beatsOutName  = "beats-out"
	valuesOutName = "values-out"
	beatsInName   = "beats-in"
	valuesInName  = "values-in"
)

// reconnectWait is how long the connection waits between attempts to reach
// a server that is down: a tenth of a second lets a restarted server be
// found at once, and costs a dial ten times a second while it is down.
const reconnectWait = 100 * time.Millisecond

// bridgeMaxBackoff caps the bridges' restart backoff. Their failures are
// the server's (transient: they never give up), and a bridge notices a
// server that came back at its next restart; a quarter of a second bounds
// that wait, at four cheap attempts a second during an outage.
const bridgeMaxBackoff = 250 * time.Millisecond

// bridgePolicy is the bridges' restart policy: quick restarts, and a stop
// of the graph should a bridge fail in a way that is not the server's (a
// bug) too often.
func bridgePolicy() []steady.ActorOption {
	return []steady.ActorOption{steady.Backoff(time.Millisecond, bridgeMaxBackoff), steady.OnLimit(steady.StopGraph)}
}

// attr names the half of the pipeline a process runs, for its log; none
// for the whole pipeline (a handler leaves the zero Attr out).
func (r role) attr() slog.Attr {
	if r == roleWhole {
		return slog.Attr{}
	}
	return slog.String("half", string(r))
}

// connect opens the connection the half's bridges share. It waits out a
// server that is down, at start too, as the bridges do.
func (p *pipeline) connect() error {
	opts := []nats.Option{
		nats.Name("robust " + string(p.cfg.role)),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.NoCallbacksAfterClientClose(),
		nats.ConnectHandler(func(nc *nats.Conn) { p.log.Info("nats: connected", "url", nc.ConnectedUrlRedacted()) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { p.log.Info("nats: reconnected", "url", nc.ConnectedUrlRedacted()) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				p.log.Warn("nats: disconnected; reconnecting", "err", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			p.log.Warn("nats: asynchronous error", "err", err)
		}),
	}
	if p.cfg.natsCreds != "" {
		opts = append(opts, nats.UserCredentials(p.cfg.natsCreds))
	}
	if p.cfg.natsCA != "" {
		opts = append(opts, nats.RootCAs(p.cfg.natsCA))
	}
	nc, err := nats.Connect(p.cfg.nats, opts...)
	if err != nil {
		return fmt.Errorf("-nats %s: %w", p.cfg.nats, err)
	}
	p.nc = nc
	return nil
}

// streamName is the name of one of the two streams.
func (c config) streamName(kind string) string { return c.streams + "_" + kind }

// bridgeConfig is the configuration of the bridges of the stream of kind
// BEATS or VALUES.
func (c config) bridgeConfig(kind string) jsbridge.Config {
	bc := jsbridge.Config{Stream: c.streamName(kind), AckWait: c.ackWait}
	if c.dupeWindow > 0 {
		sc := jsbridge.DefaultStreamConfig()
		sc.Duplicates = c.dupeWindow
		bc.CreateStream = &sc
	}
	return bc
}

// wireBridges adds the half's bridges to its graph.
func (p *pipeline) wireBridges() (err error) {
	g, c := p.g, p.cfg
	switch c.role {
	case rolePublish:
		if p.beatsOut, err = jsbridge.NewOutbound(g, beatsOutName, p.beats, p.nc, c.bridgeConfig("BEATS"), bridgePolicy()...); err != nil {
			return err
		}
		p.valuesOut, err = jsbridge.NewOutbound(g, valuesOutName, p.values, p.nc, c.bridgeConfig("VALUES"), bridgePolicy()...)
	case roleConsume:
		if p.beatsIn, err = jsbridge.NewInbound(g, beatsInName, p.beats, p.nc, c.bridgeConfig("BEATS"), bridgePolicy()...); err != nil {
			return err
		}
		p.valuesIn, err = jsbridge.NewInbound(g, valuesInName, p.values, p.nc, c.bridgeConfig("VALUES"), bridgePolicy()...)
	}
	return err
}

// generatorLimit keeps the publishing half's generator at most
// batchesPerChannel batches ahead of the heartbeat's beats, the lead the
// values channel allows in one process: the stream would take every value
// the generator makes, and the consuming half would drain millions once the
// beats end.
func (p *pipeline) generatorLimit() uint64 {
	return (p.heartbeat.State.Value().Beats + batchesPerChannel) * uint64(p.cfg.batch)
}

// generated is how many values this process's part of the pipeline knows
// of: those the generator made, or, in the consuming half, those the
// values stream carried so far (all of them once it ended).
func (p *pipeline) generated() uint64 {
	if p.generator != nil {
		return p.generator.State.Value().Next
	}
	return p.valuesIn.Position().Values
}

// beatsSent is how many beats the heartbeat sent, or the beats stream
// carried.
func (p *pipeline) beatsSent() uint64 {
	if p.heartbeat != nil {
		return p.heartbeat.State.Value().Beats
	}
	return p.beatsIn.Position().Values
}

// workerState and loggerState are the worker's and the logger's committed
// states, zero in a publishing half, which has neither.
func (p *pipeline) workerState() robust.WorkerState {
	if p.worker == nil {
		return robust.WorkerState{}
	}
	return p.worker.State.Value()
}

func (p *pipeline) loggerState() robust.LoggerState {
	if p.logger == nil {
		return robust.LoggerState{}
	}
	return p.logger.State.Value()
}

// lowerLimit is a generator's Limit that keeps below both a and b; a may
// be nil.
func lowerLimit(a, b func() uint64) func() uint64 {
	if a == nil {
		return b
	}
	return func() uint64 { return min(a(), b()) }
}

// faults returns the graph's fault injector for -test-kill-at: it SIGKILLs
// the process at the nth hit of the named point, and leaves every point to
// next (nil: injects nothing). Without the flag it is next.
func (k killPoint) faults(next func(observe.FaultPoint) error) func(observe.FaultPoint) error {
	if k.name == "" {
		return next
	}
	var hits atomic.Uint64
	return func(p observe.FaultPoint) error {
		if p.Kind == observe.FaultNamed && p.Name == k.name && hits.Add(1) == k.n {
			killSelf()
		}
		if next == nil {
			return nil
		}
		return next(p)
	}
}
