package steady

import (
	"fmt"
	"math/bits"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store"
)

// Channel is a typed, bounded queue from one producer actor to one consumer
// actor. The graph owns it, so its messages and the attempt count of its
// head message outlive any run of either actor.
//
// The buffer is a single-producer single-consumer ring. The producer writes
// staged messages straight into free slots past the published tail and
// publishes them by moving the tail when its step commits; the consumer reads
// between head and tail and moves the head when its step commits. Neither
// side takes a lock or allocates per message; each side caches the other's
// index and reloads it only when the cached value says the ring is full or
// empty. While the producer streams, a consumer that keeps pace lets a
// batch of messages (a fraction of the capacity) gather before it takes
// them, for a few pauses of a fraction of a microsecond and a look at the
// producer's index after each run of them, so that the cache lines of the
// ring cross between cores once per batch rather than once per message. A
// lone message is taken at once. gather.go has the bounds and their
// reasons, docs/decisions.md the details and BENCHMARKS.md the figures.
type Channel[T any] struct {
	chanCore
	buf  []T
	mask uint64

	// replayed holds dead letters put back by [Graph.Replay]; the consumer
	// takes them before the ring. replayMu guards it; chanCore.replayN
	// mirrors its length so the consumer's fast path reads one atomic.
	replayMu sync.Mutex
	replayed []T
	letters  []observe.DeadLetter // the dead letters of replayed, in the same order

	// Set for a durable graph: the codec, and the bound ends, which
	// restore positions.
	codec   Codec[T]
	scratch []byte // the producer's encoding buffer
	tx      *Sender[T]
	rx      *Receiver[T]
}

// cacheLine separates fields written by different goroutines.
type cacheLine [64]byte

// chanCore is the part of a channel that does not depend on its type.
type chanCore struct {
	g        *Graph
	name     string
	typeName string
	capacity uint64
	err      error // set when the channel could not be built

	// batch is the unit in which the two ends exchange slots: the
	// consumer hands consumed slots back to the producer batch at a time
	// while it is behind, and while the producer streams it lets up to
	// batch new messages gather before it takes them (see refill). Sized
	// by batchShare and maxBatch.
	batch uint64

	producer *Actor
	consumer *Actor
	in       Input // the consumer's end, for quarantine

	// unreplay is the typed channel's unreplay, for stopActor.
	unreplay func() []observe.DeadLetter
	// anyCh is the typed channel this is the core of.
	anyCh anyChannel
	// durable: the graph has a store, and the committer publishes tails.
	durable bool

	// Read-mostly flags, apart from the indices so that reading them on
	// every commit does not pull a line the other side keeps writing.
	closed          atomic.Bool
	consumerWaiting atomic.Bool
	producerWaiting atomic.Bool
	replayN         atomic.Int64

	_    cacheLine
	tail atomic.Uint64 // messages published, ever; written by the producer
	_    cacheLine
	head atomic.Uint64 // messages consumed from the ring, ever; written by the consumer

	// attempts counts the failed steps that peeked the head message alone;
	// narrowUntil keeps peeks to one message per step until consumed reaches
	// it. Only the consumer's goroutine touches them, and attempts resets
	// when the head message is consumed. They share head's cache line,
	// which the consumer writes anyway.
	attempts    int
	onReplay    bool   // attempts belong to the first replayed message, not the ring's head
	consumed    uint64 // messages consumed, ever, ring and replayed
	narrowUntil uint64
	_           cacheLine
}

// The size of a channel's batch, the unit in which its ends exchange slots
// and in which messages gather (chanCore.batch). These are its only
// statement; docs refer to the names.
const (
	// batchShare: a batch is 1/batchShare of the capacity, so the slots
	// a consumer has not yet handed back never take more than a quarter
	// of the ring from its producer.
	batchShare = 4
	// maxBatch caps the batch at a few cache lines of slots.
	maxBatch = 64
)

// NewChannel adds a channel to the graph. Capacity is the most messages it
// holds; it must be positive. Bind its ends with [Channel.Sender] and
// [Channel.Receiver]. Mistakes (a duplicate name, a bad capacity, a graph
// already running) are reported by [Graph.Run] and by [Channel.Err].
func NewChannel[T any](g *Graph, name string, capacity int) *Channel[T] {
	c := &Channel[T]{}
	c.g, c.name, c.typeName = g, name, reflect.TypeFor[T]().String()
	c.anyCh, c.durable = c, g.cfg.Store != nil
	if capacity < 1 {
		c.err = wiringErr("channel %q: capacity %d must be at least 1", name, capacity)
		g.addBuildErr(c.err)
		return c
	}
	size := uint64(1) << bits.Len64(uint64(capacity-1))
	c.chanCore.unreplay = c.unreplayTyped
	c.capacity, c.buf, c.mask = uint64(capacity), make([]T, size), size-1
	c.batch = min(maxBatch, max(1, c.capacity/batchShare))
	c.err = g.register(kindChannel, name, c)
	return c
}

// Name is the channel's name in the graph.
func (c *Channel[T]) Name() string { return c.name }

// Cap is the channel's capacity.
func (c *Channel[T]) Cap() int { return int(c.capacity) }

// Len is the number of messages in the channel, replayed dead letters
// included, as the producer sees it: messages consumed by committed steps
// count until the consumer hands their slots back, which it does at least
// once per batch (a fraction of the capacity) and whenever it catches up
// or waits. It may be called from any goroutine.
func (c *Channel[T]) Len() int {
	head := c.head.Load() // before tail, so the difference is never negative
	return int(c.tail.Load()-head) + int(c.replayN.Load())
}

// Err is the error that made the channel unusable, or nil.
func (c *Channel[T]) Err() error { return c.err }

// Closed reports whether the producer has closed the channel.
func (c *Channel[T]) Closed() bool { return c.closed.Load() }

// Sender binds the channel's producing end to actor a. Each channel has one
// producer; binding a second is a wiring error, reported by [Graph.Run], and
// the second handle fails every step that uses it.
func (c *Channel[T]) Sender(a *Actor) *Sender[T] {
	tx := &Sender[T]{sendEnd: sendEnd{c: &c.chanCore}, ch: c, actor: a, err: c.err}
	if tx.err == nil {
		tx.err = c.g.bindEnd(c, &c.producer, a, "producer")
	}
	if tx.err == nil {
		c.tx = tx
		a.outputs = append(a.outputs, tx)
	}
	return tx
}

// Receiver binds the channel's consuming end to actor a. Each channel has
// one consumer; binding a second is a wiring error.
func (c *Channel[T]) Receiver(a *Actor) *Receiver[T] {
	rx := &Receiver[T]{recvEnd: recvEnd{c: &c.chanCore}, ch: c, actor: a, err: c.err}
	if rx.err == nil {
		rx.err = c.g.bindEnd(c, &c.consumer, a, "consumer")
	}
	if rx.err == nil {
		c.in, c.rx = rx, rx
		a.inputs = append(a.inputs, rx)
	}
	return rx
}

// closedAndEmpty reports, from any goroutine, that the channel is closed
// and every message in it was consumed.
func (c *chanCore) closedAndEmpty() bool {
	// closed is loaded before tail: the producer stores tail before closed,
	// so a closed channel's final tail is visible here.
	return c.closed.Load() && c.tail.Load() == c.head.Load() && c.replayN.Load() == 0
}

func (c *chanCore) close() {
	if !c.closed.Swap(true) && c.consumer != nil {
		c.consumer.wake()
	}
}

// fits reports whether v can go into the channel: a message of its type.
func (c *Channel[T]) fits(v any) error {
	if _, ok := v.(T); !ok {
		return fmt.Errorf("channel %q takes %s, not a value of type %T", c.name, c.typeName, v)
	}
	return nil
}

// replayValue puts back a dead letter whose value fits; see
// [Graph.Replay].
func (c *Channel[T]) replayValue(d observe.DeadLetter) {
	t, _ := d.Value.(T)
	c.replayMu.Lock()
	c.replayed = append(c.replayed, t)
	c.letters = append(c.letters, d)
	c.replayN.Store(int64(len(c.replayed)))
	c.replayMu.Unlock()
	if c.consumer != nil {
		c.consumer.wake()
	}
}

func (c *Channel[T]) core() *chanCore { return &c.chanCore }

// dropReplayed removes the first n replayed messages, consumed or
// quarantined again.
func (c *Channel[T]) dropReplayed(n int) {
	c.replayMu.Lock()
	k := copy(c.replayed, c.replayed[n:])
	clear(c.replayed[k:])
	c.replayed = c.replayed[:k]
	k = copy(c.letters, c.letters[n:])
	clear(c.letters[k:])
	c.letters = c.letters[:k]
	c.replayN.Store(int64(len(c.replayed)))
	c.replayMu.Unlock()
}

// unreplay takes back the replayed messages nobody consumed, as the dead
// letters they were.
func (c *Channel[T]) unreplayTyped() []observe.DeadLetter {
	c.replayMu.Lock()
	defer c.replayMu.Unlock()
	out := c.letters
	clear(c.replayed)
	c.replayed, c.letters = c.replayed[:0], nil
	c.replayN.Store(0)
	return out
}

// Sender is the producing end of a [Channel], bound to one actor.
type Sender[T any] struct {
	sendEnd
	ch    *Channel[T]
	actor *Actor
	err   error
	_     cacheLine
}

// sendEnd is the part of a Sender that does not depend on its type, with
// the commit and abort a step calls through the port interface. An
// interface call to a method of a generic type goes through a wrapper that
// calls the method with the type's dictionary; a method promoted from a
// plain embedded type is reached by a jump.
type sendEnd struct {
	c         *chanCore
	tail      uint64 // the published tail; only this end writes it
	staged    uint64 // messages written past tail in the open step
	headCache uint64 // the consumer's head when last loaded
	closing   bool   // Close was called in the open step
	closed    bool   // a committed step closed the channel
}

// Err is the binding error, or nil.
func (tx *Sender[T]) Err() error { return tx.err }

// Vacant is the number of free slots, counting those staged in an open
// step as taken.
func (tx *Sender[T]) Vacant() int {
	return int(tx.ch.capacity - (tx.tail + tx.staged - tx.ch.head.Load()))
}

// usable is the inlined fast path of check.
func (tx *Sender[T]) usable(s *Step) bool {
	return s != nil && s.actor == tx.actor && s.open && tx.err == nil && !tx.closed && !tx.closing
}

func (tx *Sender[T]) check(s *Step) error {
	if tx.usable(s) {
		return nil
	}
	switch {
	case tx.err != nil:
		return s.fail(tx.err)
	case s == nil || !s.open:
		return s.fail(misuseErr("send on channel %q (producer %q) outside a step", tx.ch.name, tx.actor.name))
	case s.actor != tx.actor:
		return s.fail(misuseErr("actor %q sent on channel %q, whose producer is %q",
			s.actor.name, tx.ch.name, tx.actor.name))
	case tx.closed || tx.closing:
		return s.fail(fmt.Errorf("%w: send on channel %q after Close", ErrClosed, tx.ch.name))
	}
	return s.fail(misuseErr("send on channel %q (producer %q) from a step that is not open", tx.ch.name, tx.actor.name))
}

// room makes sure n more messages fit, reloading the consumer's head only
// when the cached one says they do not.
func (tx *Sender[T]) room(s *Step, n uint64) error {
	if tx.tail+tx.staged+n-tx.headCache <= tx.ch.capacity {
		return nil
	}
	tx.headCache = tx.ch.head.Load()
	if tx.tail+tx.staged+n-tx.headCache <= tx.ch.capacity {
		return nil
	}
	return s.fail(fmt.Errorf("%w: actor %q sent %d on channel %q with %d vacant (wait with Actor.WaitVacant before the step)",
		ErrNoVacancy, tx.actor.name, n, tx.ch.name, tx.ch.capacity-(tx.tail+tx.staged-tx.headCache)))
}

// Send stages v; it is published when the step commits. A step may send at
// most the vacancy the channel had when the step began; the vacancy can only
// grow while the producer waits, so sending no more than a successful
// [Actor.WaitVacant] asked for never fails. More is [ErrNoVacancy], and the
// step fails even if the error is ignored.
func (tx *Sender[T]) Send(s *Step, v T) error {
	c := tx.ch
	if !tx.usable(s) || tx.tail+tx.staged+1-tx.headCache > c.capacity {
		if err := tx.check(s); err != nil {
			return err
		}
		if err := tx.room(s, 1); err != nil {
			return err
		}
	}
	c.buf[(tx.tail+tx.staged)&c.mask] = v
	if tx.staged == 0 {
		s.touched = append(s.touched, tx)
	}
	tx.staged++
	return nil
}

// SendMany stages every value of vs, in order, or none of them.
func (tx *Sender[T]) SendMany(s *Step, vs []T) error {
	if err := tx.check(s); err != nil {
		return err
	}
	if len(vs) == 0 {
		return nil
	}
	if err := tx.room(s, uint64(len(vs))); err != nil {
		return err
	}
	start := (tx.tail + tx.staged) & tx.ch.mask
	n := copy(tx.ch.buf[start:], vs)
	copy(tx.ch.buf, vs[n:])
	if tx.staged == 0 {
		s.touched = append(s.touched, tx)
	}
	tx.staged += uint64(len(vs))
	return nil
}

// Close closes the channel when the step commits. The consumer takes every
// message sent before it, then its waits return [ErrClosed]. Channels are
// also closed when their producer stops for good.
func (tx *Sender[T]) Close(s *Step) error {
	if err := tx.check(s); err != nil {
		return err
	}
	if tx.staged == 0 {
		s.touched = append(s.touched, tx)
	}
	tx.closing = true
	return nil
}

func (tx *sendEnd) commit() {
	c := tx.c
	if c.durable {
		// The committer publishes the messages once they are durable;
		// the producer goes on filling the ring past them.
		tx.tail += tx.staged
		tx.staged = 0
		tx.closed = tx.closed || tx.closing
		tx.closing = false
		return
	}
	if tx.staged > 0 {
		tx.tail += tx.staged
		tx.staged = 0
		c.tail.Store(tx.tail)
	}
	if tx.closing {
		tx.closing, tx.closed = false, true
		c.close()
		return
	}
	if c.consumerWaiting.Load() {
		c.consumer.wake()
	}
}

func (tx *sendEnd) abort(bool, bool) { tx.staged, tx.closing = 0, false }

func (tx *Sender[T]) core() *chanCore { return &tx.ch.chanCore }

// vacant is Vacant for the waits. It trusts the cached head when that
// already shows want free slots, and reloads it otherwise.
func (tx *Sender[T]) vacant(want uint64) uint64 {
	if v := tx.ch.capacity - (tx.tail + tx.staged - tx.headCache); v >= want {
		return v
	}
	tx.headCache = tx.ch.head.Load()
	return tx.ch.capacity - (tx.tail + tx.staged - tx.headCache)
}

func (tx *Sender[T]) owner() *Actor { return tx.actor }

// ready is the waits' fast path: a owns this end and the cached head shows
// want free slots. (Unlike Receiver.ready it does not reload: the producer
// finds its cache short only when the ring is nearly full, when it is
// likely to wait anyway.)
func (tx *Sender[T]) ready(a *Actor, want uint64) bool {
	return a == tx.actor && tx.ch.capacity-(tx.tail+tx.staged-tx.headCache) >= want
}

// Receiver is the consuming end of a [Channel], bound to one actor.
type Receiver[T any] struct {
	recvEnd
	ch    *Channel[T]
	actor *Actor
	err   error
	_     cacheLine
}

// recvEnd is the part of a Receiver that does not depend on its type, with
// the commit and abort a step calls through the port interface; see
// sendEnd for why.
type recvEnd struct {
	c            *chanCore
	head         uint64 // the committed head; only this end writes it
	released     uint64 // the head as last published to the producer
	peeked       uint64 // ring messages peeked in the open step
	peekedReplay int    // replayed messages peeked in the open step
	tailCache    uint64 // the producer's tail when last loaded
	gatherState         // what refill keeps between waits (gather.go)
}

// Err is the binding error, or nil.
func (rx *Receiver[T]) Err() error { return rx.err }

// Len is the number of messages the owning actor can still peek in its open
// step (or in its next one).
func (rx *Receiver[T]) Len() int {
	return int(rx.ch.tail.Load()-rx.head-rx.peeked) + int(rx.ch.replayN.Load()) - rx.peekedReplay
}

// usable is the inlined fast path of check.
func (rx *Receiver[T]) usable(s *Step) bool {
	return s != nil && s.actor == rx.actor && s.open && rx.err == nil
}

// check reports whether s may peek through rx, failing s if not. Callers on
// the hot path test usable first and call check only when it says no.
func (rx *Receiver[T]) check(s *Step) bool {
	if rx.usable(s) {
		return true
	}
	switch {
	case rx.err != nil:
		s.fail(rx.err)
	case s == nil || !s.open:
		s.fail(misuseErr("peek on channel %q (consumer %q) outside a step", rx.ch.name, rx.actor.name))
	case s.actor != rx.actor:
		s.fail(misuseErr("actor %q peeked channel %q, whose consumer is %q",
			s.actor.name, rx.ch.name, rx.actor.name))
	}
	return false
}

// limit is how many more messages this step may peek: one in all while the
// channel is narrowed after a failed step, otherwise want.
func (rx *Receiver[T]) limit(want int) int {
	if rx.ch.consumed < rx.ch.narrowUntil {
		if rx.peeked > 0 || rx.peekedReplay > 0 {
			return 0
		}
		return min(want, 1)
	}
	return want
}

// Peek returns the next message and true, or false if there is none (or,
// after a failed step, this step already peeked its one message). Every
// message peeked is consumed when the step commits and stays in the channel
// if it fails.
//
// On failure, the attempt is charged to the message peeked last (when it was
// the only message peeked from its channel), so peek the message you work
// on last.
func (rx *Receiver[T]) Peek(s *Step) (T, bool) {
	var v T
	if !rx.usable(s) {
		// Not rejoining after the call keeps the common path from
		// spilling what is live across it.
		rx.check(s) // fails s
		return v, false
	}
	if rx.limit(1) == 0 {
		return v, false
	}
	if rx.ch.replayN.Load() > int64(rx.peekedReplay) {
		rx.ch.replayMu.Lock()
		v = rx.ch.replayed[rx.peekedReplay]
		rx.ch.replayMu.Unlock()
		rx.touch(s)
		rx.peekedReplay++
		rx.injectPeek(s, v)
		return v, true
	}
	pos := rx.head + rx.peeked
	if pos == rx.tailCache {
		rx.tailCache = rx.ch.tail.Load()
		if pos == rx.tailCache {
			return v, false
		}
	}
	v = rx.ch.buf[pos&rx.ch.mask]
	rx.touch(s)
	rx.peeked++
	rx.injectPeek(s, v)
	return v, true
}

// injectPeek is the fault point of a peeked message.
func (rx *Receiver[T]) injectPeek(s *Step, v T) {
	if rx.ch.g.cfg.Faults != nil {
		s.inject(observe.FaultPoint{Kind: observe.FaultPeek, Channel: rx.ch.name, Message: v})
	}
}

// PeekMany copies up to len(dst) next messages into dst and returns how many
// it copied. After a failed step it copies at most one.
func (rx *Receiver[T]) PeekMany(s *Step, dst []T) int {
	if !rx.check(s) {
		return 0
	}
	want := rx.limit(len(dst))
	n := 0
	for n < want && rx.ch.replayN.Load() > int64(rx.peekedReplay) {
		v, _ := rx.Peek(s)
		dst[n] = v
		n++
	}
	if n == want {
		return n
	}
	pos := rx.head + rx.peeked
	if rx.tailCache-pos < uint64(want-n) {
		rx.tailCache = rx.ch.tail.Load()
	}
	k := int(min(uint64(want-n), rx.tailCache-pos))
	if k == 0 {
		return n
	}
	start := pos & rx.ch.mask
	c := copy(dst[n:n+k], rx.ch.buf[start:])
	copy(dst[n+c:n+k], rx.ch.buf)
	rx.touch(s)
	rx.peeked += uint64(k)
	if rx.ch.g.cfg.Faults != nil {
		for _, v := range dst[n : n+k] {
			rx.injectPeek(s, v)
		}
	}
	return n + k
}

func (rx *Receiver[T]) touch(s *Step) {
	if rx.peeked == 0 && rx.peekedReplay == 0 {
		s.touched = append(s.touched, rx)
	}
	s.lastPeek = &rx.ch.chanCore
}

func (rx *recvEnd) commit() {
	c := rx.c
	if rx.peekedReplay > 0 {
		c.anyCh.dropReplayed(rx.peekedReplay)
		c.g.deadLetters.delivered(rx.peekedReplay)
	}
	c.consumed += rx.peeked + uint64(rx.peekedReplay)
	c.attempts = 0
	rx.peekedReplay = 0
	if rx.peeked > 0 {
		rx.head += rx.peeked
		rx.peeked = 0
		if rx.head-rx.released >= c.batch || rx.head == rx.tailCache || c.producerWaiting.Load() {
			rx.release()
		}
	}
}

// release publishes the consumed slots to the producer. The consumer does
// it in chunks of batch while it is behind: freeing one slot at a
// time would have the producer write the slot just read, on the cache line
// the consumer reads next, and the line would bounce between the cores on
// every message. It releases at once when the producer waits, when it
// catches up with the producer, and before it waits itself.
func (rx *recvEnd) release() {
	c := rx.c
	if rx.released == rx.head || c.durable {
		// A durable graph's committer publishes the head once the
		// consumption is durable.
		return
	}
	rx.released = rx.head
	c.head.Store(rx.head)
	if c.producerWaiting.Load() {
		c.producer.wake()
	}
}

// abort undoes the step's peeks. A failed step narrows the channel to one
// message per step until everything it peeked has been consumed, so the
// message that fails is found alone; blamed charges the attempt to the head
// message when the step peeked only it. A transient failure does neither:
// it says nothing about the messages.
func (rx *recvEnd) abort(blamed, narrow bool) {
	c := rx.c
	n := rx.peeked + uint64(rx.peekedReplay)
	if blamed && n == 1 {
		// A replayed message goes ahead of the ring's head: count its
		// attempts afresh rather than add to the head's, and the other
		// way round.
		if onReplay := rx.peekedReplay == 1; onReplay != c.onReplay {
			c.attempts, c.onReplay = 0, onReplay
		}
		c.attempts++
	}
	if narrow {
		c.narrowUntil = max(c.narrowUntil, c.consumed+n)
	}
	rx.peeked, rx.peekedReplay = 0, 0
}

func (rx *Receiver[T]) core() *chanCore { return &rx.ch.chanCore }

func (rx *Receiver[T]) ringHead() uint64 { return rx.head }

// available is Len for the waits. It trusts the cached tail when that
// already shows want messages, and reloads it otherwise.
func (rx *Receiver[T]) available(want uint64) uint64 {
	replay := uint64(rx.ch.replayN.Load() - int64(rx.peekedReplay))
	if n := rx.tailCache - rx.head - rx.peeked + replay; n >= want {
		return n
	}
	rx.tailCache = rx.ch.tail.Load()
	return rx.tailCache - rx.head - rx.peeked + replay
}

func (rx *Receiver[T]) owner() *Actor { return rx.actor }

// ready is the waits' fast path: a owns this end and want messages are in
// the ring, by the cached tail or, failing that, by a fresh one, which
// refill may first let a batch gather into (replayed messages are counted
// by the slow path). A consumer that keeps up finds the cached tail short
// on every wait, so the reload belongs here, not behind the slow path's
// checks.
func (rx *Receiver[T]) ready(a *Actor, want uint64) bool {
	if a != rx.actor {
		return false
	}
	if rx.tailCache-rx.head-rx.peeked < want {
		rx.refill()
	}
	return rx.tailCache-rx.head-rx.peeked >= want
}

// takeHead removes the message the attempts were counted on, outside any
// step, for quarantine: the first replayed message or the ring's head.
// It returns the message, and the ID of its dead letter if it was a
// replayed one.
func (rx *Receiver[T]) takeHead() (v any, replayed uint64, ok bool) {
	c := &rx.ch.chanCore
	if c.onReplay && c.replayN.Load() > 0 {
		c.onReplay = false
		rx.ch.replayMu.Lock()
		v, replayed = rx.ch.replayed[0], rx.ch.letters[0].ID
		rx.ch.replayMu.Unlock()
		rx.ch.dropReplayed(1)
		c.consumed++
		c.attempts = 0
		return v, replayed, true
	}
	if rx.head == c.tail.Load() {
		return nil, 0, false
	}
	v = rx.ch.buf[rx.head&rx.ch.mask]
	rx.head++
	rx.release()
	c.consumed++
	c.attempts = 0
	return v, 0, true
}

// port is one end of a channel, or a state, as the step sees it.
type port interface {
	commit()
	abort(blamed, narrow bool)
	encode(r *record) error // a durable graph's record of the step
}

// Input is the consuming end of a channel of any type: a [*Receiver].
// The actor's waits take it.
type Input interface {
	port
	core() *chanCore
	owner() *Actor
	available(want uint64) uint64
	ready(a *Actor, want uint64) bool
	takeHead() (v any, replayed uint64, ok bool)
	ringHead() uint64 // the consumer's committed head
	release()
}

// Output is the producing end of a channel of any type: a [*Sender].
type Output interface {
	port
	core() *chanCore
	owner() *Actor
	vacant(want uint64) uint64
	ready(a *Actor, want uint64) bool
}

// anyChannel is a Channel without its type, as the graph keeps it.
type anyChannel interface {
	core() *chanCore
	dropReplayed(n int)
	fits(v any) error
	replayValue(d observe.DeadLetter)
	resolveCodec() error
	restore(ci *store.ChannelImage, where string) error
	encodeValue(v any) ([]byte, error)
	decodeValue(b []byte) (any, error)
}
