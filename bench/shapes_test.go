package bench

import (
	"context"
	"testing"
	"time"

	"github.com/steady-go/steady"
)

// shapesPipe moves n values through source → stage (adds 1) → sink (sums),
// batch values per step, with the actors written as loops by hand
// (shapes false) or with steady's shapes (shapes true: Source, Stage and
// Sink for batch 1, their batch forms otherwise). The
// hand-written loops are the ones a careful user writes: the batch forms
// move slices with SendMany, and the source waits for its whole batch. It
// returns the time it took and the sum.
func shapesPipe(b *testing.B, n, batch int, shapes bool) (time.Duration, uint64) {
	g := quietGraph()
	raw := steady.NewChannel[uint64](g, "raw", capacity)
	cooked := steady.NewChannel[uint64](g, "cooked", capacity)
	var out, sout *steady.Sender[uint64]
	var sin, in *steady.Receiver[uint64]
	var sum uint64
	var source, stage, sink func(a *steady.Actor) error
	if shapes && batch == 1 {
		source = func(a *steady.Actor) error {
			i := 0
			return steady.Source(a, out, func(*steady.Step) (uint64, bool, error) {
				i++
				return uint64(i - 1), i <= n, nil
			})
		}
		stage = func(a *steady.Actor) error {
			return steady.Stage(a, sin, sout, func(_ *steady.Step, v uint64) (uint64, bool, error) {
				return v + 1, true, nil
			})
		}
		sink = func(a *steady.Actor) error {
			return steady.Sink(a, in, func(_ *steady.Step, v uint64) error {
				sum += v
				return nil
			})
		}
	} else if shapes {
		source = func(a *steady.Actor) error {
			i := 0
			return steady.SourceBatch(a, out, batch, func(_ *steady.Step, buf []uint64) (int, bool, error) {
				k := min(len(buf), n-i)
				for j := range k {
					buf[j] = uint64(i + j)
				}
				i += k
				return k, i < n, nil
			})
		}
		stage = func(a *steady.Actor) error {
			return steady.StageBatch(a, sin, sout, batch, func(_ *steady.Step, vs, dst []uint64) ([]uint64, error) {
				for _, v := range vs {
					dst = append(dst, v+1)
				}
				return dst, nil
			})
		}
		sink = func(a *steady.Actor) error {
			return steady.SinkBatch(a, in, batch, func(_ *steady.Step, vs []uint64) error {
				for _, v := range vs {
					sum += v
				}
				return nil
			})
		}
	} else {
		source = func(a *steady.Actor) error { return produce(a, out, n, batch) }
		stage = func(a *steady.Actor) error {
			buf := make([]uint64, batch)
			for a.Running() {
				if err := a.WaitAvailable(sin, 1); err != nil {
					return err
				}
				if err := a.WaitVacant(sout, 1); err != nil {
					return err
				}
				err := a.Step(func(s *steady.Step) error {
					if batch == 1 {
						v, _ := sin.Peek(s)
						return sout.Send(s, v+1)
					}
					k := sin.PeekMany(s, buf[:min(batch, sout.Vacant())])
					for j := range k {
						buf[j]++
					}
					return sout.SendMany(s, buf[:k])
				})
				if err != nil {
					return err
				}
			}
			return nil
		}
		sink = func(a *steady.Actor) error { return consume(a, in, batch, &sum) }
	}
	src := g.Actor("source", source)
	stg := g.Actor("stage", stage)
	snk := g.Actor("sink", sink)
	out, sin, sout, in = raw.Sender(src), raw.Receiver(stg), cooked.Sender(stg), cooked.Receiver(snk)
	start := time.Now()
	if err := g.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), sum
}

// benchShapes runs the pipeline both ways in each iteration, in halves
// that alternate (hand, shapes, hand, shapes) so that a change in the
// machine's state hits both, and reports each side's time per message and
// x-hand, the shapes' time over the hand-written loops'. Target: 1, within
// the noise.
func benchShapes(b *testing.B, batch int) {
	half := max(1, b.N/2)
	var hand, shapes time.Duration
	want := uint64(half) * uint64(half+1) / 2 // the values 1..half, after the stage
	for range 2 {
		took, sum := shapesPipe(b, half, batch, false)
		if sum != want {
			b.Fatalf("hand-written: sum %d, want %d", sum, want)
		}
		hand += took
		took, sum = shapesPipe(b, half, batch, true)
		if sum != want {
			b.Fatalf("shapes: sum %d, want %d", sum, want)
		}
		shapes += took
	}
	msgs := float64(2 * half)
	b.ReportMetric(float64(hand.Nanoseconds())/msgs, "hand-ns/msg")
	b.ReportMetric(float64(shapes.Nanoseconds())/msgs, "shapes-ns/msg")
	b.ReportMetric(float64(shapes)/float64(hand), "x-hand")
}

// BenchmarkShapesSingle: source → stage → sink, one value per step, with
// the shape helpers against the same actors written by hand.
func BenchmarkShapesSingle(b *testing.B) { benchShapes(b, 1) }

// BenchmarkShapesBatch: the same, up to 64 values per step.
func BenchmarkShapesBatch(b *testing.B) { benchShapes(b, 64) }

// sourceAlone has one actor send n values, one a step, into a channel
// that holds them all, by hand or with steady.Source, and returns the
// time it took: the instruction cost of the loop without the traffic
// between cores that dominates the pipeline's figures.
func sourceAlone(b *testing.B, n int, shapes bool) time.Duration {
	g := quietGraph()
	// One slot more than n: Source learns that next has run out in a
	// step of its own, which waits for room like any other.
	ch := steady.NewChannel[uint64](g, "values", n+1)
	var out *steady.Sender[uint64]
	prod := g.Actor("source", func(a *steady.Actor) error {
		if shapes {
			i := 0
			return steady.Source(a, out, func(*steady.Step) (uint64, bool, error) {
				i++
				return uint64(i), i <= n, nil
			})
		}
		for i := 0; i < n && a.Running(); i++ {
			if err := a.WaitVacant(out, 1); err != nil {
				return err
			}
			if err := a.Step(func(s *steady.Step) error { return out.Send(s, uint64(i+1)) }); err != nil {
				return err
			}
		}
		return nil
	})
	out = ch.Sender(prod)
	ch.Receiver(g.Actor("idle", func(*steady.Actor) error { return nil }))
	start := time.Now()
	if err := g.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	if ch.Len() != n {
		b.Fatalf("the channel holds %d values, want %d", ch.Len(), n)
	}
	return took
}

// BenchmarkShapesSourceAlone: one value a step from one actor, Source
// against the loop by hand, alternating halves as benchShapes does.
func BenchmarkShapesSourceAlone(b *testing.B) {
	half := max(1, b.N/2)
	var hand, shapes time.Duration
	for range 2 {
		hand += sourceAlone(b, half, false)
		shapes += sourceAlone(b, half, true)
	}
	msgs := float64(2 * half)
	b.ReportMetric(float64(hand.Nanoseconds())/msgs, "hand-ns/msg")
	b.ReportMetric(float64(shapes.Nanoseconds())/msgs, "shapes-ns/msg")
	b.ReportMetric(float64(shapes)/float64(hand), "x-hand")
}
