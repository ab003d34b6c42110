// Package store persists the committed steps of a durable steady graph.
//
// A graph with a store (steady.Config.Store) writes every committed step
// as part of a [Batch]: the new value of each state the step changed, the
// messages it sent, how far it consumed each input, and the dead letters it
// added or removed. The graph's committer goroutine gathers the steps of
// all actors into one Batch and hands it to [Store.Commit], which writes it
// atomically and durably: one transaction, and its fsyncs, for many steps
// (group commit). A step's outputs reach the next actor only once its batch
// is durable, so whatever prefix of batches survives a crash is a consistent
// cut of the graph, and [Store.Load] resumes from it.
//
// The store sees only bytes; the graph encodes values with its codecs.
// This package holds the interface, the records it exchanges and the
// errors a store returns; it links no storage engine. The default store,
// one bbolt file in a state directory, is package
// github.com/steady-go/steady/store/bolt.
package store

import (
	"errors"
	"time"
)

// Store keeps the durable image of one graph. The graph calls Load once,
// before any actor runs, then Commit from one goroutine at a time. The
// caller opens and closes the store.
type Store interface {
	// Load checks that the store belongs to a graph of this shape and
	// returns what it holds. A new, empty store records the shape and
	// returns an empty image. On an existing store Load writes nothing:
	// a mismatch or a damaged record is an error, and the store is left
	// as it was. Errors name the store (its file, for instance).
	Load(shape Shape) (*Image, error)

	// Commit writes b atomically: after a crash, either all of b is in
	// the store or none of it is.
	Commit(b *Batch) error

	// String names the store for error messages, for example its file.
	String() string
}

// Shape is what a store file belongs to: the names, and the Go types of
// values, of a graph's actors, channels and states. A store refuses to
// load for a graph of another shape.
type Shape struct {
	Actors   []string
	Channels []Entity // with the message type
	States   []Entity // with the state type
}

// Entity is a named channel or state and the Go type of its values, as
// fmt's %T prints it.
type Entity struct {
	Name string
	Type string
}

// Image is the content of a store, as Load returns it.
type Image struct {
	// Fresh is true when the store was empty: nothing to resume.
	Fresh bool
	// States holds the encoded committed value of each state written so
	// far, by state name.
	States map[string][]byte
	// Channels holds, by channel name, every channel with a recorded
	// position or unconsumed messages.
	Channels map[string]*ChannelImage
	// DeadLetters lists the quarantined messages still in the store,
	// by ascending ID, those with a replay pending included.
	DeadLetters []DeadLetter
	// LastDeadLetterID is the highest dead-letter ID ever given out.
	LastDeadLetterID uint64
	// PurgedDeadLetters is how many dead letters were purged, ever.
	PurgedDeadLetters uint64
	// Actors holds the encoded history of each actor written so far
	// (its failure counts over every run), by actor name; none in a
	// file of format version 1 or 2.
	Actors map[string][]byte
}

// ChannelImage is the durable part of one channel.
type ChannelImage struct {
	// Head is the number of messages its consumer has consumed from it,
	// ever: the sequence number of Messages[0].
	Head uint64
	// Messages are the encoded messages sent and not yet consumed, in
	// order: sequence numbers Head, Head+1, ...
	Messages [][]byte
	// Attempts is the failed-attempt count of the head message.
	Attempts int
}

// DeadLetter is a quarantined message as the store keeps it.
type DeadLetter struct {
	ID       uint64
	Actor    string
	Channel  string
	Value    []byte // encoded with the channel's codec
	Err      string // the failure's message
	Stack    string
	Attempts int
	Time     time.Time
	// Replay says a replay was asked for and its message not yet
	// consumed: the graph puts it back in its channel when it loads.
	Replay bool
}

// Batch is one atomic write: the effects of many committed steps, from
// many actors, merged in commit order.
type Batch struct {
	// States holds the newest encoded value of each state changed.
	States map[string][]byte
	// Appends are the messages sent, per channel in sequence order.
	// A channel's appends are contiguous: each starts where the one
	// before it (in this batch or the store) ended.
	Appends []Append
	// Heads holds the new consumed count of each channel consumed from.
	// Messages below a channel's head are no longer needed.
	Heads map[string]uint64
	// Attempts holds the new failed-attempt count of channels whose
	// head message failed or was consumed after failing.
	Attempts map[string]int
	// AddDeadLetters are quarantined messages to keep.
	AddDeadLetters []DeadLetter
	// RemoveDeadLetters are the IDs of dead letters replayed and consumed.
	RemoveDeadLetters []uint64
	// ReplayDeadLetters are the IDs of dead letters to mark Replay.
	ReplayDeadLetters []uint64
	// PurgeDeadLetters are the IDs of dead letters an operator purged:
	// removed, and counted in Image.PurgedDeadLetters.
	PurgeDeadLetters []uint64
	// LastDeadLetterID, when not zero, is the new highest dead-letter ID.
	LastDeadLetterID uint64
	// Actors holds the newest encoded history of each actor whose
	// history changed, by actor name. The graph encodes it; a store
	// keeps the bytes, as it keeps a state's.
	Actors map[string][]byte
}

// Append is a run of messages sent on one channel.
type Append struct {
	Channel string
	First   uint64 // the sequence number of the first message
	Count   int
	// Data holds the Count encoded messages, each framed by
	// [AppendFrame]; [Frames] splits it.
	Data []byte
}

// Reset empties b for reuse, keeping its allocations.
func (b *Batch) Reset() {
	clear(b.States)
	clear(b.Actors)
	clear(b.Heads)
	clear(b.Attempts)
	clear(b.Appends)
	b.Appends = b.Appends[:0]
	clear(b.AddDeadLetters)
	b.AddDeadLetters = b.AddDeadLetters[:0]
	b.RemoveDeadLetters = b.RemoveDeadLetters[:0]
	b.ReplayDeadLetters = b.ReplayDeadLetters[:0]
	b.PurgeDeadLetters = b.PurgeDeadLetters[:0]
	b.LastDeadLetterID = 0
}

// Empty reports whether b writes nothing.
func (b *Batch) Empty() bool {
	return len(b.States) == 0 && len(b.Appends) == 0 && len(b.Heads) == 0 &&
		len(b.Attempts) == 0 && len(b.AddDeadLetters) == 0 &&
		len(b.RemoveDeadLetters) == 0 && len(b.ReplayDeadLetters) == 0 &&
		len(b.PurgeDeadLetters) == 0 && b.LastDeadLetterID == 0 && len(b.Actors) == 0
}

// Errors a store returns, wrapped with the file and the detail. Any
// Store may return them; callers match them with errors.Is.
var (
	// ErrCorrupt: a record failed its checksum, or the file is not a
	// store file of this format.
	ErrCorrupt = errors.New("store: corrupt or foreign state file")
	// ErrVersion: the file was written by an incompatible format version.
	ErrVersion = errors.New("store: unsupported format version")
	// ErrShape: the file belongs to a graph of another shape.
	ErrShape = errors.New("store: state file belongs to a graph of another shape")
	// ErrLocked: another process has the state directory open.
	ErrLocked = errors.New("store: state directory is in use (by another process, or another Open)")
)
