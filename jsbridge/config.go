package jsbridge

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config says which stream a bridge uses and how. Stream is required; the
// zero value of every other field is a documented default.
type Config struct {
	// Stream is the JetStream stream's name. The outbound bridge must be
	// its only writer.
	Stream string

	// Subject is the subject the outbound bridge publishes to and the
	// inbound bridge's consumer filters on. Default: Stream + ".data".
	Subject string

	// Consumer is the inbound bridge's durable consumer. Default: the
	// bridge actor's name.
	Consumer string

	// CreateStream, if set, is the configuration the bridge creates the
	// stream with when it does not exist (its Name and Subjects are
	// filled in from Stream and Subject). Default (nil): a stream on
	// file storage with one replica, which keeps every message
	// (retention by limits); see [DefaultStreamConfig]. A stream that
	// exists is used as it is.
	CreateStream *jetstream.StreamConfig

	// PerMessage makes the outbound bridge send every value as a NATS
	// message of its own whose payload is the codec's bytes alone, for
	// consumers that are not steady. Default false: a step's values travel
	// framed in one message. The inbound bridge reads either (the headers
	// say which); on it, PerMessage only sizes its fetches.
	PerMessage bool

	// MaxBatch is the most values the outbound bridge takes in one step,
	// and, with PerMessage, the most messages the inbound bridge fetches
	// at a time. Default: DefaultMaxBatch.
	MaxBatch int

	// AckWait is how long the server waits for the inbound bridge to
	// acknowledge a message before it delivers it again. The bridge
	// acknowledges once the step that took a message is durable and drops
	// redeliveries below its position, so this only trades redelivered
	// traffic for how soon a stalled consumer's messages are offered
	// again. Default: the server's (30 s).
	AckWait time.Duration

	// Timeout bounds every request to JetStream: a step's
	// acknowledgements, a stream's info, a consumer's creation and reset.
	// Default: DefaultTimeout.
	Timeout time.Duration
}

// DefaultMaxBatch is the default of Config.MaxBatch: 1,024 small values
// make a frame of a few KiB, far below NATS's default maximum payload of
// 1 MiB, and a step that large costs the bridge one round trip per 1,024
// values, which is what lets a bridged channel carry millions a second.
const DefaultMaxBatch = 1024

// DefaultTimeout is the default of Config.Timeout: long enough for a
// JetStream leader election in a cluster (a few seconds), short enough
// that a dead server is noticed and the bridge restarts to wait it out.
const DefaultTimeout = 5 * time.Second

// fetchWait is how long an inbound bridge waits for the next message from
// its pull subscription before it looks at the graph again (a shutdown, or
// acknowledgements to send): short, so that a shutdown is not held, long
// enough that an idle bridge wakes only a few times a second.
const fetchWait = 200 * time.Millisecond

// staleAfter is how long an inbound bridge's pull subscription may deliver
// nothing before the bridge asks the consumer whether it should have: far
// longer than a delivery takes, even on a loaded machine, and short enough
// that a consumer leader's failover costs seconds, not a stalled bridge.
const staleAfter = 2 * time.Second

// framedFetch is how many framed messages an inbound bridge's pull
// subscription asks for at a time: each may be as large as the server's maximum payload (1 MiB by
// default), and 16 of them keep the bridge busy for a round trip without
// holding much memory.
const framedFetch = 16

// An inbound bridge acknowledges the newest message whose step is durable
// (the consumer's policy acknowledges all before it too) once it is
// ackEvery messages past the last acknowledged or ackAfter after it, and
// whenever its subscription goes quiet or a run ends. Per message, an
// acknowledgement each took about a tenth of the processor time, most of it
// in the server (BENCHMARKS.md). ackEvery is far below the server's default
// MaxAckPending (1,000), past which the consumer would stop delivering;
// ackAfter keeps a slow stream's acknowledgements well inside any
// reasonable AckWait, so the server seldom delivers again what the bridge
// already took.
const (
	ackEvery = 128
	ackAfter = 10 * time.Millisecond
)

// headerRoom is how much of the server's maximum payload the bridge keeps
// for a message's headers (the expected sequence, Steady-First,
// Steady-Count and Steady-Framed come to about 120 bytes).
const headerRoom = 1024

// DefaultStreamConfig is the stream a bridge creates when Config's
// CreateStream is nil: file storage, one replica, every message kept.
func DefaultStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Storage:   jetstream.FileStorage,
		Replicas:  1,
		Retention: jetstream.LimitsPolicy,
	}
}

// withDefaults checks c and fills in its defaults; actor names the bridge.
func (c Config) withDefaults(actor string) (Config, error) {
	if c.Stream == "" {
		return c, fmt.Errorf("jsbridge: bridge %q: Config.Stream is empty", actor)
	}
	if c.Subject == "" {
		c.Subject = c.Stream + ".data"
	}
	if c.Consumer == "" {
		c.Consumer = actor
	}
	if c.MaxBatch < 0 || c.Timeout < 0 || c.AckWait < 0 {
		return c, fmt.Errorf("jsbridge: bridge %q: negative MaxBatch (%d), Timeout (%v) or AckWait (%v)", actor, c.MaxBatch, c.Timeout, c.AckWait)
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c, nil
}

// The bridges' fault points ([steady.Step.Fault]), for tests that fail a
// step at the instants that matter.
const (
	// FaultPublished is in the outbound bridge's step after every
	// message of the step was acknowledged, before the step commits.
	FaultPublished = "jsbridge.published"
	// FaultEnded is in the outbound bridge's step after the end-of-stream
	// marker was acknowledged, before the step commits.
	FaultEnded = "jsbridge.ended"
	// FaultTaken is in the inbound bridge's step after it sent the values
	// of a fetched message into its output, before the step commits.
	FaultTaken = "jsbridge.taken"
)

// Errors a bridge stops the graph with; each also wraps
// steady.ErrStopGraph, and the message names the stream and sequences.
var (
	// ErrStreamLost: the stream no longer holds messages a bridge's
	// position says it should (purged, deleted and recreated, expired by
	// its limits, or restored from an older backup).
	ErrStreamLost = errors.New("jsbridge: stream lost messages past the bridge's position")

	// ErrForeignWriter: the stream holds messages the outbound bridge did
	// not write, or that do not continue what it wrote.
	ErrForeignWriter = errors.New("jsbridge: another writer on the stream")

	// ErrStreamConfig: the stream exists with a configuration a bridge
	// cannot work with (retention other than limits, no acknowledgements,
	// subjects that do not take the bridge's), or the server refused the
	// stream or consumer the bridge asked for.
	ErrStreamConfig = errors.New("jsbridge: the stream does not fit a bridge")

	// ErrPositionLost: the inbound bridge's position is behind what its
	// durable consumer acknowledged, which a bridge only does once a step
	// is durable: its graph's state was lost (a graph without a store,
	// a store reset or restored from an old copy), or another bridge
	// reads with the same consumer.
	ErrPositionLost = errors.New("jsbridge: the bridge's position is behind its consumer's acknowledgements")

	// ErrTooLarge: a value's encoding does not fit in one NATS message.
	// The step fails without publishing anything, and the value ends in
	// the dead-letter store.
	ErrTooLarge = errors.New("jsbridge: value larger than the server's maximum payload")
)
