package bolt

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.etcd.io/bbolt"

	"github.com/steady-go/steady/store"
)

// testShape is the shape of a small pipeline: gen → nums → sum, with a
// dead-letter-producing consumer.
func testShape() store.Shape {
	return store.Shape{
		Actors:   []string{"gen", "sum"},
		Channels: []store.Entity{{Name: "nums", Type: "uint64"}, {Name: "words", Type: "string"}},
		States:   []store.Entity{{Name: "gen", Type: "main.Gen"}, {Name: "sum", Type: "main.Sum"}},
	}
}

// openT opens dir's store, closing it when the test ends.
func openT(t *testing.T, dir string) *Store {
	t.Helper()
	st, err := Open(dir, &Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// reopen closes st and opens its directory again.
func reopen(t *testing.T, st *Store) *Store {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openT(t, filepath.Dir(st.Path()))
}

func load(t *testing.T, st *Store) *store.Image {
	t.Helper()
	img, err := st.Load(testShape())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return img
}

func commit(t *testing.T, st *Store, b *store.Batch) {
	t.Helper()
	if err := st.Commit(b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// run is a store.Append of msgs to channel from sequence number first.
func run(channel string, first uint64, msgs ...string) store.Append {
	var data []byte
	for _, m := range msgs {
		data = store.AppendFrame(data, []byte(m))
	}
	return store.Append{Channel: channel, First: first, Count: len(msgs), Data: data}
}

// seq returns the messages "prefix<from>" .. "prefix<to-1>".
func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func messages(ci *store.ChannelImage) []string {
	var out []string
	for _, m := range ci.Messages {
		out = append(out, string(m))
	}
	return out
}

// fileSize is the size of the file at path.
func fileSize(tb testing.TB, path string) int64 {
	tb.Helper()
	info, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return info.Size()
}

// fileHash is the SHA-256 of the file at path.
func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// runKeys lists the first sequence numbers of the runs st holds for
// channel, reading its bbolt file directly.
func runKeys(t *testing.T, st *Store, channel string) []uint64 {
	t.Helper()
	var keys []uint64
	err := st.db.View(func(tx *bbolt.Tx) error {
		rb := tx.Bucket(bucketRuns).Bucket([]byte(channel))
		if rb == nil {
			return nil
		}
		return rb.ForEach(func(k, _ []byte) error {
			n, _ := decodeU64(k)
			keys = append(keys, n)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestFreshThenResumed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "nested") // Open creates it
	st := openT(t, dir)
	if got, want := st.String(), "state file "+filepath.Join(dir, FileName); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	img := load(t, st)
	if !img.Fresh || img.States == nil || img.Channels == nil || len(img.States)+len(img.Channels)+len(img.DeadLetters) != 0 {
		t.Fatalf("first Load = %+v, want a fresh, empty image with non-nil maps", img)
	}
	if fi, err := os.Stat(st.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v, %v; want 0600", fi.Mode(), err)
	}

	st = reopen(t, st)
	before := fileHash(t, st.Path())
	img = load(t, st)
	if img.Fresh {
		t.Error("second Load is Fresh, want resumed")
	}
	// The order of a shape's entries does not matter.
	shuffled := testShape()
	shuffled.Actors[0], shuffled.Actors[1] = shuffled.Actors[1], shuffled.Actors[0]
	shuffled.States[0], shuffled.States[1] = shuffled.States[1], shuffled.States[0]
	if _, err := st.Load(shuffled); err != nil {
		t.Errorf("Load of a reordered shape: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if fileHash(t, st.Path()) != before {
		t.Error("Open and Load of an existing file changed it")
	}
}

func TestRoundTrip(t *testing.T) {
	st := openT(t, t.TempDir())
	load(t, st)
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	dl := func(id uint64) store.DeadLetter {
		return store.DeadLetter{ID: id, Actor: "sum", Channel: "nums", Value: []byte{byte(id), 0, 1},
			Err: "boom " + fmt.Sprint(id), Stack: "goroutine 1\nmain.go:12", Attempts: 3, Time: t0.Add(time.Duration(id) * time.Second)}
	}

	commit(t, st, &store.Batch{
		States:           map[string][]byte{"gen": []byte("g1"), "sum": []byte("s1")},
		Appends:          []store.Append{run("nums", 0, seq("n", 0, 3)...), run("nums", 3, seq("n", 3, 5)...), run("words", 0, "a", "b")},
		Attempts:         map[string]int{"nums": 2},
		AddDeadLetters:   []store.DeadLetter{dl(1), dl(2), dl(3)},
		LastDeadLetterID: 3,
	})
	st = reopen(t, st)
	img := load(t, st)
	want := &store.Image{
		States: map[string][]byte{"gen": []byte("g1"), "sum": []byte("s1")},
		Channels: map[string]*store.ChannelImage{
			"nums":  {Messages: bytesOf(seq("n", 0, 5)), Attempts: 2},
			"words": {Messages: bytesOf([]string{"a", "b"})},
		},
		DeadLetters:      []store.DeadLetter{dl(1), dl(2), dl(3)},
		LastDeadLetterID: 3,
	}
	checkImage(t, img, want)

	// Overwrite a state; consume part of the first run, then append
	// across two commits; reset the attempts; replay a dead letter.
	commit(t, st, &store.Batch{
		States:            map[string][]byte{"sum": []byte("s2")},
		Appends:           []store.Append{run("nums", 5, "n5")},
		Heads:             map[string]uint64{"nums": 2},
		Attempts:          map[string]int{"nums": 0},
		RemoveDeadLetters: []uint64{2},
		AddDeadLetters:    []store.DeadLetter{dl(4)},
		LastDeadLetterID:  4,
	})
	commit(t, st, &store.Batch{Appends: []store.Append{run("nums", 6, "n6", "n7"), run("words", 2, "c")}})
	st = reopen(t, st)
	img = load(t, st)
	want.States["sum"] = []byte("s2")
	want.Channels["nums"] = &store.ChannelImage{Head: 2, Messages: bytesOf(seq("n", 2, 8))}
	want.Channels["words"] = &store.ChannelImage{Messages: bytesOf([]string{"a", "b", "c"})}
	want.DeadLetters = []store.DeadLetter{dl(1), dl(3), dl(4)}
	want.LastDeadLetterID = 4
	checkImage(t, img, want)
	if got := runKeys(t, st, "nums"); !reflect.DeepEqual(got, []uint64{0, 3, 5, 6}) {
		t.Errorf("runs of nums = %v, want [0 3 5 6] (none wholly consumed)", got)
	}

	// A head past two whole runs, into the third; and one that consumes
	// a channel entirely.
	commit(t, st, &store.Batch{Heads: map[string]uint64{"nums": 6, "words": 3}, Attempts: map[string]int{"nums": 1}})
	st = reopen(t, st)
	img = load(t, st)
	want.Channels["nums"] = &store.ChannelImage{Head: 6, Messages: bytesOf([]string{"n6", "n7"}), Attempts: 1}
	want.Channels["words"] = &store.ChannelImage{Head: 3}
	checkImage(t, img, want)
	if got := runKeys(t, st, "nums"); !reflect.DeepEqual(got, []uint64{6}) {
		t.Errorf("runs of nums = %v, want [6]: the runs wholly below the head deleted", got)
	}
	if got := runKeys(t, st, "words"); len(got) != 0 {
		t.Errorf("runs of words = %v, want none", got)
	}

	// Appends continue from the head of a channel with no runs left.
	commit(t, st, &store.Batch{Appends: []store.Append{run("words", 3, "d")}})
	st = reopen(t, st)
	img = load(t, st)
	want.Channels["words"] = &store.ChannelImage{Head: 3, Messages: bytesOf([]string{"d"})}
	checkImage(t, img, want)
}

func bytesOf(ss []string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		out = append(out, []byte(s))
	}
	return out
}

func checkImage(t *testing.T, got, want *store.Image) {
	t.Helper()
	if got.Fresh != want.Fresh || !reflect.DeepEqual(got.States, want.States) ||
		got.LastDeadLetterID != want.LastDeadLetterID {
		t.Errorf("image: Fresh %v, States %q, LastDeadLetterID %d; want %v, %q, %d",
			got.Fresh, got.States, got.LastDeadLetterID, want.Fresh, want.States, want.LastDeadLetterID)
	}
	if len(got.Channels) != len(want.Channels) {
		t.Errorf("image has %d channels, want %d", len(got.Channels), len(want.Channels))
	}
	for name, w := range want.Channels {
		g := got.Channels[name]
		if g == nil {
			t.Errorf("channel %q missing from the image", name)
			continue
		}
		if g.Head != w.Head || g.Attempts != w.Attempts || !reflect.DeepEqual(messages(g), messages(w)) {
			t.Errorf("channel %q: head %d, attempts %d, messages %q; want %d, %d, %q",
				name, g.Head, g.Attempts, messages(g), w.Head, w.Attempts, messages(w))
		}
	}
	if len(got.DeadLetters) != len(want.DeadLetters) {
		t.Errorf("dead letters: %+v, want %+v", got.DeadLetters, want.DeadLetters)
		return
	}
	for i, w := range want.DeadLetters {
		g := got.DeadLetters[i]
		if !g.Time.Equal(w.Time) {
			t.Errorf("dead letter %d: time %v, want %v", w.ID, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("dead letter %d: %+v, want %+v", w.ID, g, w)
		}
	}
}

// TestConsumedRunsAreDeleted runs a channel for many cycles of produce
// and consume and checks that the file stops growing.
func TestConsumedRunsAreDeleted(t *testing.T) {
	st := openT(t, t.TempDir())
	load(t, st)
	payload := strings.Repeat("x", 100)
	const perCycle = 50
	var next uint64
	cycle := func() {
		msgs := make([]string, perCycle)
		for i := range msgs {
			msgs[i] = payload
		}
		commit(t, st, &store.Batch{Appends: []store.Append{run("nums", next, msgs...)}})
		next += perCycle
		commit(t, st, &store.Batch{Heads: map[string]uint64{"nums": next}})
	}
	size := func() int64 {
		fi, err := os.Stat(st.Path())
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	for range 50 {
		cycle()
	}
	warm := size()
	for range 500 {
		cycle()
	}
	if got := size(); got > warm {
		t.Errorf("file grew from %d to %d bytes over 500 cycles that consumed all they produced", warm, got)
	}
	st = reopen(t, st)
	img := load(t, st)
	if ci := img.Channels["nums"]; ci == nil || ci.Head != next || len(ci.Messages) != 0 {
		t.Errorf("nums = %+v, want head %d and no messages", ci, next)
	}
	if keys := runKeys(t, st, "nums"); len(keys) != 0 {
		t.Errorf("runs left: %v, want none", keys)
	}
}

func TestShapeMismatch(t *testing.T) {
	dir := t.TempDir()
	st := openT(t, dir)
	load(t, st)
	commit(t, st, &store.Batch{States: map[string][]byte{"gen": []byte("g")}})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	before := fileHash(t, path)

	for _, tc := range []struct {
		name   string
		change func(*store.Shape)
		want   string
	}{
		{"actor added", func(s *store.Shape) { s.Actors = append(s.Actors, "log") }, `actor "log" is not in the file`},
		{"actor removed", func(s *store.Shape) { s.Actors = s.Actors[1:] }, `actor "gen" in the file is not in the graph`},
		{"channel added", func(s *store.Shape) { s.Channels = append(s.Channels, store.Entity{Name: "x", Type: "int"}) }, `channel "x" is not in the file`},
		{"channel removed", func(s *store.Shape) { s.Channels = s.Channels[:1] }, `channel "words" in the file is not in the graph`},
		{"channel type", func(s *store.Shape) { s.Channels[0].Type = "int64" }, `channel "nums" has type int64, file has uint64`},
		{"state added", func(s *store.Shape) { s.States = append(s.States, store.Entity{Name: "log", Type: "main.Log"}) }, `state "log" is not in the file`},
		{"state removed", func(s *store.Shape) { s.States = s.States[1:] }, `state "gen" in the file is not in the graph`},
		{"state type", func(s *store.Shape) { s.States[0].Type = "main.GenV2" }, `state "gen" has type main.GenV2, file has main.Gen`},
		{"two at once", func(s *store.Shape) { s.States[0].Type = "main.GenV2"; s.Actors = append(s.Actors, "log") },
			`actor "log" is not in the file; state "gen" has type main.GenV2, file has main.Gen`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openT(t, dir)
			shape := testShape()
			tc.change(&shape)
			_, err := st.Load(shape)
			if !errors.Is(err, store.ErrShape) || !strings.HasSuffix(err.Error(), path+": "+tc.want) {
				t.Errorf("Load = %v, want store.ErrShape ending %q", err, path+": "+tc.want)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if fileHash(t, path) != before {
				t.Error("a refused Load changed the file")
			}
		})
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	first := openT(t, dir)
	// bbolt waits for the lock with time.Sleep; in a bubble, the wait
	// takes no real time and its length can be checked exactly.
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		st, err := Open(dir, nil)
		waited := time.Since(start)
		if err == nil {
			_ = st.Close()
			t.Fatal("second Open of the same directory succeeded")
		}
		if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), first.Path()) {
			t.Errorf("second Open = %v, want store.ErrLocked naming %s", err, first.Path())
		}
		if waited < DefaultLockTimeout-50*time.Millisecond || waited > DefaultLockTimeout {
			t.Errorf("waited %v for the lock, want about %v", waited, DefaultLockTimeout)
		}
		start = time.Now()
		if _, err := Open(dir, &Options{LockTimeout: -1}); !errors.Is(err, store.ErrLocked) || time.Since(start) != 0 {
			t.Errorf("Open with a negative LockTimeout = %v after %v, want store.ErrLocked at once", err, time.Since(start))
		}
	})
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = st.Close()
}

func TestCommitRefusesWhatLoadWouldNot(t *testing.T) {
	st := openT(t, t.TempDir())
	load(t, st)
	commit(t, st, &store.Batch{Appends: []store.Append{run("nums", 0, "a", "b")}, Heads: map[string]uint64{"words": 4}})
	before := fileHash(t, st.Path())
	for _, tc := range []struct {
		name string
		b    *store.Batch
		want string
	}{
		{"a gap", &store.Batch{Appends: []store.Append{run("nums", 3, "d")}}, "does not continue the channel, which ends at 2"},
		{"an overlap", &store.Batch{Appends: []store.Append{run("nums", 1, "b")}}, "does not continue the channel, which ends at 2"},
		{"not from the head", &store.Batch{Appends: []store.Append{run("words", 0, "a")}}, "does not continue the channel, which ends at 4"},
		{"a gap within the batch", &store.Batch{Appends: []store.Append{run("nums", 2, "c"), run("words", 4, "e"), run("nums", 4, "e")}},
			"does not continue the channel, which ends at 3"},
		{"no messages", &store.Batch{Appends: []store.Append{{Channel: "nums", First: 2}}}, "an append of 0 messages"},
		{"a head moving back", &store.Batch{Heads: map[string]uint64{"words": 3}}, "the head moves back from 4 to 3"},
		{"a state not in the shape", &store.Batch{States: map[string][]byte{"ghost": nil}}, `state "ghost" is not in the shape`},
		{"a channel not in the shape", &store.Batch{Appends: []store.Append{run("ghost", 0, "a")}}, `channel "ghost" is not in the shape`},
		{"a head not in the shape", &store.Batch{Heads: map[string]uint64{"ghost": 1}}, `channel "ghost" is not in the shape`},
		{"attempts not in the shape", &store.Batch{Attempts: map[string]int{"ghost": 1}}, `channel "ghost" is not in the shape`},
		{"an actor not in the shape", &store.Batch{Actors: map[string][]byte{"ghost": {1}}}, `actor "ghost" is not in the shape`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := st.Commit(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Commit = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if fileHash(t, st.Path()) != before {
		t.Error("a refused Commit changed the file")
	}
	if err := st.Commit(&store.Batch{}); err != nil || fileHash(t, st.Path()) != before {
		t.Errorf("empty Commit = %v, or it changed the file", err)
	}
}

func TestCommitBeforeLoad(t *testing.T) {
	st := openT(t, t.TempDir())
	err := st.Commit(&store.Batch{States: map[string][]byte{"gen": nil}})
	if err == nil || !strings.Contains(err.Error(), "before Load") {
		t.Errorf("Commit before Load = %v, want an error saying it came before Load", err)
	}
}

// TestReset: Reset under the lock empties the file; the next Load is
// fresh, whatever shape it asks for. After Load it is refused.
func TestReset(t *testing.T) {
	dir := t.TempDir()
	shape := store.Shape{Actors: []string{"a"}, States: []store.Entity{{Name: "s", Type: "int"}}}
	b, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(shape); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(&store.Batch{States: map[string][]byte{"s": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Reset(); err == nil {
		t.Error("Reset after Load succeeded")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Reset(); err != nil {
		t.Fatal(err)
	}
	other := store.Shape{Actors: []string{"other"}}
	img, err := b.Load(other)
	if err != nil {
		t.Fatalf("Load after Reset: %v", err)
	}
	if !img.Fresh || len(img.States) != 0 {
		t.Errorf("after Reset: fresh %v, states %v", img.Fresh, img.States)
	}
}
