package steady_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// TestReplayPurgeRacingRun: two goroutines replay and purge dead letters
// while the graph runs and while it shuts down, often the same letters at
// once; afterwards every value was delivered once, purged, or is a dead
// letter, and no Replay or Purge failed but for a letter another call had
// taken (ErrDeadLetterNotFound) or a replay after the consumer stopped.
func TestReplayPurgeRacingRun(t *testing.T) {
	for _, durable := range []bool{false, true} {
		name := "memory"
		if durable {
			name = "durable"
		}
		t.Run(name, func(t *testing.T) {
			const n = 3000
			cfg := quiet()
			if durable {
				cfg.Store = newMemStore()
			}
			g := steady.NewGraph(cfg)
			ch := steady.NewChannel[int](g, "values", 16)
			sent := steady.NewState(g, "sent", 0)
			var out *steady.Sender[int]
			src := g.Actor("source", func(a *steady.Actor) error {
				return steady.Source(a, out, func(s *steady.Step) (int, bool, error) {
					i := sent.Get(s)
					if *i == n {
						return 0, false, nil
					}
					*i++
					return *i, true, nil
				})
			})
			out = ch.Sender(src)
			sent.Bind(src)
			var mu sync.Mutex
			got := map[int]int{}
			fails := map[int]int{} // the sink's goroutine only
			var in *steady.Receiver[int]
			sink := g.Actor("sink", func(a *steady.Actor) error {
				return steady.SinkBatch(a, in, 4, func(_ *steady.Step, vs []int) error {
					for _, v := range vs {
						// Every 7th value fails in a batch, and its
						// first attempts alone, and is dead-lettered;
						// replayed, it goes through.
						if v%7 == 0 && (len(vs) > 1 || fails[v] < steady.DefaultPolicy().PoisonAfter) {
							fails[v] += len(vs) & 1
							return fmt.Errorf("poison %d", v)
						}
					}
					time.Sleep(20 * time.Microsecond)
					mu.Lock()
					for _, v := range vs {
						got[v]++
					}
					mu.Unlock()
					return nil
				})
			}, steady.Backoff(0, 0), steady.Intensity(-1, 0))
			in = ch.Receiver(sink)

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- g.Run(ctx) }()
			var nPurged, nReplayed atomic.Int64
			var purged sync.Map // value -> true, for each letter purged
			var wg sync.WaitGroup
			stop := make(chan struct{})
			var unexpected []error
			var emu sync.Mutex
			for w := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						dl := g.DeadLetters()
						if len(dl) == 0 {
							time.Sleep(50 * time.Microsecond)
							continue
						}
						d := dl[(i+w)%len(dl)]
						var err error
						if (i+w)%3 == 0 {
							if err = g.Purge(d.ID); err == nil {
								purged.Store(d.Value, true)
								nPurged.Add(1)
							}
						} else if err = g.Replay(d.ID); err == nil {
							nReplayed.Add(1)
						}
						if err != nil && !errors.Is(err, steady.ErrDeadLetterNotFound) &&
							sink.Status() != observe.StatusStopped {
							emu.Lock()
							unexpected = append(unexpected, err)
							emu.Unlock()
						}
					}
				}()
			}
			time.Sleep(100 * time.Millisecond)
			cancel() // the shutdown lets the sink drain what is there
			err := <-done
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			for _, e := range unexpected {
				t.Errorf("unexpected Replay/Purge error: %v", e)
			}
			dead := map[int]int{}
			for _, d := range g.DeadLetters() {
				dead[d.Value.(int)]++
			}
			last := sent.Value()
			var wrong []string
			for v := 1; v <= last; v++ {
				_, p := purged.Load(v)
				k := got[v] + dead[v]
				if p {
					k++
				}
				if k != 1 {
					wrong = append(wrong, fmt.Sprintf("%d: delivered %d, dead %d, purged %v", v, got[v], dead[v], p))
				}
			}
			if len(wrong) > 0 {
				t.Errorf("%d values not accounted for once (of %d): %v", len(wrong), last, wrong[:min(len(wrong), 10)])
			}
			if ch.Len() != 0 {
				t.Errorf("%d messages left in the channel", ch.Len())
			}
			t.Logf("%d values: %d delivered, %d dead letters, %d purged, %d replays", last, len(got), len(dead), nPurged.Load(), nReplayed.Load())
		})
	}
}
