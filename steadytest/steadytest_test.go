package steadytest_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/steadytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// doubler is a production-style actor: it doubles each input, counts in
// state, and marks a fault point between its send and its state change.
type doubler struct {
	in    *steady.Receiver[int]
	out   *steady.Sender[int]
	count *steady.State[int]
}

func (d *doubler) run(a *steady.Actor) error {
	for {
		if err := a.WaitAvailable(d.in, 1); err != nil {
			return err
		}
		if err := a.WaitVacant(d.out, 1); err != nil {
			return err
		}
		err := a.Step(func(s *steady.Step) error {
			v, _ := d.in.Peek(s)
			if err := d.out.Send(s, 2*v); err != nil {
				return err
			}
			s.Fault("after-send")
			*d.count.Get(s)++
			return nil
		})
		if err != nil {
			return err
		}
	}
}

// newDoubler wires a doubler between a feeder of 1..n and a collector.
func newDoubler(h *steadytest.Harness, n int, opts ...steady.ActorOption) (*doubler, *steady.Actor, *steadytest.Collector[int], []int) {
	script := make([]int, n)
	want := make([]int, n)
	for i := range script {
		script[i], want[i] = i+1, 2*(i+1)
	}
	in := steadytest.Feed(h, "in", 8, script...)
	out := steadytest.Collect[int](h, "out", 8)
	d := &doubler{count: steady.NewState(h.Graph(), "count", 0)}
	a := h.Actor("doubler", d.run, append([]steady.ActorOption{steady.Backoff(0, 0)}, opts...)...)
	d.in, d.out = in.Receiver(a), out.Sender(a)
	d.count.Bind(a)
	return d, a, out, want
}

func TestInjectedFaultsKeepOutputExactlyOnce(t *testing.T) {
	h := steadytest.New(t)
	d, a, out, want := newDoubler(h, 100)
	h.FailStep("doubler", 5, steadytest.Panic("step five"))
	h.FailOn("doubler", "in", 42, 2, steadytest.Error(errors.New("bad 42")))
	h.FailAt("doubler", "after-send", 1, steadytest.Panic("between send and state"))
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	steadytest.ExactlyOnce(t, out.Got(), want)
	if got := d.count.Value(); got != 100 {
		t.Errorf("count %d, want 100", got)
	}
	if fired := h.Fired(); len(fired) != 4 {
		t.Errorf("%d faults fired, want 4: %+v", len(fired), fired)
	}
	if a.Restarts() != 4 || h.Count("doubler", observe.EventPanicked) != 2 || h.Count("doubler", observe.EventFailed) != 2 {
		t.Errorf("restarts %d, panics %d, errors %d; want 4, 2, 2", a.Restarts(),
			h.Count("doubler", observe.EventPanicked), h.Count("doubler", observe.EventFailed))
	}
	if len(h.Graph().DeadLetters()) != 0 {
		t.Errorf("dead letters %v, want none (two failures are below the threshold)", h.Graph().DeadLetters())
	}
}

// TestGivenFaultsAfterTheKits: a Faults given through WithConfig is asked
// at the points the kit leaves alone, and not at one the kit fails.
func TestGivenFaultsAfterTheKits(t *testing.T) {
	var asked []int // by the doubler's goroutine alone
	failed := false
	given := func(p observe.FaultPoint) error {
		if p.Kind != observe.FaultPeek || p.Actor != "doubler" {
			return nil
		}
		asked = append(asked, p.Message.(int))
		if p.Message == 9 && !failed {
			failed = true
			return errors.New("given fault at 9")
		}
		return nil
	}
	h := steadytest.New(t, steadytest.WithConfig(func(c *steady.Config) { c.Faults = given }))
	_, a, out, want := newDoubler(h, 10)
	h.FailOn("doubler", "in", 3, 1, steadytest.Panic("kit fault at 3"))
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	steadytest.ExactlyOnce(t, out.Got(), want)
	if n := h.Count("doubler", observe.EventFailed); a.Restarts() != 2 || n != 1 || len(h.Fired()) != 1 {
		t.Errorf("%d restarts, %d failed by the given faults, %d by the kit; want 2, 1, 1", a.Restarts(), n, len(h.Fired()))
	}
	// The kit's fault at the first peek of 3 is not asked about; the
	// given fault at 9 is, and so is the retry of each.
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10}; !slices.Equal(asked, want) {
		t.Errorf("the given faults were asked at %v, want %v", asked, want)
	}
}

func TestPoisonMessageQuarantined(t *testing.T) {
	h := steadytest.New(t)
	_, _, out, want := newDoubler(h, 20)
	h.FailOn("doubler", "in", 7, -1, steadytest.Panic("poison"))
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	dl := h.Graph().DeadLetters()
	if len(dl) != 1 || dl[0].Value != 7 || dl[0].Attempts != steady.DefaultPolicy().PoisonAfter {
		t.Fatalf("dead letters %+v, want 7 after %d attempts", dl, steady.DefaultPolicy().PoisonAfter)
	}
	steadytest.ExactlyOnce(t, out.Got(), append(want[:6:6], want[7:]...))
}

func TestBackoffInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := steadytest.New(t, steadytest.TimeLimit(time.Hour))
		_, _, out, want := newDoubler(h, 10, steady.Backoff(time.Minute, time.Minute), steady.Jitter(0))
		h.FailStep("doubler", 3, steadytest.Error(errors.New("once")))
		start := time.Now()
		if err := h.Run(); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el != time.Minute {
			t.Errorf("run took %v of virtual time, want the one-minute backoff", el)
		}
		steadytest.ExactlyOnce(t, out.Got(), want)
	})
}

func TestStopAfterForProducers(t *testing.T) {
	h := steadytest.New(t)
	out := steadytest.Collect[int](h, "out", 4).StopAfter(50)
	next := steady.NewState(h.Graph(), "next", 0)
	var tx *steady.Sender[int]
	a := h.Actor("counter", func(a *steady.Actor) error {
		return steady.Source(a, tx, func(s *steady.Step) (int, bool, error) {
			n := next.Get(s)
			*n++
			return *n, true, nil
		})
	})
	tx = out.Sender(a)
	next.Bind(a)
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	got := out.Got()
	if len(got) < 50 || got[0] != 1 || got[len(got)-1] != len(got) || len(got) != next.Value() {
		t.Errorf("collected %d values up to %v, counter at %d; want at least 50 in sequence, all the counter sent", len(got), got[len(got)-1], next.Value())
	}
}

func TestScripted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := steadytest.New(t)
		sc := steadytest.NewScripted(steadytest.Succeed(), steadytest.PanicWith("p"),
			steadytest.Fail(errors.New("e")), steadytest.Succeed())
		a := h.Actor("scripted", sc.Run, steady.Backoff(time.Second, time.Second), steady.Jitter(0))
		go func() {
			time.Sleep(5 * time.Second)
			sc.Do(steadytest.Succeed(), steadytest.Finish())
		}()
		if err := h.Run(); err != nil {
			t.Fatal(err)
		}
		runs := sc.Runs()
		if sc.Steps() != 3 || a.Restarts() != 2 || len(runs) != 3 {
			t.Fatalf("steps %d, restarts %d, runs %d; want 3, 2, 3", sc.Steps(), a.Restarts(), len(runs))
		}
		if d := runs[2].Sub(runs[1]); d != time.Second {
			t.Errorf("second restart after %v, want the 1s backoff", d)
		}
	})
}

func TestScriptedHangTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := steadytest.New(t, steadytest.WithConfig(func(c *steady.Config) { c.ShutdownTimeout = time.Second }))
		sc := steadytest.NewScripted(steadytest.Hang())
		h.Actor("stuck", sc.Run)
		h.Actor("stopper", func(a *steady.Actor) error { return steady.ErrStopGraph })
		err := h.Run()
		var to *steady.ShutdownTimeoutError
		if !errors.As(err, &to) || to.Pending[0].Actor != "stuck" {
			t.Fatalf("Run: %v, want a timeout naming stuck", err)
		}
	})
}

// recorder is a testing.TB that keeps failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }
func (r *recorder) Failed() bool              { return len(r.errs) > 0 }
func (r *recorder) Log(...any)                {}

func TestExactlyOnceReports(t *testing.T) {
	for _, tc := range []struct {
		got, want []int
		report    string
	}{
		{[]int{1, 2, 3}, []int{1, 2, 3}, ""},
		{[]int{1, 3}, []int{1, 2, 3}, "missing 2"},
		{[]int{1, 2, 2, 3}, []int{1, 2, 3}, "2 arrived 2 times"},
		{[]int{1, 2, 3, 9}, []int{1, 2, 3}, "unexpected 9"},
		{[]int{2, 1, 3}, []int{1, 2, 3}, "out of order at 0: got 2, want 1"},
	} {
		r := &recorder{TB: t}
		ok := steadytest.ExactlyOnce(r, tc.got, tc.want)
		if ok != (tc.report == "") || (tc.report != "" && (len(r.errs) != 1 || !strings.Contains(r.errs[0], tc.report))) {
			t.Errorf("ExactlyOnce(%v, %v) = %v, %q; want a report of %q", tc.got, tc.want, ok, r.errs, tc.report)
		}
	}
}

func TestTimeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{TB: t}
		h := steadytest.New(r, steadytest.TimeLimit(time.Second))
		sc := steadytest.NewScripted() // waits for commands forever
		h.Actor("idle", sc.Run)
		_ = h.Run()
		if len(r.errs) != 1 || !strings.Contains(r.errs[0], "time limit of 1s reached") || !strings.Contains(r.errs[0], `actor "idle"`) {
			t.Errorf("reports %q, want the time limit naming the idle actor", r.errs)
		}
	})
}
