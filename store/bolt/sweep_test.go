package bolt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store"
	"github.com/steady-go/steady/store/bolt"
)

// The damaged-file sweep: one small state file, written by the store,
// damaged thousands of ways, each opened and run on by a real durable
// graph. The rule each must meet: either refused before anything is
// written (Open or Load fails with store.ErrCorrupt, or ErrShape for
// another graph's file, and the file is byte for byte as it was), or
// accepted with what it holds intact (Load returns exactly the image of
// the undamaged file) and a run on it that is right (every value once,
// the file still sound afterwards and not grown past what the same run
// needs on the undamaged file). Never a crash, a hang, or a failed write.
// It is package store_test, not store, because it runs a steady graph.

// sinkState is the sink's state: every value below Next arrived once, in
// order, but for those counted in Wrong.
type sinkState struct {
	Next  uint64
	Wrong uint64
}

// quiet is a graph configuration that logs nothing.
func quiet() steady.Config {
	return steady.Config{Logger: slog.New(slog.DiscardHandler), Seed: 1}
}

// The sweep's state file (sweepBase) holds what the sweep's graph leaves
// after sending sweepFirstGen values, one a step, so that the unconsumed
// ones fill a channel's runs past one page (a branch page over leaves), and
// consuming them up to sweepFirstStop, quarantining sweepPoison. The run on
// each damaged file sends values up to sweepLimit and consumes them all.
const (
	sweepCapacity  = 512
	sweepFirstGen  = 400
	sweepFirstStop = 100
	sweepPoison    = 7
	sweepLimit     = 420
	sweepBatch     = 64
)

// sweepGraph builds the sweep's graph on cfg: gen sends values up to
// sweepLimit into nums, in steps of up to sweepBatch; sink takes them
// until nums is closed, counting those out of order.
func sweepGraph(cfg steady.Config) (*steady.Graph, *steady.State[sinkState]) {
	g := steady.NewGraph(cfg)
	nums := steady.NewChannel[uint64](g, "nums", sweepCapacity)
	gen := steady.NewState(g, "gen", uint64(0))
	sink := steady.NewState(g, "sink", sinkState{})

	var out *steady.Sender[uint64]
	ga := g.Actor("gen", func(a *steady.Actor) error {
		return steady.SourceBatch(a, out, sweepBatch, func(s *steady.Step, buf []uint64) (int, bool, error) {
			next := gen.Get(s)
			k := min(uint64(len(buf)), sweepLimit-*next)
			for i := range k {
				buf[i] = *next + i
			}
			*next += k
			return int(k), *next < sweepLimit, nil
		})
	})
	out = nums.Sender(ga)
	gen.Bind(ga)

	var in *steady.Receiver[uint64]
	sa := g.Actor("sink", func(a *steady.Actor) error {
		return steady.SinkBatch(a, in, sweepBatch, func(s *steady.Step, vs []uint64) error {
			st := sink.Get(s)
			for _, v := range vs {
				if v != st.Next {
					st.Wrong++
				}
				st.Next = v + 1
			}
			return nil
		})
	})
	in = nums.Receiver(sa)
	sink.Bind(sa)
	return g, sink
}

// recordingStore keeps the image Load returned.
type recordingStore struct {
	*bolt.Store
	img *store.Image
}

func (r *recordingStore) Load(shape store.Shape) (*store.Image, error) {
	img, err := r.Store.Load(shape)
	r.img = img
	return img, err
}

// sweepRun opens dir's store and runs the sweep's graph on it, returning
// the image Load found and what the run left.
func sweepRun(dir string) (img *store.Image, sink sinkState, dead []observe.DeadLetter, err error) {
	st, err := bolt.Open(dir, &bolt.Options{NoSync: true})
	if err != nil {
		return nil, sink, nil, err
	}
	defer st.Close()
	rs := &recordingStore{Store: st}
	cfg := quiet()
	cfg.Store = rs
	g, s := sweepGraph(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = g.Run(ctx)
	if ctx.Err() != nil {
		err = errors.Join(err, errors.New("the run hung"))
	}
	return rs.img, s.Value(), g.DeadLetters(), err
}

// sweepBase writes the sweep's state file in dir with the store's own
// calls, one commit per step, as the graph would: gen sends each value in a
// step of its own, sink consumes them in steps of four and quarantines the
// poison after two attempts. (The graph itself would not write the same
// pages twice: its committer groups steps as the scheduler lets it.)
func sweepBase(t *testing.T, dir string) {
	t.Helper()
	ss := &shapeStore{}
	cfg := quiet()
	cfg.Store = ss
	if g, _ := sweepGraph(cfg); !errors.Is(g.Load(), errShapeOnly) {
		t.Fatal("no shape")
	}
	st, err := bolt.Open(dir, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Load(ss.shape); err != nil {
		t.Fatal(err)
	}
	num, _ := steady.DefaultCodec[uint64]()
	sc, _ := steady.DefaultCodec[sinkState]()
	enc := func(v uint64) []byte { b, _ := num.Append(nil, v); return b }
	encSink := func(next uint64) []byte { b, _ := sc.Append(nil, sinkState{Next: next}); return b }
	commit := func(b *store.Batch) {
		t.Helper()
		if err := st.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
	head := uint64(0)
	for v := range uint64(sweepFirstGen) {
		commit(&store.Batch{
			States:  map[string][]byte{"gen": enc(v + 1)},
			Appends: []store.Append{{Channel: "nums", First: v, Count: 1, Data: store.AppendFrame(nil, enc(v))}},
		})
		for head < sweepFirstStop && head+4 <= v+1 {
			b := &store.Batch{States: map[string][]byte{"sink": encSink(head + 4)}, Heads: map[string]uint64{"nums": head + 4}}
			if head <= sweepPoison && sweepPoison < head+4 {
				// The step fails on the poison: an attempt, then the
				// quarantine of that message alone, then the rest.
				commit(&store.Batch{Attempts: map[string]int{"nums": 1}})
				commit(&store.Batch{
					Heads: map[string]uint64{"nums": sweepPoison + 1}, Attempts: map[string]int{"nums": 0},
					AddDeadLetters: []store.DeadLetter{{ID: 1, Actor: "sink", Channel: "nums", Value: enc(sweepPoison),
						Err: "poison", Attempts: 2, Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}},
					LastDeadLetterID: 1,
				})
			}
			commit(b)
			head += 4
		}
	}
}

// shapeStore records the shape a graph loads with, and refuses it.
type shapeStore struct{ shape store.Shape }

var errShapeOnly = errors.New("only the shape was wanted")

func (s *shapeStore) Load(shape store.Shape) (*store.Image, error) {
	s.shape = shape
	return nil, errShapeOnly
}
func (*shapeStore) Commit(*store.Batch) error { return errShapeOnly }
func (*shapeStore) String() string            { return "shape store" }

// damaged is one way of damaging the file: damage returns the damaged
// file, given a copy of the undamaged one.
type damaged struct {
	name   string
	damage func(b []byte) []byte
}

func TestDamagedFileSweep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, bolt.FileName)
	sweepBase(t, dir)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pages := bolt.LivePages(t, path)
	if !slices.ContainsFunc(pages, func(id int) bool { return id > 1 }) {
		t.Fatal("no pages in use besides the meta pages")
	}
	// The second run on the undamaged file: the image every accepted file
	// must load, and the size of the file after it.
	want, sink, _, err := sweepRun(dir)
	if err != nil || sink.Next != sweepLimit || sink.Wrong != 0 {
		t.Fatalf("the run on the undamaged file: %v, sink %+v", err, sink)
	}
	fullSize := bolt.FileSize(t, path)
	cases := sweepCases(t, orig, pages)

	var refused, accepted, failures int
	for _, c := range cases {
		if failures >= 20 {
			t.Fatal("too many failures; stopping")
		}
		b := c.damage(bytes.Clone(orig))
		bolt.WriteFile(t, path, b)
		img, sink, dead, err := sweepRun(dir)
		if err != nil {
			after, _ := os.ReadFile(path)
			switch {
			case !errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrShape):
				t.Errorf("%s: %v; want store.ErrCorrupt, or the run to succeed", c.name, err)
				failures++
			case !bytes.Equal(after, b):
				t.Errorf("%s: refused (%v), but the file was changed", c.name, err)
				failures++
			default:
				refused++
			}
			continue
		}
		accepted++
		var problems []string
		if !reflect.DeepEqual(img, want) {
			problems = append(problems, "Load returned another image than the undamaged file's")
		}
		if sink.Next != sweepLimit || sink.Wrong != 0 || len(dead) != 1 || dead[0].Value != uint64(sweepPoison) {
			problems = append(problems, fmt.Sprintf("sink %+v with %d dead letters; want every value below %d once but %d, dead-lettered",
				sink, len(dead), sweepLimit, sweepPoison))
		}
		// bbolt grows a small file by doubling it, and how far a run's
		// commits push its high-water mark depends on how the committer
		// grouped them: allow one doubling past the undamaged run's size.
		if size := bolt.FileSize(t, path); size > 2*max(fullSize, int64(len(orig))) {
			problems = append(problems, fmt.Sprintf("the file grew to %d bytes; the same run left the undamaged file at %d", size, fullSize))
		}
		if err := openLoad(dir); err != nil {
			problems = append(problems, fmt.Sprintf("reopened after the run: %v", err))
		}
		if len(problems) > 0 {
			t.Errorf("%s: accepted, but %v", c.name, problems)
			failures++
		}
	}
	if refused == 0 || accepted == 0 {
		t.Errorf("%d refused and %d accepted: the sweep cannot tell the checks work", refused, accepted)
	}
	t.Logf("%d damaged files (%d live pages of %d): %d refused, %d accepted intact", len(cases), len(pages), len(orig)/os.Getpagesize(), refused, accepted)
}

// sweepCases lists the damaged copies of orig: every byte of the header of
// every page in use and of the meta pages' meta, flipped three ways; a
// sample of the other bytes of each page in use; truncations; zeros and
// noise, over the file and over each page in use; a foreign bbolt file;
// another graph's state file.
func sweepCases(t *testing.T, orig []byte, pages []int) []damaged {
	t.Helper()
	pageSize := os.Getpagesize()
	r := rand.New(rand.NewPCG(12, 1))
	var cs []damaged
	add := func(name string, damage func(b []byte) []byte) { cs = append(cs, damaged{name, damage}) }
	flip := func(name string, at int, x byte) {
		add(fmt.Sprintf("%s: byte %d ^ %#02x", name, at, x), func(b []byte) []byte { b[at] ^= x; return b })
	}
	const headerSize, metaEnd = 16, 16 + 64
	for _, p := range pages {
		end := headerSize
		if p < 2 {
			end = metaEnd
		}
		for i := range end {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				flip(fmt.Sprintf("page %d's header", p), p*pageSize+i, x)
			}
		}
		for range 130 {
			flip(fmt.Sprintf("page %d", p), p*pageSize+end+r.IntN(pageSize-end), byte(1+r.IntN(255)))
		}
	}
	// (Not to 0 bytes: an empty file is a new one, as bbolt leaves it if
	// the process dies as it creates the file.)
	hwm := (pages[len(pages)-1] + 1) * pageSize
	for _, n := range []int{1, 16, 100, pageSize - 1, pageSize, pageSize + 100, 2 * pageSize, 3 * pageSize,
		hwm / 2, hwm - pageSize, hwm - 1, hwm, len(orig) - 1} {
		add(fmt.Sprintf("truncated to %d bytes", n), func(b []byte) []byte { return b[:n] })
	}
	noise := func(seed uint64) func(b []byte) []byte {
		return func(b []byte) []byte {
			_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
			return b
		}
	}
	add("zeros", func(b []byte) []byte { clear(b); return b })
	add("noise", noise(1))
	for _, p := range pages {
		page := func(b []byte) []byte { return b[p*pageSize : (p+1)*pageSize] }
		add(fmt.Sprintf("page %d zeroed", p), func(b []byte) []byte { clear(page(b)); return b })
		add(fmt.Sprintf("page %d noise", p), func(b []byte) []byte { noise(uint64(p) + 2)(page(b)); return b })
	}
	foreign, other := foreignFile(t), otherGraphFile(t)
	add("a foreign bbolt file", func([]byte) []byte { return foreign })
	return append(cs, damaged{"another graph's file", func([]byte) []byte { return other }})
}

// foreignFile is a bbolt file of another program.
func foreignFile(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("w1"), []byte("blue"))
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// otherGraphFile is the state file of another graph, with a state of
// the same name and another type.
func otherGraphFile(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(dir, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Load(store.Shape{Actors: []string{"counter"}, States: []store.Entity{{Name: "gen", Type: "string"}}})
	if err == nil {
		err = st.Commit(&store.Batch{States: map[string][]byte{"gen": []byte("ten")}})
	}
	if err := errors.Join(err, st.Close()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openLoad opens dir's store and loads it for the sweep's graph.
func openLoad(dir string) error {
	st, err := bolt.Open(dir, nil)
	if err != nil {
		return err
	}
	cfg := quiet()
	cfg.Store = st
	g, _ := sweepGraph(cfg)
	return errors.Join(g.Load(), st.Close())
}
