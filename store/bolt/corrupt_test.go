package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/steady-go/steady/store"
)

// Distinctive values to find in the file.
const (
	stateValue = "STATE-VALUE-0123456789"
	runMessage = "RUN-MESSAGE-0123456789"
	deadValue  = "DEAD-LETTER-0123456789"
)

// makeFile writes a state file holding one of each kind of record in a
// new directory, and returns the directory, the file's path and its image.
func makeFile(t *testing.T) (dir, path string, img *store.Image) {
	t.Helper()
	dir = t.TempDir()
	st := openT(t, dir)
	load(t, st)
	commit(t, st, &store.Batch{
		States:  map[string][]byte{"gen": []byte(stateValue), "sum": []byte("s")},
		Appends: []store.Append{run("nums", 0, runMessage, "m1", "m2"), run("words", 0, "w0")},
		AddDeadLetters: []store.DeadLetter{{ID: 1, Actor: "sum", Channel: "nums", Value: []byte(deadValue),
			Err: "boom", Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}},
		LastDeadLetterID: 1,
	})
	commit(t, st, &store.Batch{Appends: []store.Append{run("nums", 3, "m3", "m4")}, Heads: map[string]uint64{"words": 1}})
	commit(t, st, &store.Batch{Appends: []store.Append{run("nums", 5, "m5")}, Attempts: map[string]int{"nums": 2}})
	img = load(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, st.Path(), img
}

// refused opens and loads dir's store, expecting an error that wraps
// sentinel and says want, and checks the file is unchanged.
func refused(t *testing.T, dir string, sentinel error, want string) {
	t.Helper()
	path := filepath.Join(dir, FileName)
	before := fileHash(t, path)
	err := openLoad(dir)
	if !errors.Is(err, sentinel) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
		t.Errorf("Open+Load = %v\nwant %v saying %q and naming %s", err, sentinel, want, path)
	}
	if fileHash(t, path) != before {
		t.Error("the refused file was changed")
	}
}

// openLoad opens and loads dir's store, then closes it.
func openLoad(dir string) error {
	_, err := openLoadImage(dir)
	return err
}

func openLoadImage(dir string) (*store.Image, error) {
	st, err := Open(dir, nil)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Load(testShape())
}

// flipAll flips a byte in the middle of every copy of needle in the file
// (old copies may linger in free pages) and returns their offsets.
func flipAll(t *testing.T, path, needle string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var at []int
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(needle))
		if j < 0 {
			break
		}
		at = append(at, i+j)
		b[i+j+len(needle)/2] ^= 0x01
		i += j + len(needle)
	}
	if len(at) == 0 {
		t.Fatalf("%q is not in the file", needle)
	}
	writeFile(t, path, b)
	return at
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tamper changes the file with bbolt directly; fn may update the census
// to hide what it did from the census check.
func tamper(t *testing.T, path string, fn func(tx *bbolt.Tx, w *writer) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		w := &writer{}
		w.census, _ = decodeCensus(unsealed(meta, bucketMeta, keyCensus))
		if err := fn(tx, w); err != nil {
			return err
		}
		return w.putCensus(meta)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDamagedValues(t *testing.T) {
	for _, tc := range []struct{ needle, want string }{
		{stateValue, `state "gen" fails its checksum`},
		{runMessage, `run 0 of channel "nums" fails its checksum`},
		{deadValue, `dead letter 1 fails its checksum`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			dir, path, _ := makeFile(t)
			flipAll(t, path, tc.needle)
			refused(t, dir, store.ErrCorrupt, tc.want)
		})
	}
}

func TestDamagedFile(t *testing.T) {
	pageSize := os.Getpagesize() // bbolt's default page size
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"a page header overwritten", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			for _, at := range flipAll(t, path, stateValue) {
				page := at / pageSize * pageSize
				copy(b[page:], bytes.Repeat([]byte{0xA5}, 16))
			}
			writeFile(t, path, b)
		}, "damaged"},
		{"truncated to half its pages", func(t *testing.T, path string) {
			// bbolt grows the file ahead of its pages; cutting only
			// that would lose nothing.
			live := livePages(t, path)
			if err := os.Truncate(path, int64((live[len(live)-1]+1)*pageSize/2)); err != nil {
				t.Fatal(err)
			}
		}, "truncated"},
		{"truncated within the meta pages", func(t *testing.T, path string) {
			if err := os.Truncate(path, int64(pageSize)+100); err != nil {
				t.Fatal(err)
			}
		}, "not a bbolt file"},
		{"random bytes", func(t *testing.T, path string) {
			b := make([]byte, 64<<10)
			r := rand.NewChaCha8([32]byte{1})
			_, _ = r.Read(b)
			writeFile(t, path, b)
		}, "not a bbolt file"},
		{"a text file", func(t *testing.T, path string) {
			writeFile(t, path, []byte("these are not the bytes you are looking for\n"))
		}, "not a bbolt file"},
		{"a bbolt file of another program", func(t *testing.T, path string) {
			foreign(t, path, &bbolt.Options{})
		}, "not a steady state file"},
		{"a bbolt file without its freelist", func(t *testing.T, path string) {
			// bbolt writes the freelist of such a file as it opens it
			// for writing: Open must refuse it before that.
			foreign(t, path, &bbolt.Options{NoFreelistSync: true})
		}, "not a steady state file"},
		{"a wrong magic", func(t *testing.T, path string) {
			tamper(t, path, func(tx *bbolt.Tx, w *writer) error {
				return w.put(tx.Bucket(bucketMeta), bucketMeta, keyMagic, []byte("steady state fil3"))
			})
		}, "not a steady state file: no magic"},
		{"a record lost", func(t *testing.T, path string) {
			tamper(t, path, func(tx *bbolt.Tx, w *writer) error {
				return tx.Bucket(bucketStates).Delete([]byte("sum")) // behind the census's back
			})
		}, "its census says"},
		{"a run lost", func(t *testing.T, path string) {
			tamper(t, path, func(tx *bbolt.Tx, w *writer) error {
				k := u64(3)
				return w.delete(tx.Bucket(bucketRuns).Bucket([]byte("nums")), k[:])
			})
		}, `run 5 of channel "nums": the channel's messages go up to 3, then resume at 5`},
		{"a stray run", func(t *testing.T, path string) {
			tamper(t, path, func(tx *bbolt.Tx, w *writer) error {
				b, err := tx.Bucket(bucketRuns).CreateBucket([]byte("ghost"))
				if err != nil {
					return err
				}
				k := u64(0)
				return w.put(b, []byte("ghost"), k[:], []byte{1, 1, 'x'})
			})
		}, `runs: "ghost" is not a channel's bucket`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path, _ := makeFile(t)
			tc.damage(t, path)
			refused(t, dir, store.ErrCorrupt, tc.want)
		})
	}
}

// foreign replaces the file at path with a bbolt file that has other
// buckets.
func foreign(t *testing.T, path string, opts *bbolt.Options) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("w1"), []byte("blue"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOtherVersion(t *testing.T) {
	dir, path, _ := makeFile(t)
	tamper(t, path, func(tx *bbolt.Tx, w *writer) error {
		return w.put(tx.Bucket(bucketMeta), bucketMeta, keyVer, binary.AppendUvarint(nil, FormatVersion+1))
	})
	refused(t, dir, store.ErrVersion, "format version 4, this build reads 1 to 3")
}

// TestRandomDamage flips bytes of a state file, one at a time: every byte
// of every page header, and random bytes of the pages in use. Each flip
// must leave Open and Load either refusing the file with store.ErrCorrupt or
// returning exactly what it held (after a flip in bytes no page uses, say),
// and never change the file or crash. TestDamagedFileSweep goes further:
// it runs a graph on every file accepted.
func TestRandomDamage(t *testing.T) {
	dir, path, want := makeFile(t)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := os.Getpagesize()
	var offsets, live []int
	for page := 0; page < len(orig); page += pageSize {
		for i := range 16 {
			offsets = append(offsets, page+i)
		}
	}
	for _, id := range livePages(t, path) {
		for i := range pageSize {
			live = append(live, id*pageSize+i)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	n := 1000
	if testing.Short() {
		n = 100
	}
	for range n {
		offsets = append(offsets, live[r.IntN(len(live))])
	}
	var refusedN, loaded int
	for _, at := range offsets {
		b := bytes.Clone(orig)
		b[at] ^= byte(1 + r.IntN(255))
		writeFile(t, path, b)
		img, err := openLoadImage(dir)
		switch {
		case errors.Is(err, store.ErrCorrupt):
			refusedN++
		case err != nil:
			t.Errorf("byte %d flipped: %v, want store.ErrCorrupt or the original image", at, err)
		default:
			loaded++
			checkImage(t, img, want)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
			t.Fatalf("byte %d flipped: Open and Load changed the file", at)
		}
	}
	t.Logf("%d flips: %d refused, %d loaded the original image", len(offsets), refusedN, loaded)
}

// livePages lists the pages of the bbolt file at path that are in use
// (meta, freelist, branch and leaf pages, and their overflow).
func livePages(t *testing.T, path string) []int {
	t.Helper()
	var ids []int
	walkPages(t, path, func(id int, typ string, overflow int) {
		if typ != "free" {
			for i := range overflow + 1 {
				ids = append(ids, id+i)
			}
		}
	})
	return ids
}

// walkPages calls fn with the id, type ("free", "leaf", ...) and overflow
// of each page of the bbolt file at path below its high-water mark, a page
// with overflow once, in order.
func walkPages(t *testing.T, path string, fn func(id int, typ string, overflow int)) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		for id := 0; ; id++ {
			p, err := tx.Page(id)
			if p == nil || err != nil {
				return err
			}
			fn(id, p.Type, p.OverflowCount)
			if p.Type != "free" { // a free page's header, and overflow, are stale
				id += p.OverflowCount
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
