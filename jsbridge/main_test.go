package jsbridge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/pprof"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/internal/jsserver"
	"github.com/steady-go/steady/jsbridge"
)

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is an embedded JetStream server for one test, on a port of its
// own and a store in the test's temporary directory, which it can stop and
// start again on the same port and store.
type server struct {
	t    testing.TB
	dir  string
	port int
	s    *jsserver.Server
}

func newServer(t testing.TB) *server {
	srv := &server{t: t, dir: t.TempDir(), port: freePort(t)}
	srv.start()
	t.Cleanup(srv.stop)
	return srv
}

func (srv *server) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", srv.port) }

func (srv *server) start() {
	s, err := jsserver.Start(jsserver.Options{Dir: srv.dir, Port: srv.port})
	if err != nil {
		srv.t.Fatal(err)
	}
	srv.s = s
}

func (srv *server) stop() {
	if srv.s != nil {
		srv.s.Shutdown()
		srv.s = nil
	}
}

// freePort returns a loopback port nobody listens on.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// connect opens a connection that waits out a server that is down, as a
// user's would, and closes it at the end of the test.
func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	opts = append([]nats.Option{nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
		nats.ReconnectWait(20 * time.Millisecond), nats.NoCallbacksAfterClientClose()}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func quiet() steady.Config {
	return steady.Config{Logger: slog.New(slog.DiscardHandler), Seed: 1}
}

// bridgePolicy restarts a bridge quickly, so tests of failures run fast.
var bridgePolicy = []steady.ActorOption{steady.Backoff(time.Millisecond, 50*time.Millisecond), steady.Intensity(1000, time.Minute)}

// publisher builds a graph whose producer sends vals in order, one step
// per chunk, into a channel an outbound bridge publishes, then finishes
// (closing the channel, so the bridge ends the stream).
func publisher[T any](t testing.TB, cfg steady.Config, nc *nats.Conn, bc jsbridge.Config, vals []T, chunk int) (*steady.Graph, *jsbridge.Outbound) {
	return heldPublisher(t, cfg, nc, bc, vals, chunk, nil)
}

// heldPublisher is publisher whose producer, once it sent vals, waits for
// hold to close before it finishes.
func heldPublisher[T any](t testing.TB, cfg steady.Config, nc *nats.Conn, bc jsbridge.Config, vals []T, chunk int, hold <-chan struct{}) (*steady.Graph, *jsbridge.Outbound) {
	g := steady.NewGraph(cfg)
	ch := steady.NewChannel[T](g, "values", 256)
	next := steady.NewState(g, "next", 0)
	var out *steady.Sender[T]
	prod := g.Actor("producer", func(a *steady.Actor) error {
		err := steady.SourceBatch(a, out, chunk, func(s *steady.Step, buf []T) (int, bool, error) {
			n := next.Get(s)
			k := copy(buf, vals[*n:])
			*n += k
			return k, *n < len(vals), nil
		})
		if err != nil || hold == nil {
			return err
		}
		select {
		case <-hold:
		case <-a.Context().Done():
		}
		return nil
	})
	out = ch.Sender(prod)
	next.Bind(prod)
	ob, err := jsbridge.NewOutbound(g, "out", ch, nc, bc, bridgePolicy...)
	if err != nil {
		t.Fatal(err)
	}
	return g, ob
}

// consumer builds a graph whose inbound bridge feeds a sink that keeps
// every value it received, in its committed state.
func consumer[T any](t testing.TB, cfg steady.Config, nc *nats.Conn, bc jsbridge.Config) (*steady.Graph, *jsbridge.Inbound, *steady.State[[]T]) {
	g := steady.NewGraph(cfg)
	ch := steady.NewChannel[T](g, "values", 256)
	got := steady.NewState(g, "got", []T(nil))
	var in *steady.Receiver[T]
	sink := g.Actor("sink", func(a *steady.Actor) error {
		return steady.SinkBatch(a, in, 256, func(s *steady.Step, vs []T) error {
			v := got.Get(s)
			*v = append(slices.Clip(*v), vs...)
			return nil
		})
	})
	in = ch.Receiver(sink)
	got.Bind(sink)
	ib, err := jsbridge.NewInbound(g, "in", ch, nc, bc, bridgePolicy...)
	if err != nil {
		t.Fatal(err)
	}
	return g, ib, got
}

// crossing is a publishing graph and a consuming graph joined by a stream.
type crossing[T any] struct {
	pub *steady.Graph
	ob  *jsbridge.Outbound
	con *steady.Graph
	ib  *jsbridge.Inbound
}

// cross runs a publisher of vals (chunk a step, configured by pcfg) and a
// consumer (ccfg) on bc until both finish, and checks that the consumer
// received want, each once, in order.
func cross[T comparable](t testing.TB, pcfg, ccfg steady.Config, nc *nats.Conn, bc jsbridge.Config, vals []T, chunk int, want []T) crossing[T] {
	t.Helper()
	var c crossing[T]
	c.pub, c.ob = publisher(t, pcfg, nc, bc, vals, chunk)
	con, ib, got := consumer[T](t, ccfg, nc, bc)
	c.con, c.ib = con, ib
	waitCon := run(t, con)
	if err := run(t, c.pub)(); err != nil {
		con.Shutdown("the publisher failed")
		waitCon()
		t.Fatalf("publisher: %v", err)
	}
	if err := waitCon(); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	exactlyOnce(t, got.Value(), want)
	return c
}

// run runs g in the background; wait returns Run's error. A graph that
// has not finished after runLimit is a hung test: wait shuts it down and
// fails t with every goroutine's stack, rather than leave the package to
// go test's timeout and a dump that names no test.
func run(t testing.TB, g *steady.Graph) (wait func() error) {
	done := make(chan error, 1)
	go func() { done <- g.Run(context.Background()) }()
	return func() error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(runLimit):
		}
		var stacks bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
		g.Shutdown("the test timed out")
		select {
		case <-done:
		case <-time.After(runLimit):
		}
		t.Fatalf("the graph did not finish in %v; goroutines then:\n%s", runLimit, stacks.Bytes())
		return nil
	}
}

// runLimit is how long run waits for a graph: far more than any test's
// graph takes on a loaded machine (seconds).
const runLimit = 2 * time.Minute

// seq returns 0..n-1.
func seq(n int) []uint64 {
	v := make([]uint64, n)
	for i := range v {
		v[i] = uint64(i)
	}
	return v
}

// exactlyOnce fails t unless got is want, in order.
func exactlyOnce[T comparable](t testing.TB, got, want []T) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	seen := map[T]int{}
	for _, v := range got {
		seen[v]++
	}
	var missing, doubled int
	for _, v := range want {
		switch seen[v] {
		case 0:
			missing++
		case 1:
		default:
			doubled++
		}
	}
	t.Fatalf("received %d values, want %d once each in order: %d missing, %d more than once (first %v)",
		len(got), len(want), missing, doubled, got[:min(len(got), 10)])
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stopErr reports whether err stopped a graph with sentinel.
func stopErr(err, sentinel error) bool {
	return errors.Is(err, steady.ErrStopGraph) && errors.Is(err, sentinel)
}
