package steady_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/store/bolt"
)

// A generator and a printer, with the generator's counter in state so a
// restart continues the sequence.
func ExampleGraph() {
	g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler)})
	numbers := steady.NewChannel[int](g, "numbers", 16)
	next := steady.NewState(g, "next", 0)

	var out *steady.Sender[int]
	gen := g.Actor("generator", func(a *steady.Actor) error {
		// One value a step; false after 5 finishes the generator, which
		// closes numbers.
		return steady.Source(a, out, func(s *steady.Step) (int, bool, error) {
			n := next.Get(s)
			if *n == 5 {
				return 0, false, nil
			}
			*n++
			return *n, true, nil
		})
	})
	out = numbers.Sender(gen)
	next.Bind(gen)

	var in *steady.Receiver[int]
	printer := g.Actor("printer", func(a *steady.Actor) error {
		// Returns once numbers is closed and drained.
		return steady.Sink(a, in, func(s *steady.Step, v int) error {
			fmt.Println(v)
			return nil
		})
	})
	in = numbers.Receiver(printer)

	if err := g.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 1
	// 2
	// 3
	// 4
	// 5
}

// The batch shapes move slices: a source fills a buffer, a stage filters
// and maps a batch, a sink takes what has gathered. Each step is all or
// nothing, as in a hand-written loop.
func ExampleStageBatch() {
	g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler)})
	raw := steady.NewChannel[int](g, "raw", 64)
	odd := steady.NewChannel[string](g, "odd", 64)

	var rawTx *steady.Sender[int]
	src := g.Actor("source", func(a *steady.Actor) error {
		next := 1 // a source that must resume after a restart keeps this in a State
		return steady.SourceBatch(a, rawTx, 4, func(s *steady.Step, buf []int) (int, bool, error) {
			for i := range buf {
				buf[i] = next
				next++
			}
			return len(buf), next <= 12, nil
		})
	})
	rawTx = raw.Sender(src)

	var rawRx *steady.Receiver[int]
	var oddTx *steady.Sender[string]
	filter := g.Actor("filter", func(a *steady.Actor) error {
		return steady.StageBatch(a, rawRx, oddTx, 16, func(s *steady.Step, vs []int, dst []string) ([]string, error) {
			for _, v := range vs {
				if v%2 == 1 {
					dst = append(dst, fmt.Sprintf("<%d>", v))
				}
			}
			return dst, nil
		})
	})
	rawRx, oddTx = raw.Receiver(filter), odd.Sender(filter)

	var oddRx *steady.Receiver[string]
	var got []string
	sink := g.Actor("sink", func(a *steady.Actor) error {
		return steady.SinkBatch(a, oddRx, 16, func(s *steady.Step, vs []string) error {
			got = append(got, vs...)
			return nil
		})
	})
	oddRx = odd.Receiver(sink)

	if err := g.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println(got)
	// Output:
	// [<1> <3> <5> <7> <9> <11>]
}

// A panic in a step rolls back everything the step did; the restarted actor
// sees the last committed state.
func ExampleActor_Step() {
	g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler)})
	count := steady.NewState(g, "count", 0)
	a := g.Actor("counter", func(a *steady.Actor) error {
		for range 3 {
			err := a.Step(func(s *steady.Step) error {
				n := count.Get(s)
				*n++
				if a.Restarts() == 0 && *n == 2 {
					panic("fails once, after the increment")
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Println("committed", count.Value())
		}
		return nil
	}, steady.Backoff(0, 0))
	count.Bind(a)
	_ = g.Run(context.Background())
	fmt.Println("restarts", a.Restarts(), "count", count.Value())
	// Output:
	// committed 1
	// committed 2
	// committed 3
	// committed 4
	// restarts 1 count 4
}

// A restart policy: quick retries, and past three restarts in a minute the
// graph stops instead of running degraded.
func ExampleIntensity() {
	g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler)})
	g.Actor("flaky", func(a *steady.Actor) error {
		return errors.New("cannot reach the database")
	},
		steady.Backoff(time.Millisecond, 10*time.Millisecond),
		steady.Intensity(3, time.Minute),
		steady.OnLimit(steady.StopGraph),
	)
	err := g.Run(context.Background())
	var gaveUp *steady.GaveUpError
	if errors.As(err, &gaveUp) {
		fmt.Println(gaveUp.Actor, "gave up after", gaveUp.Restarts, "restarts:", gaveUp.Last)
	}
	// Output:
	// flaky gave up after 3 restarts: cannot reach the database
}

// A message that fails every time is quarantined after three attempts; the
// others go through.
func ExampleGraph_DeadLetters() {
	g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler)})
	words := steady.NewChannel[string](g, "words", 8)
	var out *steady.Sender[string]
	src := g.Actor("source", func(a *steady.Actor) error {
		if err := a.WaitVacant(out, 3); err != nil {
			return err
		}
		return a.Step(func(s *steady.Step) error {
			return out.SendMany(s, []string{"apple", "poison", "pear"})
		})
	})
	var in *steady.Receiver[string]
	sink := g.Actor("sink", func(a *steady.Actor) error {
		return steady.Sink(a, in, func(s *steady.Step, w string) error {
			if w == "poison" {
				return errors.New("cannot digest")
			}
			fmt.Println("ate", w)
			return nil
		})
	}, steady.Backoff(0, 0))
	out, in = words.Sender(src), words.Receiver(sink)
	_ = g.Run(context.Background())
	for _, d := range g.DeadLetters() {
		fmt.Printf("dead letter %d: %v from %s after %d attempts: %v\n", d.ID, d.Value, d.Channel, d.Attempts, d.Err)
	}
	// Output:
	// ate apple
	// ate pear
	// dead letter 1: poison from words after 3 attempts: cannot digest
}

// The dead-letter store is bounded: once it holds Config.MaxDeadLetters
// letters, a poison message stays in its channel and its consumer gives
// up, saying why. Purge deletes letters for good, and counts them.
func ExampleGraph_Purge() {
	g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler), MaxDeadLetters: 1})
	words := steady.NewChannel[string](g, "words", 8)
	var out *steady.Sender[string]
	src := g.Actor("source", func(a *steady.Actor) error {
		if err := a.WaitVacant(out, 4); err != nil {
			return err
		}
		return a.Step(func(s *steady.Step) error {
			return out.SendMany(s, []string{"apple", "poison", "pear", "venom"})
		})
	})
	var in *steady.Receiver[string]
	sink := g.Actor("sink", func(a *steady.Actor) error {
		return steady.Sink(a, in, func(s *steady.Step, w string) error {
			if w == "poison" || w == "venom" {
				return fmt.Errorf("cannot digest %s", w)
			}
			fmt.Println("ate", w)
			return nil
		})
	}, steady.Backoff(0, 0))
	out, in = words.Sender(src), words.Receiver(sink)
	fmt.Println(g.Run(context.Background()))
	fmt.Println("left in words:", words.Len())
	for _, d := range g.DeadLetters() {
		fmt.Printf("dead letter %d: %v\n", d.ID, d.Value)
	}
	if err := g.Purge(1); err != nil {
		fmt.Println(err)
	}
	fmt.Println("dead letters:", len(g.DeadLetters()), "purged:", g.Snapshot().DeadLettersPurged)
	// Output:
	// ate apple
	// ate pear
	// actor "sink" gave up after 5 restarts: steady: dead-letter store full (1 letter): the message at the head of channel "words" failed 3 attempts and stays there; replay or purge dead letters, or raise Config.MaxDeadLetters; last failure: cannot digest venom
	// left in words: 1
	// dead letter 1: poison
	// dead letters: 0 purged: 1
}

// Shutdown: the producer stops at once, the consumer drains the channel, an
// actor can hold the shutdown while it finishes something.
func ExampleGraph_Shutdown() {
	g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler)})
	ch := steady.NewChannel[int](g, "ticks", 100)
	var out *steady.Sender[int]
	sent := 0
	prod := g.Actor("producer", func(a *steady.Actor) error {
		for a.Running() {
			if err := a.WaitVacant(out, 1); err != nil {
				return err
			}
			if err := a.Step(func(s *steady.Step) error { return out.Send(s, 1) }); err != nil {
				return err
			}
			if sent++; sent == 50 {
				a.RequestShutdown("enough")
			}
		}
		return nil
	})
	var in *steady.Receiver[int]
	got := 0
	cons := g.Actor("consumer", func(a *steady.Actor) error {
		a.HoldShutdown("saving a summary")
		for a.Running() {
			err := a.WaitAvailable(in, 1)
			if errors.Is(err, steady.ErrClosed) {
				fmt.Println("summary saved")
				a.ReleaseShutdown()
				continue
			}
			if err != nil {
				return err
			}
			err = a.Step(func(s *steady.Step) error {
				if _, ok := in.Peek(s); ok {
					got++
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	out, in = ch.Sender(prod), ch.Receiver(cons)
	err := g.Run(context.Background())
	fmt.Println(err, sent == got, g.Snapshot().ShutdownReason)
	// Output:
	// summary saved
	// <nil> true actor "producer": enough
}

// A durable graph: the state and the unconsumed messages live in a bbolt
// file in a directory, and a second process (here, a second graph) on the
// same directory resumes from them. Kill the first at any instant and the
// second still sees every committed step once.
func ExampleConfig_store() {
	dir, err := os.MkdirTemp("", "steady-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	for run := 1; run <= 2; run++ {
		st, err := bolt.Open(dir, nil) // dir/steady.db, locked until Close
		if err != nil {
			panic(err)
		}
		g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler), Store: st})
		count := steady.NewState(g, "count", 0)
		counter := g.Actor("counter", func(a *steady.Actor) error {
			for range 3 {
				if err := a.Step(func(s *steady.Step) error { *count.Get(s)++; return nil }); err != nil {
					return err
				}
			}
			return nil
		})
		count.Bind(counter)
		if err := g.Run(context.Background()); err != nil {
			panic(err)
		}
		fmt.Printf("run %d: count %d, resumed %v\n", run, count.Value(), g.Resumed())
		if err := st.Close(); err != nil {
			panic(err)
		}
	}
	// Output:
	// run 1: count 3, resumed false
	// run 2: count 6, resumed true
}

// The tuning defaults a zero Config field takes (graph.go, metrics.go,
// memory.go and deadletter.go say why each is what it is).
func ExampleDefaultConfig() {
	c := steady.DefaultConfig()
	fmt.Println("shutdown timeout:", c.ShutdownTimeout)
	fmt.Printf("failure cluster: %d failures within %v\n", c.ClusterFailures, c.ClusterWindow)
	fmt.Printf("channel alert: %.0f%% full for %v\n", 100*c.FillAlert, c.FillAlertAfter)
	fmt.Printf("memory marks: %.0f%% and %.0f%% of the limit\n", 100*c.MemoryHigh, 100*c.MemoryLow)
	fmt.Println("dead letters kept:", c.MaxDeadLetters)
	// Output:
	// shutdown timeout: 5s
	// failure cluster: 5 failures within 10s
	// channel alert: 90% full for 5s
	// memory marks: 85% and 70% of the limit
	// dead letters kept: 1000
}
