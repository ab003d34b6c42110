package jsbridge_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/steady-go/steady/internal/jsserver"
	"github.com/steady-go/steady/jsbridge"
)

// A stream with three replicas on a cluster of three servers: a server
// stopped in the middle of the stream (a minority) costs the bridges a
// failover, and every value still arrives once, in order.
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
	nc := connect(t, strings.Join(urls, ","))
	sc := jsbridge.DefaultStreamConfig()
	sc.Replicas = 3
	bc := jsbridge.Config{Stream: "VALUES", CreateStream: &sc, Timeout: 2 * time.Second}
	want := seq(20000)
	pub, ob := publisher(t, quiet(), nc, bc, want, 10)
	con, ib, got := consumer[uint64](t, quiet(), nc, bc)
	waitCon, waitPub := run(con), run(pub)
	waitFor(t, "a quarter of the values", func() bool { return ib.Stats().Values >= 5000 })

	// Stop the stream's leader: the worst minority to lose.
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), "VALUES")
	if err != nil {
		t.Fatal(err)
	}
	leader := st.CachedInfo().Cluster.Leader
	stopped := false
	for i, s := range servers {
		if fmt.Sprintf("s%d", i) == leader {
			s.Shutdown()
			servers[i], stopped = nil, true
		}
	}
	if !stopped {
		t.Fatalf("no server is the stream's leader %q", leader)
	}
	if err := waitPub(); err != nil {
		t.Fatalf("publisher: %v", err)
	}
	if err := waitCon(); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	exactlyOnce(t, got.Value(), want)
	t.Logf("leader %s stopped; outbound restarts %d, inbound restarts %d", leader, ob.Actor().Restarts(), ib.Actor().Restarts())
}
