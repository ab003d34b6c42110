package jsbridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
)

// The headers of a bridged message. Values are decimal. Steady-First is on
// every message: it says which values a message holds, and a message
// without it was not written by an outbound bridge. Steady-Count is left
// out of a message that holds one value unframed (every message of
// Config.PerMessage but the end marker): each header costs the client, the
// server and the consumer work per message, which per message is a good
// part of the bridge's cost (BENCHMARKS.md).
const (
	hdrFirst  = "Steady-First"  // index of the message's first value in the channel's history
	hdrCount  = "Steady-Count"  // how many values the message holds; absent: one, unframed
	hdrFramed = "Steady-Framed" // present when the payload is a frame, absent when it is one value
	hdrEnd    = "Steady-End"    // present on the end-of-stream marker
)

// meta is what a bridged message's headers say.
type meta struct {
	first, count uint64
	framed, end  bool
}

// readMeta parses a bridged message's headers. A message without them was
// not written by an outbound bridge.
func readMeta(h nats.Header) (m meta, err error) {
	first := h.Get(hdrFirst)
	if first == "" {
		return m, fmt.Errorf("no %s header: not written by a steady outbound bridge", hdrFirst)
	}
	if m.first, err = strconv.ParseUint(first, 10, 64); err != nil {
		return m, fmt.Errorf("bad %s header %q: %w", hdrFirst, first, err)
	}
	m.framed, m.end = h.Get(hdrFramed) != "", h.Get(hdrEnd) != ""
	count := h.Get(hdrCount)
	switch {
	case count != "":
		if m.count, err = strconv.ParseUint(count, 10, 64); err != nil {
			return m, fmt.Errorf("bad %s header %q: %w", hdrCount, count, err)
		}
	case m.framed || m.end:
		return m, fmt.Errorf("a frame or end marker without a %s header", hdrCount)
	default:
		m.count = 1
	}
	return m, nil
}

// plain says whether m is a message of one value, unframed: its count is
// implied.
func (m meta) plain() bool { return m.count == 1 && !m.framed && !m.end }

func (m meta) write(h nats.Header) {
	h.Set(hdrFirst, strconv.FormatUint(m.first, 10))
	if !m.plain() {
		h.Set(hdrCount, strconv.FormatUint(m.count, 10))
	}
	if m.framed {
		h.Set(hdrFramed, "1")
	}
	if m.end {
		h.Set(hdrEnd, "1")
	}
}

// splitValues calls fn with each value's encoding in a message's payload,
// framed or not as its headers say.
func splitValues(data []byte, m meta, fn func(enc []byte) error) error {
	if m.framed {
		return splitFrame(data, m.count, fn)
	}
	switch m.count {
	case 0:
		if len(data) != 0 {
			return fmt.Errorf("%w: %d bytes in a message of no values", errFrame, len(data))
		}
		return nil
	case 1:
		return fn(data)
	}
	return fmt.Errorf("%w: %d values in a message that is not framed", errFrame, m.count)
}

// A frame is the payload of a framed message: each value's encoding
// prefixed with its length as a uvarint.

func appendFrame(dst, enc []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(enc)))
	return append(dst, enc...)
}

var errFrame = errors.New("malformed frame")

// splitFrame calls fn with each value's encoding in frame, in order, and
// checks that there are exactly count.
func splitFrame(frame []byte, count uint64, fn func(enc []byte) error) error {
	var n uint64
	for len(frame) > 0 {
		l, k := binary.Uvarint(frame)
		if k <= 0 || l > uint64(len(frame)-k) {
			return fmt.Errorf("%w: value %d", errFrame, n)
		}
		if err := fn(frame[k : k+int(l)]); err != nil {
			return err
		}
		frame = frame[k+int(l):]
		n++
	}
	if n != count {
		return fmt.Errorf("%w: %d values, headers say %d", errFrame, n, count)
	}
	return nil
}
