package bench

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// capacity is the channel capacity on both sides of every comparison.
const capacity = 1024

// quietConfig is a graph configuration that logs nothing.
func quietConfig() steady.Config {
	return steady.Config{Logger: slog.New(slog.DiscardHandler)}
}

func quietGraph() *steady.Graph { return steady.NewGraph(quietConfig()) }

// goChannel moves n values through a buffered Go channel between two
// goroutines and returns the time it took.
func goChannel(n int) time.Duration {
	ch := make(chan uint64, capacity)
	done := make(chan uint64)
	start := time.Now()
	go func() {
		var sum uint64
		for v := range ch {
			sum += v
		}
		done <- sum
	}()
	for i := range n {
		ch <- uint64(i)
	}
	close(ch)
	<-done
	return time.Since(start)
}

// steadyPipe moves n values from a producer actor to a consumer actor,
// batch values per step, and returns the time it took and the sum seen.
// With scrape > 0, another goroutine takes a Graph.Snapshot that often
// while the pipe runs, as a metrics scraper would.
func steadyPipe(b *testing.B, n, batch int, scrape ...time.Duration) (time.Duration, uint64) {
	return steadyPipeWith(b, quietConfig(), n, batch, scrape...)
}

// steadyPipeWith is steadyPipe on a graph configured by cfg.
func steadyPipeWith(b *testing.B, cfg steady.Config, n, batch int, scrape ...time.Duration) (time.Duration, uint64) {
	g := steady.NewGraph(cfg)
	if len(scrape) > 0 {
		stop := make(chan struct{})
		done := make(chan struct{})
		defer func() { close(stop); <-done }()
		go func() {
			defer close(done)
			t := time.NewTicker(scrape[0])
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					_ = g.Snapshot()
				}
			}
		}()
	}
	ch := steady.NewChannel[uint64](g, "values", capacity)
	var out *steady.Sender[uint64]
	var in *steady.Receiver[uint64]
	var sum uint64
	prod := g.Actor("producer", func(a *steady.Actor) error { return produce(a, out, n, batch) })
	cons := g.Actor("consumer", func(a *steady.Actor) error { return consume(a, in, batch, &sum) })
	out, in = ch.Sender(prod), ch.Receiver(cons)
	start := time.Now()
	if err := g.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), sum
}

// produce is the hand-written source of the pipes: it sends 0..n-1 to
// out, batch values a step (Send for one, SendMany for more).
func produce(a *steady.Actor, out *steady.Sender[uint64], n, batch int) error {
	buf := make([]uint64, batch)
	for i := 0; i < n; {
		k := min(batch, n-i)
		if err := a.WaitVacant(out, k); err != nil {
			return err
		}
		err := a.Step(func(s *steady.Step) error {
			if batch == 1 {
				return out.Send(s, uint64(i))
			}
			for j := range k {
				buf[j] = uint64(i + j)
			}
			return out.SendMany(s, buf[:k])
		})
		if err != nil {
			return err
		}
		i += k
	}
	return nil
}

// consume is the hand-written sink of the pipes: it adds what it takes
// from in to *sum, up to batch values a step (Peek for one, PeekMany for
// more), until in is closed and empty.
func consume(a *steady.Actor, in *steady.Receiver[uint64], batch int, sum *uint64) error {
	buf := make([]uint64, batch)
	for a.Running() {
		if err := a.WaitAvailable(in, 1); err != nil {
			return err
		}
		err := a.Step(func(s *steady.Step) error {
			if batch == 1 {
				v, _ := in.Peek(s)
				*sum += v
				return nil
			}
			for _, v := range buf[:in.PeekMany(s, buf)] {
				*sum += v
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// benchChannel reports, besides the two speeds and their ratio, how many
// processors the process kept busy on average while each side ran (where
// the platform can tell; the runtime's own threads count too). A Go
// channel between two goroutines reads about 1.2 on the machine of
// BENCHMARKS.md, its receiver and sender mostly taking turns; steady's
// actors about 1.9, side by side.
func benchChannel(b *testing.B, batch int) {
	n := b.N
	cpu0, measured := cpuTime()
	base := goChannel(n)
	cpu1, _ := cpuTime()
	took, sum := steadyPipe(b, n, batch)
	cpu2, _ := cpuTime()
	if want := uint64(n) * uint64(n-1) / 2; sum != want {
		b.Fatalf("consumer summed %d, want %d", sum, want)
	}
	chanNs := float64(base.Nanoseconds()) / float64(n)
	steadyNs := float64(took.Nanoseconds()) / float64(n)
	b.ReportMetric(chanNs, "chan-ns/msg")
	b.ReportMetric(steadyNs, "steady-ns/msg")
	b.ReportMetric(chanNs/steadyNs, "x-chan")
	if measured {
		b.ReportMetric(float64(cpu1-cpu0)/float64(base), "chan-cpus")
		b.ReportMetric(float64(cpu2-cpu1)/float64(took), "steady-cpus")
	}
}

// BenchmarkChannelSingle: one message per step against a Go channel.
// Target: x-chan ≥ 1.
func BenchmarkChannelSingle(b *testing.B) { benchChannel(b, 1) }

// BenchmarkChannelBatch: 256 messages per step against a Go channel.
// Target: x-chan ≥ 10.
func BenchmarkChannelBatch(b *testing.B) { benchChannel(b, 256) }

// BenchmarkRestart: an actor whose every other step panics, with no
// backoff. A sample is the time from the panic to the commit of the first
// step of the restarted actor. Target: p99 ≤ 20 µs.
func BenchmarkRestart(b *testing.B) {
	samples := make([]time.Duration, 0, b.N)
	var panicked time.Time
	g := quietGraph()
	g.Actor("crasher", func(a *steady.Actor) error {
		if err := a.Step(func(*steady.Step) error { return nil }); err != nil {
			return err
		}
		if !panicked.IsZero() {
			samples = append(samples, time.Since(panicked))
		}
		if len(samples) == b.N {
			return nil
		}
		return a.Step(func(*steady.Step) error {
			panicked = time.Now()
			panic("crash")
		})
	}, steady.Backoff(0, 0), steady.Intensity(-1, 0))
	b.ResetTimer()
	if err := g.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	slices.Sort(samples)
	at := func(q float64) float64 {
		return float64(samples[min(len(samples)-1, int(q*float64(len(samples))))].Nanoseconds())
	}
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}

// BenchmarkMetricsOverhead: the single-message pipe with a Snapshot taken
// every 10 ms (a scraper 100 times more eager than Prometheus' usual 1 s),
// against the same pipe unobserved, in the same run. Metrics themselves
// cost the hot path nothing (they are the ring's indices and the
// supervisor's counters); this measures what reading them costs. Target:
// within 5%, i.e. x-plain ≥ 0.95.
func BenchmarkMetricsOverhead(b *testing.B) {
	// Alternate the two in rounds, so that a burst of noise on this shared
	// machine lands on both alike.
	const rounds = 4
	n := max(b.N/rounds, 1)
	var plain, observed time.Duration
	for range rounds {
		d, _ := steadyPipe(b, n, 1)
		plain += d
		d, _ = steadyPipe(b, n, 1, 10*time.Millisecond)
		observed += d
	}
	n *= rounds
	b.ReportMetric(float64(plain.Nanoseconds())/float64(n), "plain-ns/msg")
	b.ReportMetric(float64(observed.Nanoseconds())/float64(n), "scraped-ns/msg")
	b.ReportMetric(float64(plain)/float64(observed), "x-plain")
}

// BenchmarkFaultsOverhead: the batch pipe (256 a step) with a
// Config.Faults that injects nothing, against the same pipe without one,
// alternated in rounds in the same run. Every peeked message is a fault
// point then; this is what a test or a chaos run pays for them.
func BenchmarkFaultsOverhead(b *testing.B) {
	const rounds = 4
	n := max(b.N/rounds, 1)
	cfg := quietConfig()
	cfg.Faults = func(observe.FaultPoint) error { return nil }
	var plain, faulted time.Duration
	for range rounds {
		d, _ := steadyPipe(b, n, 256)
		plain += d
		d, _ = steadyPipeWith(b, cfg, n, 256)
		faulted += d
	}
	n *= rounds
	b.ReportMetric(float64(plain.Nanoseconds())/float64(n), "plain-ns/msg")
	b.ReportMetric(float64(faulted.Nanoseconds())/float64(n), "faults-ns/msg")
	b.ReportMetric(float64(plain)/float64(faulted), "x-plain")
}
