package observe

import "time"

// DeadLetter is a poison message: one that made its consumer's step fail
// steady.Policy.PoisonAfter times in a row, moved out of its channel so the
// actor could move on. It stays in the graph's dead-letter store until it
// is replayed (steady.Graph.Replay) or purged (steady.Graph.Purge).
type DeadLetter struct {
	ID       uint64    // unique within the graph, from 1
	Actor    string    // the consumer that failed on it
	Channel  string    // the channel it was taken from
	Value    any       // the message
	Err      error     // the last failure: a *steady.PanicError or the step's error
	Stack    string    // the panic's stack, when Err is a panic
	Attempts int       // failed attempts before quarantine
	Time     time.Time // when it was quarantined
}
