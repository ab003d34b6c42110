package steady

import (
	"log/slog"
	"testing"
)

// stepPair is a producer and a consumer actor joined by a channel of
// capacity 1024, set up to step by hand on the caller's goroutine.
type stepPair struct {
	g    *Graph
	p, c *Actor
	tx   *Sender[uint64]
	rx   *Receiver[uint64]
}

func newStepPair() *stepPair {
	g := NewGraph(Config{Logger: slog.New(slog.DiscardHandler)})
	ch := NewChannel[uint64](g, "c", 1024)
	p := g.Actor("p", func(*Actor) error { return nil })
	c := g.Actor("c", func(*Actor) error { return nil })
	for _, a := range []*Actor{p, c} {
		a.step = Step{actor: a, touched: make([]port, 0, 4)}
	}
	return &stepPair{g: g, p: p, c: c, tx: ch.Sender(p), rx: ch.Receiver(c)}
}

// BenchmarkStepPairSameGoroutine: one producer step and one consumer step
// per message, on one goroutine: the instruction cost without cross-core
// traffic.
func BenchmarkStepPairSameGoroutine(b *testing.B) {
	sp := newStepPair()
	p, c, tx, rx := sp.p, sp.c, sp.tx, sp.rx
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
	sp.g.hardStop()
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

// producerStep and consumerStep are one single-message step of each end,
// kept out of line so that valgrind can count their instructions:
//
//	go test -c -o /tmp/steady.test . && GOGC=off GODEBUG=asyncpreemptoff=1 \
//	  valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*steady.consumerStep' \
//	  /tmp/steady.test -test.run '^$' -test.bench '^BenchmarkStepInstructions$' -test.benchtime 200000x
//
// and divide the instructions collected by 200,000 (or toggle producerStep).
//
//go:noinline
func producerStep(p *Actor, tx *Sender[uint64], v uint64) {
	if err := p.WaitVacant(tx, 1); err != nil {
		panic(err)
	}
	_ = p.Step(func(s *Step) error { return tx.Send(s, v) })
}

var consumed uint64

//go:noinline
func consumerStep(c *Actor, rx *Receiver[uint64]) {
	if err := c.WaitAvailable(rx, 1); err != nil {
		panic(err)
	}
	_ = c.Step(func(s *Step) error { v, _ := rx.Peek(s); consumed += v; return nil })
}

// BenchmarkStepInstructions runs producerStep and consumerStep on one
// goroutine, for the instruction counts above.
func BenchmarkStepInstructions(b *testing.B) {
	sp := newStepPair()
	b.ResetTimer()
	for i := range b.N {
		producerStep(sp.p, sp.tx, uint64(i))
		consumerStep(sp.c, sp.rx)
	}
	sp.g.hardStop()
}

// BenchmarkGatherPause measures one pause of a consumer's refill (about
// 0.3 µs on the machine in BENCHMARKS.md), the unit of the extra wait a
// streaming producer's messages may see.
func BenchmarkGatherPause(b *testing.B) {
	var n uint64
	for b.Loop() {
		pause(&n)
	}
}
