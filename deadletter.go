package steady

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DeadLetter is a poison message: one that made its consumer's step fail
// [Policy.PoisonAfter] times in a row, moved out of its channel so the
// actor could move on. It stays in the graph's dead-letter store until it is
// replayed.
type DeadLetter struct {
	ID       uint64    // unique within the graph, from 1
	Actor    string    // the consumer that failed on it
	Channel  string    // the channel it was taken from
	Value    any       // the message
	Err      error     // the last failure: a *PanicError or the step's error
	Stack    string    // the panic's stack, when Err is a panic
	Attempts int       // failed attempts before quarantine
	Time     time.Time // when it was quarantined
}

// deadLetterStore keeps the dead letters of a graph, in the order they were
// quarantined. Quarantine is rare, so a mutex is enough.
type deadLetterStore struct {
	mu      sync.Mutex
	letters []DeadLetter
	nextID  uint64
}

func (s *deadLetterStore) add(d DeadLetter) DeadLetter {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	d.ID = s.nextID
	s.letters = append(s.letters, d)
	return d
}

// load replaces the store's content with a durable graph's.
func (s *deadLetterStore) load(letters []DeadLetter, nextID uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.letters, s.nextID = letters, nextID
}

func (s *deadLetterStore) list() []DeadLetter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.letters)
}

func (s *deadLetterStore) remove(id uint64) (DeadLetter, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.letters, func(d DeadLetter) bool { return d.ID == id })
	if i < 0 {
		return DeadLetter{}, false
	}
	d := s.letters[i]
	s.letters = slices.Delete(s.letters, i, i+1)
	return d, true
}

// DeadLetters lists the quarantined messages, oldest first. It may be
// called at any time.
func (g *Graph) DeadLetters() []DeadLetter { return g.deadLetters.list() }

// Replay takes the dead letter id out of the store and puts its message back
// into its channel, ahead of the messages its consumer has not yet peeked.
// A replayed message may take the channel past its capacity. Replay fails
// if the id is unknown or the channel's consumer has stopped for good; the
// dead letter then stays in the store. If the consumer stops for good before
// it takes a replayed message, the dead letter goes back to the store: a
// replayed message is always either delivered or in the store.
func (g *Graph) Replay(id uint64) error {
	d, ok := g.deadLetters.remove(id)
	if !ok {
		return fmt.Errorf("%w: id %d", ErrDeadLetterNotFound, id)
	}
	g.mu.Lock()
	ch := g.channels[d.Channel]
	g.mu.Unlock()
	err := fmt.Errorf("steady: replay %d: channel %q is gone", id, d.Channel)
	if ch != nil {
		c := ch.core()
		g.replayMu.Lock()
		if c.consumer.stoppedForGood() {
			err = fmt.Errorf("steady: replay %d: consumer %q of channel %q has stopped", id, c.consumer.name, d.Channel)
		} else {
			err = ch.replayValue(d)
		}
		g.replayMu.Unlock()
	}
	if err != nil {
		g.deadLetters.restore(d)
	}
	return err
}

// restore puts back a dead letter whose replay failed, in ID order.
func (s *deadLetterStore) restore(d DeadLetter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, _ := slices.BinarySearchFunc(s.letters, d.ID, func(x DeadLetter, id uint64) int {
		return cmp.Compare(x.ID, id)
	})
	s.letters = slices.Insert(s.letters, i, d)
}
