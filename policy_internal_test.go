package steady

import (
	"testing"
	"time"
)

// TestDelayNeverNegative: with no initial backoff, a streak long enough for
// Multiplier^n to overflow (0 × +Inf is NaN) still gives a delay of zero.
func TestDelayNeverNegative(t *testing.T) {
	p := DefaultPolicy()
	p.InitialBackoff, p.MaxBackoff = 0, 0
	for _, n := range []int{1, 10, 1100, 100_000} {
		if d := p.delay(n, 0.5); d != 0 {
			t.Errorf("delay(%d) = %v, want 0", n, d)
		}
	}
	p = DefaultPolicy()
	if d := p.delay(100_000, 0.5); d != time.Second {
		t.Errorf("delay after a long streak = %v, want the 1s cap", d)
	}
}

// TestIntensityHugeLimit: a limit of 2^40 restarts is accepted and costs
// memory only for the restarts that happen, not room for all of them at
// the first restart.
func TestIntensityHugeLimit(t *testing.T) {
	p := DefaultPolicy()
	p.MaxRestarts, p.Window = 1<<40, time.Hour
	var in intensity
	now := time.Now()
	for i := range 1000 {
		if !in.allow(&p, now.Add(time.Duration(i))) {
			t.Fatalf("restart %d refused under a limit of 2^40", i)
		}
	}
	if c := cap(in.times); c > 4096 {
		t.Errorf("the ring holds room for %d restarts after 1,000", c)
	}
}

// TestIntensityForgetsOldRestarts: a crash loop under a huge limit keeps
// only the restarts within the window, not every restart ever.
func TestIntensityForgetsOldRestarts(t *testing.T) {
	p := DefaultPolicy()
	p.MaxRestarts, p.Window = 1<<40, time.Millisecond
	var in intensity
	now := time.Now()
	for i := range 100_000 {
		if !in.allow(&p, now.Add(time.Duration(i)*100*time.Microsecond)) {
			t.Fatalf("restart %d refused", i)
		}
	}
	if n := len(in.times) - in.start; n > 10 {
		t.Errorf("%d restarts remembered; the 1 ms window holds 10", n)
	}
	if c := cap(in.times); c > 64 {
		t.Errorf("the list has room for %d restarts after a loop of 100,000", c)
	}
	// The limit itself: 3 in 10 s allows 3 restarts, then waits for the
	// window.
	p.MaxRestarts, p.Window = 3, 10*time.Second
	in = intensity{}
	for i, want := range []bool{true, true, true, false, false} {
		if got := in.allow(&p, now.Add(time.Duration(i)*time.Second)); got != want {
			t.Errorf("restart %d at %ds: allowed %v, want %v", i, i, got, want)
		}
	}
	if !in.allow(&p, now.Add(10*time.Second)) {
		t.Error("a restart 10 s after the first, with the first out of the window, refused")
	}
}
