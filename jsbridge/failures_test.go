package jsbridge_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/jsbridge"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store/bolt"
)

// The outbound fails once after its PubAcks (per-message mode: the failed
// step stored 8 messages), then again in the middle of the catch-up that
// consumes them (narrowed to one value per step). Every value still crosses
// once; the second start does not take its own messages for another
// writer's.
func TestCatchUpInterrupted(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "VALUES", PerMessage: true, MaxBatch: 8}
	var published, peeksAfter atomic.Int64
	faults := func(p observe.FaultPoint) error {
		switch {
		case p.Name == jsbridge.FaultPublished && published.Add(1) == 2:
			panic("killed after the PubAck, before the commit")
		case p.Kind == observe.FaultPeek && p.Actor == "out" && published.Load() >= 2:
			if peeksAfter.Add(1) == 3 {
				panic("killed in the middle of the reconciliation")
			}
		}
		return nil
	}
	cfg := quiet()
	cfg.Faults = faults
	cross(t, cfg, quiet(), nc, bc, seq(40), 8, seq(40))
}

// A consuming graph restarted without a store (its position back at zero)
// does not take the stream's values a second time: its consumer has
// acknowledged past that position, and it stops with ErrPositionLost.
func TestInboundPositionLost(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "VALUES"}
	pub, _ := publisher(t, quiet(), nc, bc, seq(100), 10)
	if err := pub.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	con, _, got := consumer[uint64](t, quiet(), nc, bc)
	if err := con.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, got.Value(), seq(100))
	// The consumer process restarts without a store.
	con2, _, got2 := consumer[uint64](t, quiet(), nc, bc)
	err := con2.Run(context.Background())
	if !stopErr(err, jsbridge.ErrPositionLost) || len(got2.Value()) != 0 {
		t.Fatalf("restarted consumer without a store: Run = %v and took %d values again, want ErrPositionLost and none", err, len(got2.Value()))
	}
}

// The stream is deleted and created again while the consumer's process is
// down, and a new publisher fills it past the consumer's position. The
// consumer, restarted on its store, does not resume in the middle of the
// new stream: it stops with ErrStreamLost, saying the stream was created
// again.
func TestRecreatedStreamRefused(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "VALUES", PerMessage: true}
	conDir := t.TempDir()
	openStore := func() (steady.Config, func() error) {
		st, err := bolt.Open(conDir, &bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg := quiet()
		cfg.Store = st
		return cfg, st.Close
	}
	// The old stream: 50 values, no end marker (the old publisher is cut
	// off by a hard stop).
	hold := make(chan struct{})
	pcfg := quiet()
	pcfg.ShutdownTimeout = 200 * time.Millisecond
	old, ob := heldPublisher(t, pcfg, nc, bc, seq(50), 10, hold)
	waitOld := run(t, old)
	waitFor(t, "50 published", func() bool { return ob.Stats().Values == 50 })
	// The consumer takes them and its process stops.
	cfg, closeStore := openStore()
	con, ib, _ := consumer[uint64](t, cfg, nc, bc)
	waitCon := run(t, con)
	waitFor(t, "50 taken", func() bool { return ib.Stats().Values == 50 })
	time.Sleep(100 * time.Millisecond)
	con.Shutdown("process stops")
	if err := waitCon(); err != nil {
		t.Fatal(err)
	}
	closeStore()
	old.Shutdown("old publisher stops")
	waitOld()
	// The stream is deleted; a new publisher recreates it and publishes
	// 1000..1099.
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(context.Background(), "VALUES"); err != nil {
		t.Fatal(err)
	}
	fresh := make([]uint64, 100)
	for i := range fresh {
		fresh[i] = 1000 + uint64(i)
	}
	pub, _ := publisher(t, quiet(), nc, bc, fresh, 10)
	if err := pub.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The consumer restarts on its store.
	cfg, closeStore = openStore()
	defer closeStore()
	con2, _, got := consumer[uint64](t, cfg, nc, bc)
	err := con2.Run(context.Background())
	if !stopErr(err, jsbridge.ErrStreamLost) || !strings.Contains(err.Error(), "created again") {
		t.Fatalf("consumer on a recreated stream: Run = %v, want ErrStreamLost saying it was created again", err)
	}
	exactlyOnce(t, got.Value(), seq(50))
}

// A stream whose MaxMsgSize is below the server's maximum payload: the
// outbound sizes its frames by the smaller, and every value crosses.
func TestStreamMaxMsgSize(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	sc := jsbridge.DefaultStreamConfig()
	sc.MaxMsgSize = 4096
	bc := jsbridge.Config{Stream: "TEXT", CreateStream: &sc}
	vals := make([]string, 500)
	for i := range vals {
		vals[i] = fmt.Sprintf("%040d", i)
	}
	c := cross(t, quiet(), quiet(), nc, bc, vals, 100, vals)
	if r := c.ob.Actor().Restarts(); r != 0 {
		t.Errorf("the outbound restarted %d times: its frames did not fit", r)
	}
}

// Streams a bridge cannot work with are refused at its start, naming why,
// on both sides: retention other than limits (interest and work-queue
// retention delete messages once acknowledged, before an outbound that
// crashed after its PubAck could reconcile with them; a work queue refuses
// an ack-all consumer), and a stream that does not acknowledge publishes.
func TestUnfitStreamRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*jetstream.StreamConfig)
		want   string
	}{
		{"interest", func(c *jetstream.StreamConfig) { c.Retention = jetstream.InterestPolicy }, "retention"},
		{"work queue", func(c *jetstream.StreamConfig) { c.Retention = jetstream.WorkQueuePolicy }, "retention"},
		{"no ack", func(c *jetstream.StreamConfig) { c.NoAck = true }, "NoAck"},
		{"other subject", func(c *jetstream.StreamConfig) { c.Subjects = []string{"OTHER.>"} }, "subjects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			nc := connect(t, srv.url())
			sc := jsbridge.DefaultStreamConfig()
			sc.Name, sc.Subjects = "VALUES", []string{"VALUES.data"}
			tc.change(&sc)
			js, _ := jetstream.New(nc)
			if _, err := js.CreateStream(context.Background(), sc); err != nil {
				t.Fatal(err)
			}
			bc := jsbridge.Config{Stream: "VALUES"}
			pub, _ := publisher(t, quiet(), nc, bc, seq(10), 10)
			if err := pub.Run(context.Background()); !stopErr(err, jsbridge.ErrStreamConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("publisher: Run = %v, want ErrStreamConfig naming %q", err, tc.want)
			}
			con, _, _ := consumer[uint64](t, quiet(), nc, bc)
			if err := con.Run(context.Background()); !stopErr(err, jsbridge.ErrStreamConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("consumer: Run = %v, want ErrStreamConfig naming %q", err, tc.want)
			}
		})
	}
}

// A process that runs graphs one after another on one connection keeps no
// subscription of the outbound bridges' once their runs are over: each run
// of the bridge cleans up its JetStream publisher.
func TestOutboundLeavesNothingOnTheConnection(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	var subs, gs []int
	for i := 0; i < 5; i++ {
		g, _ := publisher(t, quiet(), nc, jsbridge.Config{Stream: fmt.Sprintf("S%d", i)}, seq(10), 10)
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		subs = append(subs, nc.NumSubscriptions())
		gs = append(gs, runtime.NumGoroutine())
	}
	if subs[4] > subs[0] {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		var stacks []string
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "jetstream") || strings.Contains(g, "steady") {
				lines := strings.Split(g, "\n")
				stacks = append(stacks, strings.Join(lines[:min(len(lines), 3)], " | "))
			}
		}
		t.Errorf("after each graph run: %v subscriptions, %v goroutines; %s", subs, gs, strings.Join(stacks, "\n"))
	}
}

// An inbound bridge restarted in its process while its graph's commits are
// held resets its consumer to its durable position, not to the position it
// committed in memory: its consumer's acknowledgement floor stays at zero,
// the messages it takes again are dropped as redeliveries, and every value
// arrives once when commits resume.
func TestRestartResetsToDurablePosition(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "VALUES", MaxBatch: 10}
	cfg, gs := gatedConfig(t)
	var taken atomic.Int64
	cfg.Faults = func(p observe.FaultPoint) error {
		if p.Name == jsbridge.FaultTaken && taken.Add(1) == 5 {
			return steady.Transient(errors.New("a broker hiccup"))
		}
		return nil
	}
	hold := make(chan struct{})
	pub, ob := heldPublisher(t, quiet(), nc, bc, seq(100), 10, hold)
	waitPub := run(t, pub)
	waitFor(t, "100 values published", func() bool { return ob.Stats().Values == 100 })
	con, ib, got := consumer[uint64](t, cfg, nc, bc)
	gs.set(true) // no commit becomes durable from here on
	wait := run(t, con)
	waitFor(t, "the restart and the redeliveries after it", func() bool {
		return ib.Stats().Resets >= 2 && ib.Stats().Redeliveries > 0
	})
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	c, err := js.Consumer(ctx, "VALUES", "in")
	if err != nil {
		t.Fatal(err)
	}
	if f := c.CachedInfo().AckFloor.Stream; f != 0 {
		t.Fatalf("with no step durable, the consumer's ack floor is %d", f)
	}
	gs.set(false)
	close(hold)
	if err := waitPub(); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, got.Value(), seq(100))
}

// Per message, a value's payload is the codec's bytes alone, so a message
// from another writer can hold a payload a bridge would decode: its missing
// Steady-First header alone tells it apart. Both a publisher that finds it
// past its position and a consumer that reaches it stop with
// ErrForeignWriter, and nothing of it is taken. The bridges' own messages
// are read by a plain consumer: the value's bytes, its index in
// Steady-First, and no message id.
func TestForeignPlainValueRefused(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	ctx := context.Background()
	bc := jsbridge.Config{Stream: "VALUES", PerMessage: true}
	pub, _ := publisher(t, quiet(), nc, bc, seq(3), 1)
	if err := pub.Run(ctx); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, "VALUES")
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if v := binary.LittleEndian.Uint64(m.Data); len(m.Data) != 8 || v != seq-1 {
			t.Errorf("message %d holds %x, want value %d's 8 bytes", seq, m.Data, seq-1)
		}
		if first := m.Header.Get("Steady-First"); first != strconv.FormatUint(seq-1, 10) {
			t.Errorf("message %d: Steady-First %q, want %d", seq, first, seq-1)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id != "" {
			t.Errorf("message %d carries a message id %q", seq, id)
		}
	}

	// A plain writer on a stream of its own, before any bridge.
	foreign := binary.LittleEndian.AppendUint64(nil, 0)
	bc = jsbridge.Config{Stream: "PLAIN", PerMessage: true}
	sc := jsbridge.DefaultStreamConfig()
	sc.Name, sc.Subjects = "PLAIN", []string{"PLAIN.data"}
	if _, err := js.CreateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "PLAIN.data", foreign); err != nil {
		t.Fatal(err)
	}
	pub, ob := publisher(t, quiet(), nc, bc, seq(3), 1)
	if err := pub.Run(ctx); !stopErr(err, jsbridge.ErrForeignWriter) {
		t.Fatalf("publisher: Run = %v, want ErrForeignWriter", err)
	}
	if n := ob.Stats().Values + ob.Stats().Skipped; n != 0 {
		t.Errorf("the publisher published or skipped %d values", n)
	}
	con, _, got := consumer[uint64](t, quiet(), nc, bc)
	if err := con.Run(ctx); !stopErr(err, jsbridge.ErrForeignWriter) {
		t.Fatalf("consumer: Run = %v, want ErrForeignWriter", err)
	}
	if n := len(got.Value()); n != 0 {
		t.Errorf("the consumer took %d values", n)
	}
}

// The step that publishes the end-of-stream marker fails: before the
// marker is sent (the bridge must try again, or the consumer never ends),
// or after it is stored (its acknowledgement lost, or the process killed
// there: the restarted bridge reconciles, finds it, and does not publish a
// second one), with a transient error or a panic. The consumer ends once,
// with every value once.
func TestEndMarkerRetried(t *testing.T) {
	transient := func() error { return steady.Transient(errors.New("the broker hiccuped")) }
	crash := func() error { panic("killed") }
	for _, tc := range []struct {
		name   string
		before bool // fail at the step's start rather than after the PubAck
		fail   func() error
	}{
		{"before/transient", true, transient},
		{"before/panic", true, crash},
		{"after/transient", false, transient},
		{"after/panic", false, crash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			nc := connect(t, srv.url())
			// Batches of 8 from a producer that commits 8 at a time: the
			// outbound's sixth step, after five FaultPublished, is the
			// marker's.
			bc := jsbridge.Config{Stream: "VALUES", MaxBatch: 8}
			var published, failed atomic.Int32
			cfg := quiet()
			cfg.Faults = func(p observe.FaultPoint) error {
				if p.Name == jsbridge.FaultPublished {
					published.Add(1)
				}
				at := p.Name == jsbridge.FaultEnded
				if tc.before {
					at = p.Kind == observe.FaultStep && p.Actor == "out" && published.Load() == 5
				}
				if at && failed.Add(1) == 1 {
					return tc.fail()
				}
				return nil
			}
			c := cross(t, cfg, quiet(), nc, bc, seq(40), 8, seq(40))
			if failed.Load() == 0 {
				t.Fatal("the marker's step never reached the fault")
			}
			if r := c.ob.Actor().Restarts(); r != 1 {
				t.Errorf("the outbound bridge restarted %d times, want 1", r)
			}
			if os := c.ob.Stats(); os.Messages != 6 {
				t.Errorf("%d NATS messages, want 5 batches of 8 and one end marker", os.Messages)
			}
		})
	}
}
