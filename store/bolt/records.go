package bolt

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/steady-go/steady/store"
)

// The layout of a state file, format version 3. It is a bbolt file with
// these top-level buckets:
//
//	meta      "magic"    → "steady state file"
//	          "version"  → FormatVersion, a uvarint
//	          "shape"    → the graph's store.Shape, as JSON
//	          "next-dead-letter-id" → a uint64 (absent until the first)
//	          "purged-dead-letters" → a uint64 (absent until the first)
//	          "census"   → the number of records (a uvarint) and the XOR
//	                       of their checksums, of all but the census
//	states    state name → its encoded value
//	heads     channel name → its consumed count, a uint64
//	attempts  channel name → the failed-attempt count of its head
//	                         message, a varint (absent when 0)
//	runs      channel name → a bucket of the channel's runs of messages:
//	            first sequence number, a uint64 → the run's message count,
//	            a uvarint, then store.Append.Data (the framed messages)
//	dead      dead-letter ID, a uint64 → the dead letter, see appendDeadLetter
//	actors    actor name → its history, as the graph encodes it (version 3)
//
// Every uint64 key or value is 8 bytes big-endian, so keys sort by number.
//
// Every value starts with a CRC-32C (Castagnoli) of its bucket's name (for
// a run, its channel's), its key and the rest of the value, 4 bytes
// big-endian, and Load verifies it: a flipped bit, or a value found under
// another key, is store.ErrCorrupt. The
// magic and version keep this encoding in every format version, so that
// any later version can be told apart and refused with store.ErrVersion.
//
// A checksum cannot notice a record that is missing, or an old version of
// a page that holds old records with good checksums. The census can:
// Commit keeps it up to date, and Load recounts every record and compares.
//
// A run is one store.Append, stored whole: Commit does no per-message work, and
// a head that passes the end of a run deletes it. Load skips the messages
// of the first run that lie below the head.

// Version 1 had no purged count and no flags in its dead letters, and
// version 2 no actors bucket. This package reads both as they are (no
// actor has a history), and the first Commit to such a file marks it
// FormatVersion, adding the actors bucket, so that a build that reads only
// older versions refuses it with store.ErrVersion rather than misread it or lose
// the histories it keeps.

// FormatVersion is the version of the state file's layout that this
// package writes. It reads versions minFormatVersion to FormatVersion; a
// file of another version is refused with store.ErrVersion.
const FormatVersion = 3

// minFormatVersion is the oldest layout this package reads.
const minFormatVersion = 1

// Bucket names, which are also the checksum scope of their values.
var (
	bucketMeta     = []byte("meta")
	bucketStates   = []byte("states")
	bucketHeads    = []byte("heads")
	bucketAttempts = []byte("attempts")
	bucketRuns     = []byte("runs")
	bucketDead     = []byte("dead")
	bucketActors   = []byte("actors") // from version 3

	// topBuckets are the buckets of a state file, in the order Load
	// reads them: heads before runs, because a channel's runs are
	// read relative to its head. A file older than version 3 lacks the
	// last, bucketActors.
	topBuckets = [...][]byte{bucketMeta, bucketStates, bucketHeads, bucketAttempts, bucketRuns, bucketDead, bucketActors}
)

// Keys of the meta bucket.
var (
	keyMagic  = []byte("magic")
	keyVer    = []byte("version")
	keyShape  = []byte("shape")
	keyNextDL = []byte("next-dead-letter-id")
	keyPurged = []byte("purged-dead-letters")
	keyCensus = []byte("census")
)

// magic is the value of meta's "magic" key, which marks a state file.
var magic = []byte("steady state file")

// checksumSize is the size of the CRC-32C that starts every value.
const checksumSize = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C of a value's payload under key in the bucket
// named scope.
func checksum(scope, key, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, scope)
	c = crc32.Update(c, castagnoli, key)
	return crc32.Update(c, castagnoli, payload)
}

// seal writes the checksum of v's payload, v[checksumSize:], into its
// first checksumSize bytes.
func seal(v, scope, key []byte) {
	binary.BigEndian.PutUint32(v, checksum(scope, key, v[checksumSize:]))
}

// unseal returns the payload of v, or false if its checksum fails.
func unseal(v, scope, key []byte) ([]byte, bool) {
	if len(v) < checksumSize {
		return nil, false
	}
	payload := v[checksumSize:]
	return payload, binary.BigEndian.Uint32(v) == checksum(scope, key, payload)
}

// census is the number of records in a file and the XOR of their
// checksums. A record lost or replaced by a stale copy changes it.
type census struct {
	records uint64
	xor     uint32
}

// add counts the sealed value v in; remove counts it out.
func (c *census) add(v []byte) {
	c.records++
	c.xor ^= storedSum(v)
}

func (c *census) remove(v []byte) {
	c.records--
	c.xor ^= storedSum(v)
}

// storedSum is the checksum a sealed value starts with.
func storedSum(v []byte) uint32 {
	if len(v) < checksumSize {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

func (c census) appendTo(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, c.records)
	return binary.BigEndian.AppendUint32(dst, c.xor)
}

func decodeCensus(b []byte) (census, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || len(b)-k != 4 {
		return census{}, false
	}
	return census{records: n, xor: binary.BigEndian.Uint32(b[k:])}, true
}

// u64 is a uint64 as a key or value: 8 bytes big-endian.
func u64(n uint64) [8]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b
}

func decodeU64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// runCount is the message count of the sealed run value v, without
// verifying its checksum (Commit's use: Load verified the file).
func runCount(v []byte) uint64 {
	if len(v) < checksumSize {
		return 0
	}
	n, k := binary.Uvarint(v[checksumSize:])
	if k <= 0 {
		return 0
	}
	return n
}

// Flags of a dead-letter record.
const (
	flagReplay = 1 << iota // store.DeadLetter.Replay
	knownFlags = flagReplay
)

// appendDeadLetter appends the payload of a dead-letter record: the ID
// as a uvarint; Actor, Channel, Value, Err and Stack, each as a uvarint
// length and its bytes; Attempts as a varint; Time as its MarshalBinary
// form, with a length; then the flags, a uvarint (absent in version 1).
func appendDeadLetter(dst []byte, d *store.DeadLetter) ([]byte, error) {
	t, err := d.Time.MarshalBinary()
	if err != nil {
		return nil, err // a time zone offset that is not whole minutes
	}
	dst = binary.AppendUvarint(dst, d.ID)
	dst = appendBytes(dst, []byte(d.Actor))
	dst = appendBytes(dst, []byte(d.Channel))
	dst = appendBytes(dst, d.Value)
	dst = appendBytes(dst, []byte(d.Err))
	dst = appendBytes(dst, []byte(d.Stack))
	dst = binary.AppendVarint(dst, int64(d.Attempts))
	dst = appendBytes(dst, t)
	var flags uint64
	if d.Replay {
		flags |= flagReplay
	}
	return binary.AppendUvarint(dst, flags), nil
}

// decodeDeadLetter decodes what appendDeadLetter wrote, copying it out
// of b.
func decodeDeadLetter(b []byte) (store.DeadLetter, bool) {
	r := reader{b: b}
	d := store.DeadLetter{
		ID:      r.uvarint(),
		Actor:   string(r.bytes()),
		Channel: string(r.bytes()),
		Value:   bytes.Clone(r.bytes()),
		Err:     string(r.bytes()),
		Stack:   string(r.bytes()),
	}
	d.Attempts = int(r.varint())
	var t time.Time
	if tb := r.bytes(); !r.ok() || t.UnmarshalBinary(tb) != nil {
		return store.DeadLetter{}, false
	}
	d.Time = t
	if len(r.b) > 0 { // a version-1 record ends here
		flags := r.uvarint()
		if flags&^knownFlags != 0 {
			return store.DeadLetter{}, false
		}
		d.Replay = flags&flagReplay != 0
	}
	return d, r.done()
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// reader decodes a record; after the first error every read returns zero
// and ok reports false.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *reader) varint() int64 {
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[k:]
	return n
}

// bytes returns the next length-prefixed field, sharing r's memory; nil
// when it is empty.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	if n == 0 {
		return nil
	}
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) ok() bool { return !r.bad }

// done reports whether every read succeeded and nothing is left over.
func (r *reader) done() bool { return !r.bad && len(r.b) == 0 }
