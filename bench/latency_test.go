package bench

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steady-go/steady"
)

// goPingPong sends n values one at a time through a Go channel and waits
// for each to come back on another, and returns the time it took.
func goPingPong(n int) time.Duration {
	ping, pong := make(chan uint64, capacity), make(chan uint64, capacity)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	start := time.Now()
	for i := range n {
		ping <- uint64(i)
		<-pong
	}
	close(ping)
	<-pong
	return time.Since(start)
}

// steadyPingPong does the same between two actors, one message per step.
func steadyPingPong(b *testing.B, n int) time.Duration {
	g := quietGraph()
	pingCh := steady.NewChannel[uint64](g, "ping", capacity)
	pongCh := steady.NewChannel[uint64](g, "pong", capacity)
	var pingOut, pongOut *steady.Sender[uint64]
	var pingIn, pongIn *steady.Receiver[uint64]
	client := g.Actor("client", func(a *steady.Actor) error {
		for i := range n {
			if err := a.WaitVacant(pingOut, 1); err != nil {
				return err
			}
			if err := a.Step(func(s *steady.Step) error { return pingOut.Send(s, uint64(i)) }); err != nil {
				return err
			}
			if err := a.WaitAvailable(pongIn, 1); err != nil {
				return err
			}
			err := a.Step(func(s *steady.Step) error {
				if v, ok := pongIn.Peek(s); !ok || v != uint64(i) {
					b.Errorf("round %d: got %d, %v back", i, v, ok)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	server := g.Actor("server", func(a *steady.Actor) error {
		for {
			if err := a.WaitAvailable(pingIn, 1); err != nil {
				return err
			}
			if err := a.WaitVacant(pongOut, 1); err != nil {
				return err
			}
			err := a.Step(func(s *steady.Step) error {
				v, _ := pingIn.Peek(s)
				return pongOut.Send(s, v)
			})
			if err != nil {
				return err
			}
		}
	})
	pingOut, pingIn = pingCh.Sender(client), pingCh.Receiver(server)
	pongOut, pongIn = pongCh.Sender(server), pongCh.Receiver(client)
	start := time.Now()
	if err := g.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkChannelPingPong: one message goes from one actor to another and
// back before the next is sent, so every message finds its consumer
// waiting: the latency of a lone message, round trip, against the same
// exchange over two Go channels. x-chan above 1 means steady is quicker.
func BenchmarkChannelPingPong(b *testing.B) {
	n := b.N
	base := goPingPong(n)
	took := steadyPingPong(b, n)
	chanNs := float64(base.Nanoseconds()) / float64(n)
	steadyNs := float64(took.Nanoseconds()) / float64(n)
	b.ReportMetric(chanNs, "chan-ns/trip")
	b.ReportMetric(steadyNs, "steady-ns/trip")
	b.ReportMetric(chanNs/steadyNs, "x-chan")
}

// BenchmarkCoreRoundTrip is a probe of the machine, not of steady: two
// goroutines, on two processors, hand a counter back and forth through two
// cache lines. rtt-ns is the time for a line to go to the other core and
// back, which sets the price of every message that crosses cores. On the
// shared machine of BENCHMARKS.md it is about 100 ns most of the time and
// about 500 ns in spells, and the single-message figures differ between
// the two; run it next to them to tell which one a run had, with a
// benchtime in seconds (-benchtime 0.2s) rather than a count, in case the
// host has the two goroutines take turns on one processor.
func BenchmarkCoreRoundTrip(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs two processors")
	}
	var lines struct {
		ping atomic.Uint64
		_    [120]byte
		pong atomic.Uint64
	}
	// Each side yields now and then, so that neither can hold up a
	// stop-the-world for long where the runtime cannot preempt a loop.
	const yieldEvery = 1 << 16
	n := uint64(b.N)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint64(1); i <= n; i++ {
			for lines.ping.Load() != i {
			}
			lines.pong.Store(i)
			if i%yieldEvery == 0 {
				runtime.Gosched()
			}
		}
	}()
	b.ResetTimer()
	for i := uint64(1); i <= n; i++ {
		lines.ping.Store(i)
		for lines.pong.Load() != i {
		}
		if i%yieldEvery == 0 {
			runtime.Gosched()
		}
	}
	<-done
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "rtt-ns")
}
