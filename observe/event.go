package observe

import (
	"fmt"
	"time"
)

// EventKind says what an [Event] reports.
type EventKind uint8

// The kinds of [Event].
const (
	EventPanicked          EventKind = iota + 1 // an actor panicked; Err is a *steady.PanicError
	EventFailed                                 // an actor returned an error; Err is the error
	EventRestarting                             // an actor will run again after Delay
	EventGaveUp                                 // an actor gave up (see steady.GaveUpError); Err is a *steady.GaveUpError
	EventDeadLettered                           // a poison message was quarantined; DeadLetter is set
	EventShutdownRequested                      // the graph began shutting down; Reason says why
	EventVetoed                                 // an actor holds the shutdown; Reason is its reason
	EventStopped                                // an actor stopped for good; Err is nil unless it gave up
	EventFailureCluster                         // failures clustered in an actor and its neighbours; Count, Reason
	EventChannelBackedUp                        // a channel stayed nearly full; Channel, Reason
	EventPurged                                 // a dead letter was purged (steady.Graph.Purge); DeadLetter is set
	EventMemoryPressure                         // the heap crossed the high-water mark: sources are held; Reason
	EventMemoryRecovered                        // the heap fell below the low-water mark: sources run again; Reason
	EventResumed                                // an actor with state runs again; State is the committed state it resumes with
)

var eventNames = [...]string{
	EventPanicked:          "panicked",
	EventFailed:            "failed",
	EventRestarting:        "restarting",
	EventGaveUp:            "gave up",
	EventDeadLettered:      "dead-lettered",
	EventShutdownRequested: "shutdown requested",
	EventVetoed:            "shutdown vetoed",
	EventStopped:           "stopped",
	EventFailureCluster:    "failure cluster",
	EventChannelBackedUp:   "channel backed up",
	EventPurged:            "purged",
	EventMemoryPressure:    "memory pressure",
	EventMemoryRecovered:   "memory recovered",
	EventResumed:           "resumed",
}

// String returns the kind's name, as logged: "panicked", "restarting", …
func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// Event is one thing that happened to the graph or one of its actors.
// Events are delivered to steady.Config.OnEvent synchronously, on the goroutine
// where they happen (usually the actor's), so a hook must be quick and must
// not block.
type Event struct {
	Kind     EventKind     // what happened
	Time     time.Time     // when
	Actor    string        // the actor concerned; empty for graph events
	Restarts int           // the actor's restart count when the event happened
	Delay    time.Duration // EventRestarting: the backoff before the next run
	Err      error         // the failure, for panics, failures and giving up
	Reason   string        // shutdown and veto reasons; what an alert saw
	Channel  string        // EventChannelBackedUp: the channel
	Count    int           // EventFailureCluster: failures in the window
	// Actors, for EventFailureCluster: the actors whose failures the
	// window counted, the one that failed last first.
	Actors []string
	// State, for EventResumed: each state the actor owns as name=value
	// (the committed value, formatted with %+v and cut to one log
	// line's worth), separated by spaces.
	State string

	// DeadLetter is the quarantined message, for EventDeadLettered.
	DeadLetter *DeadLetter
}

// String describes the event in one line, as the default logging does.
func (e Event) String() string {
	switch e.Kind {
	case EventPanicked:
		if e.Err == nil {
			return fmt.Sprintf("actor %q panicked (restarts %d)", e.Actor, e.Restarts)
		}
		// A *steady.PanicError's text names the actor and the value.
		return fmt.Sprintf("%v (restarts %d)", e.Err, e.Restarts)
	case EventFailed:
		return fmt.Sprintf("actor %q failed (restarts %d): %v", e.Actor, e.Restarts, e.Err)
	case EventRestarting:
		return fmt.Sprintf("actor %q restarting in %v (restart %d)", e.Actor, e.Delay, e.Restarts+1)
	case EventGaveUp:
		if e.Err == nil {
			return fmt.Sprintf("actor %q gave up", e.Actor)
		}
		return e.Err.Error() // a *steady.GaveUpError names the actor and the limit
	case EventDeadLettered:
		d := e.DeadLetter
		if d == nil {
			return fmt.Sprintf("actor %q dead-lettered a message", e.Actor)
		}
		return fmt.Sprintf("actor %q dead-lettered message %v from channel %q after %d attempts: %v",
			e.Actor, d.Value, d.Channel, d.Attempts, d.Err)
	case EventPurged:
		d := e.DeadLetter
		if d == nil {
			return "a dead letter was purged"
		}
		return fmt.Sprintf("dead letter %d purged: message %v from channel %q (quarantined by %q) deliberately dropped",
			d.ID, d.Value, d.Channel, d.Actor)
	case EventShutdownRequested:
		return fmt.Sprintf("shutdown requested: %s", e.Reason)
	case EventVetoed:
		return fmt.Sprintf("actor %q holds the shutdown: %s", e.Actor, e.Reason)
	case EventFailureCluster:
		return fmt.Sprintf("failure cluster at actor %q: %s", e.Actor, e.Reason)
	case EventChannelBackedUp, EventMemoryPressure, EventMemoryRecovered:
		return e.Reason
	case EventResumed:
		from := fmt.Sprintf("(restart %d)", e.Restarts)
		if e.Restarts == 0 {
			from = "from the store"
		}
		return fmt.Sprintf("actor %q resumed %s with state %s", e.Actor, from, e.State)
	case EventStopped:
		if e.Err != nil {
			return fmt.Sprintf("actor %q stopped: %v", e.Actor, e.Err)
		}
		return fmt.Sprintf("actor %q stopped", e.Actor)
	}
	return e.Kind.String()
}
