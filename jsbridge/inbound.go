package jsbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/steady-go/steady"
)

// InPosition is an inbound bridge's committed position in its stream.
type InPosition struct {
	Next   uint64 // stream sequence of the next message to take; 0 before the first
	Offset uint64 // values of message Next already sent
	Values uint64 // values sent in all
	Ended  bool   // the last message taken was an end-of-stream marker
	// Created is the stream's creation time (Unix nanoseconds), which
	// tells a stream deleted and created again under the same name apart.
	Created int64
}

// Inbound is an inbound bridge: an actor that reads a JetStream stream
// through a durable consumer and sends its values into a channel. See the
// package documentation for the rule it follows.
type Inbound struct {
	actor    *steady.Actor
	stats    inStats
	position func() InPosition
}

type inStats struct {
	values, messages, redeliveries, resets, acks, stale atomic.Uint64
}

// InboundStats counts what an inbound bridge did in this process.
type InboundStats struct {
	Values   uint64 // values sent into the channel and committed
	Messages uint64 // NATS messages fully taken
	// Redeliveries counts messages the consumer delivered again below the
	// bridge's position (after a crash or a missed acknowledgement), dropped.
	Redeliveries uint64
	Resets       uint64 // consumer resets to the durable position, one per start
	Acks         uint64 // acknowledgements sent, each once its step was durable
	// Stale counts pull subscriptions found silent while the consumer
	// held messages for them (after its leader moved), each renewed by a
	// restart.
	Stale uint64
}

// Actor is the bridge's actor in its graph.
func (in *Inbound) Actor() *steady.Actor { return in.actor }

// Position returns the bridge's committed position: once Ended, Values is
// how many values the stream carried in all. It may be called at any time.
func (in *Inbound) Position() InPosition { return in.position() }

// Stats returns the bridge's counters. It may be called at any time.
func (in *Inbound) Stats() InboundStats {
	return InboundStats{
		Values:       in.stats.values.Load(),
		Messages:     in.stats.messages.Load(),
		Redeliveries: in.stats.redeliveries.Load(),
		Resets:       in.stats.resets.Load(),
		Acks:         in.stats.acks.Load(),
		Stale:        in.stats.stale.Load(),
	}
}

// inbound is the bridge's working part, typed by the channel's values.
type inbound[T any] struct {
	*Inbound
	bridge
	codec steady.Codec[T]
	out   *steady.Sender[T]
	pos   *steady.State[InPosition]

	js      jetstream.JetStream
	cons    jetstream.Consumer
	iter    jetstream.MessagesContext // the pull subscription, or nil
	quiet   time.Time                 // since when it has delivered nothing, or zero
	suspect suspicion                 // what the last probe found, if it found the subscription stale
	created int64                     // the stream's creation time, set at each start

	// The message in hand: its values, decoded once, and what its
	// headers say. It is local: a restart fetches it again.
	cur     jetstream.Msg
	curSeq  uint64
	curMeta meta
	vals    []T
	sent    int // values the last step sent

	// What is durable, set by the steps' OnDurable functions (on the
	// committer's goroutine in a durable graph): the position's Next,
	// which a restart resets the consumer to, and the newest message
	// taken whole, which the actor acknowledges.
	loaded      bool
	durableNext atomic.Uint64
	durableMu   sync.Mutex
	durableMsg  jetstream.Msg
	acked       jetstream.Msg
	ackedNext   uint64    // durableNext when acked was acknowledged
	ackedAt     time.Time // when
}

// NewInbound adds to g an actor called name that reads the stream cfg names
// through nc and sends its values into ch, and a state of the same name that
// holds its position ([InPosition]). opts change its restart policy as for
// any actor. It returns an error, and adds nothing, if cfg lacks a stream or
// ch's values have no codec.
func NewInbound[T any](g *steady.Graph, name string, ch *steady.Channel[T], nc *nats.Conn, cfg Config, opts ...steady.ActorOption) (*Inbound, error) {
	b, codec, err := newBridge(name, ch, nc, cfg)
	if err != nil {
		return nil, err
	}
	in := &inbound[T]{Inbound: &Inbound{}, bridge: b, codec: codec}
	in.actor = g.Actor(name, in.run, opts...)
	in.out = ch.Sender(in.actor)
	in.pos = steady.NewState(g, name, InPosition{}).Bind(in.actor)
	in.position = in.pos.Value
	return in.Inbound, nil
}

// run is the actor: check the stream against the position, reset the
// consumer to it, then take messages until the end marker or a shutdown.
func (in *inbound[T]) run(a *steady.Actor) error {
	ctx := a.Context()
	defer in.dropFetch()
	defer in.ack(true)
	in.cur, in.vals = nil, in.vals[:0]
	if !in.loaded {
		// The first start of this process: what the graph loaded is
		// durable.
		in.loaded = true
		in.durableNext.Store(in.pos.Value().Next)
	}
	if in.js == nil {
		js, err := jetstream.New(in.nc)
		if err != nil {
			return in.transient("open JetStream", err)
		}
		in.js = js
	}
	more, err := in.start(ctx)
	if err != nil {
		return err
	}
	if in.pos.Value().Ended && !more {
		// The stream ended where this bridge stands (it took the end
		// marker before a restart): end this run's channel again.
		return a.Step(func(s *steady.Step) error { return in.out.Close(s) })
	}
	for idle := false; a.Running(); {
		in.ack(idle)
		if in.cur == nil {
			ok, err := in.take(ctx)
			if err != nil {
				return err
			}
			if idle = !ok; idle {
				continue // the fetch ended; look at the graph, fetch again
			}
		}
		if in.curMeta.end {
			return in.finish(a, ctx)
		}
		if err := a.WaitVacant(in.out, 1); err != nil {
			return err
		}
		if err := a.Step(in.send); err != nil {
			return err
		}
		in.stats.values.Add(uint64(in.sent))
		if in.pos.Value().Next > in.curSeq {
			in.stats.messages.Add(1)
			in.cur = nil
		}
	}
	return nil
}

// start checks that the stream still holds the position, creates or
// updates the durable consumer, checks that it has not acknowledged past
// the position, and resets it to the durable position. more says whether
// the stream holds messages at or past the position.
func (in *inbound[T]) start(ctx context.Context) (more bool, err error) {
	pos := in.pos.Value()
	next := max(pos.Next, 1)
	stream, info, err := in.stream(ctx, in.js, pos.Created)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound) && next > 1:
		return false, in.fatal(ErrStreamLost, "it does not exist, but this bridge has taken its messages up to %d", next-1)
	case errors.Is(err, steady.ErrStopGraph):
		return false, err
	case err != nil:
		return false, in.transient("look up the stream", err) // not created yet, or unreachable
	}
	in.created = info.Created.UnixNano()
	st := info.State
	if next > st.LastSeq+1 {
		return false, in.fatal(ErrStreamLost, "its last sequence is %d, but this bridge has taken its messages up to %d (purged or recreated?)", st.LastSeq, next-1)
	}
	if st.FirstSeq > next { // an empty stream's FirstSeq is LastSeq+1, or 0 if never written
		return false, in.fatal(ErrStreamLost, "it begins at sequence %d; messages %d to %d, which this bridge has not taken, are gone (retention limits, or a purge)",
			st.FirstSeq, next, st.FirstSeq-1)
	}
	cctx, cancel := context.WithTimeout(ctx, in.cfg.Timeout)
	defer cancel()
	cons, err := stream.CreateOrUpdateConsumer(cctx, jetstream.ConsumerConfig{
		Durable:       in.cfg.Consumer,
		FilterSubject: in.cfg.Subject,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       in.cfg.AckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if refused(err) {
		return false, in.fatal(ErrStreamConfig, "the server refused consumer %s: %v", in.cfg.Consumer, err)
	}
	if err != nil {
		return false, in.transient("create or update consumer "+in.cfg.Consumer, err)
	}
	// Acknowledgements follow durable steps: a consumer that acknowledged
	// at or past the durable position read for a graph whose state is
	// not this one's.
	durable := max(in.durableNext.Load(), 1)
	if floor := cons.CachedInfo().AckFloor.Stream; floor >= durable {
		return false, in.fatal(ErrPositionLost, "consumer %s acknowledged messages up to %d, but this bridge's durable position is %d (its state was lost, or another bridge reads with this consumer; delete the consumer, or name another, to read the stream from the start)",
			in.cfg.Consumer, floor, durable)
	}
	// A durable consumer that restarted may deliver later messages before
	// earlier unacknowledged ones: start it again exactly at the durable
	// position. Messages between it and the committed position (taken in
	// memory, not yet durable) come again and are dropped as redeliveries.
	if _, err := stream.ResetConsumerToSequence(cctx, in.cfg.Consumer, durable); err != nil {
		return false, in.transient(fmt.Sprintf("reset consumer %s to sequence %d", in.cfg.Consumer, durable), err)
	}
	in.stats.resets.Add(1)
	in.cons = cons
	return st.LastSeq >= next, nil
}

// take makes the next message at the position the message in hand. It
// returns false if the fetch ended without one.
func (in *inbound[T]) take(ctx context.Context) (bool, error) {
	pos := in.pos.Value()
	next := max(pos.Next, 1)
	for {
		msg, err := in.fetch(ctx, next)
		if err != nil || msg == nil {
			return false, err
		}
		md, err := msg.Metadata()
		if err != nil {
			return false, in.fatal(ErrForeignWriter, "a message without JetStream metadata: %v", err)
		}
		seq := md.Sequence.Stream
		if seq < next {
			in.stats.redeliveries.Add(1)
			continue
		}
		if seq > next {
			return false, in.gap(ctx, next, seq)
		}
		m, err := readMeta(msg.Headers())
		if err != nil {
			return false, in.fatal(ErrForeignWriter, "message %d: %v", seq, err)
		}
		if m.first+pos.Offset != pos.Values {
			return false, in.fatal(ErrForeignWriter, "message %d holds values from %d; this bridge has taken %d", seq, m.first, pos.Values-pos.Offset)
		}
		in.vals = in.vals[:0]
		err = splitValues(msg.Data(), m, func(enc []byte) error {
			v, err := in.codec.Decode(enc)
			if err != nil {
				return err
			}
			in.vals = append(in.vals, v)
			return nil
		})
		if err != nil {
			return false, in.fatal(ErrForeignWriter, "message %d: %v", seq, err)
		}
		if pos.Offset > uint64(len(in.vals)) {
			return false, in.fatal(ErrForeignWriter, "message %d holds %d values; this bridge has taken %d of it", seq, len(in.vals), pos.Offset)
		}
		in.cur, in.curSeq, in.curMeta = msg, seq, m
		return true, nil
	}
}

// fetch returns the next delivered message, or nil if none came within
// fetchWait. Messages come through one pull subscription that lives as long
// as this run of the bridge and asks for more as they are taken, and that
// nats.go carries over a reconnect. A Fetch every fetchWait lost messages
// instead: nats.go drops what reaches a fetch after its context ends, and
// the server, which expires the request only a tenth earlier by its own
// clock, may still be sending then; each loss cost a restart, or AckWait
// when the lost messages filled the consumer's MaxAckPending.
//
// A subscription quiet for staleAfter is probed (see probe): next is the
// sequence the bridge waits for.
func (in *inbound[T]) fetch(ctx context.Context, next uint64) (jetstream.Msg, error) {
	if in.iter == nil {
		n := in.cfg.MaxBatch
		if !in.cfg.PerMessage {
			n = framedFetch
		}
		it, err := in.cons.Messages(jetstream.PullMaxMessages(n))
		if err != nil {
			return nil, in.transient("fetch", err)
		}
		in.iter, in.quiet, in.suspect = it, time.Time{}, suspicion{}
	}
	msg, err := in.iter.Next(nextMaxWait)
	switch {
	case errors.Is(err, nats.ErrTimeout):
		now := time.Now()
		if in.quiet.IsZero() {
			in.quiet = now
		} else if now.Sub(in.quiet) >= staleAfter {
			in.quiet = now
			return nil, in.probe(ctx, next)
		}
		return nil, nil
	case err != nil:
		in.dropFetch()
		return nil, in.transient("fetch", err)
	}
	in.quiet, in.suspect = time.Time{}, suspicion{}
	return msg, nil
}

// probe asks the consumer whether it holds messages the quiet subscription
// should have delivered: some not yet delivered, or delivered at or past
// next and never received. Then the subscription's pull request is gone
// without a word: it was parked on a consumer leader that stopped, and the
// client, connected to another server of the cluster, saw no reconnect to
// renew it after. (nats.go would notice the missing heartbeats, but only
// inside one Next call longer than two heartbeats, and fetch's are short.)
// The bridge then restarts, which resets the consumer to the durable
// position and subscribes again. It restarts only when a second probe, a
// staleAfter later with nothing received between, finds the consumer just
// as it was: a message on its way when the first asked, or a consumer
// holding back while MaxAckPending messages await acknowledgements that a
// slow commit delays, changes the figures or ends the silence. A probe
// that fails to reach the consumer changes nothing; the next one asks
// again.
func (in *inbound[T]) probe(ctx context.Context, next uint64) error {
	pctx, cancel := context.WithTimeout(ctx, in.cfg.Timeout)
	defer cancel()
	info, err := in.cons.Info(pctx)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		in.dropFetch()
		return in.transient("consumer "+in.cfg.Consumer, err)
	case err != nil:
		return nil
	case info.NumPending == 0 && info.Delivered.Stream < next:
		in.suspect = suspicion{} // nothing to deliver: the stream is idle
		return nil
	}
	if now := (suspicion{true, info.Delivered.Stream, info.NumPending}); in.suspect != now {
		in.suspect = now // look again at the next probe
		return nil
	}
	in.dropFetch()
	in.stats.stale.Add(1)
	return in.transient("fetch", fmt.Errorf("%w: consumer %s holds %d messages not yet delivered and delivered up to %d, but none came for %v while %d is next (its leader moved?)",
		errStale, in.cfg.Consumer, info.NumPending, info.Delivered.Stream, staleAfter, next))
}

// nextMaxWait is fetch's option for Next, made once rather than for every
// message.
var nextMaxWait = jetstream.NextMaxWait(fetchWait)

// suspicion is what a probe that found the subscription stale saw: the
// consumer's last delivered sequence and its undelivered messages.
type suspicion struct {
	set                bool
	delivered, pending uint64
}

// errStale marks a pull subscription that stopped delivering.
var errStale = errors.New("pull subscription stale")

// dropFetch ends the subscription, if any.
func (in *inbound[T]) dropFetch() {
	if in.iter != nil {
		in.iter.Stop()
		in.iter = nil
	}
}

// gap handles a message past the position: if the one at the position is
// gone from the stream, the stream lost it; otherwise the consumer skipped
// it, and the restart resets it.
func (in *inbound[T]) gap(ctx context.Context, next, got uint64) error {
	gctx, cancel := context.WithTimeout(ctx, in.cfg.Timeout)
	defer cancel()
	stream, err := in.js.Stream(gctx, in.cfg.Stream)
	if err == nil {
		if gone, err := in.gone(ctx, stream, next); err == nil && gone {
			return in.fatal(ErrStreamLost, "message %d, the next this bridge takes, is gone (the consumer delivered %d)", next, got)
		}
	}
	return in.transient(fmt.Sprintf("the consumer delivered message %d while %d is next", got, next), errors.New("gap"))
}

// send is one step: send as many values of the message in hand as the
// output has room for, and advance the position.
func (in *inbound[T]) send(s *steady.Step) error {
	p := in.pos.Get(s)
	rest := in.vals[p.Offset:]
	n := min(len(rest), in.out.Vacant())
	if err := in.out.SendMany(s, rest[:n]); err != nil {
		return err
	}
	s.Fault(FaultTaken)
	p.Offset += uint64(n)
	p.Values += uint64(n)
	p.Ended, p.Created = false, in.created
	if p.Offset == uint64(len(in.vals)) {
		p.Next, p.Offset = in.curSeq+1, 0
		s.OnDurable(in.durableFn(in.cur, p.Next))
	}
	in.sent = n
	return nil
}

// finish takes the end marker: the output closes in the same step. Before
// the run ends it waits, up to the configured Timeout, for that step to be
// durable, so that the run's last acknowledgement is sent.
func (in *inbound[T]) finish(a *steady.Actor, ctx context.Context) error {
	seq, msg := in.curSeq, in.cur
	err := a.Step(func(s *steady.Step) error {
		p := in.pos.Get(s)
		p.Next, p.Offset, p.Ended, p.Created = seq+1, 0, true, in.created
		s.OnDurable(in.durableFn(msg, seq+1))
		return in.out.Close(s)
	})
	in.cur = nil
	if err != nil {
		return err
	}
	deadline := time.Now().Add(in.cfg.Timeout)
	for in.durableNext.Load() <= seq && ctx.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(finishPoll)
	}
	return nil
}

// finishPoll is how often finish looks whether the end marker's step is
// durable: a commit takes a fraction of a millisecond to a few.
const finishPoll = time.Millisecond

// durableFn returns the function that records, once the step that took
// msg whole is durable, that the position next and msg are: the actor then
// acknowledges msg (and, the consumer's policy being ack-all, every
// message before it). The actor acknowledges rather than this function,
// which runs on the committer's goroutine in a durable graph: an
// acknowledgement takes the connection's lock, which a flush on a stalled
// network can hold.
func (in *inbound[T]) durableFn(msg jetstream.Msg, next uint64) func() {
	return func() {
		in.durableMu.Lock()
		in.durableMsg = msg
		in.durableMu.Unlock()
		for {
			d := in.durableNext.Load()
			if next <= d || in.durableNext.CompareAndSwap(d, next) {
				return
			}
		}
	}
}

// ack acknowledges the newest message taken whole whose step is durable,
// if it has not been, once it is ackEvery messages past the last
// acknowledged, or ackAfter after it, or if force is set (the subscription
// went quiet, or the run ends). Acknowledgements only tell the server how far the bridge has come
// and stop it delivering those messages again; a lost one costs a
// redelivery, which take drops. A run that ends on a shutdown may leave its
// last messages unacknowledged: the next start resets the consumer to the
// durable position anyway.
func (in *inbound[T]) ack(force bool) {
	next := in.durableNext.Load()
	if !force && next < in.ackedNext+ackEvery && time.Since(in.ackedAt) < ackAfter {
		return
	}
	in.durableMu.Lock()
	msg := in.durableMsg
	in.durableMu.Unlock()
	if msg == nil || msg == in.acked {
		return
	}
	in.acked, in.ackedNext, in.ackedAt = msg, next, time.Now()
	if msg.Ack() == nil {
		in.stats.acks.Add(1)
	}
}
