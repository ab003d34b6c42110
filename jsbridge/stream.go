package jsbridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/steady-go/steady"
)

// bridge is what both kinds of bridge share: a name, a configuration, and
// the way they report failures.
type bridge struct {
	name string
	cfg  Config
	nc   *nats.Conn
}

// newBridge checks what both constructors take: cfg, filled in with its
// defaults; ch's codec; a connection.
func newBridge[T any](name string, ch *steady.Channel[T], nc *nats.Conn, cfg Config) (bridge, steady.Codec[T], error) {
	cfg, err := cfg.withDefaults(name)
	if err != nil {
		return bridge{}, nil, err
	}
	codec, err := ch.Codec()
	if err != nil {
		return bridge{}, nil, fmt.Errorf("jsbridge: bridge %q: channel %q: %w", name, ch.Name(), err)
	}
	if nc == nil {
		return bridge{}, nil, fmt.Errorf("jsbridge: bridge %q: nil *nats.Conn", name)
	}
	return bridge{name: name, cfg: cfg, nc: nc}, codec, nil
}

// transient wraps a failure to talk to JetStream: the bridge restarts and
// reconciles, charging no value an attempt. A closed connection is not
// transient: nothing will reopen it.
func (b *bridge) transient(what string, err error) error {
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrConnectionClosed) {
		return b.fatal(nats.ErrConnectionClosed, "%s: the connection was closed", what)
	}
	return steady.Transient(fmt.Errorf("jsbridge: %q: stream %q: %s: %w", b.name, b.cfg.Stream, what, err))
}

// fatal stops the graph with sentinel and the detail.
func (b *bridge) fatal(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %q: stream %q: %s", steady.ErrStopGraph, sentinel, b.name, b.cfg.Stream, fmt.Sprintf(format, args...))
}

// apiCode is the JetStream error code of err, or 0.
func apiCode(err error) jetstream.ErrorCode {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return api.ErrorCode
	}
	return 0
}

// refused reports whether the server refused a request for what it asked
// (an invalid or conflicting configuration): repeating it cannot help.
func refused(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.Code == 400
}

// check returns why a stream cannot carry a bridge's values, or "".
//
// Only retention by limits fits: a bridge keeps its position in its own
// state and must find the messages past it in the stream at every start;
// interest and work-queue retention delete them as soon as they are
// acknowledged, which can be before the outbound bridge has reconciled
// with them, and a work queue refuses the inbound's ack-all consumer. A
// stream that does not acknowledge publishes gives the outbound nothing to
// commit on.
func (b *bridge) check(c jetstream.StreamConfig) string {
	switch {
	case c.Retention != jetstream.LimitsPolicy:
		return fmt.Sprintf("retention %v; a bridge needs limits retention (it finds its messages by its own position, not by the server's acknowledgements)", c.Retention)
	case c.NoAck:
		return "it does not acknowledge publishes (NoAck)"
	case c.MaxMsgSize > 0 && c.MaxMsgSize <= headerRoom:
		return fmt.Sprintf("its MaxMsgSize %d leaves no room for a value after %d bytes of headers", c.MaxMsgSize, headerRoom)
	}
	for _, s := range c.Subjects {
		if subjectMatches(s, b.cfg.Subject) {
			return ""
		}
	}
	return fmt.Sprintf("its subjects %v do not take the bridge's subject %q", c.Subjects, b.cfg.Subject)
}

// payloadLimit is the most bytes of payload a message of the stream can
// carry: the server's maximum payload, or the stream's MaxMsgSize if lower,
// less room for the headers.
func (b *bridge) payloadLimit(c jetstream.StreamConfig) int {
	limit := int(b.nc.MaxPayload())
	if c.MaxMsgSize > 0 && int(c.MaxMsgSize) < limit {
		limit = int(c.MaxMsgSize)
	}
	return limit - headerRoom
}

// stream looks the stream up and checks that it fits and is the one the
// position was taken in: created is the creation time the position
// recorded (0 before the first step). A failure to look it up is returned
// as it is (jetstream.ErrStreamNotFound, say); a stream that does not fit
// or was created again stops the graph.
func (b *bridge) stream(ctx context.Context, js jetstream.JetStream, created int64) (jetstream.Stream, *jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	st, err := js.Stream(ctx, b.cfg.Stream)
	if err != nil {
		return nil, nil, err
	}
	info := st.CachedInfo()
	if why := b.check(info.Config); why != "" {
		return nil, nil, b.fatal(ErrStreamConfig, "%s", why)
	}
	if c := info.Created.UnixNano(); created != 0 && c != created {
		return nil, nil, b.fatal(ErrStreamLost, "it was deleted and created again (now created %v); this bridge's position is in the stream created %v",
			info.Created.UTC(), timeOf(created))
	}
	return st, info, nil
}

// gone reports whether sequence seq is truly gone from the stream after a
// read of it found nothing: a replica answering a direct get may lag
// behind the leader, whose state this asks.
func (b *bridge) gone(ctx context.Context, st jetstream.Stream, seq uint64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	info, err := st.Info(ctx)
	if err != nil {
		return false, err
	}
	return seq < info.State.FirstSeq || seq > info.State.LastSeq, nil
}

// timeOf is the time of a creation time kept in a position.
func timeOf(unixNano int64) time.Time { return time.Unix(0, unixNano).UTC() }

// subjectMatches reports whether subject, a literal subject, matches
// pattern, which may hold the wildcards * (one token) and > (the rest).
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		switch {
		case tok == ">":
			return len(s) > i
		case i >= len(s):
			return false
		case tok != "*" && tok != s[i]:
			return false
		}
	}
	return len(p) == len(s)
}
