package jsbridge_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/jsbridge"
	"github.com/steady-go/steady/store"
	"github.com/steady-go/steady/store/bolt"
)

// gatedStore holds every Commit while its gate is shut, as a slow disk
// would.
type gatedStore struct {
	store.Store
	mu   sync.Mutex
	open *sync.Cond
	shut bool
}

func newGatedStore(st store.Store) *gatedStore {
	g := &gatedStore{Store: st}
	g.open = sync.NewCond(&g.mu)
	return g
}

func (g *gatedStore) set(shut bool) {
	g.mu.Lock()
	g.shut = shut
	g.mu.Unlock()
	g.open.Broadcast()
}

// gatedConfig is a durable graph's configuration on a new store in a
// temporary directory, behind a gate.
func gatedConfig(t testing.TB) (steady.Config, *gatedStore) {
	bolt, err := bolt.Open(t.TempDir(), &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bolt.Close() })
	gs := newGatedStore(bolt)
	cfg := quiet()
	cfg.Store = gs
	return cfg, gs
}

func (g *gatedStore) Commit(b *store.Batch) error {
	g.mu.Lock()
	for g.shut {
		g.open.Wait()
	}
	g.mu.Unlock()
	return g.Store.Commit(b)
}

// The inbound bridge of a durable graph acknowledges a message only once
// the step that took it is in the store: while commits are held, the
// consumer's acknowledgement floor does not move, however many values the
// bridge took; past AckWait the server delivers those messages again, and
// the bridge drops them as redeliveries. Once commits resume, every value
// arrives once and the floor moves.
func TestAcksOnlyWhenDurable(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "VALUES", MaxBatch: 10, AckWait: 200 * time.Millisecond}
	// Fewer values than the consumer's channel holds, and the stream not
	// ended yet: the bridge takes them all and keeps fetching.
	want := seq(200)
	hold := make(chan struct{})
	pub, ob := heldPublisher(t, quiet(), nc, bc, want, 10, hold)
	waitPub := run(t, pub)
	waitFor(t, "the values to be published", func() bool { return ob.Stats().Values == 200 })

	cfg, gs := gatedConfig(t)
	con, ib, got := consumer[uint64](t, cfg, nc, bc)
	gs.set(true)
	wait := run(t, con)

	ctx := context.Background()
	js, _ := jetstream.New(nc)
	ackFloor := func() uint64 {
		c, err := js.Consumer(ctx, "VALUES", "in")
		if err != nil {
			return 0 // not created yet
		}
		return c.CachedInfo().AckFloor.Stream
	}
	waitFor(t, "the bridge to take values and the server to redeliver them", func() bool {
		return ib.Stats().Values > 0 && ib.Stats().Redeliveries > 0
	})
	if f := ackFloor(); f != 0 {
		t.Fatalf("acknowledged up to sequence %d while no commit was durable", f)
	}
	gs.set(false)
	close(hold)
	if err := waitPub(); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	if err := wait(); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	exactlyOnce(t, got.Value(), want)
	waitFor(t, "an acknowledgement once commits were durable", func() bool { return ackFloor() > 0 })
}

// An end marker closes the consumer's channel for that run, as a local
// channel's close does; a later run of both graphs on the same stores
// carries the stream on, and a consumer restarted with nothing new after
// the marker ends again at once.
func TestStreamContinuesAfterEnd(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "VALUES"}
	pubDir, conDir := t.TempDir(), t.TempDir()
	durable := func(dir string) (steady.Config, func() error) {
		st, err := bolt.Open(dir, &bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg := quiet()
		cfg.Store = st
		return cfg, st.Close
	}
	publish := func(n int) {
		t.Helper()
		cfg, closeStore := durable(pubDir)
		defer closeStore()
		g, _ := publisher(t, cfg, nc, bc, seq(n), 10)
		if err := g.Run(context.Background()); err != nil {
			t.Fatalf("publisher up to %d: %v", n, err)
		}
	}
	consume := func() []uint64 {
		t.Helper()
		cfg, closeStore := durable(conDir)
		defer closeStore()
		g, _, got := consumer[uint64](t, cfg, nc, bc)
		if err := g.Run(context.Background()); err != nil {
			t.Fatalf("consumer: %v", err)
		}
		return got.Value()
	}
	publish(50)
	exactlyOnce(t, consume(), seq(50))
	exactlyOnce(t, consume(), seq(50)) // nothing new: ends at once
	publish(100)                       // the producer resumes at 50
	exactlyOnce(t, consume(), seq(100))
}
