package store

import (
	"encoding/binary"
	"fmt"
)

// AppendFrame appends msg to dst as one frame: its length as a uvarint,
// then its bytes.
func AppendFrame(dst, msg []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(msg)))
	return append(dst, msg...)
}

// Frames splits data into its count frames. The slices share data's
// memory. It fails if data does not hold exactly count frames.
func Frames(data []byte, count int) ([][]byte, error) {
	out := make([][]byte, 0, max(min(count, len(data)), 0)) // a frame is at least a byte
	for len(data) > 0 {
		n, k := binary.Uvarint(data)
		if k <= 0 || n > uint64(len(data)-k) {
			return nil, fmt.Errorf("%w: frame %d is cut short", ErrCorrupt, len(out))
		}
		out = append(out, data[k:k+int(n)])
		data = data[k+int(n):]
	}
	if len(out) != count {
		return nil, fmt.Errorf("%w: %d frames, want %d", ErrCorrupt, len(out), count)
	}
	return out, nil
}
