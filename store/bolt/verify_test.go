package bolt

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steady-go/steady/store"
)

// The structural damage bbolt itself does not survive, made precisely:
// each must be refused by Open, before anything is written, with an error
// saying what is wrong. (The sweeps, TestRandomDamage and
// TestDamagedFileSweep, make such damage by chance; these make sure each
// check is there.)

// makeBranchFile is makeFile with a channel of 300 single-message runs,
// whose bucket then has a branch page over leaves.
func makeBranchFile(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	st := openT(t, dir)
	load(t, st)
	for i := range 300 {
		commit(t, st, &store.Batch{Appends: []store.Append{run("nums", uint64(i), "m")}})
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, st.Path()
}

// rawFile is a bbolt file's bytes, to damage with its layout in mind.
type rawFile struct {
	b        []byte
	pageSize int
}

func readRaw(t *testing.T, path string) *rawFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &rawFile{b: b, pageSize: os.Getpagesize()}
}

func (f *rawFile) page(id uint64) []byte {
	return f.b[int(id)*f.pageSize : int(id+1)*f.pageSize]
}

// newestMeta is the page of the meta bbolt uses, the one with the higher
// transaction id.
func (f *rawFile) newestMeta() []byte {
	txid := func(p []byte) uint64 { return binary.NativeEndian.Uint64(p[pageHeaderSize+48:]) }
	if txid(f.page(1)) > txid(f.page(0)) {
		return f.page(1)
	}
	return f.page(0)
}

func (f *rawFile) metaField(off int) uint64 {
	return binary.NativeEndian.Uint64(f.newestMeta()[pageHeaderSize+off:])
}

// setMetaField sets a field of the newest meta and its checksum, so that
// only the check of the field itself can refuse it.
func (f *rawFile) setMetaField(off int, v uint64) {
	m := f.newestMeta()[pageHeaderSize:]
	binary.NativeEndian.PutUint64(m[off:], v)
	h := fnv.New64a()
	h.Write(m[:metaSummed])
	binary.NativeEndian.PutUint64(m[metaSummed:], h.Sum64())
}

// pageOfType is the first page in use of the given type.
func pageOfType(t *testing.T, path, typ string) uint64 {
	t.Helper()
	found := -1
	walkPages(t, path, func(id int, pt string, _ int) {
		if pt == typ && found < 0 {
			found = id
		}
	})
	if found < 0 {
		t.Fatalf("no %s page in %s", typ, path)
	}
	return uint64(found)
}

func TestStructuralDamage(t *testing.T) {
	ne := binary.NativeEndian
	for _, tc := range []struct {
		name   string
		branch bool // damage the file of makeBranchFile
		damage func(t *testing.T, path string, f *rawFile)
		want   string
	}{
		{"the newest meta page's checksum", false, func(t *testing.T, path string, f *rawFile) {
			// bbolt would fall back to the older meta page, undoing the
			// last commit.
			f.newestMeta()[pageHeaderSize+metaSummed] ^= 1
		}, "is damaged: its checksum fails"},
		{"the older meta page's checksum", false, func(t *testing.T, path string, f *rawFile) {
			older := f.page(0)
			if &older[0] == &f.newestMeta()[0] {
				older = f.page(1)
			}
			older[pageHeaderSize+metaSummed] ^= 1
		}, "is damaged: its checksum fails"},
		{"the high-water mark past the end of the file", false, func(t *testing.T, path string, f *rawFile) {
			f.setMetaField(40, 1<<40)
		}, "truncated"},
		{"the freelist's page past the high-water mark", false, func(t *testing.T, path string, f *rawFile) {
			f.setMetaField(32, f.metaField(40)+5)
		}, "the freelist's page"},
		{"the root's page number a meta page", false, func(t *testing.T, path string, f *rawFile) {
			f.setMetaField(16, 1)
		}, "the root bucket's page 1 is outside the pages in use"},
		{"a free page past the high-water mark", false, func(t *testing.T, path string, f *rawFile) {
			p := f.page(f.metaField(32))
			if ne.Uint16(p[10:]) == 0 {
				t.Fatal("the freelist is empty")
			}
			ne.PutUint64(p[pageHeaderSize:], 23047)
		}, "the freelist holds page 23047, outside the pages in use"},
		{"a free page twice", false, func(t *testing.T, path string, f *rawFile) {
			p := f.page(f.metaField(32))
			if ne.Uint16(p[10:]) < 2 {
				t.Fatal("the freelist has fewer than two pages")
			}
			copy(p[pageHeaderSize+8:], p[pageHeaderSize:pageHeaderSize+8])
		}, "out of order or twice"},
		{"a page in use and free", false, func(t *testing.T, path string, f *rawFile) {
			p := f.page(f.metaField(32))
			ne.PutUint64(p[pageHeaderSize:], f.metaField(16)) // the root's page
			ne.PutUint16(p[10:], 1)
		}, "is free in the freelist and in use"},
		{"a page lost", false, func(t *testing.T, path string, f *rawFile) {
			p := f.page(f.metaField(32))
			ne.PutUint16(p[10:], ne.Uint16(p[10:])-1) // forget the last free page
		}, "is neither in use nor free"},
		{"a huge freelist count", false, func(t *testing.T, path string, f *rawFile) {
			p := f.page(f.metaField(32))
			ne.PutUint16(p[10:], 0xFFFF)
			ne.PutUint64(p[pageHeaderSize:], 1<<40)
		}, "holds 1099511627776 ids in"},
		{"a page that says another id", false, func(t *testing.T, path string, f *rawFile) {
			ne.PutUint64(f.page(f.metaField(16)), 9)
		}, "says it is page 9"},
		{"a page of an unknown type", false, func(t *testing.T, path string, f *rawFile) {
			ne.PutUint16(f.page(f.metaField(16))[8:], 0x20)
		}, "unknown (flags 0x20)"},
		{"a page running past the high-water mark", false, func(t *testing.T, path string, f *rawFile) {
			ne.PutUint32(f.page(f.metaField(16))[12:], 1<<20)
		}, "runs on for 1048576 pages"},
		{"a leaf key outside its page", false, func(t *testing.T, path string, f *rawFile) {
			ne.PutUint32(f.page(f.metaField(16))[pageHeaderSize+4:], 1<<30)
		}, "lies outside the page"},
		{"too many elements", false, func(t *testing.T, path string, f *rawFile) {
			ne.PutUint16(f.page(f.metaField(16))[10:], 0xFFF0)
		}, "elements do not fit"},
		{"a branch key zeroed", true, func(t *testing.T, path string, f *rawFile) {
			p := f.page(pageOfType(t, path, "branch"))
			e := pageHeaderSize + elementSize // element 1
			k := e + int(ne.Uint32(p[e:]))
			clear(p[k : k+int(ne.Uint32(p[e+4:]))]) // its key: run 0, element 0's
		}, "key 0 is not below its parent's next key"},
		{"a branch key lowered into the child before", true, func(t *testing.T, path string, f *rawFile) {
			// Load reads every record of such a file; without the check
			// its first commit dies in bbolt with "page N already freed".
			p := f.page(pageOfType(t, path, "branch"))
			e := pageHeaderSize + 2*elementSize // element 2
			k := p[e+int(ne.Uint32(p[e:])):][:8]
			binary.BigEndian.PutUint64(k, binary.BigEndian.Uint64(k)-1) // child 1's last key
		}, "is not below its parent's next key"},
		{"a page reached twice", true, func(t *testing.T, path string, f *rawFile) {
			p := f.page(pageOfType(t, path, "branch"))
			copy(p[pageHeaderSize+elementSize+8:], p[pageHeaderSize+8:pageHeaderSize+16]) // element 1's child = element 0's
		}, "is reached twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path, _ := makeFile(t)
			if tc.branch {
				dir, path = makeBranchFile(t)
			}
			f := readRaw(t, path)
			tc.damage(t, path, f)
			writeFile(t, path, f.b)
			refused(t, dir, store.ErrCorrupt, tc.want)
			if err := openLoad(dir); !strings.Contains(err.Error(), "damaged: ") {
				t.Errorf("the error does not say the file is damaged: %v", err)
			}
		})
	}
}

// TestVerifyAcceptsWhatBboltWrites: files bbolt wrote and closed properly
// pass the check however their pages came to be: values that span
// overflow pages, runs deleted as heads pass them (their pages free),
// buckets that grow from inline to pages of their own, dead letters
// added and removed. Each reopen must load what was committed.
func TestVerifyAcceptsWhatBboltWrites(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(3, 4))
	var tail, head, lastDL uint64
	dead := map[uint64]bool{}
	for round := range 40 {
		st := openT(t, dir)
		img := load(t, st)
		if ci := img.Channels["nums"]; round > 0 && (ci == nil || ci.Head != head || uint64(len(ci.Messages)) != tail-head) {
			t.Fatalf("round %d: channel image %+v; want head %d and %d messages", round, ci, head, tail-head)
		}
		if len(img.DeadLetters) != len(dead) {
			t.Fatalf("round %d: %d dead letters, want %d", round, len(img.DeadLetters), len(dead))
		}
		for range 20 {
			b := &store.Batch{States: map[string][]byte{"gen": bytes.Repeat([]byte{byte(round)}, r.IntN(3*os.Getpagesize()))}}
			msgs := make([]string, 1+r.IntN(20))
			for i := range msgs {
				msgs[i] = strings.Repeat("x", r.IntN(2000))
			}
			b.Appends = []store.Append{run("nums", tail, msgs...)}
			tail += uint64(len(msgs))
			if r.IntN(2) == 0 {
				head += uint64(r.Int64N(int64(tail - head + 1)))
				b.Heads = map[string]uint64{"nums": head}
			}
			switch r.IntN(4) {
			case 0:
				lastDL++
				dead[lastDL] = true
				b.AddDeadLetters = []store.DeadLetter{{ID: lastDL, Actor: "sum", Channel: "nums",
					Value: bytes.Repeat([]byte("d"), r.IntN(5000)), Time: time.Unix(int64(lastDL), 0).UTC()}}
				b.LastDeadLetterID = lastDL
			case 1:
				for id := range dead {
					delete(dead, id)
					b.RemoveDeadLetters = []uint64{id}
					break
				}
			}
			commit(t, st, b)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if overflow, free := pageKinds(t, filepath.Join(dir, FileName)); overflow == 0 || free == 0 {
		t.Errorf("%d pages with overflow, %d free pages: the test wants both", overflow, free)
	}
}

// pageKinds counts the pages with overflow, and the free pages, of the
// bbolt file at path.
func pageKinds(t *testing.T, path string) (overflow, free int) {
	t.Helper()
	walkPages(t, path, func(_ int, typ string, n int) {
		switch {
		case typ == "free":
			free++
		case n > 0:
			overflow++
		}
	})
	return overflow, free
}
