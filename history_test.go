package steady_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/store"
	"github.com/steady-go/steady/store/bolt"
)

// historyGraph is one actor, "flaky", that commits a step (a counter in
// its state), then fails as fail says for that count, until the counter
// reaches stop; then it finishes.
func historyGraph(st store.Store, stop int, fail func(n int) error) (*steady.Graph, *steady.Actor) {
	cfg := quiet()
	cfg.Store = st
	g := steady.NewGraph(cfg)
	count := steady.NewState(g, "count", 0)
	var c *steady.State[int]
	a := g.Actor("flaky", func(a *steady.Actor) error {
		for count.Value() < stop {
			var n int
			if err := a.Step(func(s *steady.Step) error {
				p := c.Get(s)
				*p++
				n = *p
				return nil
			}); err != nil {
				return err
			}
			if err := fail(n); err != nil {
				return err
			}
		}
		return nil
	}, steady.Backoff(time.Millisecond, time.Millisecond))
	c = count.Bind(a)
	return g, a
}

// failAt panics at the counts in panics, and returns an error at those
// in errs.
func failAt(panics []int, errs ...int) func(n int) error {
	return func(n int) error {
		for _, p := range panics {
			if n == p {
				panic(fmt.Sprintf("scripted panic at %d", n))
			}
		}
		for _, e := range errs {
			if n == e {
				return fmt.Errorf("scripted error at %d", n)
			}
		}
		return nil
	}
}

// TestHistoryOverRuns: a graph resumed from its store reports, in
// ActorStats.History, the sum of its runs' failures, restarts, recoveries,
// downtimes and lifetimes, with a memory store and with the bbolt file
// (opened again, as a new process would); the other ActorStats fields
// stay this run's.
func TestHistoryOverRuns(t *testing.T) {
	for _, kind := range []string{"memory", "bolt"} {
		t.Run(kind, func(t *testing.T) {
			open := memoryOrBolt(t, kind)
			// Run 1: two panics and one error.
			g, a := historyGraph(open(), 10, failAt([]int{2, 5}, 7))
			if err := g.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			first := a.Stats()
			if h := first.History; h.Panics != 2 || h.Errors != 1 || h.Restarts != 3 || h.Recoveries != 3 ||
				h.Lifetime <= 0 || h.RecoveryMax != first.RecoveryMax || h.RecoveryP99 != first.RecoveryP99 {
				t.Fatalf("first run: History %+v, want this run's figures %+v", h, first)
			}

			// Run 2, resumed at 10: one panic and two errors.
			g, a = historyGraph(open(), 20, failAt([]int{12}, 15, 18))
			if err := g.Load(); err != nil {
				t.Fatal(err)
			}
			if !g.Resumed() {
				t.Fatal("the second run did not resume")
			}
			if h := a.Stats().History; h.Panics != 2 || h.Errors != 1 || h.Restarts != 3 {
				t.Errorf("after Load, before Run: History %+v, want the first run's", h)
			}
			start := time.Now()
			if err := g.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			wall := time.Since(start)
			s := a.Stats()
			if s.Panics != 1 || s.Errors != 2 || s.Restarts != 3 || s.Recoveries != 3 {
				t.Errorf("this run: %d panics, %d errors, %d restarts, %d recoveries; want 1, 2, 3, 3",
					s.Panics, s.Errors, s.Restarts, s.Recoveries)
			}
			h := s.History
			if h.Panics != 3 || h.Errors != 3 || h.Restarts != 6 || h.Recoveries != 6 {
				t.Errorf("history: %d panics, %d errors, %d restarts, %d recoveries; want 3, 3, 6, 6",
					h.Panics, h.Errors, h.Restarts, h.Recoveries)
			}
			if all := h.RecoveryBuckets[len(h.RecoveryBuckets)-1]; all != 6 ||
				h.RecoveryTotal != first.RecoveryTotal+s.RecoveryTotal || h.RecoveryMax != max(first.RecoveryMax, s.RecoveryMax) {
				t.Errorf("history: %d recoveries in the histogram, total %v, max %v; want 6, %v, %v",
					all, h.RecoveryTotal, h.RecoveryMax, first.RecoveryTotal+s.RecoveryTotal, max(first.RecoveryMax, s.RecoveryMax))
			}
			if h.Downtime != first.Downtime+s.Downtime {
				t.Errorf("history downtime %v, want %v + %v", h.Downtime, first.Downtime, s.Downtime)
			}
			if run2 := h.Lifetime - first.History.Lifetime; run2 <= 0 || run2 > wall {
				t.Errorf("history lifetime %v: the second run added %v, want some of its %v", h.Lifetime, run2, wall)
			}
		})
	}
}

// memoryOrBolt returns a function that gives the same store again, as a
// new process would find it: a memory store, or the bbolt file of a
// temporary directory, closed and opened again.
func memoryOrBolt(t *testing.T, kind string) func() store.Store {
	if kind == "memory" {
		m := newMemStore()
		return func() store.Store { return m }
	}
	dir := t.TempDir()
	var cur *bolt.Store
	t.Cleanup(func() {
		if cur != nil {
			_ = cur.Close()
		}
	})
	return func() store.Store {
		if cur != nil {
			if err := cur.Close(); err != nil {
				t.Fatal(err)
			}
		}
		b, err := bolt.Open(dir, &bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		cur = b
		return b
	}
}

// TestHistoryFailureIsDurable: a failure becomes durable without a step
// committed after it, so a process killed then keeps it.
func TestHistoryFailureIsDurable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		cfg := quiet()
		cfg.Store = st
		g := steady.NewGraph(cfg)
		restarted, release := make(chan struct{}), make(chan struct{})
		a := g.Actor("flaky", func(a *steady.Actor) error {
			if a.Restarts() == 0 {
				panic("scripted")
			}
			close(restarted)
			<-release
			return nil
		}, steady.Backoff(time.Millisecond, time.Millisecond))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		<-restarted
		synctest.Wait() // the committer has committed what it was given
		disk := st.crash()
		close(release)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if s := a.Stats(); s.Panics != 1 {
			t.Fatalf("the run saw %d panics, want 1", s.Panics)
		}

		cfg.Store = disk
		g2 := steady.NewGraph(cfg)
		a2 := g2.Actor("flaky", func(*steady.Actor) error { return nil })
		if err := g2.Load(); err != nil {
			t.Fatal(err)
		}
		// The restart came after the last commit: a kill may take it.
		if h := a2.Stats().History; h.Panics != 1 {
			t.Errorf("after the kill: History %+v, want the panic", h)
		}
	})
}
