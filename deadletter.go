package steady

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/steady-go/steady/observe"
)

// defaultMaxDeadLetters is the dead-letter store's limit unless
// [Config.MaxDeadLetters] sets another. A poison message is rare: a
// thousand of them waiting means a failure in the consumer or in what it
// depends on, for an operator to look at, rather than in the messages. A
// letter keeps its message, its failure and the panic's stack (32 frames
// at most, a few KiB), so a full store stays within a few MiB in memory
// and in a state file, and [Graph.Snapshot], which copies the list at
// every scrape, stays cheap.
const defaultMaxDeadLetters = 1000

// deadLetterStore keeps the dead letters of a graph, in ID order (the
// order of their quarantine), and counts what it holds against its limit.
//
// A replayed letter leaves the list but is still held until its consumer
// consumes it: until then a durable graph's store keeps it too, and it
// comes back to the list if the consumer stops for good. So a letter
// quarantined again after its replay takes back the place it held, and
// the limit holds for the list and the store file alike.
//
// mu also orders every change to the letters, their durable records
// included: a quarantine submits its record, and Replay and Purge commit
// theirs, with mu held, so that a store applies them in the order the list
// saw them (a purge never reaches it before the quarantine it undoes).
// These are rare; a commit under mu delays only them and the list's
// readers.
type deadLetterStore struct {
	mu      sync.Mutex
	letters []observe.DeadLetter
	out     int // replayed letters not yet consumed
	nextID  uint64
	max     int   // Config.MaxDeadLetters
	purged  int64 // letters purged, ever (with a store, by every run)
}

// heldLocked is how many letters count against the limit.
func (s *deadLetterStore) heldLocked() int { return len(s.letters) + s.out }

// addLocked gives d the next ID and keeps it. fromReplay says d is a
// replayed letter quarantined again, which takes back its own place.
func (s *deadLetterStore) addLocked(d observe.DeadLetter, fromReplay bool) observe.DeadLetter {
	if fromReplay {
		s.out--
	}
	s.nextID++
	d.ID = s.nextID
	s.letters = append(s.letters, d)
	return d
}

// load installs a durable graph's letters: those in the list, and the
// number queued in their channels for a replay.
func (s *deadLetterStore) load(letters []observe.DeadLetter, queued int, nextID uint64, purged int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.letters, s.out, s.nextID, s.purged = letters, queued, nextID, purged
}

func (s *deadLetterStore) list() []observe.DeadLetter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.letters)
}

// delivered records that n replayed letters were consumed.
func (s *deadLetterStore) delivered(n int) {
	s.mu.Lock()
	s.out -= n
	s.mu.Unlock()
}

// restore puts back, in ID order, a replayed letter its consumer will not
// take: it stopped for good.
func (s *deadLetterStore) restore(d observe.DeadLetter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out--
	i, _ := slices.BinarySearchFunc(s.letters, d.ID, func(x observe.DeadLetter, id uint64) int {
		return cmp.Compare(x.ID, id)
	})
	s.letters = slices.Insert(s.letters, i, d)
}

// findLocked returns the letters of ids, each once, or an error wrapping
// ErrDeadLetterNotFound that names every id not in the list.
func (s *deadLetterStore) findLocked(ids []uint64) ([]observe.DeadLetter, error) {
	var found []observe.DeadLetter
	var missing []string
	for _, id := range ids {
		i := slices.IndexFunc(s.letters, func(d observe.DeadLetter) bool { return d.ID == id })
		switch {
		case i >= 0 && !slices.ContainsFunc(found, func(d observe.DeadLetter) bool { return d.ID == id }):
			found = append(found, s.letters[i])
		case i < 0:
			missing = append(missing, fmt.Sprint(id))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: id %s", ErrDeadLetterNotFound, strings.Join(missing, ", "))
	}
	return found, nil
}

// removeLocked takes the letters out of the list.
func (s *deadLetterStore) removeLocked(letters []observe.DeadLetter) {
	s.letters = slices.DeleteFunc(s.letters, func(d observe.DeadLetter) bool {
		return slices.ContainsFunc(letters, func(x observe.DeadLetter) bool { return x.ID == d.ID })
	})
}

// idsOf lists the IDs of letters.
func idsOf(letters []observe.DeadLetter) []uint64 {
	out := make([]uint64, len(letters))
	for i, d := range letters {
		out[i] = d.ID
	}
	return out
}

// DeadLetters lists the letters in the dead-letter store, oldest first. A
// replayed letter is not listed while its message waits in its channel.
// It may be called at any time.
func (g *Graph) DeadLetters() []observe.DeadLetter { return g.deadLetters.list() }

// Replay takes the given dead letters out of the store and puts their
// messages back into their channels, in the order given, ahead of the
// messages their consumers have not yet peeked. A replayed message may
// take its channel past its capacity. It does all of them or none: it
// fails, changing nothing, if an id is not in the store (an error wrapping
// [ErrDeadLetterNotFound] that names it) or a letter's consumer has
// stopped for good.
//
// A replayed message is always either delivered or in the store. If its
// consumer stops for good before it takes the message, the letter goes
// back to the store. With a [Config.Store], Replay returns once the replay
// is durable: a replay not delivered when the process ends is delivered
// by the next run of the graph on that store, ahead of its other messages
// (in ID order). So Replay after [Graph.Load] on a graph that never runs,
// as a command on a state directory would call it, changes only the store.
func (g *Graph) Replay(ids ...uint64) error {
	g.replayMu.Lock()
	defer g.replayMu.Unlock()
	s := &g.deadLetters
	s.mu.Lock()
	defer s.mu.Unlock()
	letters, err := s.findLocked(ids)
	if err != nil || len(letters) == 0 {
		return err
	}
	chans := make([]anyChannel, len(letters))
	g.mu.Lock()
	for i, d := range letters {
		chans[i] = g.channels[d.Channel]
	}
	g.mu.Unlock()
	for i, d := range letters {
		ch := chans[i]
		if ch == nil {
			return fmt.Errorf("steady: replay %d: channel %q is gone", d.ID, d.Channel)
		}
		if c := ch.core(); c.consumer.stoppedForGood() {
			return fmt.Errorf("steady: replay %d: consumer %q of channel %q has stopped", d.ID, c.consumer.name, d.Channel)
		}
		if err := ch.fits(d.Value); err != nil {
			return fmt.Errorf("steady: replay %d: %w", d.ID, err)
		}
	}
	if err := g.commitNow(&record{replayDL: idsOf(letters)}); err != nil {
		return fmt.Errorf("steady: replay: %w", err)
	}
	s.removeLocked(letters)
	s.out += len(letters)
	for i, d := range letters {
		chans[i].replayValue(d)
	}
	return nil
}

// Purge deletes the given dead letters from the store for good: a
// deliberate loss of their messages, each announced by an [observe.EventPurged]
// and counted in [observe.Snapshot.DeadLettersPurged]. It deletes all of them or
// none: an id not in the store fails it with an error wrapping
// [ErrDeadLetterNotFound] that names the id. With a [Config.Store], the
// letters leave the store in one transaction, and Purge returns once it
// is durable. A replayed letter whose message waits in its channel is not
// in the store.
func (g *Graph) Purge(ids ...uint64) error {
	s := &g.deadLetters
	s.mu.Lock()
	letters, err := s.findLocked(ids)
	if err == nil && len(letters) > 0 {
		if err = g.commitNow(&record{purgeDL: idsOf(letters)}); err != nil {
			err = fmt.Errorf("steady: purge: %w", err)
		}
	}
	if err == nil {
		s.removeLocked(letters)
		s.purged += int64(len(letters))
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	for _, d := range letters {
		g.emit(observe.Event{Kind: observe.EventPurged, DeadLetter: &d})
	}
	return nil
}

// purged is how many dead letters were purged, ever.
func (g *Graph) purged() int64 {
	s := &g.deadLetters
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.purged
}

// commitNow makes r durable before it returns, in a graph with a store;
// without one there is nothing to do.
func (g *Graph) commitNow(r *record) error {
	if g.committer == nil {
		return nil
	}
	return g.committer.apply(r)
}
