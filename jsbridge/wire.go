package jsbridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
)

// The headers of a bridged message. Values are decimal.
const (
	hdrFirst = "Steady-First" // index of the message's first value in the channel's history
	hdrCount = "Steady-Count" // how many values the message holds
	hdrEnd   = "Steady-End"   // present on the end-of-stream marker
)

// meta is what a bridged message's headers say.
type meta struct {
	first, count uint64
	end          bool
}

// readMeta parses a message's headers. A message without Steady-Count
// (from a publisher that is not steady) holds one value and no index.
func readMeta(h nats.Header) (m meta, indexed bool, err error) {
	if h.Get(hdrEnd) != "" {
		m.end = true
	}
	count, first := h.Get(hdrCount), h.Get(hdrFirst)
	if count == "" && first == "" {
		if m.end {
			return m, false, nil
		}
		return meta{count: 1}, false, nil
	}
	if m.count, err = strconv.ParseUint(count, 10, 64); err == nil {
		m.first, err = strconv.ParseUint(first, 10, 64)
	}
	if err != nil {
		return m, false, fmt.Errorf("bad %s/%s headers %q/%q: %w", hdrFirst, hdrCount, first, count, err)
	}
	return m, true, nil
}

func (m meta) write(h nats.Header) {
	h.Set(hdrFirst, strconv.FormatUint(m.first, 10))
	h.Set(hdrCount, strconv.FormatUint(m.count, 10))
	if m.end {
		h.Set(hdrEnd, "1")
	}
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
