// Package jsbridge carries a steady channel across processes and machines
// through NATS JetStream, exactly once and in order, whatever process dies
// when.
//
// A bridge is an ordinary steady actor. [NewOutbound] consumes a channel
// and publishes its messages to a JetStream stream that it alone writes;
// [NewInbound], in another graph (another process, another machine), reads
// that stream through a durable pull consumer and sends the messages into a
// channel of its own. Both take the user's *nats.Conn, so authentication,
// TLS and reconnection are the user's to configure, and a [Config] naming
// the stream, with documented defaults for the rest.
//
//	// process A
//	out := jsbridge.NewOutbound(g, "values-out", values, nc, jsbridge.Config{Stream: "VALUES"})
//	// process B
//	in := jsbridge.NewInbound(g, "values-in", values, nc, jsbridge.Config{Stream: "VALUES"})
//
// # The rule
//
// Each side keeps its position in the stream in its steady [steady.State],
// committed in the same step as the messages it moves, and checks the
// stream against that position at every start. Correctness rests on that
// alone; JetStream's duplicate window and acknowledgements only save work
// and let retention free messages.
//
// The outbound bridge's position is how many values it has published and
// the stream sequence of the last NATS message stored. Every step peeks the
// values waiting in its input, publishes them (pipelined, each NATS message
// with Nats-Expected-Last-Sequence set to the sequence before it, so the
// server refuses a gap, a replay or a second writer), waits for every
// acknowledgement and checks its sequence, then commits the step: the
// values are consumed and the position advances together. At every start it
// reads the stream's last sequence. Below its position, the stream lost
// messages (purged, recreated, expired): it stops the graph with
// [ErrStreamLost]. Above, the messages past its position must be its own
// uncommitted publications (a crash between the acknowledgement and the
// commit): it reads them, checks that they continue its count and hold
// exactly the values at the head of its input, and consumes those values
// without publishing them again. Anything else is another writer, and it
// stops the graph with [ErrForeignWriter].
//
// The inbound bridge's position is the next stream sequence to take, and
// how many values of that NATS message it has already sent. At every start
// it checks that the stream still holds that sequence, creates or updates
// its durable consumer and resets it to that sequence (a durable consumer
// may otherwise redeliver later messages before unacknowledged earlier
// ones). Each step takes the next message: a sequence below the position
// is a redelivery and is dropped, one above it is a gap and fails the step
// (the restart resets the consumer; a message truly gone stops the graph
// with ErrStreamLost). It acknowledges a message only once the step that
// consumed it is durable ([steady.Step.OnDurable]).
//
// # Framing
//
// By default a step's values travel as one NATS message (a frame: each value
// encoded with the channel's [steady.Codec] and prefixed with its length),
// split into several only past the server's maximum payload. That carries
// millions of small values a second. With [Config.PerMessage] every value is
// a NATS message of its own whose payload is the codec's bytes alone, for
// consumers that are not steady; it costs about 10 µs of CPU a value. Either
// way the headers Steady-First and Steady-Count say which values a message
// holds (their index in the channel's history, from 0), and a message with
// Steady-End marks the end of the stream: the outbound bridge publishes it
// when its input closes, and the inbound bridge closes its output on it.
// Like a local channel's close, it ends one run, not the stream: the
// graphs' next runs on the same stores carry the stream on, and an inbound
// bridge restarted just past a marker with nothing after it closes its
// output again.
//
// A single value larger than the payload a message can carry is refused
// before anything of its step is published: the step fails with
// [ErrTooLarge], and after the actor's [steady.PoisonAfter] attempts the
// value is quarantined in the dead-letter store. The stream has no gap.
//
// # Failures
//
// A failure of the connection or the server (a timeout, no responders, a
// refused publish) is a [steady.Transient] failure: the bridge restarts
// under its backoff, reconciles again, charges no message an attempt and
// never gives up, so an outage of any length is waited out while
// backpressure holds the producers upstream. A stream that lost messages
// past a position, or another writer, is not transient: the bridge returns
// an error wrapping [steady.ErrStopGraph] and one of this package's
// sentinels, naming the stream and the sequences, and [steady.Graph.Run]
// returns it. Neither side ever skips a message.
//
// docs/distributed.md has the guarantee for each kind of failure, each
// linked to the test that shows it.
package jsbridge
