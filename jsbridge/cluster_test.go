package jsbridge_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/steady-go/steady/internal/jsserver"
	"github.com/steady-go/steady/jsbridge"
)

// A stream with three replicas on a cluster of three servers: the server
// that leads the inbound bridge's consumer stops in the middle of the
// stream (a minority) while the bridges' connection is on another server,
// so nothing tells the client that its pending pull request died with the
// leader. The bridge must notice its quiet subscription, renew it, and
// every value still arrives once, in order.
func TestThreeReplicasMinorityFails(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of three servers")
	}
	const n = 3
	var urls, routes []string
	ports, cports := make([]int, n), make([]int, n)
	for i := range n {
		ports[i], cports[i] = freePort(t), freePort(t)
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", cports[i]))
	}
	servers := make([]*jsserver.Server, n)
	started := make(chan error, n)
	for i := range n {
		go func() {
			s, err := jsserver.Start(jsserver.Options{
				Dir: t.TempDir(), Port: ports[i], Name: fmt.Sprintf("s%d", i),
				Cluster: "steady", ClusterPort: cports[i], Routes: routes,
			})
			servers[i] = s
			started <- err
		}()
	}
	for range n {
		if err := <-started; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, s := range servers {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	// The first URL first: the connection stays on s0.
	nc := connect(t, strings.Join(urls, ","), nats.DontRandomize())
	if got := nc.ConnectedServerName(); got != "s0" {
		t.Fatalf("connected to %q, want s0", got)
	}
	sc := jsbridge.DefaultStreamConfig()
	sc.Replicas = 3
	bc := jsbridge.Config{Stream: "VALUES", Consumer: "in", CreateStream: &sc, Timeout: 2 * time.Second}
	want := seq(20000)
	pub, ob := publisher(t, quiet(), nc, bc, want, 10)
	con, ib, got := consumer[uint64](t, quiet(), nc, bc)
	waitCon, waitPub := run(t, con), run(t, pub)
	waitFor(t, "a quarter of the values", func() bool { return ib.Stats().Values >= 5000 })

	// Move the consumer's leadership off s0, then stop its leader.
	js, _ := jetstream.New(nc)
	var l string // the consumer's leader
	waitFor(t, "the consumer's leader to be known and not s0", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, "VALUES", "in")
		if err != nil { // an election under way
			return false
		}
		if l = c.CachedInfo().Cluster.Leader; l == "s0" {
			_, _ = nc.Request("$JS.API.CONSUMER.LEADER.STEPDOWN.VALUES.in", nil, time.Second)
		}
		return l != "" && l != "s0"
	})
	stopped := false
	for i, s := range servers {
		if fmt.Sprintf("s%d", i) == l {
			s.Shutdown()
			servers[i], stopped = nil, true
		}
	}
	if !stopped {
		t.Fatalf("no server is the consumer's leader %q", l)
	}
	if err := waitPub(); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	if err := waitCon(); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	exactlyOnce(t, got.Value(), want)
	if nc.ConnectedServerName() != "s0" {
		t.Errorf("the connection moved to %q: the test did not exercise a leader lost behind a live connection", nc.ConnectedServerName())
	}
	t.Logf("consumer leader %s stopped; outbound restarts %d, inbound restarts %d, stale subscriptions %d",
		l, ob.Actor().Restarts(), ib.Actor().Restarts(), ib.Stats().Stale)
}
