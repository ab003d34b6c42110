package bolt

import (
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/steady-go/steady/store"
)

// letter is dead letter id of the nums channel.
func letter(id uint64) store.DeadLetter {
	return store.DeadLetter{ID: id, Actor: "sum", Channel: "nums", Value: []byte{byte(id)}, Err: "boom",
		Attempts: 3, Time: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
}

// letterIDs lists the IDs of the image's dead letters and which of them
// have a replay pending.
func letterIDs(img *store.Image) (ids, replays []uint64) {
	for _, d := range img.DeadLetters {
		ids = append(ids, d.ID)
		if d.Replay {
			replays = append(replays, d.ID)
		}
	}
	return ids, replays
}

func checkLetters(t *testing.T, img *store.Image, ids, replays []uint64, purged uint64) {
	t.Helper()
	gotIDs, gotReplays := letterIDs(img)
	if !reflect.DeepEqual(gotIDs, ids) || !reflect.DeepEqual(gotReplays, replays) || img.PurgedDeadLetters != purged {
		t.Errorf("dead letters %v (replays %v), %d purged; want %v (replays %v), %d purged",
			gotIDs, gotReplays, img.PurgedDeadLetters, ids, replays, purged)
	}
}

// TestDeadLetterReplayAndPurge: a replay mark and a purge survive a
// reopen; the purged count counts the letters the file held, not the IDs
// asked for; a batch that quarantines, marks, consumes and purges applies
// all of it.
func TestDeadLetterReplayAndPurge(t *testing.T) {
	st := openT(t, t.TempDir())
	load(t, st)
	commit(t, st, &store.Batch{AddDeadLetters: []store.DeadLetter{letter(1), letter(2), letter(3)}, LastDeadLetterID: 3})

	// 9 and 8 are not in the file: nothing to mark, nothing to count.
	commit(t, st, &store.Batch{ReplayDeadLetters: []uint64{2, 9}, PurgeDeadLetters: []uint64{3, 8}})
	st = reopen(t, st)
	img := load(t, st)
	checkLetters(t, img, []uint64{1, 2}, []uint64{2}, 1)
	want := letter(2)
	want.Replay = true
	if !reflect.DeepEqual(img.DeadLetters[1], want) {
		t.Errorf("marked letter %+v, want %+v", img.DeadLetters[1], want)
	}

	// One batch: letter 4 quarantined and marked, the replayed 2
	// consumed, 1 purged.
	commit(t, st, &store.Batch{
		AddDeadLetters: []store.DeadLetter{letter(4)}, LastDeadLetterID: 4,
		ReplayDeadLetters: []uint64{4}, RemoveDeadLetters: []uint64{2}, PurgeDeadLetters: []uint64{1},
	})
	st = reopen(t, st)
	checkLetters(t, load(t, st), []uint64{4}, []uint64{4}, 2)

	// A purge of a letter consumed meanwhile counts nothing.
	commit(t, st, &store.Batch{PurgeDeadLetters: []uint64{2}})
	st = reopen(t, st)
	checkLetters(t, load(t, st), []uint64{4}, []uint64{4}, 2)
}

// fileVersion reads the format version of st's file.
func fileVersion(t *testing.T, st *Store) uint64 {
	t.Helper()
	var ver uint64
	err := st.db.View(func(tx *bbolt.Tx) error {
		ver, _ = binary.Uvarint(unsealed(tx.Bucket(bucketMeta), bucketMeta, keyVer))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ver
}

// TestVersionOneFile: a file of format version 1 (dead letters without
// flags, no actors bucket) loads as it is and is left unchanged by Open and
// Load; its first commit marks it FormatVersion, and it loads again.
func TestVersionOneFile(t *testing.T) {
	dir := t.TempDir()
	st := openT(t, dir)
	load(t, st)
	commit(t, st, &store.Batch{AddDeadLetters: []store.DeadLetter{letter(1)}, LastDeadLetterID: 1})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	tamper(t, st.Path(), func(tx *bbolt.Tx, w *writer) error {
		var ver [binary.MaxVarintLen64]byte
		if err := w.put(tx.Bucket(bucketMeta), bucketMeta, keyVer, binary.AppendUvarint(ver[:0], 1)); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketActors); err != nil {
			return err
		}
		// Version 1's record: this one's without the flags, a zero byte.
		d := letter(1)
		p, err := appendDeadLetter(nil, &d)
		if err != nil || p[len(p)-1] != 0 {
			t.Fatalf("the record does not end in a zero flags byte: %v", err)
		}
		key := u64(1)
		return w.put(tx.Bucket(bucketDead), bucketDead, key[:], p[:len(p)-1])
	})
	before := fileHash(t, st.Path())

	st = openT(t, dir)
	checkLetters(t, load(t, st), []uint64{1}, nil, 0)
	if v := fileVersion(t, st); v != 1 {
		t.Fatalf("version %d after Load, want 1", v)
	}
	if fileHash(t, st.Path()) != before {
		t.Fatal("Open and Load changed a version-1 file")
	}
	commit(t, st, &store.Batch{ReplayDeadLetters: []uint64{1}})
	if v := fileVersion(t, st); v != FormatVersion {
		t.Errorf("version %d after the first commit, want %d", v, FormatVersion)
	}
	st = reopen(t, st)
	checkLetters(t, load(t, st), []uint64{1}, []uint64{1}, 0)
}
