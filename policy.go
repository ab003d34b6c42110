package steady

import (
	"fmt"
	"math"
	"time"
)

// Policy is an actor's restart policy. Every actor starts from
// [DefaultPolicy] and [ActorOption]s change single fields.
type Policy struct {
	// InitialBackoff is the delay before the first restart after a healthy
	// period. Zero restarts at once.
	InitialBackoff time.Duration
	// MaxBackoff caps the delay before jitter is applied.
	MaxBackoff time.Duration
	// Multiplier grows the delay after each consecutive failure.
	Multiplier float64
	// Jitter spreads each delay uniformly over [d·(1−Jitter), d·(1+Jitter)],
	// so actors that fail together do not restart in lock step. In [0, 1].
	Jitter float64
	// ResetAfter: an actor that ran this long since its last start without
	// failing is healthy again, and its next failure starts from
	// InitialBackoff.
	ResetAfter time.Duration

	// MaxRestarts restarts are allowed within Window; the failure that
	// would be one more gives up (see OnLimit). Zero never restarts; a
	// negative value never gives up.
	MaxRestarts int
	Window      time.Duration // the sliding window MaxRestarts counts over
	// OnLimit says what giving up means: [Degrade] or [StopGraph].
	OnLimit LimitAction

	// PoisonAfter is the number of failed attempts on the same input
	// message after which it is quarantined in the dead-letter store. Zero
	// never quarantines.
	PoisonAfter int
}

// LimitAction is what happens when an actor exceeds its restart intensity.
type LimitAction uint8

const (
	// Degrade stops the actor and lets the rest of the graph run on; the
	// graph reports itself degraded and [Graph.Run] returns a *GaveUpError
	// once it has shut down.
	Degrade LimitAction = iota
	// StopGraph stops the actor and shuts the whole graph down in order.
	StopGraph
)

// String returns "degrade" or "stop-graph".
func (l LimitAction) String() string {
	if l == StopGraph {
		return "stop-graph"
	}
	return "degrade"
}

// The defaults of DefaultPolicy, and why.
const (
	// A transient failure is retried almost at once.
	defaultInitialBackoff = time.Millisecond
	// A crash loop settles at one restart a second: no spinning core, two
	// log lines a second at most (the failure and the restart).
	defaultMaxBackoff = time.Second
	defaultMultiplier = 2.0
	// ±20% keeps actors that failed together from restarting together.
	defaultJitter = 0.2
	// Five seconds without a failure forgive the past.
	defaultResetAfter = 5 * time.Second
	// A crash loop from a fresh start reaches 10 restarts in about one
	// second (1+2+4+…+512 ms), well inside the window, so it gives up
	// quickly; a few poison messages (3 attempts each) and occasional
	// transient failures stay under the limit.
	defaultMaxRestarts = 10
	defaultWindow      = 10 * time.Second
	// Three attempts: one failure can be bad luck, three in a row on the
	// same message are the message.
	defaultPoisonAfter = 3
)

// DefaultPolicy returns the policy every actor starts from:
// backoff 1 ms doubling to 1 s with ±20% jitter, reset after 5 s of health;
// at most 10 restarts in 10 s, then [Degrade]; poison messages quarantined
// after 3 attempts.
func DefaultPolicy() Policy {
	return Policy{
		InitialBackoff: defaultInitialBackoff,
		MaxBackoff:     defaultMaxBackoff,
		Multiplier:     defaultMultiplier,
		Jitter:         defaultJitter,
		ResetAfter:     defaultResetAfter,
		MaxRestarts:    defaultMaxRestarts,
		Window:         defaultWindow,
		OnLimit:        Degrade,
		PoisonAfter:    defaultPoisonAfter,
	}
}

// validate names the first field that makes no sense.
func (p Policy) validate() error {
	switch {
	case p.InitialBackoff < 0:
		return fmt.Errorf("initial backoff %v is negative", p.InitialBackoff)
	case p.MaxBackoff < p.InitialBackoff:
		return fmt.Errorf("max backoff %v is below initial backoff %v", p.MaxBackoff, p.InitialBackoff)
	case p.Multiplier < 1 || math.IsNaN(p.Multiplier) || math.IsInf(p.Multiplier, 0):
		return fmt.Errorf("multiplier %v is below 1", p.Multiplier)
	case p.Jitter < 0 || p.Jitter > 1 || math.IsNaN(p.Jitter):
		return fmt.Errorf("jitter %v is outside [0, 1]", p.Jitter)
	case p.MaxRestarts > 0 && p.Window <= 0:
		return fmt.Errorf("window %v must be positive with %d max restarts", p.Window, p.MaxRestarts)
	case p.ResetAfter < 0:
		return fmt.Errorf("reset-after %v is negative", p.ResetAfter)
	case p.PoisonAfter < 0:
		return fmt.Errorf("poison-after count %d is negative", p.PoisonAfter)
	case p.OnLimit != Degrade && p.OnLimit != StopGraph:
		return fmt.Errorf("limit action %d is unknown", p.OnLimit)
	}
	return nil
}

// delay is the backoff before restart number n of a streak of consecutive
// failures (n ≥ 1), with r uniform in [0, 1) for the jitter.
func (p *Policy) delay(n int, r float64) time.Duration {
	d := float64(p.InitialBackoff) * math.Pow(p.Multiplier, float64(n-1))
	// !(d <= max) also catches NaN: 0 × +Inf after a very long streak.
	if !(d <= float64(p.MaxBackoff)) {
		d = float64(p.MaxBackoff)
	}
	d *= 1 + p.Jitter*(2*r-1)
	return time.Duration(d)
}

// ActorOption changes one field of an actor's [Policy].
type ActorOption func(*Policy)

// WithPolicy replaces the whole policy. Start from [DefaultPolicy]: the
// zero Policy is not valid (its multiplier is 0).
func WithPolicy(p Policy) ActorOption { return func(q *Policy) { *q = p } }

// Backoff sets the initial and maximum restart delay. Backoff(0, 0)
// restarts at once, every time.
func Backoff(initial, max time.Duration) ActorOption {
	return func(p *Policy) { p.InitialBackoff, p.MaxBackoff = initial, max }
}

// BackoffMultiplier sets the growth of the delay per consecutive failure.
func BackoffMultiplier(m float64) ActorOption { return func(p *Policy) { p.Multiplier = m } }

// Jitter sets the jitter fraction, in [0, 1].
func Jitter(f float64) ActorOption { return func(p *Policy) { p.Jitter = f } }

// ResetAfter sets how long an actor must run without failing for its
// backoff to start over.
func ResetAfter(d time.Duration) ActorOption { return func(p *Policy) { p.ResetAfter = d } }

// Intensity allows at most maxRestarts restarts within window. A negative
// maxRestarts never gives up.
func Intensity(maxRestarts int, window time.Duration) ActorOption {
	return func(p *Policy) { p.MaxRestarts, p.Window = maxRestarts, window }
}

// OnLimit sets what happens past the restart intensity.
func OnLimit(a LimitAction) ActorOption { return func(p *Policy) { p.OnLimit = a } }

// PoisonAfter sets how many failed attempts quarantine a message; 0 never.
func PoisonAfter(attempts int) ActorOption { return func(p *Policy) { p.PoisonAfter = attempts } }

// intensity remembers the times of the restarts within the policy's
// window, oldest first, so it holds at most MaxRestarts of them however
// large the limit, and only those a crash loop made recently.
type intensity struct {
	times []time.Time // times[start:] are the restarts in the window
	start int
}

// allow records a restart at now and reports whether it is within the
// policy's limit: fewer than MaxRestarts restarts in the Window before it.
func (in *intensity) allow(p *Policy, now time.Time) bool {
	if p.MaxRestarts < 0 {
		return true
	}
	if p.MaxRestarts == 0 {
		return false
	}
	for in.start < len(in.times) && now.Sub(in.times[in.start]) >= p.Window {
		in.start++
	}
	if in.start > 0 && in.start >= len(in.times)/2 {
		// Reuse the space of the restarts that left the window.
		n := copy(in.times, in.times[in.start:])
		in.times, in.start = in.times[:n], 0
	}
	if len(in.times)-in.start >= p.MaxRestarts {
		return false
	}
	in.times = append(in.times, now)
	return true
}
