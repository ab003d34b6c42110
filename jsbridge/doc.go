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
// alone. The bridges send no message ids, so JetStream's duplicate window
// plays no part; acknowledgements only save work (a redelivery not sent)
// and show the consumer's progress. The stream must
// keep its messages by limits (age, size or count, or forever): interest
// and work-queue retention, which delete messages once acknowledged, are
// refused with [ErrStreamConfig], and limits that delete messages a bridge
// has not read yet stop the graph with [ErrStreamLost].
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
// consumed it is durable ([steady.Step.OnDurable]), so a consumer that has
// acknowledged at or past the position read for a graph whose state was
// lost (one without a store, or a store reset): the bridge stops with
// [ErrPositionLost] rather than take the stream's values a second time.
//
// Both positions record the stream's creation time: a stream deleted and
// created again under the same name stops both bridges with ErrStreamLost.
// The channel's codec must be deterministic, since a start compares the
// values an uncommitted step stored with those at the head of the input.
//
// # Framing
//
// By default a step's values travel as one NATS message (a frame: each value
// encoded with the channel's [steady.Codec] and prefixed with its length),
// split into several only past the largest payload a message can carry
// (the server's maximum, or the stream's MaxMsgSize if lower). That
// carries millions of small values a second. With [Config.PerMessage] the
// outbound bridge sends every value as a NATS message of its own whose
// payload is the codec's bytes alone, for consumers that are not steady;
// it costs tens of microseconds of CPU a value, most of it in nats.go and
// the server (BENCHMARKS.md has the figures). The headers say which values a
// message holds (Steady-First, their index in the channel's history from
// 0, on every message; Steady-Count, left out of a message of one value
// unframed) and whether it is framed (Steady-Framed), so the inbound bridge
// reads either. With the expected last sequence the outbound bridge
// publishes under, a per-message value carries two headers. A message with Steady-End marks the end of
// the stream: the outbound bridge publishes it when its input closes,
// and the inbound bridge closes its output on it. Like a local channel's
// close, it ends one run, not the stream: the graphs' next runs on the
// same stores carry the stream on, and an inbound bridge restarted just
// past a marker with nothing after it closes its output again. So a
// graceful shutdown of the publishing graph (which closes the bridge's
// input) ends the consuming graph's run too, once it has drained.
//
// A single value larger than the payload a message can carry is refused
// before anything of its step is published (or, should the server still
// refuse the message as too large, without the step committing): the step
// fails with [ErrTooLarge], and after the actor's [steady.PoisonAfter]
// attempts the value is quarantined in the dead-letter store. The stream
// has no gap.
//
// # Failures
//
// A failure of the connection or the server (a timeout, no responders, a
// publish refused for its expected sequence) is a [steady.Transient] failure: the bridge restarts
// under its backoff, reconciles again, charges no message an attempt and
// never gives up, so an outage of any length is waited out while
// backpressure holds the producers upstream. A stream that lost messages
// past a position, another writer, a stream or consumer the server refuses
// or that does not fit, and a closed connection are not transient: the
// bridge returns
// an error wrapping [steady.ErrStopGraph] and one of this package's
// sentinels, naming the stream and the sequences, and [steady.Graph.Run]
// returns it. Neither side ever skips a message.
//
// docs/distributed.md has the guarantee for each kind of failure, each
// linked to the test that shows it.
package jsbridge
