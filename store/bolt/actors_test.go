package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/steady-go/steady/store"
)

// TestActorHistories: each actor's history is kept as the last batch that
// carried it left it, beside the rest, and a batch that carries none
// leaves it as it was.
func TestActorHistories(t *testing.T) {
	st := openT(t, t.TempDir())
	if img := load(t, st); len(img.Actors) != 0 {
		t.Fatalf("a new file holds histories: %v", img.Actors)
	}
	commit(t, st, &store.Batch{Actors: map[string][]byte{"gen": []byte("g1"), "sum": []byte("s1")}})
	commit(t, st, &store.Batch{Actors: map[string][]byte{"gen": []byte("g2")}, States: map[string][]byte{"sum": []byte("7")}})
	st = reopen(t, st)
	img := load(t, st)
	if got := img.Actors; len(got) != 2 || string(got["gen"]) != "g2" || string(got["sum"]) != "s1" {
		t.Errorf("histories %q, want gen g2 and sum s1", got)
	}
	if string(img.States["sum"]) != "7" {
		t.Errorf("state sum = %q, want 7", img.States["sum"])
	}
}

// TestVersionTwoFile: a file of format version 2 has no actors bucket. It
// loads, unchanged by Open and Load, with no histories; its first commit
// marks it FormatVersion and adds the bucket, and its histories load after.
// A version-3 file without the bucket is damaged.
func TestVersionTwoFile(t *testing.T) {
	dir := t.TempDir()
	st := openT(t, dir)
	load(t, st)
	commit(t, st, &store.Batch{States: map[string][]byte{"gen": []byte("41")}})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	setVersion := func(v uint64, dropActors bool) {
		tamper(t, st.Path(), func(tx *bbolt.Tx, w *writer) error {
			if err := w.put(tx.Bucket(bucketMeta), bucketMeta, keyVer, binary.AppendUvarint(nil, v)); err != nil {
				return err
			}
			if dropActors {
				return tx.DeleteBucket(bucketActors)
			}
			return nil
		})
	}
	setVersion(3, true)
	if _, err := openLoadImage(dir); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("a version-3 file without its actors bucket: %v, want store.ErrCorrupt", err)
	}
	setVersion(2, false)
	before := fileHash(t, st.Path())

	st = openT(t, dir)
	img := load(t, st)
	if len(img.Actors) != 0 || string(img.States["gen"]) != "41" {
		t.Fatalf("version-2 image: histories %q, state gen %q; want none and 41", img.Actors, img.States["gen"])
	}
	if v := fileVersion(t, st); v != 2 {
		t.Fatalf("version %d after Load, want 2", v)
	}
	if fileHash(t, st.Path()) != before {
		t.Fatal("Open and Load changed a version-2 file")
	}
	commit(t, st, &store.Batch{Actors: map[string][]byte{"sum": []byte("h")}})
	if v := fileVersion(t, st); v != FormatVersion {
		t.Errorf("version %d after the first commit, want %d", v, FormatVersion)
	}
	st = reopen(t, st)
	img = load(t, st)
	if !bytes.Equal(img.Actors["sum"], []byte("h")) || string(img.States["gen"]) != "41" {
		t.Errorf("after the upgrade: history of sum %q, state gen %q; want h and 41", img.Actors["sum"], img.States["gen"])
	}
}
