package jsbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/steady-go/steady"
)

// OutPosition is an outbound bridge's committed position in its stream.
type OutPosition struct {
	Values uint64 // values published and consumed from the input
	Seq    uint64 // stream sequence of the last message wholly among them
	Ended  bool   // the last message stored is an end-of-stream marker
	// Created is the stream's creation time (Unix nanoseconds), which
	// tells a stream deleted and created again under the same name apart.
	Created int64
}

// Outbound is an outbound bridge: an actor that publishes the values of a
// channel to a JetStream stream. See the package documentation for the rule
// it follows.
type Outbound struct {
	actor    *steady.Actor
	stats    outStats
	position func() OutPosition
}

type outStats struct {
	values, messages, skipped, starts atomic.Uint64
}

// OutboundStats counts what an outbound bridge did in this process.
type OutboundStats struct {
	Values   uint64 // values published and committed
	Messages uint64 // NATS messages acknowledged by the stream
	// Skipped counts values a start found already in the stream (published
	// before a crash, not yet committed) and consumed without publishing.
	Skipped uint64
	Starts  uint64 // starts, each with a reconciliation
}

// Actor is the bridge's actor in its graph.
func (o *Outbound) Actor() *steady.Actor { return o.actor }

// Position returns the bridge's committed position (in a durable graph,
// once loaded, the one the store holds). It may be called at any time.
func (o *Outbound) Position() OutPosition { return o.position() }

// Stats returns the bridge's counters. It may be called at any time.
func (o *Outbound) Stats() OutboundStats {
	return OutboundStats{
		Values:   o.stats.values.Load(),
		Messages: o.stats.messages.Load(),
		Skipped:  o.stats.skipped.Load(),
		Starts:   o.stats.starts.Load(),
	}
}

// outbound is the bridge's working part, typed by the channel's values.
type outbound[T any] struct {
	*Outbound
	bridge
	codec steady.Codec[T]
	in    *steady.Receiver[T]
	pos   *steady.State[OutPosition]
	cap   int

	// Set at each start.
	js      jetstream.JetStream
	created int64 // the stream's creation time
	limit   int   // payload bytes a message can carry

	// The acknowledgements of this run's publishes come to acks, a
	// subscription to inbox.*.*; each send's replies are under a prefix of
	// its own (inbox.N.), so that a late reply to an earlier send is told
	// apart.
	acks  *nats.Subscription
	inbox string
	sends uint64

	buf  []T
	enc  []byte // scratch for one value's encoding
	msgs []*nats.Msg
	got  []bool // which of a send's messages were acknowledged
	sent int    // values the last step published
}

// NewOutbound adds to g an actor called name that consumes ch and publishes
// its values to the stream cfg names, through nc, and a state of the same
// name that holds its position ([OutPosition]). opts change its restart
// policy as for any actor. It returns an error, and adds nothing, if cfg
// lacks a stream or ch's values have no codec.
//
// The codec must be deterministic (a value always encodes to the same
// bytes): a start compares the values an uncommitted step stored with
// those at the head of the input, byte for byte.
func NewOutbound[T any](g *steady.Graph, name string, ch *steady.Channel[T], nc *nats.Conn, cfg Config, opts ...steady.ActorOption) (*Outbound, error) {
	b, codec, err := newBridge(name, ch, nc, cfg)
	if err != nil {
		return nil, err
	}
	cfg = b.cfg
	o := &outbound[T]{
		Outbound: &Outbound{},
		bridge:   b,
		codec:    codec,
		cap:      ch.Cap(),
		buf:      make([]T, min(cfg.MaxBatch, ch.Cap())),
	}
	o.actor = g.Actor(name, o.run, opts...)
	o.in = ch.Receiver(o.actor)
	o.pos = steady.NewState(g, name, OutPosition{}).Bind(o.actor)
	o.position = o.pos.Value
	return o.Outbound, nil
}

// run is the actor: reconcile with the stream, then publish until the input
// ends.
func (o *outbound[T]) run(a *steady.Actor) error {
	o.stats.starts.Add(1)
	ctx := a.Context()
	// The JetStream context serves the stream's administration; the
	// publishes go through the connection with this run's own reply
	// subscription (see send), which ends with the run.
	js, err := jetstream.New(o.nc)
	if err != nil {
		return o.transient("open JetStream", err)
	}
	o.js = js
	o.inbox = o.nc.NewInbox()
	acks, err := o.nc.SubscribeSync(o.inbox + ".*.*")
	if err != nil {
		return o.transient("subscribe to acknowledgements", err)
	}
	defer func() { _ = acks.Unsubscribe() }()
	o.acks = acks
	stream, err := o.ensureStream(ctx)
	if err != nil {
		return err
	}
	if err := o.reconcile(a, ctx, stream); err != nil {
		return err
	}
	for {
		err := a.WaitAvailable(o.in, 1)
		switch {
		case errors.Is(err, steady.ErrClosed):
			// A failure here is retried by the restart (an actor whose
			// input ended still restarts), which reconciles first: the
			// marker may be stored, its acknowledgement lost.
			return o.publishEnd(a, ctx)
		case err != nil:
			return err
		}
		if err := a.Step(func(s *steady.Step) error { return o.publish(ctx, s) }); err != nil {
			return err
		}
		o.stats.values.Add(uint64(o.sent))
	}
}

// ensureStream looks the stream up, creating it if it does not exist, and
// checks that it fits and is the stream of the position.
func (o *outbound[T]) ensureStream(ctx context.Context) (jetstream.Stream, error) {
	stream, info, err := o.stream(ctx, o.js, o.pos.Value().Created)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		sc := DefaultStreamConfig()
		if o.cfg.CreateStream != nil {
			sc = *o.cfg.CreateStream
		}
		sc.Name, sc.Subjects = o.cfg.Stream, []string{o.cfg.Subject}
		cctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
		_, err = o.js.CreateStream(cctx, sc)
		cancel()
		if refused(err) {
			return nil, o.fatal(ErrStreamConfig, "the server refused to create it: %v", err)
		}
		if err == nil {
			stream, info, err = o.stream(ctx, o.js, o.pos.Value().Created)
		}
	}
	switch {
	case errors.Is(err, steady.ErrStopGraph):
		return nil, err
	case err != nil:
		return nil, o.transient("look up or create the stream", err)
	}
	o.created, o.limit = info.Created.UnixNano(), o.payloadLimit(info.Config)
	return stream, nil
}

// reconcile compares the stream with the committed position: equal, it
// returns; behind, the stream lost messages; ahead, the messages past the
// position must be this bridge's own uncommitted publications, holding the
// values at the head of the input, which it consumes without publishing.
func (o *outbound[T]) reconcile(a *steady.Actor, ctx context.Context, stream jetstream.Stream) error {
	ictx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	info, err := stream.Info(ictx)
	cancel()
	if err != nil {
		return o.transient("read the stream's state", err)
	}
	pos := o.pos.Value()
	last := info.State.LastSeq
	c := info.Config
	keepsAll := c.MaxMsgs <= 0 && c.MaxBytes <= 0 && c.MaxAge == 0 && c.MaxMsgsPerSubject <= 0
	switch {
	case keepsAll && pos.Seq > 0 && info.State.FirstSeq > 1:
		return o.fatal(ErrStreamLost, "it keeps every message, yet begins at sequence %d: purged?", info.State.FirstSeq)
	case last < pos.Seq:
		return o.fatal(ErrStreamLost, "its last sequence is %d, below the %d this bridge committed (purged, recreated or expired?)", last, pos.Seq)
	case last == pos.Seq:
		return nil
	}
	pending, err := o.stored(ctx, stream, pos, last)
	if err != nil {
		return err
	}
	return o.catchUp(a, pending)
}

// storedMsg is a message found past the position: its sequence, the index
// of the value after its last, whether it is an end marker, and the
// encodings of its values not yet consumed.
type storedMsg struct {
	seq, end uint64
	marker   bool
	values   [][]byte
}

// stored reads the messages past the position up to last. They must hold
// values that run on without a gap from at or before the position's count
// (a start may have consumed part of them before it failed again), each
// one a message of this bridge's.
func (o *outbound[T]) stored(ctx context.Context, stream jetstream.Stream, pos OutPosition, last uint64) ([]storedMsg, error) {
	var msgs []storedMsg
	var pending int
	var next uint64 // the index the next message must begin at; set by the first
	for seq := pos.Seq + 1; seq <= last; seq++ {
		gctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
		raw, err := stream.GetMsg(gctx, seq)
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			if gone, ierr := o.gone(ctx, stream, seq); ierr == nil && gone {
				return nil, o.fatal(ErrStreamLost, "message %d is gone (past this bridge's committed sequence %d)", seq, pos.Seq)
			}
		}
		if err != nil {
			return nil, o.transient(fmt.Sprintf("read message %d", seq), err)
		}
		m, err := readMeta(raw.Header)
		switch {
		case err != nil || raw.Subject != o.cfg.Subject:
			return nil, o.fatal(ErrForeignWriter, "message %d on %q is not one of this bridge's (%v)", seq, raw.Subject, err)
		case seq == pos.Seq+1 && (m.first > pos.Values || m.first+m.count < pos.Values),
			seq > pos.Seq+1 && m.first != next:
			return nil, o.fatal(ErrForeignWriter, "message %d holds values %d..%d; this bridge committed %d values up to sequence %d",
				seq, m.first, m.first+m.count, pos.Values, pos.Seq)
		}
		sm := storedMsg{seq: seq, end: m.first + m.count, marker: m.end}
		i := m.first
		err = splitValues(raw.Data, m, func(enc []byte) error {
			if i >= pos.Values {
				sm.values = append(sm.values, enc)
			}
			i++
			return nil
		})
		if err != nil {
			return nil, o.fatal(ErrForeignWriter, "message %d: %v", seq, err)
		}
		next = sm.end
		pending += len(sm.values)
		if pending > o.cap {
			return nil, o.fatal(ErrForeignWriter, "%d values are stored past this bridge's position, more than its input's capacity %d", pending, o.cap)
		}
		msgs = append(msgs, sm)
	}
	return msgs, nil
}

// catchUp consumes from the input the values stored past the position,
// checking each against what the stream holds, in as many steps as the
// input lets a step peek; each step moves the position past the messages
// whose values are all consumed (end markers and messages consumed before
// included).
func (o *outbound[T]) catchUp(a *steady.Actor, msgs []storedMsg) error {
	var vals [][]byte
	for _, m := range msgs {
		vals = append(vals, m.values...)
	}
	for {
		if len(vals) > 0 {
			if err := a.WaitAvailable(o.in, len(vals)); err != nil {
				if errors.Is(err, steady.ErrClosed) {
					return o.fatal(ErrForeignWriter, "%d values are stored past this bridge's position, but its input ended with fewer", len(vals))
				}
				return err
			}
		}
		var n int
		err := a.Step(func(s *steady.Step) error {
			n = o.in.PeekMany(s, o.buf[:min(len(o.buf), len(vals))])
			p := o.pos.Get(s)
			for i, v := range o.buf[:n] {
				enc, err := o.codec.Append(o.enc[:0], v)
				if err != nil {
					return err
				}
				o.enc = enc
				if !bytes.Equal(enc, vals[i]) {
					return o.fatal(ErrForeignWriter, "value %d in the stream differs from the one this bridge holds there", p.Values+uint64(i))
				}
			}
			p.Values += uint64(n)
			for _, m := range msgs {
				if m.end > p.Values {
					break
				}
				p.Seq, p.Ended, p.Created = m.seq, m.marker, o.created
			}
			return nil
		})
		if err != nil {
			return err
		}
		o.stats.skipped.Add(uint64(n))
		if vals = vals[n:]; len(vals) == 0 {
			return nil
		}
	}
}

// publish is one step: peek the waiting values, publish them, wait for
// every acknowledgement, advance the position.
func (o *outbound[T]) publish(ctx context.Context, s *steady.Step) error {
	o.sent = 0
	n := o.in.PeekMany(s, o.buf)
	if n == 0 {
		return nil
	}
	p := o.pos.Get(s)
	if err := o.encode(o.buf[:n], p.Values); err != nil {
		return err
	}
	seq, err := o.send(ctx, p.Seq)
	if err != nil {
		return err
	}
	s.Fault(FaultPublished)
	p.Values += uint64(n)
	p.Seq, p.Ended, p.Created = seq, false, o.created
	o.sent = n
	return nil
}

// encode builds the messages that carry vals, whose first has index first
// in the channel's history, into o.msgs. A value too large for a message
// fails it before anything is published.
func (o *outbound[T]) encode(vals []T, first uint64) error {
	clear(o.msgs)
	o.msgs = o.msgs[:0]
	var cur *nats.Msg
	var curMeta meta
	// Per message, a step's messages and their payloads are carved from an
	// allocation or two rather than one each a value. nats.go reads a
	// message it publishes but never writes to it, and each step has
	// messages of its own.
	var block []nats.Msg
	var payloads []byte
	if o.cfg.PerMessage {
		block = make([]nats.Msg, len(vals))
	}
	flush := func() {
		if cur != nil {
			curMeta.write(cur.Header)
			o.msgs = append(o.msgs, cur)
			cur = nil
		}
	}
	for i, v := range vals {
		enc, err := o.codec.Append(o.enc[:0], v)
		if err != nil {
			return fmt.Errorf("jsbridge: %q: encode value %d: %w", o.name, first+uint64(i), err)
		}
		o.enc = enc
		size := len(enc)
		if !o.cfg.PerMessage {
			size += varintLen(len(enc))
		}
		if size > o.limit {
			return fmt.Errorf("%w: stream %q: value %d encodes to %d bytes; a message carries at most %d (the smaller of the server's max payload and the stream's MaxMsgSize, less %d for headers)",
				ErrTooLarge, o.cfg.Stream, first+uint64(i), size, o.limit, headerRoom)
		}
		if cur != nil && (o.cfg.PerMessage || len(cur.Data)+size > o.limit) {
			flush()
		}
		if cur == nil {
			if o.cfg.PerMessage {
				cur = &block[i]
			} else {
				cur = &nats.Msg{}
			}
			cur.Subject, cur.Header = o.cfg.Subject, nats.Header{}
			curMeta = meta{first: first + uint64(i), framed: !o.cfg.PerMessage}
			if !o.cfg.PerMessage {
				// Room for the rest if they encode to this one's size
				// (exactly so with a fixed-size codec): grown value by
				// value, the frame was reallocated and copied over and
				// over, most of the time encode took.
				cur.Data = make([]byte, 0, min(o.limit, size*(len(vals)-i)))
			}
		}
		if o.cfg.PerMessage {
			if payloads == nil {
				payloads = make([]byte, 0, size*(len(vals)-i)) // sized as a frame is, above
			}
			from := len(payloads)
			payloads = append(payloads, enc...)
			cur.Data = payloads[from:len(payloads):len(payloads)]
		} else {
			cur.Data = appendFrame(cur.Data, enc)
		}
		curMeta.count++
	}
	flush()
	return nil
}

func varintLen(n int) int {
	k := 1
	for n >= 0x80 {
		n >>= 7
		k++
	}
	return k
}

// send publishes o.msgs pipelined, the first expecting the stream's last
// sequence to be last and each next one the sequence before it, and waits
// for every acknowledgement. It returns the sequence of the last message.
//
// The messages carry no message id (Nats-Msg-Id): the expected sequence
// already refuses a replay, a gap and another writer, and a duplicate
// acknowledgement would fail the step anyway, so the server's duplicate
// tracking would cost every message work and buy nothing.
//
// It publishes with the connection and reads the acknowledgements from
// the run's own subscription rather than through nats.go's asynchronous
// publisher: that one starts, with its first publish, a goroutine that its
// cleanup can leave blocked forever if the cleanup comes first (it reads
// the status channel the cleanup already took away), and without a
// cleanup a context a run leaves its publishes, never acknowledged, to
// the next.
func (o *outbound[T]) send(ctx context.Context, last uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	o.sends++
	prefix := o.inbox + "." + strconv.FormatUint(o.sends, 10) + "."
	for i, m := range o.msgs {
		m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(last+uint64(i), 10))
		m.Reply = prefix + strconv.Itoa(i)
		if err := o.nc.PublishMsg(m); err != nil {
			return 0, o.transient("publish", err)
		}
	}
	o.got = slices.Grow(o.got[:0], len(o.msgs))[:len(o.msgs)]
	clear(o.got)
	for left := len(o.msgs); left > 0; {
		reply, err := o.acks.NextMsgWithContext(ctx)
		if err != nil {
			return 0, o.transient(fmt.Sprintf("wait for the acknowledgements of sequences %d to %d", last+1, last+uint64(len(o.msgs))), err)
		}
		rest, ok := strings.CutPrefix(reply.Subject, prefix)
		i, err := strconv.Atoi(rest)
		if !ok || err != nil || i < 0 || i >= len(o.msgs) || o.got[i] {
			continue // a late reply to an earlier send
		}
		o.got[i] = true
		left--
		want := last + uint64(i) + 1
		ack, err := readAck(reply)
		switch {
		case apiCode(err) == jetstream.JSErrCodeStreamMessageExceedsMaximum:
			// Not transient: the message will never fit. The step
			// fails, and its value ends in the dead-letter store.
			return 0, fmt.Errorf("%w: stream %q refused the message for sequence %d: %v", ErrTooLarge, o.cfg.Stream, want, err)
		case err != nil:
			return 0, o.transient(fmt.Sprintf("publish the message for sequence %d", want), err)
		case ack.Stream != o.cfg.Stream || ack.Sequence != want || ack.Duplicate:
			return 0, o.transient("publish", fmt.Errorf("acknowledged as %s sequence %d (duplicate %v), expected %s %d",
				ack.Stream, ack.Sequence, ack.Duplicate, o.cfg.Stream, want))
		}
	}
	o.stats.messages.Add(uint64(len(o.msgs)))
	return last + uint64(len(o.msgs)), nil
}

// errNoResponders is the reply to a publish no stream took: the server
// found no stream for the subject (or none is up to answer).
var errNoResponders = errors.New("no stream answered the publish (no responders)")

// readAck decodes a JetStream publish acknowledgement: the stream and
// sequence that stored the message, or the server's error (a
// *jetstream.APIError).
func readAck(m *nats.Msg) (jetstream.PubAck, error) {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return jetstream.PubAck{}, errNoResponders
	}
	var r struct {
		jetstream.PubAck
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return jetstream.PubAck{}, fmt.Errorf("an acknowledgement that does not decode: %w", err)
	}
	if r.Error != nil {
		return jetstream.PubAck{}, r.Error
	}
	if r.Stream == "" {
		return jetstream.PubAck{}, errors.New("an acknowledgement that names no stream")
	}
	return r.PubAck, nil
}

// publishEnd publishes the end-of-stream marker in a step, unless the last
// message stored is one already (the input closed again, in a later run,
// with nothing new).
func (o *outbound[T]) publishEnd(a *steady.Actor, ctx context.Context) error {
	if o.pos.Value().Ended {
		return nil
	}
	return a.Step(func(s *steady.Step) error {
		p := o.pos.Get(s)
		m := &nats.Msg{Subject: o.cfg.Subject, Header: nats.Header{}}
		meta{first: p.Values, end: true}.write(m.Header)
		clear(o.msgs)
		o.msgs = append(o.msgs[:0], m)
		seq, err := o.send(ctx, p.Seq)
		if err != nil {
			return err
		}
		s.Fault(FaultEnded)
		p.Seq, p.Ended, p.Created = seq, true, o.created
		return nil
	})
}
