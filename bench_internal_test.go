package steady

import (
	"log/slog"
	"testing"
)

// BenchmarkStepPairSameGoroutine: one producer step and one consumer step
// per message, on one goroutine: the instruction cost without cross-core
// traffic.
func BenchmarkStepPairSameGoroutine(b *testing.B) {
	g := NewGraph(Config{Logger: slog.New(slog.DiscardHandler)})
	ch := NewChannel[uint64](g, "c", 1024)
	p := g.Actor("p", func(*Actor) error { return nil })
	c := g.Actor("c", func(*Actor) error { return nil })
	tx, rx := ch.Sender(p), ch.Receiver(c)
	for _, a := range []*Actor{p, c} {
		a.step = Step{actor: a, touched: make([]port, 0, 4)}
	}
	var sum uint64
	b.ResetTimer()
	for i := range b.N {
		if err := p.WaitVacant(tx, 1); err != nil {
			b.Fatal(err)
		}
		_ = p.Step(func(s *Step) error { return tx.Send(s, uint64(i)) })
		if err := c.WaitAvailable(rx, 1); err != nil {
			b.Fatal(err)
		}
		_ = c.Step(func(s *Step) error { v, _ := rx.Peek(s); sum += v; return nil })
	}
	g.hardStop()
}

func BenchmarkGoChanSameGoroutine(b *testing.B) {
	ch := make(chan uint64, 1024)
	var sum uint64
	for i := range b.N {
		ch <- uint64(i)
		sum += <-ch
	}
	_ = sum
}
