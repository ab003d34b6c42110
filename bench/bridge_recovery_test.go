package bench

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/jsbridge"
	"github.com/steady-go/steady/store"
	"github.com/steady-go/steady/store/bolt"
)

// The recovery benchmarks run a steady stream: recoveryChunk values a
// millisecond (64k values/s, a few percent of what the bridge can carry),
// so that "mid-stream" always holds and the backlog a recovery leaves is
// small. Each failure strikes once the sink has taken recoveryFlow more
// values since the last recovery.
const (
	recoveryChunk = 64
	recoveryFlow  = 5000
)

// recoveryTimeout bounds every wait of the recovery benchmarks; past it the
// benchmark fails rather than hang.
const recoveryTimeout = time.Minute

// sinkState is what the recovery benchmarks see of a consumer graph's sink,
// across the runs of that graph.
type sinkState struct {
	next  atomic.Uint64 // the value the sink expects next, as of its last commit
	wrong atomic.Int64  // values that came out of order: repeated or after a gap
	seen  chan struct{} // a token after each commit

	from atomic.Uint64             // arm's threshold
	at   atomic.Pointer[time.Time] // when the sink first committed past it
}

func newSinkState() *sinkState { return &sinkState{seen: make(chan struct{}, 1)} }

// committed is called by the sink after each step: next is the value it
// now expects.
func (sk *sinkState) committed(next uint64) {
	sk.next.Store(next)
	if next > sk.from.Load() && sk.at.Load() == nil {
		now := time.Now()
		sk.at.CompareAndSwap(nil, &now)
	}
	select {
	case sk.seen <- struct{}{}:
	default:
	}
}

// arm makes the sink note the time of its first commit that takes value
// from (or any commit, with from 0 and a sink that has taken nothing yet
// in this run).
func (sk *sinkState) arm(from uint64) {
	sk.at.Store(nil)
	sk.from.Store(from)
}

// waitFor waits until cond holds, looking again after each commit of the
// sink.
func (sk *sinkState) waitFor(b *testing.B, what string, cond func() bool) {
	deadline := time.NewTimer(recoveryTimeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-sk.seen:
		case <-deadline.C:
			b.Fatalf("no %s after %v (the sink expects value %d)", what, recoveryTimeout, sk.next.Load())
		}
	}
}

// sinkGraph builds a graph (a store in cfg makes it durable) whose inbound
// bridge feeds a sink that keeps the value it expects next in its state and
// counts every value that is not that one.
func sinkGraph(b *testing.B, cfg steady.Config, nc *nats.Conn, bc jsbridge.Config, sk *sinkState) *steady.Graph {
	g := steady.NewGraph(cfg)
	ch := steady.NewChannel[uint64](g, "values", bridgeCap)
	next := steady.NewState(g, "next", uint64(0))
	var in *steady.Receiver[uint64]
	sink := g.Actor("sink", func(a *steady.Actor) error {
		buf := make([]uint64, bridgeChunk)
		for {
			if err := a.WaitAvailable(in, 1); err != nil {
				return err
			}
			var now uint64
			err := a.Step(func(s *steady.Step) error {
				k := in.PeekMany(s, buf)
				n := next.Get(s)
				for _, v := range buf[:k] {
					if v != *n {
						sk.wrong.Add(1)
						*n = v
					}
					*n++
				}
				now = *n
				return nil
			})
			if err != nil {
				return err
			}
			sk.committed(now)
		}
	})
	in = ch.Receiver(sink)
	next.Bind(sink)
	if _, err := jsbridge.NewInbound(g, "in", ch, nc, bc); err != nil {
		b.Fatal(err)
	}
	return g
}

// cutStore is a store that can be cut off, as by kill -9: past the cut
// nothing more becomes durable, and the graph stops at its next commit.
type cutStore struct {
	*bolt.Store
	cut atomic.Bool
}

var errKilled = errors.New("killed")

func (c *cutStore) Commit(batch *store.Batch) error {
	if c.cut.Load() {
		return errKilled
	}
	return c.Store.Commit(batch)
}

// running is a graph running in the background with its connection and,
// if durable, its store.
type running struct {
	nc     *nats.Conn
	st     *cutStore
	cancel context.CancelFunc
	done   chan error
}

func runInBackground(g *steady.Graph, nc *nats.Conn, st *cutStore) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{nc: nc, st: st, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- g.Run(ctx) }()
	return r
}

// startSink opens the store in dir, connects, and runs a sink graph.
func startSink(b *testing.B, url, dir string, bc jsbridge.Config, sk *sinkState) *running {
	bs, err := bolt.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	st := &cutStore{Store: bs}
	nc := connectNATS(b, url)
	cfg := quietConfig()
	cfg.Store = st
	return runInBackground(sinkGraph(b, cfg, nc, bc, sk), nc, st)
}

// kill ends the graph as kill -9 would: the store keeps what it held, the
// connection drops; then it lets the graph's goroutines end and closes the
// store. The graph's Run fails (its commits are refused); that is the
// point.
func (r *running) kill() {
	r.st.cut.Store(true)
	r.nc.Close()
	r.cancel()
	<-r.done
	r.st.Close()
}

// stop shuts the graph down in order and returns Run's error.
func (r *running) stop() error {
	r.cancel()
	err := <-r.done
	r.nc.Close()
	if r.st != nil {
		r.st.Close()
	}
	return err
}

// publisher is a graph whose producer sends 0, 1, 2, … recoveryChunk at a
// time, one step a millisecond, into a channel an outbound bridge publishes.
type publisher struct {
	*running
	produced atomic.Uint64 // values the producer has committed
}

func startPublisher(b *testing.B, url string, bc jsbridge.Config) *publisher {
	p := &publisher{}
	g := quietGraph()
	ch := steady.NewChannel[uint64](g, "values", bridgeCap)
	var out *steady.Sender[uint64]
	prod := g.Actor("producer", func(a *steady.Actor) error {
		buf := make([]uint64, recoveryChunk)
		for a.Running() {
			if err := a.WaitVacant(out, len(buf)); err != nil {
				return err
			}
			i := p.produced.Load()
			err := a.Step(func(s *steady.Step) error {
				for j := range buf {
					buf[j] = i + uint64(j)
				}
				return out.SendMany(s, buf)
			})
			if err != nil {
				return err
			}
			p.produced.Store(i + uint64(len(buf)))
			if err := a.Sleep(time.Millisecond); err != nil {
				return err
			}
		}
		return nil
	})
	out = ch.Sender(prod)
	nc := connectNATS(b, url)
	if _, err := jsbridge.NewOutbound(g, "out", ch, nc, bc); err != nil {
		b.Fatal(err)
	}
	p.running = runInBackground(g, nc, nil)
	return p
}

// reportRecovery reports the median and the slowest of samples under name.
func reportRecovery(b *testing.B, name string, samples []time.Duration) {
	slices.Sort(samples)
	b.ReportMetric(float64(quantile(samples, 0.5).Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, name+"-max-ms")
}

// BenchmarkBridgeRecovery: how long a bridged channel takes to carry values
// again after a failure, under a steady stream (recoveryChunk values a
// millisecond), with the default bridge and restart configuration and
// connections that reconnect every reconnectWait. Each iteration is one
// failure; the benchmark reports the median and the slowest. There is no
// baseline: the figures are times, not rates, and nothing else in the run
// recovers.
//
//   - consumer-kill: the consuming graph, durable on a store with fsync
//     on, is killed mid-stream (its store cut off as by kill -9, its
//     connection dropped) and started again on the same store: from the
//     start (bolt.Open, connecting, Graph.Run) to the sink's commit of
//     its first value. The sink checks that the values continue exactly
//     once, in order, across every kill.
//   - server-restart: the embedded server is shut down mid-stream and
//     started again on the same port and directory, both graphs running
//     on: from the server's start to the sink's commit of the first value
//     the producer committed after the shutdown (server-start is the
//     server's own start, included).
func BenchmarkBridgeRecovery(b *testing.B) {
	b.Run("consumer-kill", benchConsumerKill)
	b.Run("server-restart", benchServerRestart)
}

func benchConsumerKill(b *testing.B) {
	srv := startServer(b)
	bc := jsbridge.Config{Stream: "RECOVERY"}
	pubNC := connectNATS(b, srv.url)
	js, err := jetstream.New(pubNC)
	if err != nil {
		b.Fatal(err)
	}
	createStream(b, js, bc.Stream)
	pub := startPublisher(b, srv.url, bc)
	dir := b.TempDir()
	sk := newSinkState()
	con := startSink(b, srv.url, dir, bc, sk)
	samples := make([]time.Duration, 0, b.N)
	for range b.N {
		target := sk.next.Load() + recoveryFlow
		sk.waitFor(b, "values flowing", func() bool { return sk.next.Load() >= target })
		con.kill()
		sk.arm(0)
		start := time.Now()
		con = startSink(b, srv.url, dir, bc, sk)
		sk.waitFor(b, "value after the restart", func() bool { return sk.at.Load() != nil })
		samples = append(samples, sk.at.Load().Sub(start))
	}
	if err := con.stop(); err != nil {
		b.Fatalf("consumer: %v", err)
	}
	if err := pub.stop(); err != nil {
		b.Fatalf("publisher: %v", err)
	}
	if n := sk.wrong.Load(); n != 0 {
		b.Fatalf("%d values came out of order or twice across the kills", n)
	}
	reportRecovery(b, "kill", samples)
}

func benchServerRestart(b *testing.B) {
	var samples, starts []time.Duration
	for i := range b.N {
		// A fresh server and pipeline each time, so that every sample
		// starts from bridges whose restart backoff is at its initial
		// delay, as after a long healthy spell.
		srv := startServer(b)
		bc := jsbridge.Config{Stream: "RESTART"}
		js, err := jetstream.New(connectNATS(b, srv.url))
		if err != nil {
			b.Fatal(err)
		}
		createStream(b, js, bc.Stream)
		pub := startPublisher(b, srv.url, bc)
		sk := newSinkState()
		nc := connectNATS(b, srv.url)
		con := runInBackground(sinkGraph(b, quietConfig(), nc, bc, sk), nc, nil)
		sk.waitFor(b, "values flowing", func() bool { return sk.next.Load() >= recoveryFlow })

		srv.stop()
		sk.arm(pub.produced.Load())
		start := time.Now()
		srv.start()
		started := time.Since(start)
		sk.waitFor(b, "value after the server's restart", func() bool { return sk.at.Load() != nil })
		samples = append(samples, sk.at.Load().Sub(start))
		starts = append(starts, started)

		if err := pub.stop(); err != nil {
			b.Fatalf("publisher, restart %d: %v", i, err)
		}
		if err := con.stop(); err != nil {
			b.Fatalf("consumer, restart %d: %v", i, err)
		}
		srv.stop()
		if n := sk.wrong.Load(); n != 0 {
			b.Fatalf("restart %d: %d values came out of order or twice", i, n)
		}
	}
	reportRecovery(b, "restart", samples)
	reportRecovery(b, "server-start", starts)
}
