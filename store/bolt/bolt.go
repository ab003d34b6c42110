package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/steady-go/steady/store"
)

// FileName is the name of the state file in a state directory.
const FileName = "steady.db"

// DefaultLockTimeout is how long Open waits for the state file's lock when
// Options.LockTimeout is zero: long enough to ride out an earlier run of
// the program that is still closing the file (bbolt retries the lock every
// 50 ms), short enough that starting a second copy fails at once rather
// than hanging.
const DefaultLockTimeout = 100 * time.Millisecond

// maxKeptArena bounds the write buffer a Store keeps between commits. A
// batch of a few thousand small messages needs well under this, so the
// steady state allocates nothing; one huge batch does not pin its memory.
const maxKeptArena = 4 << 20

// Options configures Open. The zero value is ready for use.
type Options struct {
	// NoSync skips the fsync of each commit. A killed process loses
	// nothing (the page cache survives it); a crash of the machine can
	// lose recent commits or damage the file. Default false: a Commit
	// that returns nil is on disk.
	NoSync bool

	// LockTimeout is how long Open waits for another process (or
	// another open Store in this one) to release the state file before
	// failing with store.ErrLocked. Zero means DefaultLockTimeout; a negative
	// value tries once.
	LockTimeout time.Duration
}

// configureDefaults fills the unset fields of o with their defaults.
func (o *Options) configureDefaults() {
	switch {
	case o.LockTimeout == 0:
		o.LockTimeout = DefaultLockTimeout
	case o.LockTimeout < 0:
		o.LockTimeout = time.Nanosecond // bbolt reads 0 as "wait forever"
	}
}

// Store is the default store.Store: one bbolt file, FileName, in a state
// directory. records.go describes the file's layout.
//
// A Commit is one bbolt write transaction; bbolt syncs twice per
// transaction (the data pages, then its meta page). A Commit costs about
// its bytes copied twice (once here, once by bbolt) plus a few B-tree
// updates per record, however many messages the batch carries: messages
// are stored as the runs the batch appends, not one by one. On a 2-core
// VM a batch of 10,000 uint64 messages commits in about 40 µs (median)
// without the syncs and 260 µs with them (BenchmarkCommit).
type Store struct {
	db   *bbolt.DB
	path string

	// chans, states and actors are the names in the shape Load
	// accepted, which Commit checks its batches against.
	chans, states, actors map[string]bool
	// version is the format version of the file as Load found it; the
	// first Commit to an older one marks it FormatVersion (records.go).
	version uint64

	// arena holds the keys and values of the write transaction in
	// progress: bbolt keeps pointers to them until it commits. Only the
	// callback of db.Update touches it, and bbolt runs one at a time.
	arena []byte

	// broken is the panic of a write transaction, after which every
	// write fails with it (see update). Only the goroutine that commits
	// reads or writes it.
	broken error
}

var _ store.Store = (*Store)(nil)

// Open opens the state file of the state directory dir, creating dir
// (mode 0755) and the file (mode 0600) if they do not exist. opts may be
// nil; unset options get their defaults: fsync on every commit, and
// DefaultLockTimeout to wait for the file's lock.
//
// The file is locked until Close. Open fails with store.ErrLocked if another
// process, or another Store in this one, has it open; with store.ErrCorrupt if it
// is not a bbolt file, is truncated, has a damaged page (a meta page, the
// freelist, or a page in use: verify.go lists what is checked), or is a
// bbolt file but not a state file; with store.ErrVersion if it is a state file of
// another format version. Open writes nothing to an existing file, and
// Load checks the records. The check reads every page in use once: a
// fraction of what Load costs (docs/durability.md has figures).
func Open(dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.configureDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	path := filepath.Join(dir, FileName)
	checked, err := probe(path, o)
	if err != nil {
		return nil, err
	}
	db, err := openBolt(path, &bbolt.Options{
		Timeout: o.LockTimeout,
		NoSync:  o.NoSync,
		// Keep the freelist in the file (bbolt's default): with it,
		// opening a file never writes to it, and bbolt's tools can read
		// it. Without it, every Open would rebuild the freelist by
		// scanning the file.
		NoFreelistSync: false,
	})
	if err != nil {
		return nil, err
	}
	if checked != nil {
		if err := sameAsChecked(db, path, *checked); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return &Store{db: db, path: path}, nil
}

// sameAsChecked checks that the file db opened for writing is the one
// probe checked: another process could have committed to it in between,
// when neither held its lock. (It could only have been a bbolt process
// working properly: one that damages the file in that instant is beyond
// what any check at Open can catch.)
func sameAsChecked(db *bbolt.DB, path string, checked structure) error {
	return view(db, path, func(tx *bbolt.Tx) error {
		if uint64(tx.ID()) != checked.txid || uint64(tx.Size()) != checked.hwm*uint64(db.Info().PageSize) {
			return fileErr(store.ErrLocked, path, "another process wrote to it while Open checked it")
		}
		return nil
	})
}

// probe checks an existing, non-empty state file before Open opens it for
// writing, and returns what it found (nil for a new file). bbolt, opening
// a file for writing, reads its freelist (and writes one if the file has
// none), and trusts every page it later reads or frees: so probe opens it
// read-only, which reads only the meta pages and writes nothing, and,
// holding that shared lock, checks the file's structure (verify.go) and
// then that it is a state file of this format version.
func probe(path string, o Options) (*structure, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && info.Size() == 0 {
		return nil, nil // a new file
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := openBolt(path, &bbolt.Options{ReadOnly: true, Timeout: o.LockTimeout})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	s, err := verifyFile(f, path)
	if err != nil {
		return nil, err
	}
	err = view(db, path, func(tx *bbolt.Tx) error {
		_, err := checkFormat(tx, path)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// openBolt opens the bbolt file at path and maps its errors to the
// package's.
func openBolt(path string, bo *bbolt.Options) (db *bbolt.DB, err error) {
	var file *os.File
	bo.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	defer func() {
		// bbolt panics, or faults on its memory map, on some damaged
		// pages as it opens a file (its freelist, say). A damaged file
		// must become an error, and this is not actor code: recover and
		// report it. bbolt returned no DB to close, and its mapping of
		// the file, which stays until exit, holds the file open: unlock
		// it explicitly, then close it.
		if r := recover(); r != nil {
			if file != nil {
				unlockFile(file)
				_ = file.Close()
			}
			db, err = nil, fileErr(store.ErrCorrupt, path, "damaged: %v", r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err = bbolt.Open(path, 0o600, bo)
	var errno syscall.Errno
	var pathErr *fs.PathError
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fileErr(store.ErrLocked, path, "locked by another process or another Open (waited %v)", bo.Timeout)
	case errors.As(err, &pathErr), errors.As(err, &errno):
		return nil, fmt.Errorf("store: %w", err) // the system's, not the file's
	default:
		return nil, fileErr(store.ErrCorrupt, path, "not a bbolt file: %v", err)
	}
}

// fileErr is sentinel wrapped with the file and the detail.
func fileErr(sentinel error, path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", sentinel, path, fmt.Sprintf(format, args...))
}

// Close releases the state file. The Store is unusable after it.
func (b *Store) Close() error {
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", b.path, err)
	}
	return nil
}

// Path returns the state file's path.
func (b *Store) Path() string { return b.path }

// String names the store for messages: "state file" and its path.
func (b *Store) String() string { return "state file " + b.path }

// Commit writes batch in one bbolt transaction, synced unless
// Options.NoSync: its states, its runs of messages, the new heads (and
// deletes every run wholly below a head), the attempt counts and the dead
// letters. An empty batch writes nothing.
//
// It refuses a batch that would leave the file unloadable: a channel or
// state not in the shape, an append that does not continue its channel,
// or a head that moves back.
func (b *Store) Commit(batch *store.Batch) error {
	if batch.Empty() {
		return nil
	}
	if b.chans == nil {
		return fmt.Errorf("store: commit to %s before Load", b.path)
	}
	if err := b.checkNames(batch); err != nil {
		return fmt.Errorf("store: commit to %s: %w", b.path, err)
	}
	err := b.update(func(tx *bbolt.Tx) error {
		w := writer{arena: b.arena[:0], upgrade: b.version < FormatVersion}
		err := w.write(tx, batch)
		b.arena = w.arena
		if cap(b.arena) > maxKeptArena {
			b.arena = nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: commit to %s: %w", b.path, err)
	}
	b.version = FormatVersion
	return nil
}

// update runs fn in a write transaction of b's file.
//
// Open checked the file's structure, so bbolt should find nothing to
// panic about; but a page damaged since (by another program, or the disk)
// can still make it panic, or fault on its memory map, in the middle of a
// commit. That must not end the process: the panic becomes an error here,
// and as bbolt may have left its freelist half updated in memory, b then
// refuses every later write, and the file must be checked again by a new
// Open. bbolt's own checks come before it writes its meta page, so the
// transaction that panicked is not committed; the pages it wrote first
// were free ones, unless the damage was to the freelist itself.
func (b *Store) update(fn func(*bbolt.Tx) error) (err error) {
	if b.broken != nil {
		return b.broken
	}
	defer func() {
		if r := recover(); r != nil {
			b.broken = fileErr(store.ErrCorrupt, b.path, "damaged: bbolt panicked writing to it: %v; nothing more is written until it is opened again", r)
			err = b.broken
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return b.db.Update(fn)
}

// Reset empties the state file, in one transaction, so that the next Load
// finds a new file. It must come before Load, and it holds the file's lock
// like every other call: deleting the file instead would let a process
// still running on it write on, to a file no longer in the directory.
// Reset works on any file Open accepted; a damaged one must be removed by
// hand.
func (b *Store) Reset() error {
	if b.chans != nil {
		return fmt.Errorf("store: reset %s after Load", b.path)
	}
	err := b.update(func(tx *bbolt.Tx) error {
		var names [][]byte
		err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			names = append(names, bytes.Clone(name))
			return nil
		})
		for _, name := range names {
			err = errors.Join(err, tx.DeleteBucket(name))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: reset %s: %w", b.path, err)
	}
	return nil
}

// checkNames checks that the batch names only channels and states of the
// shape.
func (b *Store) checkNames(batch *store.Batch) error {
	for name := range batch.States {
		if !b.states[name] {
			return fmt.Errorf("state %q is not in the shape", name)
		}
	}
	for name := range batch.Actors {
		if !b.actors[name] {
			return fmt.Errorf("actor %q is not in the shape", name)
		}
	}
	for i := range batch.Appends {
		if name := batch.Appends[i].Channel; !b.chans[name] {
			return fmt.Errorf("channel %q is not in the shape", name)
		}
	}
	for name := range batch.Heads {
		if !b.chans[name] {
			return fmt.Errorf("channel %q is not in the shape", name)
		}
	}
	for name := range batch.Attempts {
		if !b.chans[name] {
			return fmt.Errorf("channel %q is not in the shape", name)
		}
	}
	return nil
}

// writer writes one transaction and keeps its census.
type writer struct {
	arena   []byte
	census  census
	upgrade bool // mark the file FormatVersion
}

func (w *writer) write(tx *bbolt.Tx, batch *store.Batch) error {
	var bk [len(topBuckets)]*bbolt.Bucket
	for i, name := range topBuckets {
		if bk[i] = tx.Bucket(name); bk[i] != nil {
			continue
		}
		if !w.upgrade || !bytes.Equal(name, bucketActors) {
			return fmt.Errorf("no %s bucket", name)
		}
		// A file older than version 3, which this commit upgrades.
		var err error
		if bk[i], err = tx.CreateBucket(name); err != nil {
			return err
		}
	}
	meta, states, heads, attempts, runs, dead, actors := bk[0], bk[1], bk[2], bk[3], bk[4], bk[5], bk[6]
	var ok bool
	if w.census, ok = decodeCensus(unsealed(meta, bucketMeta, keyCensus)); !ok {
		return errors.New("the census does not decode")
	}

	for name, v := range batch.States {
		if err := w.put(states, bucketStates, w.hold(name), v); err != nil {
			return err
		}
	}
	for name, v := range batch.Actors {
		if err := w.put(actors, bucketActors, w.hold(name), v); err != nil {
			return err
		}
	}
	if err := w.appendRuns(runs, heads, batch.Appends); err != nil {
		return err
	}
	for name, h := range batch.Heads {
		if err := w.setHead(runs, heads, name, h); err != nil {
			return err
		}
	}
	for name, n := range batch.Attempts {
		k := w.hold(name)
		if n == 0 {
			if err := w.delete(attempts, k); err != nil {
				return err
			}
			continue
		}
		var buf [binary.MaxVarintLen64]byte
		if err := w.put(attempts, bucketAttempts, k, binary.AppendVarint(buf[:0], int64(n))); err != nil {
			return err
		}
	}
	if err := w.deadLetters(meta, dead, batch); err != nil {
		return err
	}
	if batch.LastDeadLetterID != 0 {
		next := u64(batch.LastDeadLetterID)
		if err := w.put(meta, bucketMeta, keyNextDL, next[:]); err != nil {
			return err
		}
	}
	if w.upgrade {
		var ver [binary.MaxVarintLen64]byte
		if err := w.put(meta, bucketMeta, keyVer, binary.AppendUvarint(ver[:0], FormatVersion)); err != nil {
			return err
		}
	}
	return w.putCensus(meta)
}

// deadLetters writes the batch's changes to the dead letters, in this
// order, so that a batch that carries a letter's quarantine and a later
// change to it applies both: the letters added, the replays marked, the
// letters consumed, the letters purged (counted in the file's total). A
// mark or a removal of a letter the file does not hold changes nothing.
func (w *writer) deadLetters(meta, dead *bbolt.Bucket, batch *store.Batch) error {
	for i := range batch.AddDeadLetters {
		if err := w.putDeadLetter(dead, &batch.AddDeadLetters[i]); err != nil {
			return err
		}
	}
	for _, id := range batch.ReplayDeadLetters {
		k := w.holdU64(id)
		v := dead.Get(k)
		if v == nil {
			continue
		}
		p, ok := unseal(v, bucketDead, k)
		d, decoded := decodeDeadLetter(p)
		if !ok || !decoded {
			return fmt.Errorf("dead letter %d is damaged", id)
		}
		d.Replay = true
		if err := w.putDeadLetter(dead, &d); err != nil {
			return err
		}
	}
	for _, id := range batch.RemoveDeadLetters {
		if err := w.delete(dead, w.holdU64(id)); err != nil {
			return err
		}
	}
	if len(batch.PurgeDeadLetters) == 0 {
		return nil
	}
	purged, _ := decodeU64(unsealed(meta, bucketMeta, keyPurged))
	for _, id := range batch.PurgeDeadLetters {
		k := w.holdU64(id)
		if dead.Get(k) == nil {
			continue
		}
		if err := w.delete(dead, k); err != nil {
			return err
		}
		purged++
	}
	total := u64(purged)
	return w.put(meta, bucketMeta, keyPurged, total[:])
}

// putDeadLetter stores d under its ID.
func (w *writer) putDeadLetter(dead *bbolt.Bucket, d *store.DeadLetter) error {
	p, err := appendDeadLetter(nil, d)
	if err != nil {
		return fmt.Errorf("dead letter %d: %w", d.ID, err)
	}
	return w.put(dead, bucketDead, w.holdU64(d.ID), p)
}

// appendRuns stores each append as one run, checking that it continues
// its channel: where the channel's last run ends, or at its head.
func (w *writer) appendRuns(runs, heads *bbolt.Bucket, appends []store.Append) error {
	var (
		rb   *bbolt.Bucket
		name []byte // the channel of rb
		tail uint64 // where rb's channel ends
	)
	for i := range appends {
		a := &appends[i]
		if rb == nil || string(name) != a.Channel {
			name = w.hold(a.Channel)
			var err error
			if rb, err = runs.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("channel %q: %w", a.Channel, err)
			}
			// The keys only ever grow, so leave no room in pages for
			// inserts.
			rb.FillPercent = 1.0
			tail = channelTail(rb, heads, name)
		}
		if a.Count <= 0 || a.First != tail {
			return fmt.Errorf("channel %q: an append of %d messages at %d does not continue the channel, which ends at %d",
				a.Channel, a.Count, a.First, tail)
		}
		var count [binary.MaxVarintLen64]byte
		if err := w.put(rb, name, w.holdU64(a.First), binary.AppendUvarint(count[:0], uint64(a.Count)), a.Data); err != nil {
			return err
		}
		tail += uint64(a.Count)
	}
	return nil
}

// channelTail is the sequence number that follows the channel's last run,
// or its head if it has none.
func channelTail(rb, heads *bbolt.Bucket, name []byte) uint64 {
	if k, v := rb.Cursor().Last(); k != nil {
		first, _ := decodeU64(k)
		return first + runCount(v)
	}
	return storedHead(heads, name)
}

// storedHead is the channel's recorded head, zero if none.
func storedHead(heads *bbolt.Bucket, name []byte) uint64 {
	h, _ := decodeU64(unsealed(heads, bucketHeads, name))
	return h
}

// setHead records the channel's new head and deletes its runs wholly
// below it.
func (w *writer) setHead(runs, heads *bbolt.Bucket, name string, h uint64) error {
	k := w.hold(name)
	if old := storedHead(heads, k); h < old {
		return fmt.Errorf("channel %q: the head moves back from %d to %d", name, old, h)
	}
	v := u64(h)
	if err := w.put(heads, bucketHeads, k, v[:]); err != nil {
		return err
	}
	rb := runs.Bucket(k)
	if rb == nil {
		return nil
	}
	c := rb.Cursor()
	// Seek from the first run again after each delete: a bbolt cursor's
	// position after Delete is not the next key.
	for rk, rv := c.First(); rk != nil; rk, rv = c.First() {
		if first, _ := decodeU64(rk); first+runCount(rv) > h {
			break
		}
		w.census.remove(rv)
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// hold copies s into the arena, where it stays valid until the commit,
// for a key.
func (w *writer) hold(s string) []byte {
	start := len(w.arena)
	w.arena = append(w.arena, s...)
	return w.arena[start:len(w.arena):len(w.arena)]
}

// holdU64 is hold for a uint64 key.
func (w *writer) holdU64(n uint64) []byte {
	start := len(w.arena)
	w.arena = binary.BigEndian.AppendUint64(w.arena, n)
	return w.arena[start:len(w.arena):len(w.arena)]
}

// put stores the concatenated payload under key in bk, sealed with the
// checksum for scope, and counts it in the census in place of the value
// it replaces. key must stay valid until the commit (see hold).
func (w *writer) put(bk *bbolt.Bucket, scope, key []byte, payload ...[]byte) error {
	start := len(w.arena)
	w.arena = append(w.arena, 0, 0, 0, 0) // the checksum
	for _, p := range payload {
		w.arena = append(w.arena, p...)
	}
	v := w.arena[start:len(w.arena):len(w.arena)]
	seal(v, scope, key)
	if old := bk.Get(key); old != nil {
		w.census.remove(old)
	}
	w.census.add(v)
	return bk.Put(key, v)
}

// delete removes key from bk, if there, and counts it out of the census.
func (w *writer) delete(bk *bbolt.Bucket, key []byte) error {
	old := bk.Get(key)
	if old == nil {
		return nil
	}
	w.census.remove(old)
	return bk.Delete(key)
}

// putCensus stores the census, which does not count itself.
func (w *writer) putCensus(meta *bbolt.Bucket) error {
	start := len(w.arena)
	w.arena = append(w.arena, 0, 0, 0, 0)
	w.arena = w.census.appendTo(w.arena)
	v := w.arena[start:len(w.arena):len(w.arena)]
	seal(v, bucketMeta, keyCensus)
	return meta.Put(keyCensus, v)
}

// unsealed is the payload of key in bk, nil if it is missing or fails its
// checksum.
func unsealed(bk *bbolt.Bucket, scope, key []byte) []byte {
	p, ok := unseal(bk.Get(key), scope, key)
	if !ok {
		return nil
	}
	return p
}
