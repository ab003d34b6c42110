package steady_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/store"
	"github.com/steady-go/steady/store/bolt"
)

// TestDurableCrashesExactlyOnce kills the chaos pipeline (panics at every
// point of every stage's steps) again and again, keeping only what its
// store had made durable at that instant, and resumes it each time. The
// sink must still see every value exactly once, in order: a message it
// consumed that a crash took back would come again and count as wrong.
//
// The crashes strike as the sink's durable progress passes points spread
// over the stream, each a random distance past the last, so that they land
// in mid-stream however fast the machine is.
func TestDurableCrashesExactlyOnce(t *testing.T) {
	const crashes = 20
	for _, tc := range []struct {
		name  string
		batch int
		p     float64
	}{
		{"single", 1, 0.004},
		{"batch", 64, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := uint64(100_000)
			if testing.Short() {
				n = 20_000
			}
			rng := rand.New(rand.NewPCG(42, 1))
			st := newMemStore()
			step := n / (crashes + 5)
			midway := 0
			for k := range uint64(crashes) {
				cfg := quiet()
				cfg.Store = st
				pl := newChaosPipeline(cfg, n, tc.batch, tc.p)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- pl.g.Run(ctx) }()
				target := k*step + rng.Uint64N(step)
				deadline := time.Now().Add(10 * time.Second)
				for durableSink(t, st).Next < target && time.Now().Before(deadline) {
					time.Sleep(50 * time.Microsecond)
				}
				disk := st.crash() // what kill -9 would leave now
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("run %d: %v", k, err)
				}
				if got := pl.sink.Value(); got.Wrong != 0 {
					t.Fatalf("run %d: sink saw %d values out of order or twice", k, got.Wrong)
				}
				if next := durableSink(t, disk).Next; next > 0 && next < n {
					midway++
				}
				st = disk
			}
			cfg := quiet()
			cfg.Store = st
			pl := newChaosPipeline(cfg, n, tc.batch, tc.p)
			if err := pl.g.Run(context.Background()); err != nil {
				t.Fatalf("final run: %v", err)
			}
			if !pl.g.Resumed() {
				t.Error("the final run did not resume")
			}
			got := pl.sink.Value()
			if got.Next != n || got.Wrong != 0 {
				t.Errorf("sink: next %d (want %d), %d out of order or repeated", got.Next, n, got.Wrong)
			}
			for i, c := range pl.committed() {
				if c != n {
					t.Errorf("stage %d committed %d messages over all runs, want %d", i, c, n)
				}
			}
			if dl := pl.g.DeadLetters(); len(dl) > 0 {
				t.Errorf("%d dead letters, first: %v", len(dl), dl[0].Err)
			}
			if midway < crashes-1 {
				t.Errorf("only %d of %d crashes hit the pipeline in mid-stream", midway, crashes)
			}
			t.Logf("%d crashes (%d mid-stream), %d messages", crashes, midway, n)
		})
	}
}

// durableSink is the sink's state as the store holds it.
func durableSink(t *testing.T, m *memStore) sinkState {
	t.Helper()
	m.mu.Lock()
	b := m.states["sink"]
	m.mu.Unlock()
	var s sinkState
	if b != nil {
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// counterGraph is an actor that adds one to its state per step, n steps
// per run, then finishes.
func counterGraph(cfg steady.Config, n int) (*steady.Graph, *steady.State[uint64]) {
	g := steady.NewGraph(cfg)
	st := steady.NewState(g, "count", uint64(0))
	a := g.Actor("counter", func(a *steady.Actor) error {
		for range n {
			if err := a.Step(func(s *steady.Step) error { *st.Get(s)++; return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	st.Bind(a)
	return g, st
}

func TestDurableStateResumes(t *testing.T) {
	ms := newMemStore()
	for run := 1; run <= 3; run++ {
		cfg := quiet()
		cfg.Store = ms
		g, st := counterGraph(cfg, 100)
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, want := st.Value(), uint64(100*run); got != want {
			t.Fatalf("run %d: count %d, want %d", run, got, want)
		}
		if g.Resumed() != (run > 1) {
			t.Errorf("run %d: Resumed() = %v", run, g.Resumed())
		}
	}
}

// sinkRig is a source → values → sink graph: the source sends 0..9 (and,
// with linger, then waits for the shutdown, so that the sink is still there
// for a replay); the sink fails on each value poison reports, quarantined
// after 2 attempts, under a policy opts change.
type sinkRig struct {
	g   *steady.Graph
	ch  *steady.Channel[uint64]
	got *steady.State[[]uint64]
}

func newSinkRig(cfg steady.Config, linger bool, poison func(uint64) bool, opts ...steady.ActorOption) *sinkRig {
	g := steady.NewGraph(cfg)
	r := &sinkRig{g: g, ch: steady.NewChannel[uint64](g, poisonChan, 16), got: steady.NewState(g, "got", []uint64{})}
	sent := steady.NewState(g, "sent", uint64(0))
	var out *steady.Sender[uint64]
	src := g.Actor("source", func(a *steady.Actor) error {
		err := steady.Source(a, out, func(s *steady.Step) (uint64, bool, error) {
			v := sent.Get(s)
			if *v == 10 {
				return 0, false, nil
			}
			*v++
			return *v - 1, true, nil
		})
		if err != nil || !linger {
			return err
		}
		return a.Sleep(time.Hour)
	})
	out = r.ch.Sender(src)
	sent.Bind(src)
	var in *steady.Receiver[uint64]
	sink := g.Actor("sink", func(a *steady.Actor) error {
		return steady.Sink(a, in, func(s *steady.Step, v uint64) error {
			if poison != nil && poison(v) {
				return fmt.Errorf("%d is poison", v)
			}
			l := r.got.Get(s)
			*l = append(*l, v)
			return nil
		})
	}, append([]steady.ActorOption{steady.Backoff(0, 0), steady.PoisonAfter(2)}, opts...)...)
	in = r.ch.Receiver(sink)
	r.got.Bind(sink)
	return r
}

func TestDurableDeadLettersSurvive(t *testing.T) {
	ms := newMemStore()
	cfg := quiet()
	cfg.Store = ms
	var pass atomic.Bool // lets 5 through, for the replay
	poison := func(v uint64) bool { return v == 5 && !pass.Load() }
	g := newSinkRig(cfg, false, poison).g
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dl := g.DeadLetters(); len(dl) != 1 || dl[0].Value != uint64(5) {
		t.Fatalf("first run: dead letters %v, want the one of 5", dl)
	}

	// A new process sees the dead letter, with its details, and can replay it.
	pass.Store(true)
	r2 := newSinkRig(cfg, true, poison)
	g2, got := r2.g, r2.got
	dl := g2.DeadLetters() // loaded by Run; empty before
	if len(dl) != 0 {
		t.Fatalf("dead letters before Run: %v", dl)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g2.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(g2.DeadLetters()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	dl = g2.DeadLetters()
	if len(dl) != 1 || dl[0].Value != uint64(5) || dl[0].Attempts != 2 || dl[0].Actor != "sink" ||
		dl[0].Channel != "values" || !strings.Contains(dl[0].Err.Error(), "5 is poison") {
		t.Fatalf("second run: dead letters %+v", dl)
	}
	if err := g2.Replay(dl[0].ID); err != nil {
		t.Fatal(err)
	}
	for !containsValue(got.Value(), 5) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := got.Value(); len(v) != 10 || !containsValue(v, 5) {
		t.Fatalf("second run: sink holds %v, want 0..9 with 5 replayed", v)
	}

	// The replay was committed with the step that consumed it.
	r3 := newSinkRig(cfg, false, poison)
	g3, got3 := r3.g, r3.got
	if err := g3.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dl := g3.DeadLetters(); len(dl) != 0 {
		t.Errorf("third run: dead letters %v, want none", dl)
	}
	if v := got3.Value(); len(v) != 10 {
		t.Errorf("third run: sink holds %v", v)
	}
}

func containsValue(xs []uint64, v uint64) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

// hidden has a field JSON would silently drop.
type hidden struct {
	Shown  int
	secret int
}

func (h hidden) sum() int { return h.Shown + h.secret }

func TestDurableRefusesTypesItCannotPersist(t *testing.T) {
	ms := newMemStore()
	cfg := quiet()
	cfg.Store = ms
	g := steady.NewGraph(cfg)
	st := steady.NewState(g, "h", hidden{secret: 1})
	_ = st.Value().sum()
	a := g.Actor("a", func(a *steady.Actor) error { return nil })
	st.Bind(a)
	err := g.Run(context.Background())
	if !errors.Is(err, steady.ErrWiring) || !strings.Contains(err.Error(), "hidden.secret") {
		t.Fatalf("Run: %v, want a wiring error naming hidden.secret", err)
	}
	if ms.shape != nil {
		t.Error("the store was written to")
	}
}

// counterRan runs a durable counterGraph of n steps on a fresh memStore
// and returns the store and the config, for a second graph to resume from.
func counterRan(t *testing.T, n int) (*memStore, steady.Config) {
	t.Helper()
	ms := newMemStore()
	cfg := quiet()
	cfg.Store = ms
	g, _ := counterGraph(cfg, n)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ms, cfg
}

func TestDurableShapeChange(t *testing.T) {
	_, cfg := counterRan(t, 1)
	g2 := steady.NewGraph(cfg)
	st := steady.NewState(g2, "count", "") // a string now
	st.Bind(g2.Actor("counter", func(a *steady.Actor) error { return nil }))
	if err := g2.Run(context.Background()); !errors.Is(err, store.ErrShape) {
		t.Fatalf("Run: %v, want store.ErrShape", err)
	}
}

func TestDurableStateThatNoLongerDecodes(t *testing.T) {
	ms, cfg := counterRan(t, 1)
	ms.states["count"] = []byte("garbage") // as a codec change would leave it
	g2, _ := counterGraph(cfg, 1)
	err := g2.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `steady: cannot resume from the store: state "count" in memory store no longer decodes as uint64`) {
		t.Fatalf("Run: %v", err)
	}
}

func TestDurableCommitFailureStopsTheGraph(t *testing.T) {
	ms := newMemStore()
	ms.failNext = errors.New("disk on fire")
	cfg := quiet()
	cfg.Store = ms
	g, _ := counterGraph(cfg, 1000)
	err := g.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Run: %v, want the commit's failure", err)
	}
	if ds := *g.Snapshot().Durable; ds.Err == nil {
		t.Error("Snapshot().Durable.Err is nil")
	}
}

// TestLoadBeforeRun: Load shows what an earlier run left before any actor
// runs, seals the graph, and Run carries on from it.
func TestLoadBeforeRun(t *testing.T) {
	_, cfg := counterRan(t, 7)
	g2, st := counterGraph(cfg, 7)
	if err := g2.Load(); err != nil {
		t.Fatal(err)
	}
	if got := st.Value(); got != 7 || !g2.Resumed() {
		t.Fatalf("after Load: count %d, resumed %v; want 7, true", got, g2.Resumed())
	}
	if a := g2.Actor("late", func(*steady.Actor) error { return nil }); !errors.Is(a.Err(), steady.ErrGraphRunning) {
		t.Errorf("adding an actor after Load: %v, want ErrGraphRunning", a.Err())
	}
	// The refused actor is not part of the graph Load sealed.
	if err := g2.Run(context.Background()); err != nil {
		t.Fatalf("Run after Load: %v", err)
	}
	if got := st.Value(); got != 14 {
		t.Errorf("after Run: count %d, want 14", got)
	}
	if err := g2.Load(); !errors.Is(err, steady.ErrGraphRunning) {
		t.Errorf("Load after Run: %v, want ErrGraphRunning", err)
	}
}

// fileSum is the SHA-256 of the file at path.
func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// runGenerator runs one actor that adds one to its state's Next 10 times,
// on the bbolt store in dir, with the state type T (its %T must be the same
// for every T a test uses, for the shape to match).
func runGenerator[T any](t *testing.T, dir string, step func(*T)) error {
	t.Helper()
	st, err := bolt.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := quiet()
	cfg.Store = st
	g := steady.NewGraph(cfg)
	state := steady.NewState(g, "gen", *new(T))
	a := g.Actor("gen", func(a *steady.Actor) error {
		for range 10 {
			if err := a.Step(func(s *steady.Step) error { step(state.Get(s)); return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	state.Bind(a)
	return g.Run(context.Background())
}

// TestDurableStateTypeChangedOnDisk: a state type whose fields changed
// under the same name no longer decodes from a real state file: Run fails
// with ErrLoad naming the state, the file and the type, and the file is
// byte-for-byte unchanged.
func TestDurableStateTypeChangedOnDisk(t *testing.T) {
	dir := t.TempDir()
	{
		type genState struct{ Next uint64 }
		if err := runGenerator(t, dir, func(v *genState) { v.Next++ }); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, bolt.FileName)
	before := fileSum(t, path)
	{
		type genState struct{ Next string } // same name, another field type
		err := runGenerator(t, dir, func(v *genState) { v.Next += "x" })
		if !errors.Is(err, steady.ErrLoad) || !strings.Contains(err.Error(), `state "gen"`) ||
			!strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no longer decodes as steady_test.genState") {
			t.Fatalf("Run: %v; want ErrLoad naming the state, the file and the type", err)
		}
	}
	if fileSum(t, path) != before {
		t.Error("the state file changed")
	}
}

// batchWatch is a memStore that notes whether a batch ever carried the
// states of two actors.
type batchWatch struct {
	*memStore
	mixed atomic.Bool
}

func (b *batchWatch) Commit(batch *store.Batch) error {
	time.Sleep(2 * time.Millisecond) // a slow fsync, so steps pile up
	if len(batch.States) > 1 {
		b.mixed.Store(true)
	}
	return b.memStore.Commit(batch)
}

// TestDurableGroupCommit: steps of different actors share commits, and
// many steps go in one commit while the previous one is being written.
func TestDurableGroupCommit(t *testing.T) {
	bw := &batchWatch{memStore: newMemStore()}
	cfg := quiet()
	cfg.Store = bw
	g := steady.NewGraph(cfg)
	// Each actor steps at least 200 times, and on until a commit carried
	// both (or 5 s passed), so a busy machine running one actor's steps
	// before the other's starts cannot make the test pass or fail by luck.
	const minSteps = 200
	deadline := time.Now().Add(5 * time.Second)
	var total atomic.Int64
	for _, name := range []string{"a", "b"} {
		st := steady.NewState(g, name, 0)
		a := g.Actor(name, func(a *steady.Actor) error {
			for i := 0; i < minSteps || !bw.mixed.Load() && time.Now().Before(deadline); i++ {
				if err := a.Step(func(s *steady.Step) error { *st.Get(s)++; return nil }); err != nil {
					return err
				}
				total.Add(1)
			}
			return nil
		})
		st.Bind(a)
	}
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ds := *g.Snapshot().Durable
	if ds.Steps != total.Load() || ds.Batches > ds.Steps/10 {
		t.Errorf("%d steps in %d commits; want %d steps, at least 10 a commit", ds.Steps, ds.Batches, total.Load())
	}
	if !bw.mixed.Load() {
		t.Error("no commit carried the steps of both actors")
	}
}
