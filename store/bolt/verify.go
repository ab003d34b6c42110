package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"

	"github.com/steady-go/steady/store"
)

// The structural check of a bbolt file, run by Open before bbolt opens the
// file for writing.
//
// bbolt trusts its pages: a damaged freelist, page header or branch key
// makes it panic inside a commit, after it has written to the file, or
// allocate pages past the end of the file, or walk a cycle for ever. Load
// verifies every record's checksum, but only after bbolt has read the
// freelist, and a checksum says nothing about the pages that lead to the
// record. So Open first reads the file's structure itself, with ordinary
// bounds-checked Go (no mapping of the file, nothing of bbolt's), and
// refuses it unless all of this holds:
//
//   - both meta pages pass bbolt's own validation (magic, version, FNV
//     checksum) and agree on the page size. bbolt would use the intact one
//     if the other fails, but it cannot tell a damaged older meta page from
//     a damaged newer one, and falling back past the newer one would undo
//     the last commit, which the graph reported durable;
//   - the newest meta page's high-water mark fits in the file, and its
//     root and freelist pages lie below it;
//   - the freelist page is a freelist page, and its ids are in strictly
//     ascending order, below the high-water mark, and not meta pages;
//   - every page reachable from the root, through branch pages and
//     buckets (inline or not), says the id it is read at, is a branch or a
//     leaf page, lies below the high-water mark with its overflow, holds
//     its elements, keys and values within its bytes, has non-empty keys
//     in strictly ascending order within the bounds its parent's keys set
//     (the order bbolt's own check verifies), and is reached only once;
//   - every page below the high-water mark is exactly one of: a meta page,
//     the freelist, a reachable page, a free page.
//
// What it does not read: the values' bytes (Load checks them against
// their checksums), and pages that are free or past the high-water mark
// (nothing reads them until they are written again). Its cost is one
// read of each page in use, up to its last key; figures in
// docs/durability.md.

// bbolt's file format, version 2: the layout of its pages. It is fixed by
// the format version the meta page carries, which the check verifies.
const (
	bboltMagic   = 0xED0CDAED
	bboltVersion = 2

	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	elementSize      = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	bucketHeaderSize = 16 // root u64, sequence u64; an inline bucket's page follows it
	metaSize         = 64 // magic, version, pageSize, flags u32; root bucket 16; freelist, pgid, txid, checksum u64
	metaSummed       = 56 // the bytes of the meta its checksum covers

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10
	leafBucket   = 0x01 // a leaf element's flag: the value is a bucket

	noFreelist = ^uint64(0) // the freelist id of a file written with NoFreelistSync

	// bbolt accepts page sizes from 1 KiB (it probes for the second meta
	// page from there) and writes the operating system's page size, 4 KiB
	// to 64 KiB on the platforms Go supports.
	minPageSize = 1 << 10
	maxPageSize = 1 << 16

	// maxDepth bounds the nesting of pages and buckets the check follows.
	// A state file nests three buckets deep (root, runs, a channel's
	// runs), each a B-tree whose depth grows with the log of its pages
	// (at least two keys a page); 64 is far beyond any real file and keeps
	// a damaged one from recursing for long.
	maxDepth = 64

	maxKeySize = 32768 // bbolt's MaxKeySize

	// readAhead is how much the check reads at once when its reads follow
	// on from each other, as the pages of a B-tree written in key order
	// do: one system call for up to 64 pages of 4 KiB instead of one each.
	// It halves the check's CPU time on a file of small records.
	readAhead = 256 << 10
)

// meta is the part of a bbolt meta page the check uses.
type meta struct {
	pageSize  uint32
	root      uint64 // the root bucket's page
	freelist  uint64
	hwm       uint64 // the high-water mark: the number of pages in use
	txid      uint64
	validated error // nil if the meta page passes bbolt's validation
}

// structure is what verifyFile found: the meta page bbolt will use.
type structure struct {
	txid uint64
	hwm  uint64
}

// verifyFile checks the structure of the bbolt file f at path (see the
// comment at the top of this file). It returns store.ErrCorrupt naming the
// first problem found.
func verifyFile(f *os.File, path string) (structure, error) {
	info, err := f.Stat()
	if err != nil {
		return structure{}, fmt.Errorf("store: %w", err)
	}
	v := &verifier{r: f, size: info.Size()}
	s, err := v.verify()
	if err != nil {
		var ioe *ioError
		if errors.As(err, &ioe) {
			return structure{}, fmt.Errorf("store: read %s: %w", path, ioe.err)
		}
		return structure{}, fileErr(store.ErrCorrupt, path, "damaged: %v", err)
	}
	return s, nil
}

// ioError is a failed read, which is the system's problem, not the file's.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }

// verifier holds the state of one check.
type verifier struct {
	r        io.ReaderAt
	size     int64
	pageSize int64
	hwm      uint64
	used     []uint64 // a bit per page below hwm: claimed already
	bufs     [][]byte // a read buffer per depth

	ahead    []byte // bytes read ahead, from offset aheadAt
	aheadAt  int64
	lastRead int64 // where the last read ended
}

func (v *verifier) verify() (structure, error) {
	m, err := v.metas()
	if err != nil {
		return structure{}, err
	}
	v.pageSize, v.hwm = int64(m.pageSize), m.hwm
	switch {
	case m.hwm < 2:
		return structure{}, fmt.Errorf("the meta page's high-water mark %d is below its own pages", m.hwm)
	case m.hwm > uint64(v.size/v.pageSize):
		return structure{}, fmt.Errorf("truncated: %d bytes, the meta page's high-water mark needs %d pages of %d bytes",
			v.size, m.hwm, v.pageSize)
	case m.freelist == noFreelist:
		return structure{}, errors.New("not a steady state file: a bbolt file written without its freelist (NoFreelistSync)")
	case m.root < 2 || m.root >= m.hwm:
		return structure{}, fmt.Errorf("the root bucket's page %d is outside the pages in use, 2 to %d", m.root, m.hwm-1)
	case m.freelist < 2 || m.freelist >= m.hwm:
		return structure{}, fmt.Errorf("the freelist's page %d is outside the pages in use, 2 to %d", m.freelist, m.hwm-1)
	}
	v.used = make([]uint64, (m.hwm+63)/64)
	v.setUsed(0) // the meta pages
	v.setUsed(1)
	free, err := v.freelist(m.freelist)
	if err != nil {
		return structure{}, err
	}
	if _, err := v.tree(m.root, nil, nil, 0, ""); err != nil {
		return structure{}, err
	}
	for _, id := range free {
		if v.isUsed(id) {
			return structure{}, fmt.Errorf("page %d is free in the freelist and in use", id)
		}
		v.setUsed(id)
	}
	for id := uint64(0); id < m.hwm; id++ {
		if !v.isUsed(id) {
			return structure{}, fmt.Errorf("page %d is neither in use nor free: a reference to it was lost", id)
		}
	}
	return structure{txid: m.txid, hwm: m.hwm}, nil
}

// metas reads both meta pages and returns the newest, which bbolt uses.
func (v *verifier) metas() (meta, error) {
	m0, err := v.readMeta(0)
	if err != nil {
		return meta{}, err
	}
	if m0.validated != nil {
		return meta{}, fmt.Errorf("meta page 0 is damaged: %v", m0.validated)
	}
	m1, err := v.readMeta(int64(m0.pageSize))
	if err != nil {
		return meta{}, err
	}
	switch {
	case m1.validated != nil:
		return meta{}, fmt.Errorf("meta page 1 is damaged: %v", m1.validated)
	case m1.pageSize != m0.pageSize:
		return meta{}, fmt.Errorf("the meta pages disagree on the page size: %d and %d", m0.pageSize, m1.pageSize)
	case m1.txid > m0.txid:
		return m1, nil
	}
	return m0, nil
}

// readMeta reads and validates the meta page at offset off.
func (v *verifier) readMeta(off int64) (meta, error) {
	if v.size < off+pageHeaderSize+metaSize {
		return meta{}, fmt.Errorf("truncated: %d bytes, too short for the meta page at byte %d", v.size, off)
	}
	var b [metaSize]byte
	if err := v.readAt(b[:], off+pageHeaderSize); err != nil {
		return meta{}, err
	}
	ne := binary.NativeEndian
	m := meta{
		pageSize: ne.Uint32(b[8:]),
		root:     ne.Uint64(b[16:]),
		freelist: ne.Uint64(b[32:]),
		hwm:      ne.Uint64(b[40:]),
		txid:     ne.Uint64(b[48:]),
	}
	h := fnv.New64a()
	h.Write(b[:metaSummed])
	switch {
	case ne.Uint32(b[0:]) != bboltMagic:
		m.validated = errors.New("not a bbolt meta page (no magic number)")
	case ne.Uint32(b[4:]) != bboltVersion:
		m.validated = fmt.Errorf("bbolt format version %d, want %d", ne.Uint32(b[4:]), bboltVersion)
	case ne.Uint64(b[metaSummed:]) != h.Sum64():
		m.validated = errors.New("its checksum fails")
	case m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0:
		m.validated = fmt.Errorf("page size %d", m.pageSize)
	}
	return m, nil
}

// freelist checks the freelist page and returns its ids.
func (v *verifier) freelist(id uint64) ([]uint64, error) {
	p, err := v.page(id, 0, pageHeaderSize)
	if err != nil {
		return nil, err
	}
	if p.flags != flagFreelist {
		return nil, fmt.Errorf("page %d, the freelist, has the flags of a %s page", id, kind(p.flags))
	}
	if err := v.claim(id, p.overflow, "the freelist"); err != nil {
		return nil, err
	}
	count, first := uint64(p.count), int64(pageHeaderSize)
	span := (int64(p.overflow) + 1) * v.pageSize
	if count == 0xFFFF { // the count is the first id
		var b [8]byte
		if err := v.readAt(b[:], int64(id)*v.pageSize+first); err != nil {
			return nil, err
		}
		count, first = binary.NativeEndian.Uint64(b[:]), first+8
	}
	if count > uint64(span-first)/8 {
		return nil, fmt.Errorf("page %d, the freelist, holds %d ids in %d bytes", id, count, span)
	}
	b := make([]byte, count*8)
	if err := v.readAt(b, int64(id)*v.pageSize+first); err != nil {
		return nil, err
	}
	ids := make([]uint64, count)
	for i := range ids {
		ids[i] = binary.NativeEndian.Uint64(b[i*8:])
		switch {
		case ids[i] < 2 || ids[i] >= v.hwm:
			return nil, fmt.Errorf("the freelist holds page %d, outside the pages in use, 2 to %d", ids[i], v.hwm-1)
		case i > 0 && ids[i] <= ids[i-1]:
			return nil, fmt.Errorf("the freelist holds page %d after page %d: out of order or twice", ids[i], ids[i-1])
		}
	}
	return ids, nil
}

// header is a page's header.
type header struct {
	id       uint64
	flags    uint16
	count    uint16
	overflow uint32
}

func readHeader(b []byte) header {
	ne := binary.NativeEndian
	return header{id: ne.Uint64(b), flags: ne.Uint16(b[8:]), count: ne.Uint16(b[10:]), overflow: ne.Uint32(b[12:])}
}

// kind names a page's flags.
func kind(flags uint16) string {
	switch flags {
	case flagBranch:
		return "branch"
	case flagLeaf:
		return "leaf"
	case flagMeta:
		return "meta"
	case flagFreelist:
		return "freelist"
	}
	return fmt.Sprintf("unknown (flags %#x)", flags)
}

// page reads the header of page id and checks that it says its id and
// lies below the high-water mark.
func (v *verifier) page(id uint64, depth, n int) (header, error) {
	b, err := v.read(id, depth, 0, n)
	if err != nil {
		return header{}, err
	}
	p := readHeader(b)
	switch {
	case p.id != id:
		return header{}, fmt.Errorf("page %d says it is page %d", id, p.id)
	case uint64(p.overflow) >= v.hwm-id:
		return header{}, fmt.Errorf("page %d runs on for %d pages, past the high-water mark %d", id, p.overflow, v.hwm)
	}
	return p, nil
}

// tree checks the B-tree of a bucket from page id: every key at least lo
// and below hi (nil for no bound). It returns the greatest key found, in
// a buffer the next read at this depth reuses.
func (v *verifier) tree(id uint64, lo, hi []byte, depth int, bucket string) (last []byte, err error) {
	if depth >= maxDepth {
		return nil, fmt.Errorf("%s: pages nest deeper than %d", where(bucket), maxDepth)
	}
	if id < 2 || id >= v.hwm {
		return nil, fmt.Errorf("%s: a reference to page %d, outside the pages in use, 2 to %d", where(bucket), id, v.hwm-1)
	}
	p, err := v.page(id, depth, int(v.pageSize))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where(bucket), err)
	}
	if p.flags != flagBranch && p.flags != flagLeaf {
		return nil, fmt.Errorf("%s: page %d is a %s page, not a branch or leaf", where(bucket), id, kind(p.flags))
	}
	if err := v.claim(id, p.overflow, where(bucket)); err != nil {
		return nil, err
	}
	// The first page holds the header, and usually the elements and keys;
	// read the rest of the span only as far as the elements, then the
	// last key (or bucket value), reach: not the values after it.
	span := (int64(p.overflow) + 1) * v.pageSize
	b := v.bufs[depth]
	need, err := extent(b, p, span)
	for ; err == nil && need > int64(len(b)); need, err = extent(b, p, span) {
		if b, err = v.read(id, depth, len(b), int(need)); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: page %d: %w", where(bucket), id, err)
	}
	pg := pageBytes{id: id, b: b[:need], count: int(p.count)}
	if p.flags == flagLeaf {
		return v.leaf(pg, lo, hi, depth, bucket)
	}
	if p.count == 0 {
		return nil, fmt.Errorf("%s: branch page %d has no elements", where(bucket), id)
	}
	for i := range pg.count {
		k, sub := pg.branch(i)
		switch {
		case i == 0 && lo != nil && bytes.Compare(k, lo) < 0,
			i > 0 && bytes.Compare(k, last) <= 0:
			return nil, fmt.Errorf("%s: branch page %d: key %d is out of order", where(bucket), id, i)
		case hi != nil && bytes.Compare(k, hi) >= 0:
			return nil, fmt.Errorf("%s: branch page %d: key %d is not below its parent's next key", where(bucket), id, i)
		}
		next := hi
		if i+1 < pg.count {
			next, _ = pg.branch(i + 1)
		}
		if last, err = v.tree(sub, k, next, depth+1, bucket); err != nil {
			return nil, err
		}
	}
	return last, nil
}

// leaf checks the keys of a leaf page (or an inline bucket's page) and
// the buckets in it.
func (v *verifier) leaf(pg pageBytes, lo, hi []byte, depth int, bucket string) (last []byte, err error) {
	if pg.count == 0 && (lo != nil || hi != nil) {
		return nil, fmt.Errorf("%s: %s, below a branch page, is empty", where(bucket), pg.name())
	}
	for i := range pg.count {
		flags, k, val := pg.leaf(i)
		switch {
		case flags&^leafBucket != 0:
			return nil, fmt.Errorf("%s: %s: element %d has flags %#x", where(bucket), pg.name(), i, flags)
		case i == 0 && lo != nil && bytes.Compare(k, lo) < 0,
			i > 0 && bytes.Compare(k, last) <= 0:
			return nil, fmt.Errorf("%s: %s: key %d is out of order", where(bucket), pg.name(), i)
		case hi != nil && bytes.Compare(k, hi) >= 0:
			return nil, fmt.Errorf("%s: %s: key %d is not below its parent's next key", where(bucket), pg.name(), i)
		}
		last = k
		if flags&leafBucket != 0 {
			if err := v.bucket(val, depth, child(bucket, k)); err != nil {
				return nil, err
			}
		}
	}
	return last, nil
}

// where names the bucket at path for a message.
func where(path string) string {
	if path == "" {
		return "the root bucket"
	}
	return "bucket " + path
}

// child is the path of the bucket named k in the bucket at path.
func child(path string, k []byte) string {
	if path == "" {
		return quote(k)
	}
	return path + "/" + quote(k)
}

// bucket checks the bucket at path name, whose header is val.
func (v *verifier) bucket(val []byte, depth int, name string) error {
	if depth+1 >= maxDepth {
		return fmt.Errorf("bucket %s: buckets nest deeper than %d", name, maxDepth)
	}
	if len(val) < bucketHeaderSize {
		return fmt.Errorf("bucket %s: a %d-byte header", name, len(val))
	}
	root := binary.NativeEndian.Uint64(val)
	if root != 0 {
		if len(val) != bucketHeaderSize {
			return fmt.Errorf("bucket %s: a %d-byte header", name, len(val))
		}
		_, err := v.tree(root, nil, nil, depth+1, name)
		return err
	}
	// An inline bucket: its leaf page follows the header, inside the value.
	b := val[bucketHeaderSize:]
	if len(b) < pageHeaderSize {
		return fmt.Errorf("bucket %s: a %d-byte inline page", name, len(b))
	}
	p := readHeader(b)
	if p.flags != flagLeaf || p.overflow != 0 {
		return fmt.Errorf("bucket %s: its inline page is a %s page with overflow %d", name, kind(p.flags), p.overflow)
	}
	need, err := extent(b, p, int64(len(b)))
	if err != nil {
		return fmt.Errorf("bucket %s: its inline page: %w", name, err)
	}
	_, err = v.leaf(pageBytes{id: 0, b: b[:need], count: int(p.count)}, nil, nil, depth, name)
	return err
}

// pageBytes is a page read as far as its last key or bucket value.
type pageBytes struct {
	id    uint64 // 0 for an inline bucket's page
	b     []byte
	count int
}

// name names a leaf page for a message.
func (pg pageBytes) name() string {
	if pg.id == 0 {
		return "its inline page"
	}
	return fmt.Sprintf("leaf page %d", pg.id)
}

// branch returns branch element i's key and child page.
func (pg pageBytes) branch(i int) (key []byte, child uint64) {
	e := pageHeaderSize + i*elementSize
	ne := binary.NativeEndian
	pos, ksize := int(ne.Uint32(pg.b[e:])), int(ne.Uint32(pg.b[e+4:]))
	return pg.b[e+pos : e+pos+ksize], ne.Uint64(pg.b[e+8:])
}

// leaf returns leaf element i's flags, key and value. A value past what
// was read (only ever a record's, never a bucket's) is returned empty.
func (pg pageBytes) leaf(i int) (flags uint32, key, val []byte) {
	e := pageHeaderSize + i*elementSize
	ne := binary.NativeEndian
	flags, pos, ksize, vsize := ne.Uint32(pg.b[e:]), int(ne.Uint32(pg.b[e+4:])), int(ne.Uint32(pg.b[e+8:])), int(ne.Uint32(pg.b[e+12:]))
	k := e + pos + ksize
	if flags&leafBucket == 0 {
		return flags, pg.b[e+pos : k], nil
	}
	return flags, pg.b[e+pos : k], pg.b[k : k+vsize]
}

// extent checks that the elements of page p, whose first bytes are b, and
// their keys and values lie within its span bytes, and returns how many
// bytes hold the elements, every key and every bucket value.
func extent(b []byte, p header, span int64) (int64, error) {
	if p.flags != flagBranch && p.flags != flagLeaf {
		return pageHeaderSize, nil
	}
	need := int64(pageHeaderSize) + int64(p.count)*elementSize
	if need > span {
		return 0, fmt.Errorf("%d elements do not fit in %d bytes", p.count, span)
	}
	if need > int64(len(b)) {
		return need, nil // the caller reads further, then calls again
	}
	ne := binary.NativeEndian
	for i := range int64(p.count) {
		e := pageHeaderSize + i*elementSize
		var pos, ksize, vsize int64
		var bucket bool
		if p.flags == flagBranch {
			pos, ksize = int64(ne.Uint32(b[e:])), int64(ne.Uint32(b[e+4:]))
		} else {
			bucket = ne.Uint32(b[e:])&leafBucket != 0
			pos, ksize, vsize = int64(ne.Uint32(b[e+4:])), int64(ne.Uint32(b[e+8:])), int64(ne.Uint32(b[e+12:]))
		}
		end := e + pos + ksize + vsize
		switch {
		case ksize == 0 || ksize > maxKeySize:
			return 0, fmt.Errorf("element %d has a %d-byte key", i, ksize)
		case pos < (int64(p.count)-i)*elementSize || end > span:
			return 0, fmt.Errorf("element %d lies outside the page: key at %d, %d+%d bytes, in %d", i, e+pos, ksize, vsize, span)
		}
		if bucket {
			need = max(need, end)
		} else {
			need = max(need, e+pos+ksize)
		}
	}
	return need, nil
}

// read returns bytes [from, to) of page id's span, in the buffer of depth,
// with the bytes before from as the last read at this depth left them.
func (v *verifier) read(id uint64, depth, from, to int) ([]byte, error) {
	for len(v.bufs) <= depth {
		v.bufs = append(v.bufs, nil)
	}
	b := v.bufs[depth]
	if cap(b) < to {
		nb := make([]byte, max(to, int(v.pageSize)))
		copy(nb, b[:from])
		b = nb
	}
	b = b[:to]
	if err := v.readAt(b[from:], int64(id)*v.pageSize+int64(from)); err != nil {
		return nil, err
	}
	v.bufs[depth] = b
	return b, nil
}

// readAt fills b from offset off, which the caller has checked lies in
// the file. A read that follows on from the last is served from readAhead
// bytes read at once.
func (v *verifier) readAt(b []byte, off int64) error {
	end := off + int64(len(b))
	sequential := off == v.lastRead
	v.lastRead = end
	if off >= v.aheadAt && end <= v.aheadAt+int64(len(v.ahead)) {
		copy(b, v.ahead[off-v.aheadAt:])
		return nil
	}
	if sequential && len(b) < readAhead && v.size-off >= int64(len(b)) {
		if v.ahead == nil {
			v.ahead = make([]byte, readAhead)
		}
		v.ahead, v.aheadAt = v.ahead[:min(readAhead, v.size-off)], off
		if _, err := v.r.ReadAt(v.ahead, off); err == nil {
			copy(b, v.ahead)
			return nil
		}
		v.ahead = v.ahead[:0] // and read b alone, to say what failed
	}
	if _, err := v.r.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("truncated: %d bytes, a page reaches byte %d", v.size, off+int64(len(b)))
		}
		return &ioError{err}
	}
	return nil
}

// claim marks pages id to id+overflow in use by what, failing if any is
// already.
func (v *verifier) claim(id uint64, overflow uint32, what string) error {
	for p := id; p <= id+uint64(overflow); p++ {
		if v.isUsed(p) {
			return fmt.Errorf("%s: page %d is reached twice", what, p)
		}
		v.setUsed(p)
	}
	return nil
}

func (v *verifier) isUsed(id uint64) bool { return v.used[id/64]&(1<<(id%64)) != 0 }

func (v *verifier) setUsed(id uint64) { v.used[id/64] |= 1 << (id % 64) }
