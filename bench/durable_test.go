package bench

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store"
	"github.com/steady-go/steady/store/bolt"
)

// durableBatch is the most messages a step of the durable pipeline moves.
const durableBatch = 1024

// durableSetup is one point of the latency/throughput trade-off. The
// channel's capacity bounds how far the producer runs ahead of the fsync,
// so how many messages one commit can carry; the linger makes the
// committer wait for more steps before it commits; NoSync skips the fsync.
type durableSetup struct {
	capacity int
	linger   time.Duration
	opts     *bolt.Options
}

// durablePipe moves n values from a producer to a consumer, both keeping
// their position in state, durableBatch per step, with st as the store
// (nil: in memory) and the channel's capacity from setup. It returns the time taken, the consumer's sum and the
// committer's figures.
func durablePipe(b *testing.B, n int, setup durableSetup, st store.Store) (time.Duration, uint64, observe.DurableStats) {
	g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler), Store: st, CommitLinger: setup.linger})
	ch := steady.NewChannel[uint64](g, "values", setup.capacity)
	sent := steady.NewState(g, "sent", uint64(0))
	sum := steady.NewState(g, "sum", uint64(0))
	var out *steady.Sender[uint64]
	var in *steady.Receiver[uint64]
	prod := g.Actor("producer", func(a *steady.Actor) error {
		buf := make([]uint64, durableBatch)
		for sent.Value() < uint64(n) {
			i := sent.Value()
			k := min(uint64(durableBatch), uint64(n)-i)
			if err := a.WaitVacant(out, int(k)); err != nil {
				return err
			}
			err := a.Step(func(s *steady.Step) error {
				for j := range k {
					buf[j] = i + j
				}
				*sent.Get(s) += k
				return out.SendMany(s, buf[:k])
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	cons := g.Actor("consumer", func(a *steady.Actor) error {
		buf := make([]uint64, durableBatch)
		for {
			if err := a.WaitAvailable(in, 1); err != nil {
				return err
			}
			err := a.Step(func(s *steady.Step) error {
				k := in.PeekMany(s, buf)
				total := sum.Get(s)
				for _, v := range buf[:k] {
					*total += v
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	})
	out, in = ch.Sender(prod), ch.Receiver(cons)
	sent.Bind(prod)
	sum.Bind(cons)
	start := time.Now()
	if err := g.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), sum.Value(), *g.Snapshot().Durable
}

// BenchmarkDurable: a two-stage pipeline with batch steps and state on both
// sides, durable on a bbolt file in a fresh directory, against the same
// graph in memory in the same run. Target: at least 1,000,000 durable
// messages per second with fsync on.
func BenchmarkDurable(b *testing.B) {
	for _, tc := range []struct {
		name  string
		setup durableSetup
	}{
		{"capacity=4k", durableSetup{capacity: 4 << 10}},
		{"capacity=16k", durableSetup{capacity: 16 << 10}},
		{"capacity=64k", durableSetup{capacity: 64 << 10}},
		{"capacity=16k/linger=2ms", durableSetup{capacity: 16 << 10, linger: 2 * time.Millisecond}},
		{"capacity=16k/nosync", durableSetup{capacity: 16 << 10, opts: &bolt.Options{NoSync: true}}},
	} {
		b.Run(tc.name, func(b *testing.B) { benchDurable(b, tc.setup) })
	}
}

func benchDurable(b *testing.B, setup durableSetup) {
	n := max(b.N, durableBatch)
	want := uint64(n) * uint64(n-1) / 2
	memTook, memSum, _ := durablePipe(b, n, setup, nil)
	st, err := bolt.Open(b.TempDir(), setup.opts)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	took, got, ds := durablePipe(b, n, setup, st)
	if got != want || memSum != want {
		b.Fatalf("sums: durable %d, memory %d, want %d", got, memSum, want)
	}
	b.ReportMetric(float64(n)/took.Seconds(), "durable-msg/s")
	b.ReportMetric(float64(n)/memTook.Seconds(), "memory-msg/s")
	b.ReportMetric(memTook.Seconds()/took.Seconds(), "x-memory")
	b.ReportMetric(float64(ds.CommitP50.Microseconds()), "commit-p50-µs")
	b.ReportMetric(float64(ds.CommitP99.Microseconds()), "commit-p99-µs")
	b.ReportMetric(float64(ds.DurableP50.Microseconds()), "durable-p50-µs")
	b.ReportMetric(float64(ds.DurableP99.Microseconds()), "durable-p99-µs")
	b.ReportMetric(float64(n)/float64(max(ds.Batches, 1)), "msg/commit")
}
