package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/steady-go/steady/store"
)

// Load checks the state file against shape and returns what it holds.
//
// A new file (no buckets at all) gets the format version and shape and an
// empty, Fresh image. On an existing file Load reads in one read-only
// transaction and writes nothing. It fails with store.ErrCorrupt if a value
// fails its checksum, a record is missing (the census disagrees), a
// channel's runs do not follow on from its head, or bbolt finds a damaged
// page; with store.ErrVersion for another format version; with store.ErrShape, saying
// each difference, if the file belongs to a graph of another shape. The
// order of the shape's entries does not matter.
//
// Load reads every record of the file, so it costs about the time to read
// the file once.
func (b *Store) Load(shape store.Shape) (*store.Image, error) {
	var (
		img   *store.Image
		empty bool
	)
	err := view(b.db, b.path, func(tx *bbolt.Tx) error {
		var err error
		if empty, err = checkFormat(tx, b.path); err != nil || empty {
			return err
		}
		l := loader{path: b.path, size: tx.Size(), img: newImage()}
		if err := l.load(tx, shape); err != nil {
			return err
		}
		img, b.version = l.img, l.version
		return nil
	})
	if err != nil {
		return nil, err
	}
	if empty {
		if img, err = b.create(shape); err != nil {
			return nil, err
		}
		b.version = FormatVersion
	}
	b.chans, b.states = names(shape.Channels), names(shape.States)
	b.actors = set(shape.Actors)
	return img, nil
}

func newImage() *store.Image {
	return &store.Image{States: map[string][]byte{}, Channels: map[string]*store.ChannelImage{}, Actors: map[string][]byte{}}
}

// create makes a new file a state file of shape.
func (b *Store) create(shape store.Shape) (*store.Image, error) {
	js, err := json.Marshal(shape)
	if err != nil {
		return nil, fmt.Errorf("store: encode the shape: %w", err)
	}
	err = b.update(func(tx *bbolt.Tx) error {
		if k, _ := tx.Cursor().First(); k != nil {
			return fileErr(store.ErrCorrupt, b.path, "bucket %s appeared while loading", quote(k))
		}
		for _, name := range topBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		var w writer
		meta := tx.Bucket(bucketMeta)
		var ver [binary.MaxVarintLen64]byte
		for _, kv := range [...]struct{ k, v []byte }{
			{keyMagic, magic},
			{keyVer, binary.AppendUvarint(ver[:0], FormatVersion)},
			{keyShape, js},
		} {
			if err := w.put(meta, bucketMeta, kv.k, kv.v); err != nil {
				return err
			}
		}
		return w.putCensus(meta)
	})
	if err != nil {
		return nil, fmt.Errorf("store: create %s: %w", b.path, err)
	}
	img := newImage()
	img.Fresh = true
	return img, nil
}

// view runs fn in a read transaction of db.
func view(db *bbolt.DB, path string, fn func(*bbolt.Tx) error) (err error) {
	defer func() {
		// bbolt panics on some damaged pages (a page that is not where
		// its parent says, of an unknown type), and a page pointer past
		// the end of the file faults on the memory map (SetPanicOnFault
		// turns that into a panic). A damaged file must become an error,
		// and this is not actor code: recover here and report it. View's
		// own deferred rollback has released the transaction.
		if r := recover(); r != nil {
			err = fileErr(store.ErrCorrupt, path, "damaged: %v", r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return db.View(fn)
}

// checkFormat reports whether the file is empty, a new file, and
// otherwise checks that it is a state file of FormatVersion.
func checkFormat(tx *bbolt.Tx, path string) (empty bool, err error) {
	if k, _ := tx.Cursor().First(); k == nil {
		return true, nil
	}
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return false, fileErr(store.ErrCorrupt, path, "not a steady state file: no %s bucket", bucketMeta)
	}
	get := func(k []byte) []byte {
		if v := meta.Get(k); int64(len(v)) <= tx.Size() { // see loader.each
			return v
		}
		return nil
	}
	if m, ok := unseal(get(keyMagic), bucketMeta, keyMagic); !ok || !bytes.Equal(m, magic) {
		return false, fileErr(store.ErrCorrupt, path, "not a steady state file: no magic")
	}
	p, ok := unseal(get(keyVer), bucketMeta, keyVer)
	ver, k := binary.Uvarint(p)
	if !ok || k <= 0 || k != len(p) {
		return false, fileErr(store.ErrCorrupt, path, "the format version fails its checksum")
	}
	if ver < minFormatVersion || ver > FormatVersion {
		return false, fileErr(store.ErrVersion, path, "format version %d, this build reads %d to %d", ver, minFormatVersion, FormatVersion)
	}
	return false, nil
}

// loader builds the image of a file that checkFormat accepted.
type loader struct {
	path    string
	size    int64 // of the file's pages, which no value can exceed
	img     *store.Image
	census  census // of the records read so far
	version uint64 // the file's format version
}

func (l *loader) corrupt(format string, args ...any) error {
	return fileErr(store.ErrCorrupt, l.path, format, args...)
}

// open returns the payload of value v of the record named what, checking
// its checksum and counting it in the census.
func (l *loader) open(v, scope, key []byte, what string) ([]byte, error) {
	if v == nil {
		return nil, l.corrupt("%s is a bucket, not a value", what)
	}
	p, ok := unseal(v, scope, key)
	if !ok {
		return nil, l.corrupt("%s fails its checksum", what)
	}
	l.census.add(v)
	return p, nil
}

// each calls fn for each key and value of bk, the bucket named what,
// after checking their lengths. A damaged page can give bbolt any
// lengths, and touching gigabytes past the end of the file, to fail a
// checksum or to compare, is slow or worse.
func (l *loader) each(bk *bbolt.Bucket, what string, fn func(k, v []byte) error) error {
	return bk.ForEach(func(k, v []byte) error {
		if len(k) > bbolt.MaxKeySize || int64(len(v)) > l.size {
			return l.corrupt("%s: a record with a %d-byte key and a %d-byte value, in a %d-byte file",
				what, len(k), len(v), l.size)
		}
		return fn(k, v)
	})
}

// load checks the shape, then reads and checks every record into l.img.
//
// Open has checked the pages' structure (verify.go: what bbolt's own
// tx.Check looks at, and the bounds it assumes; tx.Check itself runs on a
// goroutine of bbolt's, where the panic of a damaged page cannot be
// recovered). Reading every record, with its checksum, and comparing the
// census covers what Load returns.
func (l *loader) load(tx *bbolt.Tx, shape store.Shape) error {
	if err := l.each(tx.Cursor().Bucket(), "the root bucket", func(name, _ []byte) error {
		for _, t := range topBuckets {
			if bytes.Equal(name, t) {
				return nil
			}
		}
		return l.corrupt("unexpected bucket %s", quote(name))
	}); err != nil {
		return err
	}
	var bk [len(topBuckets)]*bbolt.Bucket
	for i, name := range topBuckets {
		if bk[i] = tx.Bucket(name); bk[i] == nil && !bytes.Equal(name, bucketActors) {
			return l.corrupt("no %s bucket", name)
		}
	}
	meta, states, heads, attempts, runs, dead, actors := bk[0], bk[1], bk[2], bk[3], bk[4], bk[5], bk[6]
	stored, err := l.meta(meta)
	if err != nil {
		return err
	}
	if actors == nil && l.version >= 3 {
		return l.corrupt("no %s bucket", bucketActors)
	}
	var fileShape store.Shape
	if err := json.Unmarshal(stored, &fileShape); err != nil {
		return l.corrupt("the shape does not decode: %v", err)
	}
	if diff := shapeDiff(fileShape, shape); len(diff) > 0 {
		return fileErr(store.ErrShape, l.path, "%s", strings.Join(diff, "; "))
	}
	chans, sts := names(shape.Channels), names(shape.States)

	if err := l.each(states, "states", func(k, v []byte) error {
		what := "state " + quote(k)
		p, err := l.open(v, bucketStates, k, what)
		if err != nil {
			return err
		}
		if !sts[string(k)] {
			return l.corrupt("%s is not in the shape", what)
		}
		l.img.States[string(k)] = bytes.Clone(p)
		return nil
	}); err != nil {
		return err
	}
	if err := l.channelValues(heads, bucketHeads, "head", chans, func(ci *store.ChannelImage, p []byte) bool {
		var ok bool
		ci.Head, ok = decodeU64(p)
		return ok
	}); err != nil {
		return err
	}
	if err := l.channelValues(attempts, bucketAttempts, "attempt count", chans, func(ci *store.ChannelImage, p []byte) bool {
		n, k := binary.Varint(p)
		ci.Attempts = int(n)
		return k > 0 && k == len(p) && n != 0
	}); err != nil {
		return err
	}
	if err := l.each(runs, "runs", func(k, v []byte) error {
		if v != nil || !chans[string(k)] {
			return l.corrupt("runs: %s is not a channel's bucket", quote(k))
		}
		return l.runs(runs.Bucket(k), string(k))
	}); err != nil {
		return err
	}
	if err := l.each(dead, "dead letters", func(k, v []byte) error {
		id, _ := decodeU64(k)
		what := fmt.Sprintf("dead letter %d", id)
		p, err := l.open(v, bucketDead, k, what)
		if err != nil {
			return err
		}
		d, ok := decodeDeadLetter(p)
		if !ok || len(k) != 8 || d.ID != id {
			return l.corrupt("%s does not decode", what)
		}
		l.img.DeadLetters = append(l.img.DeadLetters, d)
		return nil
	}); err != nil {
		return err
	}

	if actors != nil {
		inShape := set(shape.Actors)
		if err := l.each(actors, "actors", func(k, v []byte) error {
			what := "the history of actor " + quote(k)
			p, err := l.open(v, bucketActors, k, what)
			if err != nil {
				return err
			}
			if !inShape[string(k)] {
				return l.corrupt("%s: no such actor in the shape", what)
			}
			l.img.Actors[string(k)] = bytes.Clone(p)
			return nil
		}); err != nil {
			return err
		}
	}

	c, ok := decodeCensus(unsealed(meta, bucketMeta, keyCensus))
	switch {
	case !ok:
		return l.corrupt("the census fails its checksum")
	case c != l.census:
		return l.corrupt("the file holds %d records (checksums %08x), its census says %d (%08x): a page was lost or is stale",
			l.census.records, l.census.xor, c.records, c.xor)
	}
	return nil
}

// meta reads the meta bucket, counting it in the census, and returns the
// stored shape.
func (l *loader) meta(meta *bbolt.Bucket) (shape []byte, err error) {
	err = l.each(meta, "meta", func(k, v []byte) error {
		if bytes.Equal(k, keyCensus) {
			return nil
		}
		p, err := l.open(v, bucketMeta, k, "meta "+quote(k))
		if err != nil {
			return err
		}
		switch {
		case bytes.Equal(k, keyShape):
			shape = p
		case bytes.Equal(k, keyVer):
			l.version, _ = binary.Uvarint(p) // checkFormat checked it
		case bytes.Equal(k, keyNextDL):
			var ok bool
			if l.img.LastDeadLetterID, ok = decodeU64(p); !ok {
				return l.corrupt("the next dead-letter ID does not decode")
			}
		case bytes.Equal(k, keyPurged):
			var ok bool
			if l.img.PurgedDeadLetters, ok = decodeU64(p); !ok {
				return l.corrupt("the purged dead-letter count does not decode")
			}
		}
		return nil
	})
	if err == nil && shape == nil {
		err = l.corrupt("no shape")
	}
	return shape, err
}

// channelValues reads a bucket of per-channel values into the channels'
// images with decode, which reports whether the value is valid.
func (l *loader) channelValues(bk *bbolt.Bucket, scope []byte, kind string, chans map[string]bool,
	decode func(*store.ChannelImage, []byte) bool) error {
	return l.each(bk, string(scope), func(k, v []byte) error {
		what := kind + " of channel " + quote(k)
		p, err := l.open(v, scope, k, what)
		if err != nil {
			return err
		}
		if !chans[string(k)] {
			return l.corrupt("%s: no such channel in the shape", what)
		}
		if !decode(l.channel(string(k)), p) {
			return l.corrupt("%s does not decode", what)
		}
		return nil
	})
}

// channel returns the image of the named channel, adding it if new.
func (l *loader) channel(name string) *store.ChannelImage {
	ci := l.img.Channels[name]
	if ci == nil {
		ci = &store.ChannelImage{}
		l.img.Channels[name] = ci
	}
	return ci
}

// runs reads the channel's runs into its image: the messages from its
// head on. The runs must follow on from the head without a gap; a run
// wholly below the head, which Commit would have deleted, is skipped.
func (l *loader) runs(rb *bbolt.Bucket, name string) error {
	ci := l.channel(name)
	scope := []byte(name)
	next := ci.Head // the sequence number the next run must start at
	return l.each(rb, "runs of channel "+strconv.Quote(name), func(k, v []byte) error {
		first, ok := decodeU64(k)
		what := fmt.Sprintf("run %d of channel %q", first, name)
		if !ok {
			what = fmt.Sprintf("run %s of channel %q", quote(k), name)
		}
		p, err := l.open(v, scope, k, what)
		if err != nil {
			return err
		}
		count, n := binary.Uvarint(p)
		if !ok || n <= 0 || count == 0 || first+count < first || count > uint64(len(p)) {
			return l.corrupt("%s does not decode", what)
		}
		end := first + count
		skip := uint64(0)
		switch {
		case end <= ci.Head:
			return nil
		case first < ci.Head && next == ci.Head:
			skip = ci.Head - first // the run the head is in
		case first != next:
			return l.corrupt("%s: the channel's messages go up to %d, then resume at %d", what, next, first)
		}
		frames, err := store.Frames(bytes.Clone(p[n:]), int(count))
		if err != nil {
			return l.corrupt("%s does not hold %d messages", what, count)
		}
		ci.Messages = append(ci.Messages, frames[skip:]...)
		next = end
		return nil
	})
}

// quote is k quoted for a message, cut short if long.
func quote(k []byte) string {
	const show = 64
	if len(k) > show {
		return fmt.Sprintf("%q... (%d bytes)", k[:show], len(k))
	}
	return strconv.Quote(string(k))
}

// names is the set of the entities' names.
func names(es []store.Entity) map[string]bool {
	m := make(map[string]bool, len(es))
	for _, e := range es {
		m[e.Name] = true
	}
	return m
}

// set is the set of the names.
func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// shapeDiff lists how the graph's shape differs from the file's, in the
// order of the graph's entries then the file's; nil if they are the same
// as sets.
func shapeDiff(file, graph store.Shape) []string {
	var diff []string
	inFile, inGraph := map[string]bool{}, map[string]bool{}
	for _, a := range file.Actors {
		inFile[a] = true
	}
	for _, a := range graph.Actors {
		inGraph[a] = true
		if !inFile[a] {
			diff = append(diff, fmt.Sprintf("actor %q is not in the file", a))
		}
	}
	for _, a := range file.Actors {
		if !inGraph[a] {
			diff = append(diff, fmt.Sprintf("actor %q in the file is not in the graph", a))
		}
	}
	diff = append(diff, entityDiff("channel", file.Channels, graph.Channels)...)
	return append(diff, entityDiff("state", file.States, graph.States)...)
}

func entityDiff(kind string, file, graph []store.Entity) []string {
	var diff []string
	fileTypes, inGraph := map[string]string{}, map[string]bool{}
	for _, e := range file {
		fileTypes[e.Name] = e.Type
	}
	for _, e := range graph {
		inGraph[e.Name] = true
		switch t, ok := fileTypes[e.Name]; {
		case !ok:
			diff = append(diff, fmt.Sprintf("%s %q is not in the file", kind, e.Name))
		case t != e.Type:
			diff = append(diff, fmt.Sprintf("%s %q has type %s, file has %s", kind, e.Name, e.Type, t))
		}
	}
	for _, e := range file {
		if !inGraph[e.Name] {
			diff = append(diff, fmt.Sprintf("%s %q in the file is not in the graph", kind, e.Name))
		}
	}
	return diff
}
