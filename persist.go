package steady

import (
	"errors"
	"fmt"

	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store"
)

// This file holds what channels, states and the graph do only when the
// graph is durable: encode a committing step's effects into its record,
// and restore the store's image when Run starts. committer.go has the
// committer and the rule that makes it safe.

// SetCodec sets the codec that persists the channel's messages in a durable
// graph, instead of [DefaultCodec]. Call it before [Graph.Run]; it returns c.
func (c *Channel[T]) SetCodec(codec Codec[T]) *Channel[T] {
	c.codec = codec
	return c
}

// SetCodec sets the codec that persists the state in a durable graph,
// instead of [DefaultCodec]. Call it before [Graph.Run]; it returns st.
func (st *State[T]) SetCodec(codec Codec[T]) *State[T] {
	st.codec = codec
	return st
}

// Codec returns the codec of the channel's messages: the one given to
// [Channel.SetCodec], or [DefaultCodec] for T. Adapters that carry the
// channel's messages outside the graph (package jsbridge) encode with it.
func (c *Channel[T]) Codec() (Codec[T], error) {
	if c.codec != nil {
		return c.codec, nil
	}
	return DefaultCodec[T]()
}

func (c *Channel[T]) resolveCodec() error { return resolveCodec(&c.codec, "channel", c.name) }

func (st *State[T]) resolveCodec() error { return resolveCodec(&st.codec, "state", st.name) }

// resolveCodec gives *codec the default codec of T unless one was set.
func resolveCodec[T any](codec *Codec[T], kind, name string) error {
	if *codec != nil {
		return nil
	}
	def, err := DefaultCodec[T]()
	if err != nil {
		return wiringErr("%s %q: %v", kind, name, err)
	}
	*codec = def
	return nil
}

// encode adds the staged messages, as one run, to the step's record, and
// the publication of the new tail (and close) that follows durability.
func (tx *Sender[T]) encode(r *record) error {
	c := tx.ch
	if tx.staged > 0 {
		var data []byte
		for i := range tx.staged {
			// Each message goes through the scratch buffer, so a codec
			// that returns a slice of its own rather than appending to
			// dst cannot damage the frames before it.
			// The result is never kept as the next scratch: it may be
			// the codec's own memory. A bigger scratch is made instead
			// when a message outgrew it.
			b, err := c.codec.Append(c.scratch[:0], c.buf[(tx.tail+i)&c.mask])
			if err != nil {
				return fmt.Errorf("channel %q: %w", c.name, err)
			}
			data = store.AppendFrame(data, b)
			if cap(b) > cap(c.scratch) {
				c.scratch = make([]byte, 0, cap(b))
			}
		}
		r.appends = append(r.appends, store.Append{Channel: c.name, First: tx.tail, Count: int(tx.staged), Data: data})
	}
	if tx.staged > 0 || tx.closing {
		r.pubs = append(r.pubs, publication{c: &c.chanCore, tail: tx.tail + tx.staged, close: tx.closing})
	}
	return nil
}

// encode records how far the step consumed the channel, the replayed dead
// letters it consumed, and the reset of the head's attempt count.
func (rx *Receiver[T]) encode(r *record) error {
	c := rx.ch
	if rx.peeked > 0 {
		r.heads = append(r.heads, headWrite{c.name, rx.head + rx.peeked})
		r.pubs = append(r.pubs, publication{c: &c.chanCore, head: rx.head + rx.peeked})
	}
	if rx.peekedReplay > 0 {
		c.replayMu.Lock()
		for _, d := range c.letters[:rx.peekedReplay] {
			r.removeDL = append(r.removeDL, d.ID)
		}
		c.replayMu.Unlock()
	}
	if c.attempts != 0 {
		r.attempts = append(r.attempts, headWrite{c.name, 0})
	}
	return nil
}

// encode adds the working copy to the step's record.
func (st *State[T]) encode(r *record) error {
	data, err := st.codec.Append(nil, st.work)
	if err != nil {
		return fmt.Errorf("state %q: %w", st.name, err)
	}
	r.states = append(r.states, stateWrite{st.name, data})
	return nil
}

// encode builds the record of the open step; an error fails the step.
func (a *Actor) encode() error {
	for _, p := range a.step.touched {
		if err := p.encode(&a.rec); err != nil {
			a.rec.reset()
			return err
		}
	}
	return nil
}

func (c *Channel[T]) encodeValue(v any) ([]byte, error) {
	t, ok := v.(T)
	if !ok {
		return nil, fmt.Errorf("channel %q: value of type %T, want %s", c.name, v, c.typeName)
	}
	return c.codec.Append(nil, t)
}

// restore fills the channel with the unconsumed messages of its image.
func (c *Channel[T]) restore(ci *store.ChannelImage, where string) error {
	if uint64(len(ci.Messages)) > c.capacity {
		return fmt.Errorf("channel %q in %s holds %d unconsumed messages, more than its capacity %d",
			c.name, where, len(ci.Messages), c.capacity)
	}
	for i, m := range ci.Messages {
		v, err := c.codec.Decode(m)
		if err != nil {
			return fmt.Errorf("channel %q in %s: message %d no longer decodes as %s: %w",
				c.name, where, ci.Head+uint64(i), c.typeName, err)
		}
		c.buf[(ci.Head+uint64(i))&c.mask] = v
	}
	tail := ci.Head + uint64(len(ci.Messages))
	c.head.Store(ci.Head)
	c.tail.Store(tail)
	c.consumed, c.attempts = ci.Head, ci.Attempts
	if c.tx != nil {
		c.tx.tail, c.tx.headCache = tail, ci.Head
	}
	if c.rx != nil {
		c.rx.head, c.rx.released, c.rx.tailCache = ci.Head, ci.Head, tail
	}
	return nil
}

func (c *Channel[T]) decodeValue(b []byte) (any, error) {
	v, err := c.codec.Decode(b)
	return v, err
}

// restore installs the state's durable value.
func (st *State[T]) restore(b []byte, where string) error {
	v, err := st.codec.Decode(b)
	if err != nil {
		return fmt.Errorf("state %q in %s no longer decodes as %s: %w", st.name, where, st.typeName, err)
	}
	st.committed = v
	return nil
}

// anyState is a State without its type, as the graph keeps it.
type anyState interface {
	resolveCodec() error
	restore(b []byte, where string) error
	entity() store.Entity
}

func (st *State[T]) entity() store.Entity { return store.Entity{Name: st.name, Type: st.typeName} }

// shape is the graph as a store file records it.
func (g *Graph) shape() store.Shape {
	var s store.Shape
	for _, a := range g.actors {
		s.Actors = append(s.Actors, a.name)
	}
	for _, c := range g.chanOrder {
		cc := c.core()
		s.Channels = append(s.Channels, store.Entity{Name: cc.name, Type: cc.typeName})
	}
	for _, st := range g.stateOrder {
		s.States = append(s.States, st.entity())
	}
	return s
}

// Load checks the graph's wiring and, for a durable graph, resumes it from
// its [Config.Store]: states get their last durable values, channels their
// unconsumed messages, the dead-letter store its letters. [Graph.Run]
// calls it if it was not called; call it first to read what an earlier run
// left ([State.Value], [Graph.DeadLetters], [Graph.Resumed]) before any
// actor runs. After Load the graph can no longer change. A store that does
// not fit the graph (another shape, a value that no longer decodes, a
// damaged file) is an error wrapping [ErrLoad], and the store is left as
// it was. Calls after the first return the first one's error.
func (g *Graph) Load() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return ErrGraphRunning
	}
	return g.loadLocked()
}

// loadLocked is Load with g.mu held.
func (g *Graph) loadLocked() error {
	if g.loaded {
		return g.loadErr
	}
	g.loaded = true
	g.loadErr = g.validate()
	if g.loadErr == nil && g.committer != nil {
		if err := g.load(); err != nil {
			g.loadErr = fmt.Errorf("%w: %w", ErrLoad, err)
		}
	}
	return g.loadErr
}

// load resolves every codec and restores the store's image, before any
// actor runs. Any error leaves the store as it was.
func (g *Graph) load() error {
	var errs []error
	for _, c := range g.chanOrder {
		errs = append(errs, c.resolveCodec())
	}
	for _, st := range g.stateOrder {
		errs = append(errs, st.resolveCodec())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	st := g.cfg.Store
	var img *store.Image
	err := callStore("Load", func() (err error) {
		img, err = st.Load(g.shape())
		return err
	})
	if err != nil {
		return err // the store's errors name its file
	}
	where := st.String()
	for name, b := range img.States {
		s := g.states[name]
		if s == nil {
			return fmt.Errorf("%s holds state %q, which the graph does not have", where, name)
		}
		if err := s.restore(b, where); err != nil {
			return err
		}
	}
	for name, ci := range img.Channels {
		c := g.channels[name]
		if c == nil {
			return fmt.Errorf("%s holds channel %q, which the graph does not have", where, name)
		}
		if err := c.restore(ci, where); err != nil {
			return err
		}
	}
	letters := make([]observe.DeadLetter, 0, len(img.DeadLetters))
	queued := 0
	for _, sd := range img.DeadLetters {
		c := g.channels[sd.Channel]
		if c == nil {
			return fmt.Errorf("%s holds dead letter %d of channel %q, which the graph does not have", where, sd.ID, sd.Channel)
		}
		v, err := c.decodeValue(sd.Value)
		if err != nil && len(sd.Value) == 0 {
			// Its value could not be encoded at quarantine; the letter
			// says so in its Err.
			v, err = nil, nil
		}
		if err != nil {
			return fmt.Errorf("dead letter %d of channel %q in %s no longer decodes as %s: %w",
				sd.ID, sd.Channel, where, c.core().typeName, err)
		}
		d := observe.DeadLetter{
			ID: sd.ID, Actor: sd.Actor, Channel: sd.Channel, Value: v, Err: errors.New(sd.Err),
			Stack: sd.Stack, Attempts: sd.Attempts, Time: sd.Time,
		}
		if sd.Replay && c.fits(v) == nil {
			// A replay asked for and not yet delivered: it goes ahead
			// of the channel's messages, as Replay puts it.
			c.replayValue(d)
			queued++
			continue
		}
		letters = append(letters, d)
	}
	g.deadLetters.load(letters, queued, img.LastDeadLetterID, int64(img.PurgedDeadLetters))
	if err := g.restoreHistories(img, where); err != nil {
		return err
	}
	// A file created by a run killed before its first commit holds
	// nothing to resume.
	g.resumed.Store(len(img.States) > 0 || len(img.Channels) > 0 || len(img.DeadLetters) > 0 ||
		img.LastDeadLetterID > 0 || len(img.Actors) > 0)
	return nil
}

// Resumed reports whether [Graph.Load] (or Run) found an earlier run's
// commits in the store: false before Load, and for a graph without one.
func (g *Graph) Resumed() bool { return g.resumed.Load() }

// encodeLetter encodes a dead letter's value with its channel's codec. It
// runs on the supervisor's side of the actor runner, outside runOnce, so a
// codec that panics here would end the process: the panic becomes the
// error, kept with the letter.
func encodeLetter(c *chanCore, v any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("codec panicked: %v", r)
		}
	}()
	return c.anyCh.encodeValue(v)
}

// persistQuarantine records a quarantine: the message left channel c (the
// ring's head, or the replayed letter replaced), and d joined the store.
func (a *Actor) persistQuarantine(c *chanCore, replaced uint64, d observe.DeadLetter) {
	r := &a.rec
	v, err := encodeLetter(c, d.Value)
	sd := store.DeadLetter{ID: d.ID, Actor: d.Actor, Channel: d.Channel, Value: v,
		Stack: d.Stack, Attempts: d.Attempts, Time: d.Time}
	if d.Err != nil {
		sd.Err = d.Err.Error()
	}
	if err != nil {
		// The message came through this codec, so this does not happen
		// with a deterministic codec; keep the failure rather than lose it.
		sd.Err += fmt.Sprintf(" (value not persisted: %v)", err)
	}
	if replaced != 0 {
		r.removeDL = append(r.removeDL, replaced)
	} else {
		head := c.in.ringHead()
		r.heads = append(r.heads, headWrite{c.name, head})
		r.pubs = append(r.pubs, publication{c: c, head: head})
	}
	r.attempts = append(r.attempts, headWrite{c.name, 0})
	r.addDL = append(r.addDL, sd)
	r.lastDL = d.ID
	a.committer.submit(r)
}
