package jsbridge_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/jsbridge"
	"github.com/steady-go/steady/observe"
)

// Every value crosses once, in order, framed and one per message, with the
// end of the stream closing the consumer's channel.
func TestRoundTrip(t *testing.T) {
	for _, perMessage := range []bool{false, true} {
		t.Run(map[bool]string{false: "framed", true: "per-message"}[perMessage], func(t *testing.T) {
			srv := newServer(t)
			nc := connect(t, srv.url())
			bc := jsbridge.Config{Stream: "VALUES", PerMessage: perMessage}
			c := cross(t, quiet(), quiet(), nc, bc, seq(5000), 100, seq(5000))
			ob, ib := c.ob, c.ib
			os, is := ob.Stats(), ib.Stats()
			if os.Values != 5000 || is.Values != 5000 {
				t.Errorf("bridges counted %d published and %d received, want 5000 each", os.Values, is.Values)
			}
			if perMessage && os.Messages != 5001 {
				t.Errorf("per-message: %d NATS messages, want one a value and the end marker", os.Messages)
			}
			if !perMessage && os.Messages >= 5000/2 {
				t.Errorf("framed: %d NATS messages for 5000 values, want far fewer", os.Messages)
			}
			if is.Acks == 0 {
				t.Error("the inbound bridge acknowledged nothing")
			}
			op, ip := ob.Position(), ib.Position()
			if op.Values != 5000 || !op.Ended || op.Seq != os.Messages || ip.Values != 5000 || !ip.Ended || ip.Next != op.Seq+1 {
				t.Errorf("positions: outbound %+v, inbound %+v; want 5000 values each, ended, the inbound past the outbound's last sequence", op, ip)
			}
		})
	}
}

// The dangerous instants, each failed once: the outbound after its
// messages were acknowledged but before its step commits (a restart must
// find them in the stream and not publish them again), and the inbound
// after it sent a message's values but before its step commits (a restart
// must take them again, once).
func TestFailAtTheDangerousInstants(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "VALUES", MaxBatch: 64}
	var published, taken atomic.Int64
	faults := func(p observe.FaultPoint) error {
		switch {
		case p.Name == jsbridge.FaultPublished && published.Add(1)%7 == 3:
			panic("killed after the PubAck, before the commit")
		case p.Name == jsbridge.FaultTaken && taken.Add(1)%5 == 2:
			panic("killed after the fetch, before the commit")
		}
		return nil
	}
	cfg := quiet()
	cfg.Faults = faults
	c := cross(t, cfg, cfg, nc, bc, seq(3000), 50, seq(3000))
	pub, ob, con, ib := c.pub, c.ob, c.con, c.ib
	if s := ob.Stats(); s.Skipped == 0 || ob.Actor().Restarts() == 0 {
		t.Errorf("outbound: %d restarts, %d values skipped at start: the recovery path did not run", ob.Actor().Restarts(), s.Skipped)
	}
	if s := ib.Stats(); s.Resets < 2 || ib.Actor().Restarts() == 0 {
		t.Errorf("inbound: %d restarts, %d consumer resets: the recovery path did not run", ib.Actor().Restarts(), s.Resets)
	}
	if dl := pub.DeadLetters(); len(dl) != 0 {
		t.Errorf("the publisher dead-lettered %d values", len(dl))
	}
	if dl := con.DeadLetters(); len(dl) != 0 {
		t.Errorf("the consumer dead-lettered %d values", len(dl))
	}
}

// The server is down when the graphs start: the bridges wait it out,
// backpressure holds the producer, and once it is up every value arrives
// once. Then the server restarts in the middle of the stream.
func TestServerDownAtStartAndRestart(t *testing.T) {
	srv := newServer(t)
	srv.stop()
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "VALUES", Timeout: 500 * time.Millisecond}
	want := seq(20000)
	pub, ob := publisher(t, quiet(), nc, bc, want, 10)
	con, ib, got := consumer[uint64](t, quiet(), nc, bc)
	waitCon, waitPub := run(t, con), run(t, pub)
	waitFor(t, "both bridges to fail while the server is down", func() bool {
		return ob.Actor().Restarts() > 0 && ib.Actor().Restarts() > 0
	})
	if n := ob.Stats().Values; n != 0 {
		t.Fatalf("%d values published with the server down", n)
	}
	srv.start()
	waitFor(t, "half the values to arrive", func() bool { return ib.Stats().Values >= 10000 })
	srv.stop()
	time.Sleep(200 * time.Millisecond)
	srv.start()
	if err := waitPub(); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	if err := waitCon(); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	exactlyOnce(t, got.Value(), want)
	if dl := pub.DeadLetters(); len(dl) != 0 {
		t.Errorf("an outage dead-lettered %d good values", len(dl))
	}
}

// A second writer on the stream is refused: a publisher whose channel
// holds other values than those stored stops, naming the stream, and
// leaves the stream as the first writer left it.
func TestZombieWriterRefused(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "VALUES"}
	pub, _ := publisher(t, quiet(), nc, bc, seq(100), 10)
	if err := pub.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	zombie, _ := publisher(t, quiet(), nc, bc, []uint64{1000, 1001, 1002}, 1)
	err := zombie.Run(context.Background())
	if !stopErr(err, jsbridge.ErrForeignWriter) || !strings.Contains(err.Error(), `"VALUES"`) {
		t.Fatalf("zombie writer: Run = %v, want ErrForeignWriter naming the stream", err)
	}
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), "VALUES")
	if err != nil {
		t.Fatal(err)
	}
	if last := st.CachedInfo().State.LastSeq; last < 2 || last > 101 {
		t.Fatalf("stream's last sequence %d after the zombie: it wrote", last)
	}
	// Every value of the first writer, and none of the zombie's, reads
	// back once.
	con, _, got := consumer[uint64](t, quiet(), nc, bc)
	if err := con.Run(context.Background()); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	exactlyOnce(t, got.Value(), seq(100))
}

// A purged stream stops the consumer and the publisher, naming the stream
// and the sequences; neither skips.
func TestPurgedStream(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "VALUES", MaxBatch: 10}
	// The publisher sends 0..99 and keeps its state; the consumer takes
	// them all; then the stream is purged and more is published.
	g1, _ := publisher(t, quiet(), nc, bc, seq(100), 10)
	if err := g1.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	st, err := js.Stream(ctx, "VALUES")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	con, _, got := consumer[uint64](t, quiet(), nc, bc)
	err = con.Run(ctx)
	if !stopErr(err, jsbridge.ErrStreamLost) || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("consumer of a purged stream: Run = %v, want ErrStreamLost saying which messages are gone", err)
	}
	if n := len(got.Value()); n != 0 {
		t.Errorf("consumer took %d values from a purged stream", n)
	}
	// A publisher that starts on the purged stream stops too: the
	// messages past its position are gone.
	g2 := steady.NewGraph(quiet())
	ch := steady.NewChannel[uint64](g2, "values", 8)
	var out *steady.Sender[uint64]
	p := g2.Actor("producer", func(a *steady.Actor) error {
		return a.Step(func(s *steady.Step) error { return out.Send(s, 100) })
	})
	out = ch.Sender(p)
	ob, err := jsbridge.NewOutbound(g2, "out", ch, nc, bc, bridgePolicy...)
	if err != nil {
		t.Fatal(err)
	}
	_ = ob
	if err := g2.Run(ctx); !stopErr(err, jsbridge.ErrStreamLost) {
		t.Fatalf("publisher starting on a purged stream: Run = %v, want ErrStreamLost", err)
	}
}

// A value too large for one NATS message is refused before anything is
// sent and ends in the dead-letter store; the values around it cross, and
// the stream has no gap.
func TestOversizedValue(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "TEXT"}
	huge := strings.Repeat("x", int(nc.MaxPayload()))
	vals := []string{"a", "b", huge, "c", "d"}
	c := cross(t, quiet(), quiet(), nc, bc, vals, len(vals), []string{"a", "b", "c", "d"})
	dl := c.pub.DeadLetters()
	if len(dl) != 1 || dl[0].Value != huge || !strings.Contains(dl[0].Err.Error(), "maximum payload") {
		t.Fatalf("dead letters %d, want the huge value with an error naming the limit", len(dl))
	}
}

// A stream that went back (deleted and recreated, or a server that lost
// acknowledged messages in a power loss before its sync) stops both
// bridges that resume past its new end, naming the sequences; neither
// publishes into the gap nor skips it.
func TestStreamWentBack(t *testing.T) {
	srv := newServer(t)
	nc := connect(t, srv.url())
	bc := jsbridge.Config{Stream: "VALUES", MaxBatch: 10}
	ctx := context.Background()

	// One publisher graph, run twice on the same in-memory state: first
	// it publishes 0..49 and holds; the stream is then recreated with
	// fewer messages than it committed; a restart of its bridge must
	// refuse to go on.
	hold := make(chan struct{})
	pub, ob := heldPublisher(t, quiet(), nc, bc, seq(50), 10, hold)
	waitPub := run(t, pub)
	waitFor(t, "50 values published", func() bool { return ob.Stats().Values == 50 })
	con, ib, _ := consumer[uint64](t, quiet(), nc, bc)
	waitCon := run(t, con)
	waitFor(t, "50 values taken", func() bool { return ib.Stats().Values == 50 })

	js, _ := jetstream.New(nc)
	// The inbound bridge acknowledges up to ackAfter after a step, or once
	// its subscription goes quiet: wait for it. An acknowledgement the
	// server handled while it deleted the stream made creating it again
	// fail (error 10049, "error creating store for stream") in about one
	// run in eight; we suspect the consumer's state written back into the
	// deleted stream's directory.
	waitFor(t, "the consumer's acknowledgement of the 5 messages", func() bool {
		ci, err := js.Consumer(ctx, "VALUES", "in")
		return err == nil && ci.CachedInfo().AckFloor.Stream == 5
	})
	if err := js.DeleteStream(ctx, "VALUES"); err != nil {
		t.Fatal(err)
	}
	sc := jsbridge.DefaultStreamConfig()
	sc.Name, sc.Subjects = "VALUES", []string{"VALUES.data"}
	// The server may still be taking the deleted stream's store apart
	// when DeleteStream returns: creating one of the same name then fails
	// with 10049 ("error creating store for stream") for a moment. That is
	// the test's setup, not the bridges: try again.
	var st jetstream.Stream
	var err error
	for try := 0; ; try++ {
		st, err = js.CreateStream(ctx, sc)
		var api *jetstream.APIError
		if err == nil || try == 50 || !errors.As(err, &api) || api.ErrorCode != 10049 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "VALUES.data", []byte("not a bridged value")); err != nil {
		t.Fatal(err)
	}
	// The producer finishes: the outbound bridge publishes its end marker,
	// which the recreated stream refuses (wrong last sequence), and its
	// restart finds the stream behind its position.
	close(hold)
	err = waitPub()
	if !stopErr(err, jsbridge.ErrStreamLost) || !strings.Contains(err.Error(), "created again") {
		t.Fatalf("publisher: Run = %v, want ErrStreamLost saying the stream was created again", err)
	}
	// The consumer stops too: its restart finds the stream gone, or
	// created again.
	if err := waitCon(); !stopErr(err, jsbridge.ErrStreamLost) || !strings.Contains(err.Error(), "up to 5") && !strings.Contains(err.Error(), "created again") {
		t.Fatalf("consumer: Run = %v, want ErrStreamLost naming the 5 messages it took or saying the stream was created again", err)
	}
	_ = st
	con2, _, got := consumer[uint64](t, quiet(), nc, bc)
	// A fresh consumer graph has a fresh position: it reads the recreated
	// stream from the start, and the foreign message there stops it.
	if err := con2.Run(ctx); !stopErr(err, jsbridge.ErrForeignWriter) {
		t.Fatalf("fresh consumer of the recreated stream: Run = %v, want ErrForeignWriter", err)
	}
	if n := len(got.Value()); n != 0 {
		t.Errorf("fresh consumer took %d values", n)
	}
}
