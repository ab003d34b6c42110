package steady

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/steady-go/steady/observe"
)

// Sentinel errors. Compare with [errors.Is].
var (
	// ErrStopGraph, returned by an actor, finishes the actor and asks the
	// graph to shut down in order. Returned as it is, it is a plain request
	// and [Graph.Run] returns nil; wrapped with a cause
	// (fmt.Errorf("stream lost: %w", ErrStopGraph)), it is a failure that
	// stopped the graph, and Run returns it. Returned from a step, the step
	// is rolled back and its peeked message charged no attempt: the stop is
	// a request, not the message's failure.
	ErrStopGraph = errors.New("steady: actor asked the graph to stop")

	// ErrTransient marks a failure of something outside the graph that is
	// expected to pass: a broker outage, a timeout, a refused connection.
	// Make one with [Transient]. A step that fails with it is rolled back
	// without charging its messages an attempt (so an outage never
	// dead-letters a good message) and without narrowing its inputs; an
	// actor that returns it is restarted under its backoff, and the
	// restart does not count against its restart intensity limit, so an
	// outage of any length is waited out.
	ErrTransient = errors.New("steady: transient failure")

	// ErrClosed is returned by a wait on an input channel that is closed
	// and empty, and by a send on a closed channel. An actor that returns
	// it (wrapped or not) is treated as finished: its input has ended.
	ErrClosed = errors.New("steady: channel closed")

	// ErrStopped is returned by waits when the actor has to stop: the graph
	// is shutting down and nothing is left for this actor to do, or the
	// shutdown timeout has passed. An actor returning it is not restarted.
	ErrStopped = errors.New("steady: actor stopped")

	// ErrNoVacancy is the error of a step that sends more messages than its
	// output channel has vacant slots. See [Actor.WaitVacant].
	ErrNoVacancy = errors.New("steady: no vacant slot in channel")

	// ErrMisuse marks a handle used the wrong way: from an actor that does
	// not own it, outside a step, or after the step ended.
	ErrMisuse = errors.New("steady: misuse")

	// ErrWiring marks a mistake in how the graph was built. [Graph.Run]
	// reports every such mistake before it starts any actor.
	ErrWiring = errors.New("steady: wiring")

	// ErrGraphRunning is returned when the graph is changed after
	// [Graph.Load] or [Graph.Run] was called, or run again.
	ErrGraphRunning = errors.New("steady: graph already loaded or running")

	// ErrLoad marks a store a durable graph cannot resume from: its file
	// belongs to a graph of another shape, is damaged, or holds a value
	// that no longer decodes. The error names the file and what is wrong.
	ErrLoad = errors.New("steady: cannot resume from the store")

	// ErrCommitHung is returned by [Graph.Run] when a durable graph's last
	// Store.Commit was still running after the shutdown timeout and its
	// grace period: the steps it carried may not be durable, and the
	// store's Close would wait for that commit (bbolt's does).
	ErrCommitHung = errors.New("steady: a store commit did not finish")

	// ErrDeadLetterNotFound is returned by [Graph.Replay] and
	// [Graph.Purge] for an id not in the dead-letter store.
	ErrDeadLetterNotFound = errors.New("steady: dead letter not found")

	// ErrDeadLetterStoreFull says a poison message was not quarantined:
	// the dead-letter store held [Config.MaxDeadLetters] letters. The
	// message stays at the head of its channel and the actor gives up
	// (a [GaveUpError] wraps it, with the count and the channel).
	ErrDeadLetterStoreFull = errors.New("steady: dead-letter store full")
)

// Transient marks err as a transient failure: the result wraps both err
// and [ErrTransient], and reads as err. Transient(nil) is nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err}
}

type transientError struct{ err error }

func (e transientError) Error() string   { return e.err.Error() }
func (e transientError) Unwrap() []error { return []error{ErrTransient, e.err} }

// stackDepth bounds the program counters kept for a panic. 32 frames show
// the panic site and its callers up to the actor function while keeping the
// capture to one small allocation (256 bytes).
const stackDepth = 32

// PanicError is a panic recovered from an actor, as a value. It is the
// failure reported in events, dead letters and [GaveUpError]. A durable
// graph's Run also returns one for a panic inside its store: then Op
// names the store's call and Actor is empty.
type PanicError struct {
	Actor string // the actor that panicked
	Op    string // for a panic inside the store: "Load" or "Commit"
	Value any    // the value passed to panic
	pcs   []uintptr
}

var _ error = (*PanicError)(nil)

// newPanicError captures the stack of the panicking goroutine. It must be
// called from the deferred function that recovered, where the panicking
// frames are still on the stack. runtime.Callers costs about a microsecond
// and no formatting happens until Stack is called.
func newPanicError(actor string, value any) *PanicError {
	return &PanicError{Actor: actor, Value: value, pcs: panicStack()}
}

// newStorePanic is newPanicError for a panic inside the store's op.
func newStorePanic(op string, value any) *PanicError {
	return &PanicError{Op: op, Value: value, pcs: panicStack()}
}

// panicStack captures the stack of the panicking goroutine for a
// constructor called by the deferred function that recovered: from the
// frames above those two.
func panicStack() []uintptr {
	var buf [stackDepth]uintptr
	n := runtime.Callers(4, buf[:])
	return append([]uintptr(nil), buf[:n]...)
}

// Error says which actor panicked and with what.
func (p *PanicError) Error() string {
	if p.Op != "" {
		return fmt.Sprintf("store %s panicked: %v", p.Op, p.Value)
	}
	return fmt.Sprintf("actor %q panicked: %v", p.Actor, p.Value)
}

// Unwrap returns the panic value when it is an error.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// Stack formats the stack of the panic, one "function\n\tfile:line" pair per
// frame, from the panic site outwards, skipping the runtime's own frames.
func (p *PanicError) Stack() string { return formatStack(p.pcs) }

// formatStack formats pcs, one "function\n\tfile:line" pair per frame,
// skipping the runtime's own frames.
func formatStack(pcs []uintptr) string {
	var b strings.Builder
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			fmt.Fprintf(&b, "%s\n\t%s:%d\n", f.Function, f.File, f.Line)
		}
		if !more {
			break
		}
	}
	return b.String()
}

// GaveUpError says an actor stopped for good after a failure: it failed
// more often than its restart intensity allows ([Intensity]), or a poison
// message it failed on could not be quarantined because the dead-letter
// store was full (Last wraps [ErrDeadLetterStoreFull]).
type GaveUpError struct {
	Actor    string        // the actor that gave up
	Restarts int           // restarts before giving up
	Window   time.Duration // the intensity window
	Last     error         // the failure that exceeded the limit, or the full store's error
}

// Error says which actor gave up, after how many restarts, and why.
func (e *GaveUpError) Error() string {
	if errors.Is(e.Last, ErrDeadLetterStoreFull) {
		return fmt.Sprintf("actor %q gave up after %d restarts: %v", e.Actor, e.Restarts, e.Last)
	}
	return fmt.Sprintf("actor %q gave up after %d restarts (limit exceeded within %v): %v",
		e.Actor, e.Restarts, e.Window, e.Last)
}

// Unwrap returns Last.
func (e *GaveUpError) Unwrap() error { return e.Last }

// ShutdownTimeoutError is returned by [Graph.Run] when actors were still
// running when the shutdown timeout passed.
type ShutdownTimeoutError struct {
	Timeout time.Duration  // the Config.ShutdownTimeout that passed
	Pending []PendingActor // the actors still running then
}

// PendingActor names an actor that had not stopped at the shutdown timeout,
// what it was doing, and the reason it gave with [Actor.HoldShutdown], if
// any.
type PendingActor struct {
	Actor  string              // its name
	Status observe.ActorStatus // running, or backing off before a restart
	Reason string              // its HoldShutdown reason; empty if it held nothing
}

// Error names the actors still running and their reasons.
func (e *ShutdownTimeoutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "steady: shutdown timed out after %v; still running:", e.Timeout)
	for i, p := range e.Pending {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %q", p.Actor)
		if p.Status == observe.StatusBackingOff {
			b.WriteString(" (backing off)")
		}
		if p.Reason != "" {
			fmt.Fprintf(&b, " (holding: %s)", p.Reason)
		}
	}
	return b.String()
}

func wiringErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrWiring}, args...)...)
}

func misuseErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMisuse}, args...)...)
}
