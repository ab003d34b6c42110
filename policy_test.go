package steady_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// failing is a scriptable actor for supervision tests: each run takes the
// next command; past the script it repeats the last one.
type failing struct {
	mu     sync.Mutex
	script []string // "panic", "error", "ok" (finish), "hang" (until stopped), "healthy:<d>" handled by caller
	runs   []time.Time
}

func (f *failing) run(a *steady.Actor) error {
	f.mu.Lock()
	f.runs = append(f.runs, time.Now())
	cmd := f.script[min(len(f.runs)-1, len(f.script)-1)]
	f.mu.Unlock()
	switch cmd {
	case "panic":
		panic("scripted panic")
	case "error":
		return errors.New("scripted error")
	case "hang":
		<-a.Context().Done()
		return a.Context().Err()
	case "sleep":
		time.Sleep(10 * time.Second) // a healthy period, in virtual time
		return errors.New("failed after a healthy period")
	}
	return nil
}

func (f *failing) gaps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(f.runs); i++ {
		out = append(out, f.runs[i].Sub(f.runs[i-1]))
	}
	return out
}

// collect records the events of a graph.
type collect struct {
	mu     sync.Mutex
	events []observe.Event
}

func (c *collect) hook(e observe.Event) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
}

// kinds returns the events of kind k, in order.
func (c *collect) kinds(k observe.EventKind) []observe.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []observe.Event
	for _, e := range c.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func (c *collect) delays() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, e := range c.events {
		if e.Kind == observe.EventRestarting {
			out = append(out, e.Delay)
		}
	}
	return out
}

func TestBackoffGrowsToCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev collect
		cfg := quiet()
		cfg.OnEvent = ev.hook
		g := steady.NewGraph(cfg)
		f := &failing{script: []string{"panic", "error", "panic", "panic", "panic", "panic", "panic", "ok"}}
		g.Actor("flaky", f.run, steady.Backoff(10*time.Millisecond, 100*time.Millisecond),
			steady.BackoffMultiplier(3), steady.Jitter(0), steady.Intensity(-1, 0))
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []time.Duration{10, 30, 90, 100, 100, 100, 100}
		for i := range want {
			want[i] *= time.Millisecond
		}
		if got := ev.delays(); !equal(got, want) {
			t.Errorf("restart delays %v, want %v", got, want)
		}
		// In the bubble, time moves only while every goroutine waits: the
		// gaps between runs are the delays to the nanosecond.
		if got := f.gaps(); !equal(got, want) {
			t.Errorf("time between runs %v, want %v", got, want)
		}
	})
}

func TestBackoffJitterBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev collect
		cfg := quiet()
		cfg.OnEvent = ev.hook
		g := steady.NewGraph(cfg)
		script := make([]string, 200)
		for i := range script {
			script[i] = "panic"
		}
		script = append(script, "ok")
		f := &failing{script: script}
		g.Actor("flaky", f.run, steady.Backoff(100*time.Millisecond, 100*time.Millisecond),
			steady.Jitter(0.25), steady.Intensity(-1, 0))
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		delays := ev.delays()
		if len(delays) != 200 {
			t.Fatalf("%d restarts, want 200", len(delays))
		}
		lo, hi := delays[0], delays[0]
		for _, d := range delays {
			if d < 75*time.Millisecond || d > 125*time.Millisecond {
				t.Errorf("delay %v outside [75ms, 125ms]", d)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// 200 uniform draws over ±25 ms: the extremes are within a few
		// percent of the bounds, so a jitter that is not applied fails.
		if lo > 80*time.Millisecond || hi < 120*time.Millisecond {
			t.Errorf("jitter spread [%v, %v], want close to [75ms, 125ms]", lo, hi)
		}
	})
}

func TestBackoffResetsAfterHealthyPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev collect
		cfg := quiet()
		cfg.OnEvent = ev.hook
		g := steady.NewGraph(cfg)
		// Three quick failures grow the delay; then a run that lasts 10 s
		// (longer than ResetAfter) fails; its delay starts over.
		f := &failing{script: []string{"panic", "panic", "panic", "sleep", "panic", "ok"}}
		g.Actor("flaky", f.run, steady.Backoff(time.Millisecond, time.Second), steady.Jitter(0),
			steady.ResetAfter(5*time.Second), steady.Intensity(-1, 0))
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []time.Duration{1, 2, 4, 1, 2}
		for i := range want {
			want[i] *= time.Millisecond
		}
		if got := ev.delays(); !equal(got, want) {
			t.Errorf("restart delays %v, want %v", got, want)
		}
	})
}

func TestIntensityLimitDegrades(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		f := &failing{script: []string{"panic"}}
		flaky := g.Actor("flaky", f.run, steady.Backoff(time.Millisecond, time.Millisecond),
			steady.Intensity(3, time.Second), steady.OnLimit(steady.Degrade))
		// A healthy actor keeps working after flaky gives up, until the
		// test shuts the graph down.
		var beats int
		healthy := g.Actor("healthy", func(a *steady.Actor) error {
			for a.Running() {
				if err := a.Sleep(100 * time.Millisecond); err != nil {
					return err
				}
				beats++
			}
			return nil
		})
		done := make(chan error)
		go func() { done <- g.Run(context.Background()) }()
		time.Sleep(time.Second)
		synctest.Wait()
		if st := g.Status(); st != observe.GraphDegraded {
			t.Errorf("graph status %v, want degraded", st)
		}
		if st := flaky.Status(); st != observe.StatusDegraded {
			t.Errorf("flaky status %v, want degraded", st)
		}
		if st := healthy.Status(); st != observe.StatusRunning {
			t.Errorf("healthy status %v, want running", st)
		}
		g.Shutdown("test over")
		err := <-done
		var gaveUp *steady.GaveUpError
		if !errors.As(err, &gaveUp) || gaveUp.Actor != "flaky" || gaveUp.Restarts != 3 {
			t.Fatalf("Run: %v, want flaky gave up after 3 restarts", err)
		}
		if len(f.runs) != 4 {
			t.Errorf("flaky ran %d times, want 4 (3 restarts)", len(f.runs))
		}
		if beats < 9 {
			t.Errorf("healthy actor beat %d times in 1s, want about 10", beats)
		}
	})
}

func TestIntensityLimitStopsGraph(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		f := &failing{script: []string{"error"}}
		g.Actor("flaky", f.run, steady.Backoff(time.Millisecond, time.Millisecond),
			steady.Intensity(2, time.Second), steady.OnLimit(steady.StopGraph))
		g.Actor("other", func(a *steady.Actor) error {
			for a.Running() {
				if err := a.Sleep(time.Hour); err != nil {
					return err
				}
			}
			return nil
		})
		start := time.Now()
		err := g.Run(context.Background())
		var gaveUp *steady.GaveUpError
		if !errors.As(err, &gaveUp) || gaveUp.Actor != "flaky" {
			t.Fatalf("Run: %v, want flaky gave up", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("graph stopped after %v, want within the intensity window", el)
		}
		if r := g.Snapshot().ShutdownReason; r == "" {
			t.Error("no shutdown reason")
		}
	})
}

func TestIntensityWindowSlides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Failures 400 ms apart, at most 3 per second: never more than 3
		// in any window, so the actor never gives up.
		g := steady.NewGraph(quiet())
		script := make([]string, 20)
		for i := range script {
			script[i] = "error"
		}
		f := &failing{script: append(script, "ok")}
		g.Actor("flaky", f.run, steady.Backoff(400*time.Millisecond, 400*time.Millisecond), steady.Jitter(0),
			steady.Intensity(3, time.Second))
		if err := g.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if len(f.runs) != 21 {
			t.Errorf("%d runs, want 21", len(f.runs))
		}
	})
}

// TestCrashLoopIsolated: an actor in a crash loop does not delay an
// unrelated branch by a single tick of its schedule.
func TestCrashLoopIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		ticks := steady.NewChannel[time.Time](g, "ticks", 4)
		count := steady.NewState(g, "count", 0)
		var out *steady.Sender[time.Time]
		var in *steady.Receiver[time.Time]
		start := time.Now()
		src := g.Actor("ticker", func(a *steady.Actor) error {
			for i := 0; i < 100; i++ {
				if err := a.Sleep(10 * time.Millisecond); err != nil {
					return err
				}
				if err := a.WaitVacant(out, 1); err != nil {
					return err
				}
				if err := a.Step(func(s *steady.Step) error { return out.Send(s, time.Now()) }); err != nil {
					return err
				}
			}
			return nil
		})
		var late time.Duration
		dst := g.Actor("counter", func(a *steady.Actor) error {
			return steady.Sink(a, in, func(s *steady.Step, sent time.Time) error {
				late = max(late, time.Since(sent))
				*count.Get(s)++
				return nil
			})
		})
		out, in = ticks.Sender(src), ticks.Receiver(dst)
		count.Bind(dst)
		f := &failing{script: []string{"panic"}}
		looper := g.Actor("looper", f.run, steady.Intensity(-1, 0))
		done := make(chan error)
		go func() { done <- g.Run(context.Background()) }()
		// Wait for the branch to finish, then stop the crash loop.
		for count.Value() < 100 && time.Since(start) < time.Minute {
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(start)
		g.Shutdown("test over")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if count.Value() != 100 {
			t.Fatalf("counted %d ticks, want 100", count.Value())
		}
		if elapsed > time.Second+time.Millisecond || late > 0 {
			t.Errorf("branch took %v (want 1s), worst delivery delay %v (want 0)", elapsed, late)
		}
		if looper.Restarts() < 5 {
			t.Errorf("looper restarted %d times, want a crash loop", looper.Restarts())
		}
	})
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
